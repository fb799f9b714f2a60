"""PoseWarper: an HRNet plus the heatmap-warping head (SPEC 4, 5.4, 7a, 7b), NHWC.

The head differences two frames' heatmaps, turns the difference into offset features with a
chain of BasicBlocks, predicts one deformable-conv offset field per joint at each of five
dilations, warps a heatmap with five deformable 3x3 convs and averages them (SPEC 4.1-4.5).

Three entry points share the parameters (call them with `model.apply(variables, ...,
method=...)`):
  * `__call__(frame_a, frame_b)`: training pairs, warps H_B with offsets from H_A - H_B;
  * `propagate(frame_a, frame_b, heatmaps_a)`: warps given heatmaps of A onto B (SPEC 7a);
  * `aggregate(frames)`: weighted sum of the five warped neighbours of frame t (SPEC 7b).
"""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from posewarper_jax.models import layers
from posewarper_jax.models.hrnet import HRNet, hrnet
from posewarper_jax.ops import DeformConv, identity_kernel_init

# SPEC 4.2: 20 BasicBlocks with 128 channels build the offset features.
NUM_OFFSET_BLOCKS = 20
OFFSET_CHANNELS = 128
# SPEC 4.3, 4.4: dilation (= padding) of the five offset convs and deformable convs.
DILATIONS = (3, 6, 12, 18, 24)
# SPEC 4.4: 3x3 deformable kernels.
DEFORM_KERNEL = 3
# SPEC 7b: weights of frames t-2, t-1, t, t+1, t+2 in temporal aggregation.
AGGREGATION_WEIGHTS = (0.1, 0.25, 0.3, 0.25, 0.1)
# Variables collection written by `with_reference_fields`: the offset fields of a zero heatmap
# difference (the reference frame's in inference-mode aggregation), stored as "fields".
REFERENCE_FIELDS = "reference_fields"
# SPEC 5.4 (official: frozen backbone BN still uses batch statistics and updates running stats)
# and SPEC 10.2 (mmpose: frozen stages run in inference mode).
BACKBONE_BATCH_STATS_MODES = ("batch", "running")

Dtype = Any


