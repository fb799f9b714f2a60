"""Heatmaps -> image-space joints and PoseTrack person results (SPEC sections 6.2-6.5, 10.2).

NumPy only: inputs may be float32, all arithmetic is float64. Heatmaps are NHWC, (N, H, W, K),
with the joints of keypoints.JOINT_NAMES on the last axis.
"""

from typing import Optional

import numpy as np

from posewarper_jax.data import keypoints
from posewarper_jax.data import transforms

# SPEC 6.3: with POST_PROCESS, move a quarter heatmap pixel toward the larger neighbour.
QUARTER_PIXEL_SHIFT = 0.25
# SPEC 10.2 point 4 (mmpose): joints above this score count in the rescoring; NMS keeps a person
# unless its OKS with an already kept, higher-scoring person exceeds the threshold.
RESCORE_VISIBILITY_THRESHOLD = 0.2
OKS_NMS_THRESHOLD = 0.9
# Per-joint OKS sigmas in keypoints.JOINT_NAMES order: mmpose's posetrack18 dataset uses the COCO
# sigmas slot for slot (nose; head_bottom and head_top take the COCO eye values; ears; shoulders,
# elbows, wrists, hips, knees, ankles).
# SPEC 6.5: what PoseTrack's "neck" is written from (see to_posetrack_joints).
NECK_MODES = ("shoulder_midpoint", "head_bottom")
POSETRACK_OKS_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89,
]) / 10.0


def _check_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
  heatmaps = np.asarray(heatmaps)
  if heatmaps.ndim != 4:
    raise ValueError(f"heatmaps must be (N, H, W, K), got shape {heatmaps.shape}")
  return heatmaps


