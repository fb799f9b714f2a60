"""Deformable convolution (DCN v1, optionally v2-modulated) in NHWC (SPEC 4.4, 12).

Each output pixel (y, x) and kernel tap (i, j) samples the input at

  p_y = y * stride_h - pad_h + i * dil_h + dy,   p_x = x * stride_w - pad_w + j * dil_w + dx,

by bilinear interpolation of the image extended by zeros: the sample is 0 unless
-1 < p_y < H and -1 < p_x < W, and corners outside [0, H-1] x [0, W-1] contribute 0. The
offsets (dy, dx) use the channel order of the PyTorch DCN ops (official PoseWarper, mmcv,
torchvision), so trained offset convolutions port without reordering.

Implementation (choices measured on XLA:CPU at the PoseWarper shape, see
benchmarks/deform_conv.py):
- Each sample's four corners are read from the image zero-padded by one pixel, so corners
  outside the image read zeros and no per-corner test is needed; the gathers sit in the same
  fused loop as the interpolation. (A packed 2x2-neighbourhood table read with one 4-wide gather
  was slower here: XLA materialises the wide gather and reduces it separately.)
- Samples keep the offsets' (group, tap, channel) order; the weight is permuted to match, and
  the contraction is one (H_out * W_out, G * T * C // G) @ (., C_out) matmul.
- The per-image math is vmapped over the batch: every gather, interpolation and matmul covers
  the whole batch, which keeps GPUs and TPUs busy and, on XLA:CPU, keeps both cores busy (on
  the 2-core Xeon of benchmarks/RESULTS.md 1.5-2x faster than a per-image loop, whose backward
  ran on 1.3 cores). `schedule="per_image"` runs one image at a time (lax.map) instead: the
  same function with one image's intermediates at a time, for when memory is short (the
  samples kept for the backward pass are the whole batch's either way).
- The sampling loops compile to vector code on XLA:CPU apart from the corner loads: base
  positions are integer iotas plus a (G, T) table of the taps' terms, and float32 floors become
  int32 through a rounding constant (`_to_int32`); together the forward 1.3x and the
  (offset, weight) backward 1.15-1.2x faster at the PoseWarper shape than with float tables
  indexed by the tap and saturating conversions.
- Positions, interpolation and accumulation run in float64 when any input is float64 (x64
  enabled) and in float32 otherwise, bfloat16 included.
- A custom VJP keeps the forward pass's samples (kh * kw * C_in floats per output pixel) and
  recomputes their positions. The weight gradient is one matmul over the whole batch, so the
  samples are computed once, in the forward's fused loop (per-image weight gradients made XLA
  materialise the corner gathers for two consumers: forward and backward 1.8x slower at the
  PoseWarper shape). The offset gradient reads tables of vertical and horizontal differences
  of the padded image, two gathers per sample and direction instead of four (same arithmetic,
  bitwise the same result; the (offset, weight) backward about 1.3x faster at the PoseWarper
  shape). The input gradient (a scatter-add) runs in a loop (or batched computation) of its own
  that XLA deletes when its result is unused, as for PoseWarper's frozen-backbone heatmaps.
  Plain autodiff of the same forward was about twice as slow for the gradient w.r.t. (offset,
  weight).
"""

import functools
import math
from typing import Callable, NamedTuple, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

IntPair = Union[int, Sequence[int]]


