"""Data parallelism over a 'data' mesh axis: global-batch BatchNorm statistics, batch padding."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from posewarper_jax import sharding
from tests.conftest import REPO_ROOT

# Runs in a fresh process: the host platform must be split into 2 devices before jax starts.
_TWO_DEVICE_SCRIPT = textwrap.dedent("""
    import os
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = flags + " --xla_force_host_platform_device_count=2"
    import jax, jax.numpy as jnp, numpy as np
    from posewarper_jax.models import HRNet
    from posewarper_jax import sharding
    from posewarper_jax.train.state import jit_init
    from tests.models.conftest import TINY_HRNET

    assert jax.device_count() == 2, jax.devices()
    model = HRNet(**TINY_HRNET)
    images = np.random.default_rng(0).normal(size=(4, 64, 32, 3))
    images[2:] = 5 * images[2:] + 3  # The two devices' halves have different statistics.
    images = jnp.asarray(images, jnp.float32)
    variables = jit_init(model)(jax.random.key(0), images[:1])

    def train_forward(variables, images):
      return model.apply(variables, images, train=True, mutable=["batch_stats"])

    single = jax.jit(train_forward)(variables, images)
    mesh = sharding.data_mesh()
    sharded = jax.jit(train_forward, in_shardings=(sharding.replicated(mesh),
                                                   sharding.batch_sharded(mesh)))
    images_on_mesh = jax.device_put(images, sharding.batch_sharded(mesh))
    assert len(images_on_mesh.sharding.device_set) == 2
    parallel = sharded(variables, images_on_mesh)
    # Each device sees 2 images; normalising with per-device statistics would change both the
    # heatmaps and the running statistics.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
                 single, parallel)
    first_half = jax.jit(train_forward)(variables, images[:2])
    stem_mean = lambda out: np.asarray(out[1]["batch_stats"]["bn1"]["mean"])
    assert np.abs(stem_mean(single) - stem_mean(first_half)).max() > (
        0.1 * np.abs(stem_mean(single)).max())
    print("global batch statistics ok")
""")


def test_batch_norm_uses_global_batch_statistics_on_two_devices():
  run = subprocess.run([sys.executable, "-c", _TWO_DEVICE_SCRIPT], capture_output=True,
                       text=True, cwd=REPO_ROOT, timeout=600)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "global batch statistics ok" in run.stdout


def test_pad_batch_repeats_the_last_row():
  tree = {"a": np.arange(6).reshape(3, 2), "b": np.arange(3)}
  padded, rows = sharding.pad_batch(tree, 5)
  assert rows == 3
  np.testing.assert_array_equal(padded["a"], [[0, 1], [2, 3], [4, 5], [4, 5], [4, 5]])
  np.testing.assert_array_equal(padded["b"], [0, 1, 2, 2, 2])
  with pytest.raises(ValueError, match="larger than size 2"):
    sharding.pad_batch(tree, 2)


def test_batch_size_must_divide_over_the_mesh():
  mesh = sharding.data_mesh()
  sharding.check_batch_size(mesh.size * 3, mesh)
  with pytest.raises(ValueError, match="batch_size=0"):
    sharding.check_batch_size(0, mesh)
