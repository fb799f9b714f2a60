import cv2
import numpy as np
import pytest
import tensorflow as tf

from configs import common
from posewarper_jax.data import augment
from posewarper_jax.data import crops
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import pixels
from posewarper_jax.data import targets
from posewarper_jax.data import transforms

OUTPUT_SIZE = (288, 384)
HEATMAP_SIZE = (72, 96)


@pytest.fixture(scope="module")
def real_jpeg(posetrack18_sample):
  return (posetrack18_sample / "images/val/003418_mpii_test/000000.jpg").read_bytes()


def _person(rng, center=(900.0, 500.0), spread=150.0, visible=17):
  keypoints = np.zeros((17, 3), np.float32)
  keypoints[:, :2] = rng.uniform(-spread, spread, (17, 2)) + center
  keypoints[:visible, 2] = 1
  return keypoints


@pytest.mark.parametrize("rotation", [0.0, 37.0, -90.0])
def test_affine_matrix_matches_numpy(rotation):
  center, scale = np.array([812.5, 431.0]), np.array([1.7, 2.2667])
  got = crops.affine_matrix(center, scale, rotation, OUTPUT_SIZE).numpy()
  want = transforms.affine_matrix(center, scale, rotation, OUTPUT_SIZE)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
  inverse = crops.invert(tf.constant(got)).numpy()
  np.testing.assert_allclose(
      inverse, transforms.affine_matrix(center, scale, rotation, OUTPUT_SIZE, inverse=True),
      rtol=1e-4, atol=1e-2)
  flip = crops.horizontal_flip_matrix(1920).numpy()
  composed = crops.compose(tf.constant(got), tf.constant(flip)).numpy()
  point = np.array([100.0, 50.0])
  np.testing.assert_allclose(transforms.apply_affine(point, composed),
                             transforms.apply_affine([1919.0 - 100.0, 50.0], want), atol=1e-3)


def test_warp_matches_cv2_on_real_image(real_jpeg):
  image = tf.io.decode_jpeg(real_jpeg, channels=3).numpy()
  matrix = transforms.affine_matrix([300.0, 150.0], [2.2, 2.9333], 25.0, OUTPUT_SIZE)
  want = cv2.warpAffine(image, matrix, OUTPUT_SIZE, flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)).astype(np.float64)
  got = crops.warp(image, tf.constant(matrix, tf.float32), OUTPUT_SIZE).numpy()
  assert got.shape == want.shape == (384, 288, 3)
  inner = (slice(4, -4), slice(4, -4))
  assert np.abs(got[inner] - want[inner]).mean() < 1.0  # Less than 1/255 after scaling.
  # The rotated crop leaves the image: zero border there in both.
  outside = (want.sum(-1) == 0) & (got.sum(-1) == 0)
  assert outside.sum() > 100


def test_flip_by_composition_equals_flipped_image(real_jpeg):
  image = tf.io.decode_jpeg(real_jpeg, channels=3).numpy()
  params = {"center": tf.constant([1919.0 - 700.0, 500.0]), "scale": tf.constant([2.0, 2.667]),
            "rotation": tf.constant(-20.0), "flip": tf.constant(True)}
  matrix = augment.crop_matrix(params, 1920, OUTPUT_SIZE)
  got = crops.warp(image, matrix, OUTPUT_SIZE).numpy()
  flipped_matrix = transforms.affine_matrix([1919.0 - 700.0, 500.0], [2.0, 2.667], -20.0,
                                            OUTPUT_SIZE)
  want = cv2.warpAffine(np.ascontiguousarray(image[:, ::-1]), flipped_matrix, OUTPUT_SIZE,
                        flags=cv2.INTER_LINEAR)
  assert np.abs(got[4:-4, 4:-4] - want[4:-4, 4:-4]).mean() < 1.0


