"""Tests for posewarper_jax.eval.decode: hand-computed values and encode/decode round trips."""

import cv2
import numpy as np
import pytest

from posewarper_jax.data import keypoints
from posewarper_jax.data import transforms
from posewarper_jax.inference import decode

# A 10 x 8 heatmap whose crop is 20 x 16 image pixels centred on (100, 50): heatmap pixel (x, y)
# is image point (100 + 2 (x - 5), 50 + 2 (y - 4)).
W, H = 10, 8
CENTER = np.array([[100.0, 50.0]])
SCALE = np.array([[2 * W / transforms.PIXEL_STD, 2 * H / transforms.PIXEL_STD]])


def _to_image(x: float, y: float) -> list[float]:
  return [100.0 + 2 * (x - 5), 50.0 + 2 * (y - 4)]


def _single_peak(x: int, y: int, neighbours: dict = ()) -> np.ndarray:
  """(1, H, W, 1) float32 zeros with 1 at (x, y) and the given {(dx, dy): value} around it."""
  heatmap = np.zeros((1, H, W, 1), np.float32)
  heatmap[0, y, x, 0] = 1.0
  for (dx, dy), value in dict(neighbours).items():
    heatmap[0, y + dy, x + dx, 0] = value
  return heatmap


def test_single_peak():
  coords, maxvals = decode.decode_heatmaps(_single_peak(6, 3), CENTER, SCALE)
  np.testing.assert_allclose(coords, [[_to_image(6, 3)]])
  np.testing.assert_array_equal(maxvals, [[1.0]])


@pytest.mark.parametrize("neighbours, shift", [
    ({(1, 0): 0.5, (0, 1): 0.5}, (0.25, 0.25)),    # Larger right and lower neighbours.
    ({(-1, 0): 0.5, (0, -1): 0.3}, (-0.25, -0.25)),  # Larger left and upper neighbours.
    ({(1, 0): 0.5, (-1, 0): 0.5}, (0.0, 0.0)),      # Equal neighbours: no shift.
])
def test_quarter_pixel_shift_toward_larger_neighbour(neighbours, shift):
  coords, _ = decode.decode_heatmaps(_single_peak(4, 3, neighbours), CENTER, SCALE)
  np.testing.assert_allclose(coords, [[_to_image(4 + shift[0], 3 + shift[1])]])
  unshifted, _ = decode.decode_heatmaps(_single_peak(4, 3, neighbours), CENTER, SCALE,
                                        post_process=False)
  np.testing.assert_allclose(unshifted, [[_to_image(4, 3)]])


@pytest.mark.parametrize("x, y, shifted", [
    (1, 3, False),      # px = 1 is not > 1 (the original's strict test).
    (2, 3, True),
    (W - 2, 3, True),   # px = W - 2 < W - 1.
    (W - 1, 3, False),
    (4, 1, False),
    (4, H - 2, True),
    (4, H - 1, False),
])
def test_no_shift_on_the_border(x, y, shifted):
  neighbours = {(dx, dy): 0.5 for dx, dy in ((-1, 0), (0, -1)) if x + dx >= 0 and y + dy >= 0}
  coords, _ = decode.decode_heatmaps(_single_peak(x, y, neighbours), CENTER, SCALE)
  shift = -0.25 if shifted else 0.0
  np.testing.assert_allclose(coords, [[_to_image(x + shift, y + shift)]])


def test_non_positive_peak_decodes_from_the_origin():
  heatmap = np.full((1, H, W, 2), -1.0, np.float32)
  heatmap[0, 5, 6, 0] = -0.5
  heatmap[0, 3, 3, 1] = 0.0
  coords, maxvals = decode.decode_heatmaps(heatmap, CENTER, SCALE)
  np.testing.assert_allclose(coords, [[_to_image(0, 0), _to_image(0, 0)]])
  np.testing.assert_array_equal(maxvals, [[-0.5, 0.0]])


