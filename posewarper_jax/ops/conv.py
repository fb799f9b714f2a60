"""2-D convolution (NHWC, HWIO) whose kernel gradient is fast on XLA:CPU.

XLA:CPU computes a convolution's kernel gradient about 3-14x slower than the forward pass
(measured on 2 Zen 3 cores: 3x3, 128 channels, 96x72, batch 8: forward 133 ms, XLA's kernel
gradient 1,910 ms). On CPU this op computes it one image at a time, accumulated in a scan:
  * stride 1: as a convolution of the image, padded and transposed to (C_in, H_pad, W_pad, 1),
    with the image's cotangent as a (H_out, W_out, 1, C_out) kernel (window strides = the
    dilation). A batch of one makes the cotangent a kernel without a copy, so XLA computes the
    cotangent once for this and the input gradient. Against the patch matmuls below: 1.1-1.6x
    faster at PoseWarper's head and HRNet-W48's first three branches, 7-9% slower at the
    fourth, the W48 stage-2 step 4-14% faster;
  * strides above 1: as matmuls of patches (im2col) with the output cotangent, one block of
    output rows at a time (231-278 ms at the shape above for whole images; 2.5-3x faster at
    48-64 channels), where the convolution above was 4-5x slower. A block's patches,
    (rows * W_out, kh * kw * C_in), stay within `PATCH_BLOCK_BYTES`, so that the matmul reads
    them from cache.
The forward pass and the input gradient are XLA's own on every platform, and on GPU and TPU the
kernel gradient is too (lax.platform_dependent). benchmarks/RESULTS.md has the measurements.
"""

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
_TRANSPOSED_A = (((0,), (0,)), ((), ()))  # dot_general: contract the rows of both operands.


def _xla_conv(x, kernel, stride, padding, dilation):
  return jax.lax.conv_general_dilated(x, kernel, stride, padding, rhs_dilation=dilation,
                                      dimension_numbers=_DIMENSIONS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, kernel, stride, padding, dilation):
  return _xla_conv(x, kernel, stride, padding, dilation)


def _conv_fwd(x, kernel, stride, padding, dilation):
  return _xla_conv(x, kernel, stride, padding, dilation), (x, kernel)


# Bytes of patches one scan step of the CPU kernel gradient builds: a block of output rows small
# enough that its patches are still in cache when the matmul reads them back (measured on an
# Emerald Rapids Xeon: 1.25-1.45x faster than whole-image patches at 128 channels, 96x72, and at
# 64 channels, 192x144; no change where a whole image's patches fit).
PATCH_BLOCK_BYTES = 4 * 2**20