class PoseWarper(nn.Module):
  """HRNet backbone plus warping head; heatmaps are (B, H/4, W/4, K), K = backbone.num_joints.

  Attributes:
    backbone: the single-frame HRNet (its `final_layer` gives the heatmaps that are warped).
    num_offset_blocks: BasicBlocks of the offset-feature trunk (SPEC 4.2: 20; the first one
      projects K -> offset_channels with a 1x1 conv + BN).
    offset_channels: channels of the offset-feature trunk (SPEC 4.2: 128).
    dilations: dilation and padding of each offset conv / deformable conv pair (SPEC 4.3).
    aggregation_weights: per-frame weights of `aggregate`, in time order; odd length, the
      middle frame is the reference (SPEC 7b).
    freeze_backbone: stop gradients at the backbone's heatmaps (stage 2, SPEC 5.4): no backward
      pass runs through HRNet and its parameters get zero gradient.
    backbone_batch_stats: how the backbone's BatchNorm behaves when called with train=True.
      "batch" (official, SPEC 5.4): normalise with the statistics of the whole backbone batch
      ([A; B] for pairs) and keep updating the running statistics. "running" (mmpose, SPEC
      10.2): normalise with the running statistics and leave them unchanged. The head's
      BatchNorm always follows `train`.
    dtype: computation dtype of the head (the backbone has its own); parameters and outputs
      are float32, or float64 for a float64 head (`layers.wide_dtype`).
    batch_norm_folded: every BatchNorm of the head is folded into the convolution before it
      (models/fold.py folds the head and the backbone together); the head then runs only with
      train=False.
  """
  backbone: HRNet
  num_offset_blocks: int = NUM_OFFSET_BLOCKS
  offset_channels: int = OFFSET_CHANNELS
  dilations: Sequence[int] = DILATIONS
  aggregation_weights: Sequence[float] = AGGREGATION_WEIGHTS
  freeze_backbone: bool = True
  backbone_batch_stats: str = "batch"
  dtype: Dtype = jnp.float32
  batch_norm_folded: bool = False

  def setup(self):
    if self.backbone_batch_stats not in BACKBONE_BATCH_STATS_MODES:
      raise ValueError(f"PoseWarper: backbone_batch_stats must be one of "
                       f"{BACKBONE_BATCH_STATS_MODES}, got {self.backbone_batch_stats!r}")
    if len(self.aggregation_weights) % 2 != 1:
      raise ValueError(f"PoseWarper: aggregation_weights needs an odd number of frames, got "
                       f"{tuple(self.aggregation_weights)}")
    num_joints = self.backbone.num_joints
    self.offset_feats = [layers.BasicBlock(self.offset_channels, dtype=self.dtype,
                                           batch_norm_folded=self.batch_norm_folded)
                         for _ in range(self.num_offset_blocks)]
    # SPEC 4.6: offset convs start at zero, deformable convs at the identity (centre tap).
    self.offsets = [
        layers.conv(2 * num_joints * DEFORM_KERNEL ** 2, DEFORM_KERNEL, dilation=d,
                    kernel_init=nn.initializers.zeros, dtype=self.dtype)
        for d in self.dilations]
    self.deform_convs = [
        DeformConv(num_joints, (DEFORM_KERNEL, DEFORM_KERNEL), padding=d, kernel_dilation=d,
                   offset_groups=num_joints, use_bias=False, kernel_init=identity_kernel_init,
                   dtype=self.dtype, param_dtype=layers.wide_dtype(self.dtype))
        for d in self.dilations]

  def heatmaps(self, images: jax.Array, train: bool = False) -> jax.Array:
    """images: (N, H, W, 3) -> backbone heatmaps (N, H/4, W/4, K), frozen as configured."""
    backbone_train = train and self.backbone_batch_stats == "batch"
    heatmaps = self.backbone(images, train=backbone_train)
    return jax.lax.stop_gradient(heatmaps) if self.freeze_backbone else heatmaps

  def offset_fields(self, difference: jax.Array, train: bool = False) -> list[jax.Array]:
    """difference (N, h, w, K) -> per dilation, the offsets (N, h, w, 2 * K * 9), float32
    (float64 for a float64 head)."""
    layers.check_inference(train, self.batch_norm_folded, "PoseWarper")
    features = difference.astype(self.dtype)
    for block in self.offset_feats:
      features = block(features, train)
    return [offset_conv(features).astype(self._wide_dtype) for offset_conv in self.offsets]

  def reference_fields(self, map_shape: Sequence[int]) -> tuple[jax.Array, ...]:
    """Per dilation, the offsets (1, h, w, 2 * K * 9) of a zero difference of shape map_shape
    (h, w, K): the reference frame's in `aggregate` (inference mode)."""
    return tuple(self.offset_fields(jnp.zeros((1,) + tuple(map_shape), self.dtype)))

  def deform(self, heatmaps: jax.Array, fields: Sequence[jax.Array]) -> jax.Array:
    """Mean over dilations of heatmaps (N, h, w, K) deformed by `offset_fields` -> float32
    (float64 for a float64 head)."""
    warped = [deform(heatmaps.astype(self.dtype), field)
              for field, deform in zip(fields, self.deform_convs)]
    return (sum(warped) / len(warped)).astype(self._wide_dtype)

  @property
  def _wide_dtype(self) -> jnp.dtype:
    """Offsets and outputs: float32, or float64 for a float64 head."""
    return layers.wide_dtype(self.dtype)

  def warp(self, difference: jax.Array, heatmaps: jax.Array, train: bool = False) -> jax.Array:
    """Warps heatmaps (N, h, w, K) with offsets predicted from difference (N, h, w, K)."""
    if difference.shape != heatmaps.shape or heatmaps.shape[-1] != self.backbone.num_joints:
      raise ValueError(
          f"PoseWarper.warp: difference {difference.shape} and heatmaps {heatmaps.shape} must "
          f"both be (N, h, w, {self.backbone.num_joints})")
    return self.deform(heatmaps, self.offset_fields(difference, train))

  def __call__(self, frame_a: jax.Array, frame_b: jax.Array, train: bool = False) -> jax.Array:
    """Training pairs (SPEC 4.1): frames (N, H, W, 3) -> H_B warped onto A, (N, H/4, W/4, K).

    The backbone runs once on [A; B] so that its batch statistics are those of all 2N crops,
    as in the official code; offsets come from D = H_A - H_B.
    """
    _check_same_shape(frame_a, frame_b)
    both = self.heatmaps(jnp.concatenate([frame_a, frame_b], axis=0), train)
    heatmaps_a, heatmaps_b = jnp.split(both, 2, axis=0)
    return self.warp(heatmaps_a - heatmaps_b, heatmaps_b, train)

  def propagate(self, frame_a: jax.Array, frame_b: jax.Array, heatmaps_a: jax.Array,
                train: bool = False) -> jax.Array:
    """Propagation (SPEC 7a): warps heatmaps_a (N, H/4, W/4, K) onto frame B.

    Offsets come from D = H_B - H_A of the backbone's predictions. The original passes the
    ground-truth heatmaps as a 4x nearest-upsampled image channel and subsamples them back;
    here they are given at heatmap resolution directly, which is the same tensor.
    """
    _check_same_shape(frame_a, frame_b)
    both = self.heatmaps(jnp.concatenate([frame_a, frame_b], axis=0), train)
    predicted_a, predicted_b = jnp.split(both, 2, axis=0)
    if heatmaps_a.shape != predicted_a.shape:
      raise ValueError(f"PoseWarper.propagate: heatmaps_a must have shape {predicted_a.shape}, "
                       f"got {heatmaps_a.shape}")
    return self.warp(predicted_b - predicted_a, heatmaps_a, train)

  def aggregate(self, frames: jax.Array, train: bool = False) -> jax.Array:
    """Temporal aggregation (SPEC 7b): frames (N, T, H, W, 3) in time order -> (N, H/4, W/4, K).

    With T = len(aggregation_weights) and t = T // 2 the reference: sum_i w_i * warp(H_t - H_i,
    H_i). The reference frame goes through the warper too. Its difference is exactly zero, so
    in inference mode (BatchNorm on running statistics) its offsets do not depend on the input:
    they are computed once from a zero map and shared by the batch, which saves the offset
    trunk on 1 of the T frames, and variables from `with_reference_fields` save it on every
    call. With train=True every frame runs the trunk, as in the original.
    """
    num_frames = len(self.aggregation_weights)
    if frames.ndim != 5 or frames.shape[1] != num_frames:
      raise ValueError(f"PoseWarper.aggregate: frames must be (N, {num_frames}, H, W, 3), got "
                       f"shape {frames.shape}")
    n = frames.shape[0]
    heatmaps = self.heatmaps(frames.reshape((n * num_frames,) + frames.shape[2:]), train)
    heatmaps = heatmaps.reshape((n, num_frames) + heatmaps.shape[1:])
    reference = num_frames // 2
    difference = heatmaps[:, reference:reference + 1] - heatmaps
    map_shape = heatmaps.shape[2:]
    weights = jnp.asarray(self.aggregation_weights, self._wide_dtype)
    if train:
      batch_shape = (n * num_frames,) + map_shape
      warped = self.warp(difference.reshape(batch_shape), heatmaps.reshape(batch_shape), train)
      return jnp.einsum("t,nthwk->nhwk", weights, warped.reshape(heatmaps.shape))
    # The neighbours are warped as one batch with their own fields and the reference with the
    # shared ones, so that no field is copied into a batch of all T frames.
    others = [i for i in range(num_frames) if i != reference]
    batch_shape = (n * len(others),) + map_shape
    warped = self.warp(difference[:, others].reshape(batch_shape),
                       heatmaps[:, others].reshape(batch_shape))
    shared_fields = self._stored_reference_fields(map_shape)
    if shared_fields is None:
      shared_fields = self.reference_fields(map_shape)
    warped_reference = self.deform(
        heatmaps[:, reference], [jnp.broadcast_to(field, (n,) + field.shape[1:])
                                 for field in shared_fields])
    return (jnp.einsum("t,nthwk->nhwk", weights[jnp.asarray(others, jnp.int32)],
                       warped.reshape((n, len(others)) + map_shape))
            + weights[reference] * warped_reference)

  def _stored_reference_fields(self, map_shape: tuple[int, ...]):
    """The REFERENCE_FIELDS collection's fields, checked against map_shape (h, w, K), or None."""
    if not self.has_variable(REFERENCE_FIELDS, "fields"):
      return None
    fields = self.get_variable(REFERENCE_FIELDS, "fields")
    field_shape = (1,) + map_shape[:2] + (2 * map_shape[2] * DEFORM_KERNEL ** 2,)
    expected = [field_shape] * len(self.dilations)
    if [tuple(field.shape) for field in fields] != expected:
      raise ValueError(f"PoseWarper.aggregate: variables[{REFERENCE_FIELDS!r}] hold fields of "
                       f"shapes {[tuple(field.shape) for field in fields]}, heatmaps {map_shape} "
                       f"need {expected}; recompute them with with_reference_fields for this "
                       f"crop size")
    return fields


