"""Random crop parameters of a training sample, shared by frames A and B (SPEC section 3.3).

Written in TensorFlow ops with stateless random numbers, so that it runs inside the tf.data
graph and a sample's augmentation depends only on its seed. The draws follow the original
`JointsDataset.__getitem__` in order: half-body, scale, rotation, flip.

Switches (fields of the `input` config section, configs/common.py):
- `upper_body_quirk` (default True, as the original and mmpose): the half-body transform keeps
  the upper body when `randn() < 0.5` (probability about 0.69); False uses a fair coin.
- `box_shift` (default False; mmpose only, SPEC 10.2 point 3): before everything else, with
  probability `box_shift_prob` the centre moves by U(-1, 1) * `box_shift_factor` * scale * 200.
"""

from typing import Mapping

import ml_collections
import numpy as np
import tensorflow as tf

from posewarper_jax.data import crops
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import transforms

# Independent random streams of one sample: box shift (2), half-body (2), scale, rotation (2),
# flip.
_NUM_DRAWS = 8


def _is_upper_body() -> np.ndarray:
  mask = np.zeros(keypoints_lib.NUM_JOINTS, bool)
  mask[list(keypoints_lib.UPPER_BODY_IDS)] = True
  return mask


def half_body(keypoints: tf.Tensor, upper_draw: tf.Tensor, aspect_ratio: float,
              scale_multiplier: float) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The original `half_body_transform`: a box around the upper or the lower body.

  keypoints: (17, 3) (x, y, visibility); upper_draw: bool, the coin that prefers the upper body.
  Returns (valid, center (2,), scale (2,)); valid is False when fewer than 2 joints are selected.
  """
  visible = keypoints[:, 2] > 0
  upper = tf.logical_and(visible, _is_upper_body())
  lower = tf.logical_and(visible, ~_is_upper_body())
  num_upper = tf.reduce_sum(tf.cast(upper, tf.int32))
  num_lower = tf.reduce_sum(tf.cast(lower, tf.int32))
  selected = tf.where(tf.logical_and(upper_draw, num_upper > 2), upper,
                      tf.where(num_lower > 2, lower, upper))
  num_selected = tf.reduce_sum(tf.cast(selected, tf.float32))
  points = keypoints[:, :2]
  center = tf.reduce_sum(tf.where(selected[:, None], points, 0.0), axis=0) / tf.maximum(
      num_selected, 1.0)
  big = tf.constant(np.finfo(np.float32).max, tf.float32)
  left_top = tf.reduce_min(tf.where(selected[:, None], points, big), axis=0)
  right_bottom = tf.reduce_max(tf.where(selected[:, None], points, -big), axis=0)
  w, h = right_bottom[0] - left_top[0], right_bottom[1] - left_top[1]
  h, w = (tf.where(w > aspect_ratio * h, w / aspect_ratio, h),
          tf.where(w < aspect_ratio * h, h * aspect_ratio, w))
  scale = tf.stack([w, h]) / transforms.PIXEL_STD * scale_multiplier
  return num_selected >= 2, center, scale


def flip_keypoints(keypoints: tf.Tensor, image_width: tf.Tensor) -> tf.Tensor:
  """The original `fliplr_joints`: x -> width - x - 1, left/right swap, joints *= visibility.

  keypoints: (17, 3) -> (17, 3).
  """
  x = tf.cast(image_width, tf.float32) - keypoints[:, 0] - 1.0
  mirrored = tf.stack([x, keypoints[:, 1], keypoints[:, 2]], axis=1)
  swapped = tf.gather(mirrored, keypoints_lib.FLIP_PERMUTATION)
  return swapped * swapped[:, 2:3]


def sample(seed: tf.Tensor, keypoints: tf.Tensor, center: tf.Tensor, scale: tf.Tensor,
           image_width: tf.Tensor, config: ml_collections.ConfigDict) -> Mapping[str, tf.Tensor]:
  """Draws one sample's crop parameters.

  seed: (2,) int32/int64 stateless seed; keypoints: (17, 3) float32 in image pixels;
  center, scale: (2,) float32 of the ground-truth box; image_width: scalar (pixels).
  Returns center (2,), scale (2,), rotation () degrees, flip () bool, keypoints (17, 3) (flipped
  when flip is set; centre already mirrored), all in the image frame before the crop.
  """
  seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), _NUM_DRAWS)
  uniform = lambda i: tf.random.stateless_uniform([], seeds[i])
  normal = lambda i: tf.random.stateless_normal([], seeds[i])
  keypoints = tf.cast(keypoints, tf.float32)
  center = tf.cast(center, tf.float32)
  scale = tf.cast(scale, tf.float32)
  width, height = config.image_size
  aspect_ratio = width / height

  if config.box_shift:  # SPEC 10.2 point 3 (mmpose TopDownRandomShiftBboxCenter).
    shift = tf.random.stateless_uniform([2], seeds[0], -1.0, 1.0)
    shift = shift * config.box_shift_factor * scale * transforms.PIXEL_STD
    center = tf.where(uniform(1) < config.box_shift_prob, center + shift, center)

  num_visible = tf.reduce_sum(tf.cast(keypoints[:, 2] > 0, tf.int32))
  upper_draw = normal(3) < 0.5 if config.upper_body_quirk else uniform(3) < 0.5
  valid, half_center, half_scale = half_body(keypoints, upper_draw, aspect_ratio,
                                             config.half_body_scale)
  use_half = tf.logical_and(num_visible > config.num_joints_half_body,
                            uniform(2) < config.half_body_prob)
  use_half = tf.logical_and(use_half, valid)
  center = tf.where(use_half, half_center, center)
  scale = tf.where(use_half, half_scale, scale)

  factor = config.scale_factor
  scale = scale * tf.clip_by_value(normal(4) * factor + 1.0, 1.0 - factor, 1.0 + factor)
  rotation = tf.clip_by_value(normal(5) * config.rotation_factor,
                              -2.0 * config.rotation_factor, 2.0 * config.rotation_factor)
  rotation = tf.where(uniform(6) <= config.rotation_prob, rotation, 0.0)

  flip = tf.logical_and(tf.constant(bool(config.flip)), uniform(7) <= config.flip_prob)
  image_width = tf.cast(image_width, tf.float32)
  keypoints = tf.where(flip, flip_keypoints(keypoints, image_width), keypoints)
  center = tf.where(flip, tf.stack([image_width - center[0] - 1.0, center[1]]), center)
  return {"center": center, "scale": scale, "rotation": rotation, "flip": flip,
          "keypoints": keypoints}


def crop_matrix(params: Mapping[str, tf.Tensor], image_width: tf.Tensor,
                output_size: tuple[int, int]) -> tf.Tensor:
  """(2, 3) map from the unflipped image to the crop for `sample`'s parameters.

  The original flips the image and then crops it; composing the crop with the mirror
  x -> width - x - 1 samples exactly the same pixels without flipping the image.
  """
  matrix = crops.affine_matrix(params["center"], params["scale"], params["rotation"],
                               output_size)
  flipped = crops.compose(matrix, crops.horizontal_flip_matrix(image_width))
  return tf.where(params["flip"], flipped, matrix)