def test_encode_then_decode_round_trip():
  """Random sub-pixel joints -> Gaussians at the rounded heatmap pixel -> decode."""
  rng = np.random.default_rng(0)
  heatmap_size = (72, 96)  # (W, H) of 288 x 384 crops.
  boxes = np.array([[100.0, 50.0, 120.0, 300.0], [400.0, 200.0, 260.0, 90.0],
                    [10.0, 10.0, 40.0, 40.0]])
  num_joints = 5
  centers, scales, joints, heatmaps = [], [], [], []
  grid_x, grid_y = np.meshgrid(np.arange(heatmap_size[0]), np.arange(heatmap_size[1]))
  for x, y, w, h in boxes:
    center, scale = transforms.box_to_center_scale([x, y, w, h], heatmap_size[0] / heatmap_size[1])
    points = rng.uniform([x, y], [x + w, y + h], (num_joints, 2))
    on_heatmap = np.round(transforms.apply_affine(
        points, transforms.affine_matrix(center, scale, 0, heatmap_size)))
    gaussians = [np.exp(-((grid_x - u) ** 2 + (grid_y - v) ** 2) / (2 * 2.0 ** 2))
                 for u, v in on_heatmap]
    centers.append(center)
    scales.append(scale)
    joints.append(points)
    heatmaps.append(np.stack(gaussians, axis=-1))
  coords, maxvals = decode.decode_heatmaps(np.array(heatmaps, np.float32), np.array(centers),
                                           np.array(scales))
  np.testing.assert_allclose(maxvals, 1.0)
  half_pixel = 0.5 * np.array(scales)[:, 0] * transforms.PIXEL_STD / heatmap_size[0]
  assert np.all(np.abs(coords - np.array(joints)) <= half_pixel[:, None, None] + 1e-9)


def test_flip_back_undoes_a_flip():
  rng = np.random.default_rng(1)
  heatmaps = rng.random((2, 6, 7, keypoints.NUM_JOINTS)).astype(np.float32)
  # What the network predicts on the mirrored crop: mirrored maps with left/right swapped.
  flipped = heatmaps[:, :, ::-1][..., list(keypoints.FLIP_PERMUTATION)]
  np.testing.assert_array_equal(decode.flip_back(flipped), heatmaps)
  np.testing.assert_allclose(decode.flip_test_average(heatmaps, flipped), heatmaps)


def test_flip_back_by_hand_and_shift():
  left, right = keypoints.JOINT_INDEX["left_wrist"], keypoints.JOINT_INDEX["right_wrist"]
  flipped = np.zeros((1, 4, 7, keypoints.NUM_JOINTS), np.float32)
  flipped[0, 1, 2, left] = 1.0  # Left wrist at x = 2 of the mirrored crop ...
  back = decode.flip_back(flipped)
  assert back[0, 1, 4, right] == 1.0 and back.sum() == 1.0  # ... is the right wrist at 6 - 2.
  shifted = decode.flip_back(flipped, shift_heatmap=True)
  assert shifted[0, 1, 5, right] == 1.0 and shifted.sum() == 1.0
  column_0 = np.zeros_like(flipped)
  column_0[0, :, 6, 0] = 1.0  # Lands on column 0, which SHIFT_HEATMAP keeps.
  np.testing.assert_array_equal(decode.flip_back(column_0, shift_heatmap=True)[0, :, :2, 0],
                                [[1.0, 1.0]] * 4)


def test_neck_quirk_and_head_bottom():
  coords = np.zeros((1, keypoints.NUM_JOINTS, 2))
  maxvals = np.full((1, keypoints.NUM_JOINTS), 0.5)
  ls, rs, hb = (keypoints.JOINT_INDEX[name]
                for name in ("left_shoulder", "right_shoulder", "head_bottom"))
  coords[0, ls], coords[0, rs], coords[0, hb] = (10.0, 20.0), (30.0, 40.0), (7.0, 8.0)
  maxvals[0, ls], maxvals[0, rs], maxvals[0, hb] = 0.2, 0.6, 0.9
  quirk_coords, quirk_scores = decode.to_posetrack_joints(coords, maxvals, np.array([0.5]))
  np.testing.assert_allclose(quirk_coords[0, hb], [20.0, 30.0])
  np.testing.assert_allclose(quirk_scores[0, hb], 0.4 * 0.5)
  np.testing.assert_allclose(quirk_scores[0, ls], 0.1)
  np.testing.assert_array_equal(np.delete(quirk_coords, hb, axis=1), np.delete(coords, hb, axis=1))
  kept_coords, kept_scores = decode.to_posetrack_joints(coords, maxvals, np.array([0.5]),
                                                        neck="head_bottom")
  np.testing.assert_array_equal(kept_coords, coords)
  np.testing.assert_allclose(kept_scores, maxvals * 0.5)
  with pytest.raises(ValueError, match="neck"):
    decode.to_posetrack_joints(coords, maxvals, np.array([0.5]), neck="neck")


def test_object_keypoint_similarity_by_hand():
  reference = np.zeros((keypoints.NUM_JOINTS, 2))
  other = reference.copy()
  other[0] = (3.0, 4.0)  # Nose 5 px away.
  area = 400.0
  oks = decode.object_keypoint_similarity(reference, other[None], area, np.array([area]))
  sigma = 0.026
  expected = (16 + np.exp(-25.0 / (2 * (2 * sigma) ** 2 * area))) / 17
  np.testing.assert_allclose(oks, [expected], rtol=1e-12)