def decode_heatmaps(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray, *,
                    post_process: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """HRNet's `get_final_preds` (SPEC 6.3).

  Args:
    heatmaps: (N, H, W, K) joint heatmaps of N crops.
    centers: (N, 2) crop centres in image pixels.
    scales: (N, 2) crop scales in units of transforms.PIXEL_STD pixels.
    post_process: the quarter-pixel shift toward the larger neighbour (TEST.POST_PROCESS).
  Returns:
    coords: (N, K, 2) float64 image (x, y); maxvals: (N, K) float64 peak values (the scores).
    A joint whose peak is <= 0 is decoded from heatmap position (0, 0), as in the original.
  """
  heatmaps = _check_heatmaps(heatmaps)
  n, h, w, k = heatmaps.shape
  centers = np.asarray(centers, np.float64).reshape(n, 2)
  scales = np.asarray(scales, np.float64).reshape(n, 2)
  flat = heatmaps.reshape(n, h * w, k)  # No copy: large batches stay in their input dtype.
  index = np.argmax(flat, axis=1)  # (N, K)
  maxvals = np.take_along_axis(flat, index[:, None], axis=1)[:, 0].astype(np.float64)
  px, py = index % w, index // w
  coords = np.stack([px, py], axis=-1).astype(np.float64) * (maxvals > 0)[..., None]
  if post_process:
    px, py = coords[..., 0].astype(np.int64), coords[..., 1].astype(np.int64)
    # Strict, as the original: `1 < px < heatmap_width - 1 and 1 < py < heatmap_height - 1`.
    interior = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    b, j = np.nonzero(interior)
    x, y = px[b, j], py[b, j]

    def neighbour(step_x: int, step_y: int) -> np.ndarray:
      return heatmaps[b, y + step_y, x + step_x, j].astype(np.float64)

    dx = neighbour(1, 0) - neighbour(-1, 0)
    dy = neighbour(0, 1) - neighbour(0, -1)
    coords[b, j] += QUARTER_PIXEL_SHIFT * np.sign(np.stack([dx, dy], axis=-1))
  image_coords = np.empty_like(coords)
  for i in range(n):
    inverse = transforms.affine_matrix(centers[i], scales[i], 0.0, (w, h), inverse=True)
    image_coords[i] = transforms.apply_affine(coords[i], inverse)
  return image_coords, maxvals


def flip_back(heatmaps_flipped: np.ndarray, *, shift_heatmap: bool = False) -> np.ndarray:
  """Heatmaps predicted on a horizontally flipped crop -> the unflipped crop's frame.

  heatmaps_flipped: (N, H, W, K). Mirrors W and swaps left/right joints
  (keypoints.FLIP_PERMUTATION). `shift_heatmap` is the original's TEST.SHIFT_HEATMAP: move
  everything one pixel right (column x takes column x - 1; column 0 is kept).
  """
  heatmaps = _check_heatmaps(heatmaps_flipped)[:, :, ::-1, :][..., list(keypoints.FLIP_PERMUTATION)]
  if shift_heatmap:
    heatmaps = np.concatenate([heatmaps[:, :, :1], heatmaps[:, :, :-1]], axis=2)
  return np.ascontiguousarray(heatmaps)


def flip_test_average(heatmaps: np.ndarray, heatmaps_flipped: np.ndarray, *,
                      shift_heatmap: bool = False) -> np.ndarray:
  """Flip test: mean of the heatmaps (N, H, W, K) and the flipped-back flipped ones.

  Off by default in this project: PoseWarper tests without flipping (SPEC 6.2).
  """
  heatmaps = _check_heatmaps(heatmaps)
  if heatmaps.shape != np.shape(heatmaps_flipped):
    raise ValueError(f"heatmaps {heatmaps.shape} and heatmaps_flipped "
                     f"{np.shape(heatmaps_flipped)} differ in shape")
  return 0.5 * (heatmaps.astype(np.float64)
                + flip_back(heatmaps_flipped, shift_heatmap=shift_heatmap))


def to_posetrack_joints(coords: np.ndarray, maxvals: np.ndarray, box_scores: np.ndarray, *,
                        neck: str = "shoulder_midpoint") -> tuple[np.ndarray, np.ndarray]:
  """Joints and joint scores as PoseWarper writes them for evaluation (SPEC 6.4-6.5).

  Args:
    coords: (N, 17, 2) decoded joints; maxvals: (N, 17); box_scores: (N,) person box scores.
    neck: "shoulder_midpoint" reproduces the original's quirk: head_bottom (poseval's neck) is
      replaced by the shoulder midpoint with the mean shoulder maxval. "head_bottom" keeps the
      predicted channel (what mmpose evaluates, about +1.5 mAP per SPEC 6.5).
  Returns:
    coords (N, 17, 2) and scores (N, 17) = maxval x box score, in keypoints.JOINT_NAMES order.
  """
  if neck not in NECK_MODES:
    raise ValueError(f"neck must be 'shoulder_midpoint' or 'head_bottom', got {neck!r}")
  coords = np.array(coords, np.float64)
  maxvals = np.array(maxvals, np.float64)
  box_scores = np.asarray(box_scores, np.float64)
  if coords.shape[1:] != (keypoints.NUM_JOINTS, 2) or maxvals.shape != coords.shape[:2]:
    raise ValueError(f"coords {coords.shape} / maxvals {maxvals.shape} are not "
                     "(N, 17, 2) / (N, 17)")
  if box_scores.shape != coords.shape[:1]:
    raise ValueError(f"box_scores {box_scores.shape} is not ({coords.shape[0]},)")
  if neck == "shoulder_midpoint":
    shoulders = [keypoints.JOINT_INDEX["left_shoulder"], keypoints.JOINT_INDEX["right_shoulder"]]
    neck_index = keypoints.JOINT_INDEX["head_bottom"]
    coords[:, neck_index] = coords[:, shoulders].mean(axis=1)
    maxvals[:, neck_index] = maxvals[:, shoulders].mean(axis=1)
  return coords, maxvals * box_scores[:, None]


def object_keypoint_similarity(reference: np.ndarray, others: np.ndarray, reference_area: float,
                               other_areas: np.ndarray,
                               sigmas: np.ndarray = POSETRACK_OKS_SIGMAS) -> np.ndarray:
  """mmpose's `oks_iou` without visibility filtering: reference (K, 2), others (M, K, 2) -> (M,).

  OKS = mean_k exp(-d_k^2 / (2 (2 sigma_k)^2 s)) with s = the mean of the two areas (+ eps).
  """
  variances = (2.0 * np.asarray(sigmas, np.float64)) ** 2
  squared = np.sum((np.asarray(others, np.float64) - reference) ** 2, axis=-1)
  scale = (reference_area + np.asarray(other_areas, np.float64)) / 2.0 + np.spacing(1)
  return np.mean(np.exp(-squared / variances / scale[:, None] / 2.0), axis=-1)


def rescore_and_oks_nms(coords: np.ndarray, maxvals: np.ndarray, box_scores: np.ndarray,
                        areas: np.ndarray, frame_ids: Optional[np.ndarray] = None, *,
                        visibility_threshold: float = RESCORE_VISIBILITY_THRESHOLD,
                        oks_threshold: float = OKS_NMS_THRESHOLD,
                        sigmas: np.ndarray = POSETRACK_OKS_SIGMAS
                        ) -> tuple[np.ndarray, np.ndarray]:
  """mmpose's PoseTrack18 post-processing (SPEC 10.2 point 4); the original has neither step.

  Args:
    coords: (N, K, 2) image joints; maxvals: (N, K) heatmap scores; box_scores: (N,).
    areas: (N,) person areas for OKS. mmpose uses the area of the padded, aspect-corrected crop
      box, prod(scale * transforms.PIXEL_STD), i.e. that box's w * h.
    frame_ids: (N,) frame of each person; NMS runs per frame. None: all in one frame.
  Returns:
    keep: (M,) indices of the kept persons, frame by frame, by falling score within a frame.
    person_scores: (N,) mean of the maxvals above `visibility_threshold` (0 if none) x box score.
  """
  coords = np.asarray(coords, np.float64)
  maxvals = np.asarray(maxvals, np.float64)
  box_scores = np.asarray(box_scores, np.float64)
  areas = np.asarray(areas, np.float64)
  n = coords.shape[0]
  if maxvals.shape != coords.shape[:2] or box_scores.shape != (n,) or areas.shape != (n,):
    raise ValueError(f"shapes coords {coords.shape}, maxvals {maxvals.shape}, box_scores "
                     f"{box_scores.shape}, areas {areas.shape} do not agree")
  frame_ids = np.zeros(n, np.int64) if frame_ids is None else np.asarray(frame_ids)
  visible = maxvals > visibility_threshold
  count = visible.sum(axis=1)
  joint_mean = np.where(visible, maxvals, 0.0).sum(axis=1) / np.maximum(count, 1)
  person_scores = joint_mean * box_scores
  keep = []
  for frame in dict.fromkeys(frame_ids.tolist()):
    order = np.flatnonzero(frame_ids == frame)
    order = order[np.argsort(person_scores[order])[::-1]]
    while order.size:
      best, order = order[0], order[1:]
      keep.append(best)
      oks = object_keypoint_similarity(coords[best], coords[order], areas[best], areas[order],
                                       sigmas)
      order = order[oks <= oks_threshold]
  return np.array(keep, np.int64), person_scores
