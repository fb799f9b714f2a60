"""The training loss (SPEC 5.1): the original's JointsMSELoss with target weights."""

import jax
import jax.numpy as jnp


def joints_mse(heatmaps: jax.Array, target: jax.Array, target_weight: jax.Array) -> jax.Array:
  """0.5 * mean over (B, h, w, K) of (w_bk * (heatmaps - target))^2, a float32 scalar.

  heatmaps, target: (B, h, w, K); target_weight: (B, K), the joints' visibility. Equals the
  original's per-joint 0.5 * mean((w * pred - w * gt)^2) summed over joints and divided by K.
  """
  if heatmaps.shape != target.shape or target_weight.shape != (target.shape[0], target.shape[-1]):
    raise ValueError(f"joints_mse: heatmaps {heatmaps.shape}, target {target.shape} and "
                     f"target_weight {target_weight.shape} must be (B, h, w, K), (B, h, w, K), "
                     f"(B, K)")
  weight = target_weight[:, None, None, :].astype(jnp.float32)
  difference = weight * (heatmaps.astype(jnp.float32) - target.astype(jnp.float32))
  return 0.5 * jnp.mean(jnp.square(difference))