def test_reduced_decode_ratio_and_alignment(real_jpeg):
  # A 600-px-wide region onto 288 px: zoom 0.48, ratio 2; 1600 px: zoom 0.18, ratio 4.
  for width_px, want_ratio in [(200.0, 1), (600.0, 2), (1600.0, 4), (2400.0, 8)]:
    matrix = crops.affine_matrix([960.0, 540.0], [width_px / 200, width_px / 150], 0.0,
                                 OUTPUT_SIZE)
    assert int(crops.decode_ratio_for(matrix)) == want_ratio
  matrix = crops.affine_matrix([900.0, 560.0], [4.0, 5.333], 15.0, OUTPUT_SIZE)  # Ratio 2.
  exact = crops.crop_jpeg(real_jpeg, matrix, OUTPUT_SIZE, reduced_decode=False).numpy()
  reduced = crops.crop_jpeg(real_jpeg, matrix, OUTPUT_SIZE, reduced_decode=True).numpy()
  shifted = crops.crop_jpeg(real_jpeg, crops.compose(
      tf.constant([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]), matrix), OUTPUT_SIZE, False).numpy()
  error = np.abs(reduced - exact)[8:-8, 8:-8].mean()
  # Normalised units (about 1/(255 * 0.226) per grey level): close, and closer than a
  # two-pixel misalignment would be.
  assert error < 0.08
  assert error < 0.5 * np.abs(shifted - exact)[8:-8, 8:-8].mean()
  np.testing.assert_allclose(exact.reshape(-1, 3).mean(0), reduced.reshape(-1, 3).mean(0),
                             atol=0.02)


def _sample_many(keypoints, config, num):
  fn = tf.function(lambda s: augment.sample(tf.stack([s, tf.constant(7, tf.int64)]), keypoints,
                                            [900.0, 500.0], [1.5, 2.0], 1920, config))
  ds = tf.data.Dataset.range(num).map(fn).batch(num)
  return {k: v.numpy() for k, v in next(iter(ds)).items()}


def test_sampled_parameter_distributions():
  config = common.input_config()
  keypoints = _person(np.random.default_rng(0), visible=17)
  draws = _sample_many(keypoints, config, 4000)
  # Half-body boxes are recentred on a joint mean; the others keep (or mirror) the box centre.
  half = ~np.all(np.isin(draws["center"], [900.0, 1019.0, 500.0]), axis=1)
  ratio = draws["scale"][~half, 0] / 1.5
  assert ratio.min() >= 0.65 - 1e-6 and ratio.max() <= 1.35 + 1e-6
  np.testing.assert_allclose(np.mean(ratio == 0.65) + np.mean(ratio == 1.35),
                             2 * 0.158, atol=0.03)  # P(|N(0,1)| > 1) = 0.317.
  np.testing.assert_allclose(np.mean(np.abs(draws["rotation"]) > 0), 0.6, atol=0.03)
  assert np.abs(draws["rotation"]).max() <= 90.0
  np.testing.assert_allclose(np.mean(draws["flip"]), 0.5, atol=0.03)
  np.testing.assert_allclose(np.mean(half), 0.3, atol=0.03)
  # Flipped samples: mirrored centre and keypoints with the left/right swap.
  flipped = draws["flip"] & ~half
  np.testing.assert_allclose(draws["center"][flipped, 0], 1919.0 - 900.0)
  mirrored = keypoints.copy()
  mirrored[:, 0] = 1919.0 - mirrored[:, 0]
  mirrored = mirrored[list(keypoints_lib.FLIP_PERMUTATION)]
  np.testing.assert_allclose(draws["keypoints"][np.argmax(flipped)], mirrored, rtol=1e-6)


def test_upper_body_quirk_switch():
  config = common.input_config()
  config.half_body_prob = 1.0
  config.scale_factor = 0.0
  config.flip = False
  keypoints = _person(np.random.default_rng(1), visible=17)
  upper_center = keypoints[:11, :2].mean(0)
  fractions = []
  for quirk in (True, False):
    config.upper_body_quirk = quirk
    draws = _sample_many(keypoints, config, 2000)
    fractions.append(np.mean(np.all(np.abs(draws["center"] - upper_center) < 1e-3, axis=1)))
  np.testing.assert_allclose(fractions, [0.691, 0.5], atol=0.035)


def _reference_half_body(keypoints, choose_upper, aspect_ratio=0.75):
  """The original half_body_transform with its coin fixed, float64."""
  upper = [k for i, k in enumerate(keypoints) if k[2] > 0 and i in keypoints_lib.UPPER_BODY_IDS]
  lower = [k for i, k in enumerate(keypoints) if k[2] > 0 and i in keypoints_lib.LOWER_BODY_IDS]
  if choose_upper and len(upper) > 2:
    selected = upper
  else:
    selected = lower if len(lower) > 2 else upper
  if len(selected) < 2:
    return None
  selected = np.array(selected, np.float64)
  center = selected.mean(0)[:2]
  w, h = selected.max(0)[:2] - selected.min(0)[:2]
  if w > aspect_ratio * h:
    h = w / aspect_ratio
  elif w < aspect_ratio * h:
    w = h * aspect_ratio
  return center, np.array([w, h]) / 200 * 1.5


