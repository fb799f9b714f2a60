"""conv2d: XLA's convolution with its own CPU kernel gradients (a per-image convolution at
stride 1, patch matmuls otherwise)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posewarper_jax.ops import conv as conv_module
from posewarper_jax.ops import conv2d


def _reference_kernel_grad(x, cotangent, kernel_shape, stride, padding, dilation):
  """float64 loops: dK[i, j, c, o] = sum_{n, y, x} x_pad[n, y s + i d, x s + j d, c] g[n, y, x, o]."""
  x = np.pad(np.asarray(x, np.float64), ((0, 0), padding[0], padding[1], (0, 0)))
  cotangent = np.asarray(cotangent, np.float64)
  kh, kw = kernel_shape[:2]
  out_h, out_w = cotangent.shape[1:3]
  grad = np.zeros(kernel_shape)
  for i in range(kh):
    for j in range(kw):
      rows = i * dilation[0] + stride[0] * np.arange(out_h)
      cols = j * dilation[1] + stride[1] * np.arange(out_w)
      grad[i, j] = np.einsum("nyxc,nyxo->co", x[:, rows][:, :, cols], cotangent)
  return grad


CASES = {
    "3x3": dict(shape=(2, 9, 7, 5), kernel=(3, 3, 5, 4), stride=(1, 1), padding=((1, 1), (1, 1)),
                dilation=(1, 1)),
    "3x3_stride2": dict(shape=(3, 10, 8, 3), kernel=(3, 3, 3, 6), stride=(2, 2),
                        padding=((1, 1), (1, 1)), dilation=(1, 1)),
    "3x3_dilation3": dict(shape=(2, 12, 11, 4), kernel=(3, 3, 4, 4), stride=(1, 1),
                          padding=((3, 3), (3, 3)), dilation=(3, 3)),
    "1x1_stride2": dict(shape=(2, 8, 6, 7), kernel=(1, 1, 7, 3), stride=(2, 2),
                        padding=((0, 0), (0, 0)), dilation=(1, 1)),
    "asymmetric": dict(shape=(1, 7, 9, 2), kernel=(3, 3, 2, 3), stride=(2, 1),
                       padding=((0, 2), (1, 0)), dilation=(1, 2)),
    "asymmetric_stride1": dict(shape=(2, 7, 9, 3), kernel=(3, 2, 3, 2), stride=(1, 1),
                               padding=((0, 2), (1, 0)), dilation=(2, 3)),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_values_and_gradients_match_xla_and_a_float64_reference(case):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=case["shape"]), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=case["kernel"]), jnp.float32)
  options = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])

  def xla(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, case["stride"], case["padding"],
                                        rhs_dilation=case["dilation"],
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  out = conv2d(x, kernel, **options)
  np.testing.assert_array_equal(out, xla(x, kernel))
  cotangent = jnp.asarray(rng.normal(size=out.shape), jnp.float32)
  grads = jax.jit(jax.vjp(lambda x, k: conv2d(x, k, **options), x, kernel)[1])(cotangent)
  expected = jax.vjp(xla, x, kernel)[1](cotangent)
  np.testing.assert_allclose(grads[0], expected[0], rtol=1e-5, atol=1e-5)
  reference = _reference_kernel_grad(x, cotangent, case["kernel"], case["stride"],
                                     case["padding"], case["dilation"])
  np.testing.assert_allclose(grads[1], reference, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(expected[1], reference, rtol=1e-5, atol=1e-4)


def test_bfloat16_kernel_gradient_accumulates_in_float32():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(4, 8, 8, 16)), jnp.bfloat16)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 16, 8)), jnp.bfloat16)
  options = dict(padding=((1, 1), (1, 1)))
  out, transpose = jax.vjp(lambda x, k: conv2d(x, k, **options), x, kernel)
  cotangent = jnp.ones_like(out)
  kernel_grad = transpose(cotangent)[1]
  assert kernel_grad.dtype == jnp.bfloat16
  reference = _reference_kernel_grad(x.astype(jnp.float32), cotangent.astype(jnp.float32),
                                     kernel.shape, (1, 1), options["padding"], (1, 1))
  np.testing.assert_allclose(np.asarray(kernel_grad, np.float64), reference, rtol=1e-2, atol=0.5)


@pytest.mark.parametrize("name", ["3x3", "3x3_stride2", "asymmetric", "3x3_dilation3",
                                  "asymmetric_stride1"])
def test_float64_kernel_gradient_accumulates_in_float64(name):
  case = CASES[name]
  options = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
  rng = np.random.default_rng(2)
  with jax.enable_x64(True):
    x = jnp.asarray(rng.normal(size=case["shape"]), jnp.float64)
    kernel = jnp.asarray(rng.normal(size=case["kernel"]), jnp.float64)
    out, transpose = jax.vjp(lambda x, k: conv2d(x, k, **options), x, kernel)
    cotangent = jnp.asarray(rng.normal(size=out.shape), jnp.float64)
    kernel_grad = jax.jit(transpose)(cotangent)[1]
  assert out.dtype == kernel_grad.dtype == jnp.float64
  reference = _reference_kernel_grad(x, cotangent, case["kernel"], case["stride"],
                                     case["padding"], case["dilation"])
  np.testing.assert_allclose(kernel_grad, reference, rtol=1e-12, atol=1e-12)


def test_mismatched_channels_are_named():
  with pytest.raises(ValueError, match=r"x \(1, 4, 4, 3\).*kernel \(3, 3, 2, 5\)"):
    conv2d(jnp.zeros((1, 4, 4, 3)), jnp.zeros((3, 3, 2, 5)))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("most_rows", [1, 3])
def test_kernel_gradient_in_blocks_of_rows_matches_a_float64_reference(name, most_rows):
  """Blocks of one output row, and of up to three (3x3_stride2's last block is completed by a
  zero row): several blocks per image, so the product with the transposed cotangent (one
  block per image, the rows-contracting product, is the other tests')."""
  case = CASES[name]
  rng = np.random.default_rng(3)
  with jax.enable_x64(True):
    x = jnp.asarray(rng.normal(size=case["shape"]), jnp.float64)
    kernel = jnp.zeros(case["kernel"], jnp.float64)
    out = jax.lax.conv_general_dilated(x, kernel, case["stride"], case["padding"],
                                       rhs_dilation=case["dilation"],
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    cotangent = jnp.asarray(rng.normal(size=out.shape), jnp.float64)
    block_bytes = most_rows * out.shape[2] * np.prod(case["kernel"][:3]) * 8
    rows, blocks = conv_module._row_blocks(out.shape[1], block_bytes // most_rows, block_bytes)
    kernel_grad = conv_module._patch_kernel_grad(x, kernel, cotangent, case["stride"],
                                                 case["padding"], case["dilation"], block_bytes)
  assert blocks > 1 and rows * blocks >= out.shape[1] > rows * (blocks - 1)
  reference = _reference_kernel_grad(x, cotangent, case["kernel"], case["stride"],
                                     case["padding"], case["dilation"])
  np.testing.assert_allclose(kernel_grad, reference, rtol=1e-12, atol=1e-12)


def test_row_blocks_are_as_even_as_the_byte_budget_allows():
  assert conv_module._row_blocks(96, 100, 1_600) == (16, 6)
  assert conv_module._row_blocks(96, 100, 1_300) == (12, 8)  # not 8 x 13 rows with 8 zero rows
  assert conv_module._row_blocks(96, 100, 50) == (1, 96)
  assert conv_module._row_blocks(32, 100, 10**6) == (32, 1)