def with_reference_fields(model: PoseWarper, variables: dict,
                          image_shape: Sequence[int]) -> dict:
  """`variables` plus REFERENCE_FIELDS for crops of image_shape (H, W): the reference frame's
  offset fields, which `aggregate` in inference mode then reads instead of computing them on
  every call (one offset trunk pass per call). They are a function of the parameters (and
  running statistics): compute them again after changing `variables`."""
  height, width = image_shape
  images = jax.ShapeDtypeStruct((1, height, width, 3), jnp.float32)
  map_shape = jax.eval_shape(functools.partial(model.apply, method=PoseWarper.heatmaps),
                             variables, images).shape[1:]
  fields = _reference_fields_function(model, map_shape)(variables)
  return {**variables, REFERENCE_FIELDS: {"fields": fields}}


@functools.lru_cache(maxsize=16)
def _reference_fields_function(model: PoseWarper, map_shape: tuple[int, ...]):
  """Jitted variables -> model.reference_fields(map_shape), cached so that repeated predictions
  (e.g. the training loop's evaluations) compile it once per model and shape."""
  return jax.jit(functools.partial(model.apply, map_shape=map_shape,
                                   method=PoseWarper.reference_fields))


def _check_same_shape(frame_a: jax.Array, frame_b: jax.Array) -> None:
  if frame_a.shape != frame_b.shape:
    raise ValueError(f"PoseWarper: frame_a {frame_a.shape} and frame_b {frame_b.shape} must have "
                     f"the same shape")


def posewarper(arch: str, *, dtype: Dtype = jnp.float32, remat: bool = False,
               **overrides) -> PoseWarper:
  """PoseWarper on the published HRNet ("w32" | "w48"); `overrides` set head fields."""
  return PoseWarper(backbone=hrnet(arch, dtype=dtype, remat=remat), dtype=dtype, **overrides)