@pytest.mark.parametrize("visible_upper, visible_lower, choose_upper", [
    (11, 6, True), (11, 6, False), (2, 6, True), (11, 2, False), (1, 0, True)])
def test_half_body_matches_reference(visible_upper, visible_lower, choose_upper):
  keypoints = _person(np.random.default_rng(2), visible=0)
  keypoints[:visible_upper, 2] = 1
  keypoints[11:11 + visible_lower, 2] = 1
  valid, center, scale = augment.half_body(tf.constant(keypoints), tf.constant(choose_upper),
                                           0.75, 1.5)
  want = _reference_half_body(keypoints, choose_upper)
  assert bool(valid) == (want is not None)
  if want is not None:
    np.testing.assert_allclose(center.numpy(), want[0], rtol=1e-5)
    np.testing.assert_allclose(scale.numpy(), want[1], rtol=1e-5)


@pytest.mark.parametrize("flip, rotation", [(False, 0.0), (True, 0.0), (False, 60.0),
                                            (True, -35.0)])
def test_joint_round_trip_through_affine_and_heatmap(flip, rotation):
  config = common.input_config()
  config.update(flip_prob=float(flip), rotation_prob=float(rotation != 0), half_body_prob=0.0,
                scale_factor=0.0, rotation_factor=abs(rotation) / 2 or 1.0)
  rng = np.random.default_rng(3)
  keypoints = _person(rng, spread=120.0)
  center, scale = np.array([900.0, 500.0]), np.array([1.6, 2.1333])
  params = augment.sample(tf.constant([5, 11]), keypoints, center, scale, 1920, config)
  assert bool(params["flip"]) == flip
  rot = float(params["rotation"])
  joint_matrix = crops.affine_matrix(params["center"], params["scale"], rot, OUTPUT_SIZE)
  joints = crops.apply_affine(params["keypoints"][:, :2], joint_matrix)
  heatmaps, weight = map(np.asarray, targets.gaussian_heatmaps(
      joints.numpy(), params["keypoints"][:, 2].numpy(), OUTPUT_SIZE))
  assert weight.sum() > 10
  back = transforms.affine_matrix(params["center"].numpy(), params["scale"].numpy(), rot,
                                  HEATMAP_SIZE, inverse=True)
  forward = transforms.affine_matrix(params["center"].numpy(), params["scale"].numpy(), rot,
                                     HEATMAP_SIZE)
  swapped = 0
  for k in np.flatnonzero(weight):
    y, x = np.unravel_index(np.argmax(heatmaps[..., k]), heatmaps.shape[:2])
    in_image = transforms.apply_affine([x, y], back)  # In the (flipped) image frame.
    source = keypoints_lib.FLIP_PERMUTATION[k] if flip else k
    want = keypoints[source, :2].astype(np.float64)
    if flip:  # Channel k of a flipped sample is the mirror of the original joint perm[k].
      want[0] = 1919.0 - want[0]
      swapped += source != k
    error = transforms.apply_affine(in_image, forward) - transforms.apply_affine(want, forward)
    assert np.all(np.abs(error) <= 0.5 + 1e-3), (k, error)
  assert swapped == (14 if flip else 0)  # The seven left/right pairs.


def test_box_shift_switch():
  config = common.input_config()
  config.update(half_body_prob=0.0, flip=False, box_shift=True, box_shift_prob=1.0)
  draws = _sample_many(_person(np.random.default_rng(4)), config, 500)
  shift = draws["center"] - [900.0, 500.0]
  limit = 0.16 * np.array([1.5, 2.0]) * 200
  assert np.all(np.abs(shift) <= limit + 1e-3) and np.all(np.abs(shift).max(0) > 0.9 * limit)
  config.box_shift = False
  np.testing.assert_allclose(_sample_many(_person(np.random.default_rng(4)), config, 50)["center"],
                             np.tile([900.0, 500.0], (50, 1)))


def _backend_crop(image, matrix, output_size, backend):
  """The backend's unnormalised crop, float32: cv2.warpAffine itself, or `crops.warp`."""
  if backend == "cv2":
    return cv2.warpAffine(np.asarray(image), np.asarray(matrix, np.float32).astype(np.float64),
                          tuple(output_size), flags=cv2.INTER_LINEAR).astype(np.float32)
  return crops.warp(image, matrix, output_size).numpy()


