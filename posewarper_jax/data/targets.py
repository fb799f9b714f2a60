"""Gaussian target heatmaps and joint weights (SPEC section 3.4), in TF ops for tf.data.

Exactly the original `generate_target`: per joint, mu = int(joint / stride + 0.5) (truncation
toward zero, like Python's int), an unnormalised Gaussian with peak 1 on a
(6 sigma + 1)^2 window centred on mu, written into the in-bounds part of the map. The weight is
the joint's visibility, set to 0 when the window's corners satisfy the original's "outside" test
(ul >= size or br < 0 with br = mu + 3 sigma + 1); no Gaussian is written for weight 0.
"""

from typing import Sequence

import tensorflow as tf

# SPEC 3.4: truncation radius of the Gaussian window in units of sigma.
WINDOW_RADIUS_SIGMAS = 3


def window_radius(sigma: float) -> int:
  """The window's half-size 3 sigma; it must be an integer number of pixels."""
  radius = WINDOW_RADIUS_SIGMAS * sigma
  if radius != int(radius):
    raise ValueError(f"sigma={sigma}: 3 * sigma must be an integer number of heatmap pixels")
  return int(radius)


def gaussian_heatmaps(joints: tf.Tensor, visibility: tf.Tensor, image_size: Sequence[int],
                      stride: int = 4, sigma: float = 3.0) -> tuple[tf.Tensor, tf.Tensor]:
  """Encodes joints in crop pixels as heatmaps.

  joints: (K, 2) crop pixels (x, y); visibility: (K,) in {0, 1}; image_size: crop (width, height).
  Returns heatmaps (height / stride, width / stride, K) float32 and target_weight (K,) float32.
  """
  width, height = image_size
  if width % stride or height % stride:
    raise ValueError(f"image_size={tuple(image_size)} is not a multiple of stride={stride}")
  map_w, map_h = width // stride, height // stride
  radius = window_radius(sigma)
  joints = tf.cast(joints, tf.float32)
  mu = tf.cast(joints / float(stride) + 0.5, tf.int32)  # Truncates toward zero like int().
  upper_left = mu - radius
  bottom_right = mu + radius + 1
  outside = ((upper_left[:, 0] >= map_w) | (upper_left[:, 1] >= map_h)
             | (bottom_right[:, 0] < 0) | (bottom_right[:, 1] < 0))
  weight = tf.where(outside, 0.0, tf.cast(visibility, tf.float32))

  dx = tf.range(map_w)[None, :] - mu[:, 0:1]  # (K, map_w)
  dy = tf.range(map_h)[None, :] - mu[:, 1:2]  # (K, map_h)
  gauss_x = tf.where(tf.abs(dx) <= radius,
                     tf.exp(-tf.cast(dx * dx, tf.float32) / (2.0 * sigma**2)), 0.0)
  gauss_y = tf.where(tf.abs(dy) <= radius,
                     tf.exp(-tf.cast(dy * dy, tf.float32) / (2.0 * sigma**2)), 0.0)
  drawn = tf.cast(weight > 0.5, tf.float32)
  heatmaps = (tf.transpose(gauss_y)[:, None, :] * tf.transpose(gauss_x)[None, :, :]) * drawn
  return heatmaps, weight