def test_rescore_and_oks_nms():
  rng = np.random.default_rng(2)
  base = rng.uniform(0, 100, (keypoints.NUM_JOINTS, 2))
  coords = np.stack([base, base + 0.5, base + 300.0, base])
  maxvals = np.full((4, keypoints.NUM_JOINTS), 0.9)
  maxvals[1] = 0.95          # Near-duplicate of person 0 with a higher joint score.
  maxvals[2, :10] = 0.1      # Below the 0.2 visibility threshold: left out of the mean.
  maxvals[2, 10:] = 0.6
  maxvals[3] = 0.05          # No visible joint: score 0.
  box_scores = np.array([1.0, 0.5, 0.8, 1.0])
  areas = np.full(4, 2500.0)
  frame_ids = np.array([0, 0, 0, 1])
  keep, scores = decode.rescore_and_oks_nms(coords, maxvals, box_scores, areas, frame_ids)
  np.testing.assert_allclose(scores, [0.9, 0.475, 0.48, 0.0])
  # Frame 0: person 0 (0.9) suppresses its near-duplicate 1; person 2 is far away.
  # Frame 1: person 3 is alone, although it sits exactly on person 0.
  np.testing.assert_array_equal(keep, [0, 2, 3])
  keep_all, _ = decode.rescore_and_oks_nms(coords, maxvals, box_scores, areas, frame_ids,
                                           oks_threshold=1.0)
  np.testing.assert_array_equal(keep_all, [0, 2, 1, 3])


def test_bad_shapes():
  with pytest.raises(ValueError, match="heatmaps must be"):
    decode.decode_heatmaps(np.zeros((H, W, 1)), CENTER, SCALE)
  with pytest.raises(ValueError, match="do not agree"):
    decode.rescore_and_oks_nms(np.zeros((2, 17, 2)), np.zeros((2, 17)), np.zeros(3), np.zeros(2))


def _reference_final_preds(heatmaps_nchw, centers, scales):
  """HRNet `get_final_preds` as written there: loops, float32 and cv2's three-point affine."""
  n, k, h, w = heatmaps_nchw.shape
  flat = heatmaps_nchw.reshape(n, k, -1)
  idx, maxvals = np.argmax(flat, 2), np.amax(flat, 2)
  coords = np.stack([idx % w, np.floor(idx / w)], -1).astype(np.float32)
  coords *= (maxvals > 0)[..., None]
  for i in range(n):
    for j in range(k):
      hm = heatmaps_nchw[i, j]
      px, py = int(np.floor(coords[i, j, 0] + 0.5)), int(np.floor(coords[i, j, 1] + 0.5))
      if 1 < px < w - 1 and 1 < py < h - 1:
        diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
        coords[i, j] += np.sign(diff) * .25
  preds = np.zeros_like(coords)
  for i in range(n):
    src_w = scales[i][0] * 200.0
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = centers[i]
    src[1] = centers[i] + np.array([0, src_w * -0.5])
    dst[0] = [w * 0.5, h * 0.5]
    dst[1] = np.array([w * 0.5, h * 0.5]) + np.array([0, w * -0.5])
    for points in (src, dst):
      direction = points[0] - points[1]
      points[2] = points[1] + np.array([-direction[1], direction[0]])
    inverse = cv2.getAffineTransform(np.float32(dst), np.float32(src))
    preds[i] = coords[i] @ inverse[:, :2].T + inverse[:, 2]
  return preds, maxvals


def test_matches_the_original_loop_implementation():
  rng = np.random.default_rng(3)
  heatmaps = rng.normal(size=(4, 9, 7, 6)).astype(np.float32) - 1.0
  heatmaps[0, ..., 0] = -1.0  # A joint with no positive value.
  heatmaps[1, 0, 3, 1] = 10.0  # Peaks on the border.
  heatmaps[1, 4, 6, 2] = 10.0
  centers = rng.uniform(50, 500, (4, 2))
  scales = rng.uniform(0.3, 2.0, (4, 2))
  coords, maxvals = decode.decode_heatmaps(heatmaps, centers, scales)
  expected_coords, expected_maxvals = _reference_final_preds(
      heatmaps.transpose(0, 3, 1, 2), centers, scales)
  np.testing.assert_allclose(maxvals, expected_maxvals)
  np.testing.assert_allclose(coords, expected_coords, atol=1e-3)