@pytest.mark.parametrize("backend", ["tf", "cv2"])
@pytest.mark.parametrize("center", [(900.0, 560.0), (60.0, 1000.0), (-900.0, 300.0)])
def test_window_decode_equals_full_decode(real_jpeg, center, backend):
  # Inside, across the corner, and entirely off the image.
  matrix = crops.affine_matrix(center, [1.5, 2.0], 30.0, OUTPUT_SIZE)
  windowed = crops.crop_jpeg(real_jpeg, matrix, OUTPUT_SIZE, reduced_decode=False,
                             backend=backend).numpy()
  full = crops.normalize(_backend_crop(tf.io.decode_jpeg(real_jpeg, channels=3), matrix,
                                       OUTPUT_SIZE, backend)).numpy()
  # Float32 rounding of the shift; cv2 also rounds sample points to 1/32 pixel and values to
  # uint8, so a shifted point can land one grey level away (1 / (255 * std) normalised).
  one_level = 1.0 / (255 * min(pixels.IMAGENET_STD))
  np.testing.assert_allclose(windowed, full, atol=1e-3 if backend == "tf" else 1.01 * one_level)
  if backend == "cv2":
    assert np.mean(np.abs(windowed - full) > 1e-3) < 0.01


def test_cv2_backend_is_the_original_crop_and_agrees_with_tf(real_jpeg):
  image = tf.io.decode_jpeg(real_jpeg, channels=3).numpy()
  stacked = np.concatenate([image, image[::-1]], axis=-1)  # Two frames along channels.
  matrix = transforms.affine_matrix([800.0, 500.0], [2.0, 2.667], -40.0, OUTPUT_SIZE)
  got = np.concatenate(crops.warp_frames([image, np.ascontiguousarray(image[::-1])],
                                         tf.constant(matrix, tf.float32), OUTPUT_SIZE, "cv2"),
                       axis=-1).astype(np.float32)
  want = cv2.warpAffine(np.ascontiguousarray(image[::-1]), matrix.astype(np.float32),
                        OUTPUT_SIZE, flags=cv2.INTER_LINEAR)
  np.testing.assert_array_equal(got[..., 3:], want)
  with_tf = crops.warp(stacked, tf.constant(matrix, tf.float32), OUTPUT_SIZE).numpy()
  assert np.abs(got - with_tf)[4:-4, 4:-4].mean() < 1.0


def _reference_warp(image, matrix, output_size):
  """Bilinear crop in float64 with zeros outside the image: (out_h, out_w, C)."""
  inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
  ys, xs = np.mgrid[0:output_size[1], 0:output_size[0]].astype(np.float64)
  source_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
  source_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
  x0, y0 = np.floor(source_x).astype(int), np.floor(source_y).astype(int)
  fx, fy = (source_x - x0)[..., None], (source_y - y0)[..., None]
  height, width = image.shape[:2]

  def pixel(y, x):
    inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
    values = image[np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)].astype(np.float64)
    return values * inside[..., None]

  top = pixel(y0, x0) * (1 - fx) + pixel(y0, x0 + 1) * fx
  bottom = pixel(y0 + 1, x0) * (1 - fx) + pixel(y0 + 1, x0 + 1) * fx
  return top * (1 - fy) + bottom * fy


@pytest.mark.parametrize("image_shape, center, scale, rotation", [
    ((97, 131, 3), (60.0, 45.0), 0.3, 33.0),  # Odd pixel count of the padded image; zoom > 1.
    ((120, 90, 15), (10.0, 100.0), 0.3, -70.0),  # Five stacked frames, across a corner.
    ((64, 48, 6), (24.5, 32.0), 0.3, 0.0),  # Axis-aligned.
    ((64, 48, 3), (24.0, 32.0), 0.24, 90.0),  # Source points within rounding of integers.
    ((50, 40, 3), (-400.0, 20.0), 0.3, 10.0),  # Entirely off the image.
])
def test_warp_matches_float64_reference(image_shape, center, scale, rotation):
  image = np.random.default_rng(5).integers(0, 256, image_shape, dtype=np.uint8)
  matrix = transforms.affine_matrix(center, [scale, scale * 4 / 3], rotation,
                                    (48, 64)).astype(np.float32)
  got = crops.warp(image, tf.constant(matrix), (48, 64)).numpy()
  want = _reference_warp(image, matrix, (48, 64))
  assert got.shape == want.shape == (64, 48, image_shape[2])
  # Pixel noise: a float32 sample point off by 1e-4 px moves a value by up to 0.03.
  np.testing.assert_allclose(got, want, atol=0.1)
  np.testing.assert_array_equal(got[want == 0], 0.0)  # Zeros outside the image, exactly.