def _pair(value: IntPair, name: str) -> tuple[int, int]:
  """int or (h, w) -> (h, w), rejecting anything else."""
  if isinstance(value, (int, np.integer)):
    pair = (int(value), int(value))
  else:
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
      raise ValueError(f"deform_conv2d: {name} must be an int or an (h, w) pair, got {value!r}")
  return pair


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
  """Output length of a (deformable) convolution along one axis, as in PyTorch."""
  return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_arguments(x, offset, weight, bias, mask, stride, padding, dilation, groups,
                     offset_groups) -> tuple[int, int]:
  """Raises ValueError for inconsistent arguments; returns (H_out, W_out)."""
  if x.ndim != 4:
    raise ValueError(f"deform_conv2d: x must be (B, H, W, C_in), got shape {x.shape}")
  if weight.ndim != 4:
    raise ValueError(
        f"deform_conv2d: weight must be (kh, kw, C_in // groups, C_out), got shape {weight.shape}")
  batch, height, width, in_channels = x.shape
  kh, kw, weight_in, out_channels = weight.shape
  for name, value in (("stride", stride), ("dilation", dilation)):
    if min(value) < 1:
      raise ValueError(f"deform_conv2d: {name} must be positive, got {value}")
  if min(padding) < 0:
    raise ValueError(f"deform_conv2d: padding must be non-negative, got {padding}")
  if groups < 1 or in_channels % groups or out_channels % groups:
    raise ValueError(
        f"deform_conv2d: groups={groups} must divide C_in={in_channels} (x shape {x.shape}) "
        f"and C_out={out_channels} (weight shape {weight.shape})")
  if weight_in * groups != in_channels:
    raise ValueError(
        f"deform_conv2d: weight shape {weight.shape} needs C_in // groups = "
        f"{in_channels // groups} input channels for x shape {x.shape} and groups={groups}")
  if offset_groups < 1 or in_channels % offset_groups:
    raise ValueError(
        f"deform_conv2d: offset_groups={offset_groups} must divide C_in={in_channels} "
        f"(x shape {x.shape})")
  out_h = output_size(height, kh, stride[0], padding[0], dilation[0])
  out_w = output_size(width, kw, stride[1], padding[1], dilation[1])
  if out_h < 1 or out_w < 1:
    raise ValueError(
        f"deform_conv2d: empty output ({out_h}, {out_w}) for x shape {x.shape}, kernel "
        f"({kh}, {kw}), stride {stride}, padding {padding}, dilation {dilation}")
  taps = kh * kw
  if offset.ndim != 4 or offset.shape[0] != batch or offset.shape[-1] % (2 * taps):
    raise ValueError(
        f"deform_conv2d: offset must be (B={batch}, H_out, W_out, 2 * offset_groups * {taps}), "
        f"got shape {offset.shape}")
  if offset.shape[-1] != 2 * offset_groups * taps:
    raise ValueError(
        f"deform_conv2d: offset has {offset.shape[-1]} channels (shape {offset.shape}) but "
        f"offset_groups={offset_groups} and a {kh}x{kw} kernel need {2 * offset_groups * taps}")
  if offset.shape[1:3] != (out_h, out_w):
    raise ValueError(
        f"deform_conv2d: offset shape {offset.shape} must have H_out, W_out = ({out_h}, {out_w}) "
        f"for x shape {x.shape}, kernel ({kh}, {kw}), stride {stride}, padding {padding}, "
        f"dilation {dilation}")
  if mask is not None and mask.shape != (batch, out_h, out_w, offset_groups * taps):
    raise ValueError(
        f"deform_conv2d: mask shape {mask.shape} must be "
        f"{(batch, out_h, out_w, offset_groups * taps)}")
  if bias is not None and bias.shape != (out_channels,):
    raise ValueError(
        f"deform_conv2d: bias shape {bias.shape} must be ({out_channels},) to match weight "
        f"shape {weight.shape}")
  return out_h, out_w


class _Geometry(NamedTuple):
  """Static configuration of one deformable convolution: its shape parameters and `dtype`, the
  dtype of positions, interpolation and accumulation (`_accumulation_dtype`)."""
  kernel: tuple[int, int]
  stride: tuple[int, int]
  padding: tuple[int, int]
  dilation: tuple[int, int]
  groups: int
  offset_groups: int
  dtype: np.dtype


# Batch schedules of `deform_conv2d`: the whole batch at once (vmap, the default) or one image
# at a time (lax.map, less memory).
BATCHED_SCHEDULE = "batched"
PER_IMAGE_SCHEDULE = "per_image"
SCHEDULES = (BATCHED_SCHEDULE, PER_IMAGE_SCHEDULE)


def _accumulation_dtype(*arrays: Optional[jax.Array]) -> np.dtype:
  """float64 if any of the arrays is float64, else float32 (bfloat16 and float16 included)."""
  if any(a is not None and a.dtype == jnp.float64 for a in arrays):
    return jnp.dtype(jnp.float64)
  return jnp.dtype(jnp.float32)