def _row_blocks(out_h: int, row_bytes: int, block_bytes: int) -> tuple[int, int]:
  """(rows per block, blocks): the fewest blocks of at most block_bytes, as even as possible."""
  most_rows = max(1, block_bytes // row_bytes)
  blocks = -(-out_h // most_rows)
  return -(-out_h // blocks), blocks


def _patch_kernel_grad(x, kernel, cotangent, stride, padding, dilation,
                       block_bytes=PATCH_BLOCK_BYTES):
  """sum over images and blocks of output rows of patches(block)^T @ cotangent(block).

  One scan step per (image, block of output rows), the block's patches (rows * W_out,
  kh * kw * C_in) at most block_bytes (`PATCH_BLOCK_BYTES`); the last block of an image is
  completed by zero rows of the cotangent. Where an image takes several blocks, the cotangent
  is transposed once, (B, C_out, H_out * W_out), and each step is the plain product
  (C_out, rows * W_out) @ (rows * W_out, kh * kw * C_in) (XLA:CPU's matmul contracting the rows
  of both operands was up to 1.3x slower at those short contractions: W48's head trunk, stem 2
  and first branch). A whole image per step, a long contraction, keeps the rows-contracting
  product: the plain one was 3x slower at the 3-channel stems and the synthetic stage-2 step
  15% slower with it. Accumulates in float64 for float64 operands, else in float32 (bfloat16
  included).
  """
  kh, kw, in_channels, out_channels = kernel.shape
  accumulation = jnp.promote_types(x.dtype, jnp.float32)
  batch, out_h, out_w = cotangent.shape[:3]
  rows, blocks = _row_blocks(out_h, out_w * kh * kw * in_channels * x.dtype.itemsize, block_bytes)
  missing = rows * blocks - out_h
  padded = jnp.pad(x, ((0, 0), (padding[0][0], padding[0][1] + missing * stride[0]),
                       tuple(padding[1]), (0, 0)))
  cotangent = jnp.pad(cotangent, ((0, 0), (0, missing), (0, 0), (0, 0)))
  transposed = blocks > 1
  if transposed:
    # Transposed as (B, C_out, H_out, W_out) and then flattened: XLA:CPU copies it once. Written
    # as swapaxes of (B, H_out * W_out, C_out) it gave the transpose a layout that made it a
    # plain copy and then transposed into the loop's layout with a second one.
    cotangent = jnp.transpose(cotangent, (0, 3, 1, 2)).reshape(batch, out_channels, -1)
  window_rows = (rows - 1) * stride[0] + (kh - 1) * dilation[0] + 1

  def block_product(patches, image, block):
    """patches (rows * W_out, kh * kw * C_in) with the block's cotangent, in `total`'s layout."""
    if transposed:
      grad_t = jax.lax.dynamic_slice(cotangent, (image, 0, block * rows * out_w),
                                     (1, out_channels, rows * out_w))[0]
      return jnp.matmul(grad_t, patches, preferred_element_type=accumulation)
    grad = jax.lax.dynamic_slice(cotangent, (image, block * rows, 0, 0),
                                 (1, rows, out_w, out_channels))[0]
    return jax.lax.dot_general(patches, grad.reshape(rows * out_w, -1), _TRANSPOSED_A,
                               preferred_element_type=accumulation)

  def accumulate(total, step):
    image, block = step // blocks, step % blocks
    window = jax.lax.dynamic_slice(padded, (image, block * rows * stride[0], 0, 0),
                                   (1, window_rows, padded.shape[2], in_channels))[0]
    taps = []
    for i in range(kh):
      for j in range(kw):
        start = (i * dilation[0], j * dilation[1], 0)
        limit = (start[0] + (rows - 1) * stride[0] + 1, start[1] + (out_w - 1) * stride[1] + 1,
                 in_channels)
        taps.append(jax.lax.slice(window, start, limit, (stride[0], stride[1], 1)))
    patches = jnp.concatenate(taps, axis=-1).reshape(rows * out_w, -1)
    return total + block_product(patches, image, block), None

  shape = (kh * kw * in_channels, out_channels)
  total, _ = jax.lax.scan(accumulate, jnp.zeros(shape[::-1] if transposed else shape,
                                                accumulation), jnp.arange(batch * blocks))
  return (total.T if transposed else total).reshape(kernel.shape).astype(kernel.dtype)


def _transposed_kernel_grad(x, kernel, cotangent, padding, dilation):
  """The kernel gradient (kh, kw, C_in, C_out) of a stride-1 convolution, image by image.

  dK[i, j, c, o] = sum_{y, x} x_pad[n, y + i d, x + j d, c] g[n, y, x, o] is, per image n, a
  convolution of x_pad[n] laid out as (C_in, H_pad, W_pad, 1) (its channels as the batch) with
  g[n] as a (H_out, W_out, 1, C_out) kernel, window strides d: output (C_in, kh, kw, C_out).
  Accumulates in float64 for float64 operands, else in float32 (bfloat16 included).
  """
  kh, kw, in_channels, out_channels = kernel.shape
  accumulation = jnp.promote_types(x.dtype, jnp.float32)

  def accumulate(total, image):
    pixels = jnp.transpose(jax.lax.dynamic_index_in_dim(x, image, keepdims=False), (2, 0, 1))
    pixels = jnp.pad(pixels, ((0, 0), tuple(padding[0]), tuple(padding[1])))
    grad = jax.lax.dynamic_index_in_dim(cotangent, image, keepdims=False)
    product = jax.lax.conv_general_dilated(
        pixels[..., None], grad[:, :, None, :], dilation, "VALID",
        dimension_numbers=_DIMENSIONS, preferred_element_type=accumulation)
    return total + product, None

  total, _ = jax.lax.scan(accumulate, jnp.zeros((in_channels, kh, kw, out_channels),
                                                accumulation), jnp.arange(x.shape[0]))
  return jnp.transpose(total, (1, 2, 0, 3)).astype(kernel.dtype)


def _cpu_kernel_grad(x, kernel, cotangent, stride, padding, dilation):
  if stride == (1, 1):
    return _transposed_kernel_grad(x, kernel, cotangent, padding, dilation)
  return _patch_kernel_grad(x, kernel, cotangent, stride, padding, dilation)


def _conv_bwd(stride, padding, dilation, residuals, cotangent):
  x, kernel = residuals
  _, transpose = jax.vjp(lambda x, k: _xla_conv(x, k, stride, padding, dilation), x, kernel)
  x_grad = transpose(cotangent)[0]
  kernel_grad = jax.lax.platform_dependent(
      x, kernel, cotangent,
      cpu=lambda *args: _cpu_kernel_grad(*args, stride, padding, dilation),
      default=lambda x, kernel, cotangent: transpose(cotangent)[1])
  return x_grad, kernel_grad


_conv.defvjp(_conv_fwd, _conv_bwd)


def conv2d(x: jax.Array, kernel: jax.Array, *, stride: Sequence[int] = (1, 1),
           padding: Sequence[Sequence[int]] = ((0, 0), (0, 0)),
           dilation: Sequence[int] = (1, 1)) -> jax.Array:
  """x: (B, H, W, C_in), kernel: (kh, kw, C_in, C_out) -> (B, H_out, W_out, C_out).

  The same function as lax.conv_general_dilated with explicit padding ((top, bottom),
  (left, right)), stride and kernel dilation; only the kernel gradient's algorithm differs.
  """
  if x.ndim != 4 or kernel.ndim != 4 or x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"conv2d: x {x.shape} must be (B, H, W, C_in) and kernel {kernel.shape} "
                     f"(kh, kw, C_in, C_out) with the same C_in")
  return _conv(x, kernel, tuple(stride), tuple(tuple(p) for p in padding), tuple(dilation))
