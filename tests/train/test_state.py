"""Initial variables: the initialiser compiled for speed gives the default compilation's bits."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from posewarper_jax.models import layers
from posewarper_jax.train import state as state_lib


class _Blocks(nn.Module):
  """HRNet's initialisers at a few shapes: a Bottleneck and a strided BasicBlock (normal
  kernels, BatchNorm scales and biases, projections)."""

  @nn.compact
  def __call__(self, x):
    x = layers.Bottleneck(planes=4)(x, train=True)
    return layers.BasicBlock(features=8, stride=2)(x, train=True)


def test_jit_init_gives_the_default_compilations_variables():
  module, key, x = _Blocks(), jax.random.key(3), jnp.zeros((1, 8, 8, 5))
  fast = state_lib.jit_init(module)(key, x)
  # XLA's default level, 2 (the suite otherwise compiles at level 0: tests/conftest.py).
  default = jax.jit(module.init).lower(key, x).compile(
      compiler_options={"xla_backend_optimization_level": 2})(key, x)
  assert jax.tree.structure(fast) == jax.tree.structure(default)
  jax.tree.map(np.testing.assert_array_equal, fast, default)
  kernels = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(fast)
             if "kernel" in jax.tree_util.keystr(path)]
  assert len(kernels) == 7 and all(np.std(k) > 0 for k in kernels)