@pytest.mark.parametrize("num_frames", [1, 2, 3])
@pytest.mark.parametrize("backend", ["tf", "cv2"])
def test_warp_and_normalize_equals_normalised_crops(num_frames, backend):
  rng = np.random.default_rng(6)
  frames = [rng.integers(0, 256, (90, 70, 3), dtype=np.uint8) for _ in range(num_frames)]
  matrix = tf.constant(transforms.affine_matrix([30.0, 50.0], [0.35, 0.45], 25.0, (48, 64)),
                       tf.float32)
  got = crops.warp_and_normalize([tf.constant(f) for f in frames], matrix, (48, 64), backend)
  assert len(got) == num_frames
  for frame, crop in zip(frames, got):
    want = crops.normalize(_backend_crop(frame, matrix, (48, 64), backend)).numpy()
    assert crop.shape == (64, 48, 3) and crop.dtype == tf.float32
    np.testing.assert_allclose(crop.numpy(), want, atol=1e-5)


@pytest.mark.parametrize("num_frames", [1, 2, 3])
def test_warp_frames_gives_rounded_uint8_crops(num_frames):
  rng = np.random.default_rng(7)
  frames = [rng.integers(0, 256, (90, 70, 3), dtype=np.uint8) for _ in range(num_frames)]
  matrix = transforms.affine_matrix([30.0, 50.0], [0.35, 0.45], 25.0, (48, 64)).astype(np.float32)
  tf_crops = crops.warp_frames([tf.constant(f) for f in frames], tf.constant(matrix), (48, 64),
                               "tf")
  cv2_crops = crops.warp_frames([tf.constant(f) for f in frames], tf.constant(matrix), (48, 64),
                                "cv2")
  assert len(tf_crops) == len(cv2_crops) == num_frames
  for frame, tf_crop, cv2_crop in zip(frames, tf_crops, cv2_crops):
    assert tf_crop.dtype == cv2_crop.dtype == tf.uint8 and tf_crop.shape == (64, 48, 3)
    unrounded = crops.warp(frame, tf.constant(matrix), (48, 64)).numpy()
    np.testing.assert_array_equal(tf_crop.numpy(), np.round(unrounded))
    # cv2's own 3-channel crop, bit for bit (the backend warps RGBA).
    np.testing.assert_array_equal(
        cv2_crop.numpy(), cv2.warpAffine(frame, matrix.astype(np.float64), (48, 64),
                                         flags=cv2.INTER_LINEAR))


@pytest.mark.parametrize("backend", ["tf", "cv2"])
def test_warp_boxes_crops_every_frame_under_every_box(backend):
  rng = np.random.default_rng(8)
  frames = [rng.integers(0, 256, (90, 70, 3), dtype=np.uint8) for _ in range(5)]
  matrices = np.stack([transforms.affine_matrix(center, [0.35, 0.45], rotation, (48, 64))
                       for center, rotation in [((30.0, 50.0), 25.0), ((60.0, 20.0), -10.0),
                                                ((-100.0, 0.0), 0.0)]]).astype(np.float32)
  got = crops.warp_boxes([tf.constant(f) for f in frames], tf.constant(matrices), (48, 64),
                         backend).numpy()
  assert got.shape == (3, 5, 64, 48, 3) and got.dtype == np.uint8
  for box, matrix in enumerate(matrices):
    for index, frame in enumerate(frames):
      if backend == "cv2":
        want = cv2.warpAffine(frame, matrix.astype(np.float64), (48, 64), flags=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(got[box, index], want)
      else:  # The single-frame crop, rounded; two compiled kernels may round a tie apart.
        want = np.round(crops.warp(frame, tf.constant(matrix), (48, 64)).numpy())
        np.testing.assert_allclose(got[box, index], want, atol=1)
        assert np.mean(got[box, index] != want) < 1e-3
  assert np.all(got[2] == 0)  # The third box lies off the frames.


def test_warp_and_normalize_rejects_bad_arguments():
  frame = tf.zeros([8, 8, 3], tf.uint8)
  matrix = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
  with pytest.raises(ValueError, match="frames"):
    crops.warp_and_normalize([frame] * 5, matrix, (8, 8))
  with pytest.raises(ValueError, match="backend"):
    crops.warp_and_normalize([frame], matrix, (8, 8), backend="pil")