class _Grid(NamedTuple):
  """Where one image's samples fall; arrays are (H_out, W_out, G, T, C // G) or broadcast to it.

  The (G, T) order is the offsets' own, so no large array is ever transposed. `index` is the
  flat index of the top-left corner in `padded`, the image zero-padded by one pixel,
  (H+2, W+2, C) in the accumulation dtype, clipped so that all four corners are in bounds.
  """
  index: jax.Array
  frac_y: jax.Array
  frac_x: jax.Array
  valid: jax.Array
  padded: jax.Array


class _Samples(NamedTuple):
  """A `_Grid` and the values at its corners (top-left, top-right, bottom-left, bottom-right)."""
  grid: _Grid
  corners: tuple[jax.Array, jax.Array, jax.Array, jax.Array]


def _corner_shifts(width: int, channels: int) -> tuple[int, int, int, int]:
  """Flat distance from the top-left corner to each corner in the padded (H+2, W+2, C) image."""
  row = (width + 2) * channels
  return (0, channels, row, row + channels)


def _take(flat: jax.Array, index: jax.Array) -> jax.Array:
  """flat[index] for indices known to be in bounds (no wrapping of negative indices)."""
  return jax.lax.gather(
      flat, index[..., None],
      jax.lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,),
                                     start_index_map=(0,)),
      slice_sizes=(1,), mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)


# 1.5 * 2**23: adding it to a float32 integer v with |v| < 2**22 leaves v + 2**22 in the low
# bits of the sum's mantissa.
_ROUNDING_CONSTANT = np.float32(1.5 * 2**23)


def _to_int32(whole: jax.Array) -> jax.Array:
  """int32 of integer-valued floats: exact where |whole| < 2**22, some int32 elsewhere (NaN
  included), which callers clip.

  float32 reads the integer from the mantissa of whole + 1.5 * 2**23: an add, a bitcast and a
  subtraction, where `astype` also saturates to the int32 range and maps NaN to 0 (four more
  vector operations per conversion). float64 converts with `astype`.
  """
  if whole.dtype != jnp.float32:
    return whole.astype(jnp.int32)
  biased = jax.lax.bitcast_convert_type(whole + _ROUNDING_CONSTANT, jnp.int32)
  return biased - jax.lax.bitcast_convert_type(_ROUNDING_CONSTANT, jnp.int32)


