"""Gaussian target heatmaps and joint weights (SPEC section 3.4), in JAX, on the device.

Exactly the original `generate_target`: per joint, mu = int(joint / stride + 0.5) (truncation
toward zero, like Python's int), an unnormalised Gaussian with peak 1 on a
(6 sigma + 1)^2 window centred on mu, written into the in-bounds part of the map. The weight is
the joint's visibility, set to 0 when the window's corners satisfy the original's "outside" test
(ul >= size or br < 0 with br = mu + 3 sigma + 1); no Gaussian is written for weight 0.

The input pipelines hand over the joints in crop pixels, and the jitted train and propagation
steps encode them here: the host neither computes nor batches nor copies the heatmaps (at
384x288, 17 x 96 x 72 float32 = 470 KB per example, against 663 KB for the two uint8 crops).
"""

from typing import Sequence

import jax
import jax.numpy as jnp

# SPEC 3.4: truncation radius of the Gaussian window in units of sigma.
WINDOW_RADIUS_SIGMAS = 3


def window_radius(sigma: float) -> int:
  """The window's half-size 3 sigma; it must be an integer number of pixels."""
  radius = WINDOW_RADIUS_SIGMAS * sigma
  if radius != int(radius):
    raise ValueError(f"sigma={sigma}: 3 * sigma must be an integer number of heatmap pixels")
  return int(radius)


def _gaussian_1d(mu: jax.Array, length: int, radius: int, sigma: float) -> jax.Array:
  """mu: (..., K) int32 -> (..., K, length): the Gaussian's factor along one axis, 0 outside the
  window |d| <= radius."""
  distance = jnp.arange(length, dtype=jnp.int32) - mu[..., None]
  gauss = jnp.exp(-(distance * distance).astype(jnp.float32) / (2.0 * sigma**2))
  return jnp.where(jnp.abs(distance) <= radius, gauss, 0.0)


def gaussian_heatmaps(joints: jax.Array, visibility: jax.Array, image_size: Sequence[int],
                      stride: int = 4, sigma: float = 3.0) -> tuple[jax.Array, jax.Array]:
  """Encodes joints in crop pixels as heatmaps; any leading (batch) axes.

  joints: (..., K, 2) crop pixels (x, y); visibility: (..., K) in {0, 1}; image_size: crop
  (width, height). Returns heatmaps (..., height / stride, width / stride, K) float32 and
  target_weight (..., K) float32.
  """
  width, height = image_size
  if width % stride or height % stride:
    raise ValueError(f"image_size={tuple(image_size)} is not a multiple of stride={stride}")
  map_w, map_h = width // stride, height // stride
  radius = window_radius(sigma)
  mu = (jnp.asarray(joints, jnp.float32) / float(stride) + 0.5).astype(jnp.int32)  # int()
  mu_x, mu_y = mu[..., 0], mu[..., 1]
  outside = ((mu_x - radius >= map_w) | (mu_y - radius >= map_h)
             | (mu_x + radius + 1 < 0) | (mu_y + radius + 1 < 0))
  weight = jnp.where(outside, 0.0, jnp.asarray(visibility, jnp.float32))
  gauss_x = _gaussian_1d(mu_x, map_w, radius, sigma)  # (..., K, map_w)
  gauss_y = _gaussian_1d(mu_y, map_h, radius, sigma)  # (..., K, map_h)
  drawn = (weight > 0.5).astype(jnp.float32)
  # An elementwise outer product (a dot could run at reduced precision on accelerators).
  heatmaps = (jnp.swapaxes(gauss_y, -1, -2)[..., :, None, :]
              * jnp.swapaxes(gauss_x, -1, -2)[..., None, :, :]) * drawn[..., None, None, :]
  return heatmaps, weight


def joint_targets(joints: jax.Array, frames: jax.Array, stride: int, sigma: float
                  ) -> tuple[jax.Array, jax.Array]:
  """`gaussian_heatmaps` of the pipelines' joints for their crops.

  joints: (..., K, 3) crop pixels (x, y) and visibility; frames: (..., H, W, 3) the crops they
  belong to (only the shape is read). Returns (..., H / stride, W / stride, K), (..., K).
  """
  height, width = frames.shape[-3:-1]
  return gaussian_heatmaps(joints[..., :2], joints[..., 2], (width, height), stride, sigma)
