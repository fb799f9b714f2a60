"""models/layers.add_relu against relu(y + shortcut) in float64 NumPy: same values bit for bit,
ReLU's derivative, and each residual block's output computed once in a compiled chain."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posewarper_jax.models import layers


def _operands(dtype):
  """(y, shortcut), (2, 5, 4, 3), with an exact cancellation, 0 + 0 and 0 + a positive."""
  rng = np.random.default_rng(0)
  y, shortcut = rng.normal(size=(2, 2, 5, 4, 3))
  y[0, 0, 0], shortcut[0, 0, 0] = [1.5, 0.0, 0.0], [-1.5, 0.0, 2.0]
  return jnp.asarray(y, dtype), jnp.asarray(shortcut, dtype)


def _relu_of_sum(y, shortcut):
  """float64 NumPy: the sum rounded once to the operands' dtype, then ReLU."""
  wide = np.asarray(y, np.float64) + np.asarray(shortcut, np.float64)
  return np.maximum(wide.astype(y.dtype), 0)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float64])
def test_values_are_relu_of_the_sum_bit_for_bit(dtype):
  with jax.enable_x64(dtype == jnp.float64):
    y, shortcut = _operands(dtype)
    output = jax.jit(layers.add_relu)(y, shortcut)
  assert output.dtype == dtype
  np.testing.assert_array_equal(np.asarray(output), _relu_of_sum(y, shortcut))


def test_gradient_is_relu_derivative_times_the_cotangent():
  """d/dy = d/dshortcut = cotangent where y + shortcut > 0, else 0 (zero sums included)."""
  y, shortcut = _operands(jnp.float32)
  cotangent = jnp.asarray(np.random.default_rng(1).normal(size=y.shape), jnp.float32)
  grads = jax.grad(lambda a, b: jnp.sum(cotangent * layers.add_relu(a, b)), (0, 1))(y, shortcut)
  expected = np.where(_relu_of_sum(y, shortcut) > 0, np.asarray(cotangent), 0)
  for grad in grads:
    np.testing.assert_array_equal(np.asarray(grad), expected)


def test_residual_chain_is_not_recomputed():
  """Six blocks conv -> add_relu: the compiled program takes six maxima, one per block (relu of
  a sum let XLA:CPU replay every earlier block's add and ReLU in each later fusion)."""
  num_blocks = 6
  kernels = jnp.asarray(np.random.default_rng(2).normal(size=(num_blocks, 3, 3, 8, 8)) / 24,
                        jnp.float32)

  def chain(x, kernels):
    for kernel in kernels:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
      x = layers.add_relu(y, x)
    return x

  x = jnp.ones((1, 12, 10, 8), jnp.float32)
  compiled = jax.jit(chain).lower(x, kernels).compile().as_text()
  assert compiled.count(" maximum(") == num_blocks