def _locate(image: jax.Array, offset: jax.Array, geometry: _Geometry) -> _Grid:
  """image: (H, W, C), offset: (H_out, W_out, 2 * G * T) -> the sample grid of one image (SPEC 4.4)."""
  # Each call gathers afresh: XLA would otherwise merge the gathers of several calls into one
  # materialised array, which is several times slower than regathering inside each fused loop.
  image, offset = jax.lax.optimization_barrier((image, offset))
  height, width, channels = image.shape
  out_h, out_w, _ = offset.shape
  kh, kw = geometry.kernel
  groups = geometry.offset_groups
  dtype = geometry.dtype
  delta = offset.astype(dtype).reshape(out_h, out_w, groups, kh * kw, 2)
  # Integer base positions: the loop's own row and column (iota) plus a (G, T) table of the
  # taps' terms, read with vector loads along the offsets' (G, T) axis. (Float tables indexed by
  # row or column and tap cost 16 scalar loads per 8 samples.)
  rows = jax.lax.broadcasted_iota(jnp.int32, delta.shape[:-1], 0)
  cols = jax.lax.broadcasted_iota(jnp.int32, delta.shape[:-1], 1)
  tap_i, tap_j = np.divmod(np.tile(np.arange(kh * kw, dtype=np.int32), (groups, 1)), kw)
  base_y = rows * geometry.stride[0] + (tap_i * geometry.dilation[0] - geometry.padding[0])
  base_x = cols * geometry.stride[1] + (tap_j * geometry.dilation[1] - geometry.padding[1])
  p_y = (delta[..., 0] + base_y.astype(dtype))[..., None]
  p_x = (delta[..., 1] + base_x.astype(dtype))[..., None]
  valid = (p_y > -1) & (p_y < height) & (p_x > -1) & (p_x < width)
  floor_y, floor_x = jnp.floor(p_y), jnp.floor(p_x)
  # The top-left corner (floor_y, floor_x) is pixel (floor_y + 1, floor_x + 1) of the padded
  # image; clipping only moves samples that are invalid anyway.
  padded_y = jnp.clip(_to_int32(floor_y) + 1, 0, height)
  padded_x = jnp.clip(_to_int32(floor_x) + 1, 0, width)
  channel = np.arange(channels, dtype=np.int32).reshape(groups, 1, channels // groups)
  index = (padded_y * (width + 2) + padded_x) * channels + channel
  padded = jnp.pad(image.astype(dtype), ((1, 1), (1, 1), (0, 0)))
  return _Grid(index, p_y - floor_y, p_x - floor_x, valid, padded)


def _locate_samples(image: jax.Array, offset: jax.Array, geometry: _Geometry) -> _Samples:
  """image: (H, W, C), offset: (H_out, W_out, 2 * G * T) -> one image's samples and corners."""
  grid = _locate(image, offset, geometry)
  flat = grid.padded.reshape(-1)
  width, channels = image.shape[1:]
  return _Samples(grid, tuple(_take(flat, grid.index + shift)
                              for shift in _corner_shifts(width, channels)))


def _interpolate(samples: _Samples) -> jax.Array:
  """Bilinear values, zero unless -1 < p_y < H and -1 < p_x < W: (H_out, W_out, G, T, C // G)."""
  top_left, top_right, bottom_left, bottom_right = samples.corners
  fy, fx = samples.grid.frac_y, samples.grid.frac_x
  value = ((1 - fy) * ((1 - fx) * top_left + fx * top_right)
           + fy * ((1 - fx) * bottom_left + fx * bottom_right))
  return jnp.where(samples.grid.valid, value, 0.0)


def _mask_factor(mask: Optional[jax.Array], geometry: _Geometry):
  """mask: (..., G * T) -> (..., G, T, 1) accumulation dtype; None -> 1.0."""
  if mask is None:
    return 1.0
  return mask.astype(geometry.dtype).reshape(mask.shape[:-1] + (geometry.offset_groups, -1, 1))


def _dense_weight(weight: jax.Array, geometry: _Geometry) -> jax.Array:
  """(kh, kw, C_in // groups, C_out) -> (G * T * C_in // G, C_out), accumulation dtype.

  Rows follow the samples' (offset group, tap, channel) order. A grouped convolution becomes
  a block-diagonal matrix, i.e. one plain matmul that multiplies some zeros; the weight is
  tiny next to the samples, and groups == 1 (PoseWarper) pays nothing.
  """
  kh, kw, group_in, out_channels = weight.shape
  groups = geometry.groups
  blocks = weight.astype(geometry.dtype).reshape(kh * kw, group_in, groups, out_channels // groups)
  dense = jnp.einsum("tcqo,qr->tqcro", blocks, jnp.eye(groups, dtype=geometry.dtype))
  dense = dense.reshape(kh * kw, geometry.offset_groups, -1, out_channels)
  return jnp.swapaxes(dense, 0, 1).reshape(-1, out_channels)


def _weight_from_dense(dense: jax.Array, weight_shape: tuple[int, ...],
                       geometry: _Geometry) -> jax.Array:
  """Inverse of `_dense_weight` (keeps the diagonal blocks): -> (kh, kw, C_in // groups, C_out)."""
  kh, kw, group_in, out_channels = weight_shape
  groups = geometry.groups
  dense = jnp.swapaxes(dense.reshape(geometry.offset_groups, kh * kw, -1, out_channels), 0, 1)
  blocks = dense.reshape(kh * kw, groups, group_in, groups, out_channels // groups)
  return jnp.einsum("tqcqo->tcqo", blocks).reshape(weight_shape)


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
  return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def _forward_image(image, offset, mask, weight, geometry: _Geometry
                   ) -> tuple[jax.Array, jax.Array]:
  """One image: (H, W, C_in), (H_out, W_out, 2GT), (H_out, W_out, GT) | None ->
  (output (H_out, W_out, C_out), the unmasked samples (H_out, W_out, G, T, C // G))."""
  values = _interpolate(_locate_samples(image, offset, geometry))
  out_h, out_w = values.shape[:2]
  out = _matmul((values * _mask_factor(mask, geometry)).reshape(out_h * out_w, -1),
                _dense_weight(weight, geometry))
  return out.reshape(out_h, out_w, -1), values


def _values_grad(cotangent, weight, shape, geometry: _Geometry) -> jax.Array:
  """Cotangent of the (masked) samples: (H_out, W_out, C_out) -> `shape` (H_out, W_out, G, T, C // G)."""
  out_h, out_w, _ = cotangent.shape
  return _matmul(cotangent.astype(geometry.dtype).reshape(out_h * out_w, -1),
                 _dense_weight(weight, geometry).T).reshape(shape)


def _position_grads_image(image, offset, mask, weight, values, cotangent, geometry: _Geometry):
  """One image's gradients w.r.t. (offset, mask | None), accumulation dtype; `values` are the
  forward pass's unmasked samples."""
  values_grad = _values_grad(cotangent, weight, values.shape, geometry)
  mask_grad = None
  if mask is not None:
    mask_grad = jnp.sum(values_grad * values, axis=-1).reshape(mask.shape)
  value_grad = values_grad * _mask_factor(mask, geometry)
  grad_y = _position_grad(image, offset, value_grad, 0, geometry)
  grad_x = _position_grad(image, offset, value_grad, 1, geometry)
  offset_grad = jnp.stack([grad_y, grad_x], axis=-1).reshape(offset.shape)
  return offset_grad, mask_grad


def _position_grad(image, offset, value_grad, axis: int, geometry: _Geometry) -> jax.Array:
  """Sum over a group's channels of d(sample)/d(p_y if axis == 0 else p_x) * value_grad.

  value_grad: (H_out, W_out, G, T, C // G) -> (H_out, W_out, G, T); zero where the validity
  rule zeroes the sample. The slope along p_y, (1 - fx) (BL - TL) + fx (BR - TR), reads the
  vertical differences D = P[y + 1] - P[y] of the padded image P at the two top corners (along
  p_x, the horizontal differences at the two left corners): two gathers per sample instead of
  four, and the same floating-point operations.
  """
  grid = _locate(image, offset, geometry)
  width, channels = image.shape[1:]
  if axis == 0:  # top-right is one pixel across
    across, frac = channels, grid.frac_x
    differences = jnp.pad(grid.padded[1:] - grid.padded[:-1], ((0, 1), (0, 0), (0, 0)))
  else:  # bottom-left is one row across
    across, frac = (width + 2) * channels, grid.frac_y
    differences = jnp.pad(grid.padded[:, 1:] - grid.padded[:, :-1], ((0, 0), (0, 1), (0, 0)))
  flat = differences.reshape(-1)
  slope = (1 - frac) * _take(flat, grid.index) + frac * _take(flat, grid.index + across)
  return jnp.sum(jnp.where(grid.valid, value_grad * slope, 0.0), axis=-1)


def _input_grad_image(image, offset, mask, weight, cotangent, geometry: _Geometry) -> jax.Array:
  """One image's gradient w.r.t. the image: a scatter-add of the samples' cotangents."""
  height, width, channels = image.shape
  grid = _locate(image, offset, geometry)
  value_grad = jnp.where(grid.valid, _mask_factor(mask, geometry) * _values_grad(
      cotangent, weight, jnp.broadcast_shapes(grid.index.shape, grid.valid.shape),
      geometry), 0.0)
  fy, fx = grid.frac_y, grid.frac_x
  corner_weights = ((1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx)
  padded_grad = jnp.zeros(((height + 2) * (width + 2) * channels,), geometry.dtype)
  for shift, corner_weight in zip(_corner_shifts(width, channels), corner_weights):
    padded_grad = jax.lax.scatter_add(
        padded_grad, (grid.index + shift)[..., None], value_grad * corner_weight,
        jax.lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                        scatter_dims_to_operand_dims=(0,)),
        mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
  return padded_grad.reshape(height + 2, width + 2, channels)[1:-1, 1:-1]


def _over_batch(fn: Callable, batch_args: tuple, schedule: str):
  """Stacks fn(*image_args) over the batch (the leading axis of every array in `batch_args`).

  "batched": the whole batch at once (vmap: batch-wide gathers, interpolation and matmuls);
  "per_image": one image at a time (lax.map).
  """
  if schedule == PER_IMAGE_SCHEDULE:
    return jax.lax.map(lambda image_args: fn(*image_args), batch_args)
  return jax.vmap(fn)(*batch_args)


def _forward(x, offset, mask, weight, geometry: _Geometry, schedule: str
             ) -> tuple[jax.Array, jax.Array]:
  """(output (B, H_out, W_out, C_out), unmasked samples (B, H_out, W_out, G, T, C // G)) in the
  accumulation dtype; the batch processed as `schedule` says (`_over_batch`)."""
  return _over_batch(lambda *args: _forward_image(*args, weight, geometry), (x, offset, mask),
                     schedule)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _deform_conv(x, offset, mask, weight, geometry: _Geometry, schedule: str) -> jax.Array:
  """Bias-free deformable convolution, (B, H_out, W_out, C_out) in the accumulation dtype."""
  return _forward(x, offset, mask, weight, geometry, schedule)[0]


def _deform_conv_fwd(x, offset, mask, weight, geometry: _Geometry, schedule: str):
  """Keeps the samples (B, H_out, W_out, G, T, C // G) for the backward pass, whose weight
  gradient is then one matmul over the whole batch in the forward matmul's layout: XLA computes
  the samples once, gathering inside the interpolation's loop. (Per-image weight gradients read
  them in a second layout, and XLA then materialised every corner's gather for the two
  consumers: 1.8x slower forward and backward, benchmarks/RESULTS.md.)"""
  out, values = _forward(x, offset, mask, weight, geometry, schedule)
  return out, (x, offset, mask, weight, values)


def _deform_conv_bwd(geometry: _Geometry, schedule: str, residuals, cotangent):
  """Recomputes each image's sample positions instead of storing them; the samples themselves
  come from the forward pass.

  The input gradient runs in its own loop (or batched computation), so XLA removes it whole
  when the caller does not use it (e.g. when x is a frozen backbone's heatmaps).
  """
  x, offset, mask, weight, values = residuals
  batch_args = (x, offset, mask, values, cotangent)
  offset_grad, mask_grad = _over_batch(
      lambda *args: _position_grads_image(*args[:3], weight, *args[3:], geometry), batch_args,
      schedule)
  samples = (values * _mask_factor(mask, geometry)).reshape(-1, math.prod(values.shape[3:]))
  dense_grad = _matmul(samples.T, cotangent.astype(geometry.dtype).reshape(samples.shape[0], -1))
  image_grad = _over_batch(
      lambda *args: _input_grad_image(*args[:3], weight, args[3], geometry),
      (x, offset, mask, cotangent), schedule)
  return (image_grad.astype(x.dtype), offset_grad.astype(offset.dtype),
          None if mask is None else mask_grad.astype(mask.dtype),
          _weight_from_dense(dense_grad, weight.shape, geometry).astype(weight.dtype))


_deform_conv.defvjp(_deform_conv_fwd, _deform_conv_bwd)


def deform_conv2d(x: jax.Array, offset: jax.Array, weight: jax.Array,
                  bias: Optional[jax.Array] = None, mask: Optional[jax.Array] = None, *,
                  stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1,
                  groups: int = 1, offset_groups: int = 1,
                  schedule: str = BATCHED_SCHEDULE) -> jax.Array:
  """Deformable 2-D convolution (SPEC 4.4), NHWC.

  Args:
    x: (B, H, W, C_in).
    offset: (B, H_out, W_out, 2 * offset_groups * kh * kw); for offset group g and tap
      k = i * kw + j, channel 2 * (g * kh * kw + k) is dy and the next one dx.
    weight: (kh, kw, C_in // groups, C_out).
    bias: (C_out,) or None.
    mask: None (DCN v1) or (B, H_out, W_out, offset_groups * kh * kw) modulation (DCN v2),
      channel g * kh * kw + k, used as given.
    stride, padding, dilation: int or (h, w).
    groups: channel groups of the weight (grouped convolution).
    offset_groups: contiguous blocks of C_in // offset_groups input channels, each with its own
      offset field.
    schedule: how the batch is processed: "batched" (default), the whole batch at once (vmap),
      or "per_image", one image at a time (lax.map), which holds one image's intermediates
      instead of the batch's. Both compute the same function.

  Returns:
    (B, H_out, W_out, C_out) in x's dtype. Positions, interpolation and accumulation run in
    float64 when any of x, offset, weight, bias, mask is float64, else in float32 (matmuls at
    Precision.HIGHEST). Differentiable w.r.t. every array argument; at integer sample positions
    the offset gradient is the one-sided one of the PyTorch kernels (corners taken from
    floor(p)).

  Raises:
    ValueError: naming the argument and shapes, when they disagree.
  """
  if schedule not in SCHEDULES:
    raise ValueError(f"deform_conv2d: schedule must be one of {SCHEDULES}, got {schedule!r}")
  stride = _pair(stride, "stride")
  padding = _pair(padding, "padding")
  dilation = _pair(dilation, "dilation")
  _check_arguments(x, offset, weight, bias, mask, stride, padding, dilation, groups,
                   offset_groups)
  dtype = _accumulation_dtype(x, offset, weight, bias, mask)
  geometry = _Geometry((weight.shape[0], weight.shape[1]), stride, padding, dilation, groups,
                       offset_groups, dtype)
  out = _deform_conv(x, offset, mask, weight, geometry, schedule)
  if bias is not None:
    out = out + bias.astype(dtype)
  return out.astype(x.dtype)


def identity_kernel_init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
  """(kh, kw, C, C) kernel that is the identity at the centre tap and zero elsewhere (SPEC 4.6).

  With zero offsets the deformable convolution then returns its input exactly. Requires odd
  kh, kw and C_in == C_out (groups == 1).
  """
  del key
  kh, kw, in_channels, out_channels = shape
  if in_channels != out_channels or kh % 2 == 0 or kw % 2 == 0:
    raise ValueError(
        f"identity_kernel_init: needs an odd kernel with C_in == features and groups == 1, "
        f"got kernel shape {tuple(shape)}")
  kernel = jnp.zeros(shape, dtype)
  return kernel.at[kh // 2, kw // 2].set(jnp.eye(in_channels, dtype=dtype))


class DeformConv(nn.Module):
  """Deformable convolution layer (SPEC 4.4); offsets (and mask) come from the caller.

  Attributes:
    features: output channels.
    kernel_size, strides, padding, kernel_dilation: int or (h, w); padding is explicit.
    feature_group_count: channel groups of the kernel.
    offset_groups: input-channel blocks with their own offset field (PoseWarper: 17).
    use_bias: add a learned bias (PoseWarper: False).
    kernel_init, bias_init: initialisers; PoseWarper uses `identity_kernel_init`.
    dtype: computation dtype (None: inferred from inputs and params).
    param_dtype: parameter dtype.
  """
  features: int
  kernel_size: IntPair = (3, 3)
  strides: IntPair = 1
  padding: IntPair = 0
  kernel_dilation: IntPair = 1
  feature_group_count: int = 1
  offset_groups: int = 1
  use_bias: bool = False
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  dtype: Optional[jnp.dtype] = None
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, offset: jax.Array,
               mask: Optional[jax.Array] = None) -> jax.Array:
    """x: (B, H, W, C_in), offset: (B, H_out, W_out, 2 * G * kh * kw) -> (B, H_out, W_out, features)."""
    kh, kw = _pair(self.kernel_size, "kernel_size")
    in_channels = x.shape[-1]
    if in_channels % self.feature_group_count:
      raise ValueError(
          f"DeformConv: feature_group_count={self.feature_group_count} must divide C_in="
          f"{in_channels} (x shape {x.shape})")
    kernel = self.param("kernel", self.kernel_init,
                        (kh, kw, in_channels // self.feature_group_count, self.features),
                        self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    # Offsets and mask keep their own dtype: sampling positions need at least float32.
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    return deform_conv2d(x, offset, kernel, bias, mask, stride=self.strides,
                         padding=self.padding, dilation=self.kernel_dilation,
                         groups=self.feature_group_count, offset_groups=self.offset_groups)
