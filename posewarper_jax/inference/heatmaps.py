"""The model side of inference: jitted heatmap functions over a data-parallel mesh (SPEC 6, 7b).

Modes:
  "single": the backbone's heatmaps of frame t (an HRNet, or a PoseWarper's backbone);
  "aggregate": PoseWarper.aggregate over frames t-2..t+2, all cropped with frame t's box.

A box's crops come in the original's order, t + FRAME_OFFSETS[mode] (data.neighbours). This
module imports no TensorFlow, so that the model benchmarks run where only JAX is installed
(benchmarks/run_gpu.sh); predict.py feeds it from the tf.data evaluation pipeline.
"""

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from posewarper_jax.data import neighbours
from posewarper_jax.data import pixels
from posewarper_jax.models import REFERENCE_FIELDS, HRNet, PoseWarper, with_reference_fields
from posewarper_jax import sharding

MODES = ("single", "aggregate")
FRAME_OFFSETS = {"single": neighbours.SINGLE_FRAME_OFFSETS,
                 "aggregate": neighbours.AGGREGATION_OFFSETS}
# PoseWarper.aggregate takes a box's crops in time order t-2..t+2.
TIME_ORDER = tuple(int(i) for i in np.argsort(neighbours.AGGREGATION_OFFSETS))
# The variable collections the heatmap functions read.
INFERENCE_COLLECTIONS = ("params", "batch_stats", REFERENCE_FIELDS)


def _backbone_heatmaps(model: nn.Module, variables, images: jax.Array) -> jax.Array:
  if isinstance(model, PoseWarper):
    return model.apply(variables, images, method=PoseWarper.heatmaps)
  return model.apply(variables, images)


@functools.lru_cache(maxsize=16)
def heatmap_function(model: nn.Module, mode: str, mesh: jax.sharding.Mesh,
                     flip_test: bool = False) -> Callable[[dict, np.ndarray], jax.Array]:
  """A jitted (variables, frames) -> heatmaps over `mesh` (cached: one compilation per setting).

  frames: (B, T, H, W, 3) crops of frames t + FRAME_OFFSETS[mode] (T = 1 or 5): uint8 RGB
  (normalised here, pixels.model_input) or floating ImageNet-normalised.
  Returns (B, H/4, W/4, K) float32, or (2, B, H/4, W/4, K) with `flip_test`, where [1] is
  computed on the horizontally flipped crops and still flipped (see decode.flip_test_average).
  """
  if mode not in MODES:
    raise ValueError(f"mode={mode!r}: expected one of {MODES}")
  if mode == "aggregate":
    if not isinstance(model, PoseWarper):
      raise ValueError(f"mode 'aggregate' needs a PoseWarper checkpoint, got {type(model).__name__}")
    if len(model.aggregation_weights) != len(TIME_ORDER):
      raise ValueError(f"mode 'aggregate' needs {len(TIME_ORDER)} aggregation weights, the model "
                       f"has {tuple(model.aggregation_weights)}")
  elif not isinstance(model, (HRNet, PoseWarper)):
    raise ValueError(f"unsupported model {type(model).__name__}")

  def heatmaps(variables, frames):
    if mode == "single":
      return _backbone_heatmaps(model, variables, frames[:, 0])
    return model.apply(variables, frames[:, list(TIME_ORDER)], method=PoseWarper.aggregate)

  def forward(variables, frames):
    frames = pixels.model_input(frames)
    if not flip_test:
      return heatmaps(variables, frames)
    return jnp.stack([heatmaps(variables, frames), heatmaps(variables, frames[..., ::-1, :])])

  batch = sharding.batch_sharded(mesh)
  out = batch if not flip_test else jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec(None, sharding.DATA_AXIS))
  return jax.jit(forward, in_shardings=(sharding.replicated(mesh), batch), out_shardings=out)


def replicated_variables(variables: dict, mesh: jax.sharding.Mesh) -> dict:
  """{"params", "batch_stats", REFERENCE_FIELDS} of `variables` (other collections
  dropped), replicated on `mesh`.

  A BatchNorm-folded model's variables (models/fold.py) have no "batch_stats".
  """
  return jax.device_put({name: variables[name] for name in INFERENCE_COLLECTIONS
                         if name in variables}, sharding.replicated(mesh))


def inference_variables(model: nn.Module, variables: dict, mode: str,
                        image_shape: Sequence[int], mesh: jax.sharding.Mesh) -> dict:
  """The variables to give heatmap_function(model, mode, mesh) for crops of image_shape (H, W),
  replicated on `mesh`: for "aggregate", with the reference frame's offset fields computed once
  (with_reference_fields) instead of on every call."""
  if mode == "aggregate":
    variables = with_reference_fields(model, variables, image_shape)
  return replicated_variables(variables, mesh)
