"""HRNet: structure against the original layout, shapes, BN modes, dtypes, remat, init."""

import functools
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posewarper_jax.models import HRNet, convert, hrnet, layers
from tests.models import official_layout
from tests.models.conftest import TINY_HRNET


def _param_count(model: nn.Module) -> int:
  variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("arch,width,published_millions",
                         [("w32", 32, 28.5), ("w48", 48, 63.6)])
def test_parameter_count_matches_original(arch, width, published_millions):
  expected = official_layout.parameter_count(official_layout.hrnet_shapes(width))
  assert expected == {32: 28_536_113, 48: 63_595_745}[width]
  assert _param_count(hrnet(arch)) == expected
  assert round(expected / 1e6, 1) == published_millions  # SPEC 2 / HRNet README


@pytest.mark.parametrize("arch,width", [("w32", 32), ("w48", 48)])
def test_state_dict_layout_matches_original(arch, width):
  expected = official_layout.without_counters(official_layout.hrnet_shapes(width))
  assert convert.pytorch_shapes(hrnet(arch), "hrnet") == expected


@pytest.mark.parametrize("height,width", [(64, 32), (96, 64), (256, 192), (384, 288)])
def test_output_shapes(tiny_hrnet, height, width):
  variables = jax.eval_shape(tiny_hrnet.init, jax.random.key(0), jnp.zeros((1, 64, 32, 3)))
  out = jax.eval_shape(tiny_hrnet.apply, variables, jnp.zeros((3, height, width, 3)))
  assert out.shape == (3, height // 4, width // 4, 17)
  assert out.dtype == jnp.float32


@pytest.mark.parametrize("shape", [(2, 64, 48, 3), (2, 48, 64, 3), (64, 32, 3), (2, 64, 32, 1)])
def test_rejects_bad_images(tiny_hrnet, shape):
  with pytest.raises(ValueError, match="HRNet"):
    jax.eval_shape(tiny_hrnet.init, jax.random.key(0), jnp.zeros(shape))


@pytest.fixture(scope="module")
def variables(tiny_hrnet, tiny_hrnet_state):
  return convert.from_pytorch(tiny_hrnet_state, tiny_hrnet, "hrnet")


@pytest.fixture(scope="module")
def eval_outputs(tiny_hrnet, variables, images):
  """Float32 inference-mode heatmaps of the tiny HRNet (one compile for the module)."""
  return jax.jit(tiny_hrnet.apply)(variables, images)


def test_train_mode_uses_batch_statistics(tiny_hrnet, variables, images, eval_outputs):
  apply = jax.jit(lambda v, x: tiny_hrnet.apply(v, x, train=True, mutable=["batch_stats"]))
  out_train, updates = apply(variables, images)
  out_eval = eval_outputs
  assert out_train.shape == out_eval.shape == (2, 16, 8, 17)
  assert not np.allclose(out_train, out_eval, atol=1e-3)
  # Running statistics move by momentum 0.1 towards the batch statistics (SPEC 2).
  conv1 = jax.lax.conv_general_dilated(
      images, variables["params"]["conv1"]["kernel"], (2, 2), ((1, 1), (1, 1)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  old = variables["batch_stats"]["bn1"]
  new = updates["batch_stats"]["bn1"]
  np.testing.assert_allclose(new["mean"], 0.9 * old["mean"] + 0.1 * conv1.mean((0, 1, 2)),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(new["var"], 0.9 * old["var"] + 0.1 * conv1.var((0, 1, 2)),
                             rtol=1e-4, atol=1e-6)


def test_remat_gives_same_values_and_gradients():
  small = dict(width=2, stage_modules=(1,), num_blocks=1, stem_width=4, layer1_blocks=1)
  images = jnp.asarray(np.random.default_rng(3).normal(size=(2, 16, 8, 3)), jnp.float32)
  shapes = official_layout.hrnet_shapes(2, stage_modules=(1,), num_blocks=1, stem=4,
                                        layer1_blocks=1)
  variables = convert.from_pytorch(official_layout.random_state_dict(shapes, seed=4),
                                   HRNet(**small), "hrnet")

  def loss(model, params, batch_stats, images):
    out, _ = model.apply({"params": params, "batch_stats": batch_stats}, images, train=True,
                         mutable=["batch_stats"])
    return jnp.sum(out ** 2)

  def value_and_grad(model):
    return jax.jit(jax.value_and_grad(functools.partial(loss, model)))(
        variables["params"], variables["batch_stats"], images)

  value, grads = value_and_grad(HRNet(**small))
  value_remat, grads_remat = value_and_grad(HRNet(**small, remat=True))
  np.testing.assert_allclose(value_remat, value, rtol=1e-5)
  for g, g_remat in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_remat)):
    np.testing.assert_allclose(g_remat, g, rtol=1e-4, atol=1e-6 * float(jnp.abs(g).max()))


def test_bfloat16_compute_keeps_float32_params_and_output(variables, images, eval_outputs):
  model = HRNet(**TINY_HRNET, dtype=jnp.bfloat16)
  out = jax.jit(model.apply)(variables, images)
  reference = eval_outputs
  assert out.dtype == jnp.float32
  error = float(jnp.abs(out - reference).max())
  assert error < 0.05 * float(jnp.abs(reference).max())
  shapes = jax.eval_shape(model.init, jax.random.key(0), images)
  assert {x.dtype for x in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float32)}


def test_float64_compute_is_float64_end_to_end(variables, images, eval_outputs):
  """With x64 enabled (for this test only) a float64 model keeps float64 from its parameters
  to its heatmaps, and computes what the float32 model does to float32 precision."""
  with jax.enable_x64(True):
    model = HRNet(**TINY_HRNET, dtype=jnp.float64)
    shapes = jax.eval_shape(model.init, jax.random.key(0), images)
    out = jax.jit(model.apply)(variables, jnp.asarray(images, jnp.float64))
  assert {x.dtype for x in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float64)}
  assert out.dtype == jnp.float64
  reference = np.asarray(eval_outputs, np.float64)
  np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())


def test_initialisation_matches_original():
  """Conv Normal(0, 0.001) without bias, BN scale 1 and bias 0 (SPEC 2)."""
  block = layers.Bottleneck(planes=16)
  x = jnp.zeros((1, 4, 4, 32))
  # The "rbg" generator compiles much faster on CPU than threefry; the distribution is the same.
  variables = jax.jit(lambda key: block.init(key, x, False))(jax.random.key(0, impl="rbg"))
  params = variables["params"]
  kernels = np.concatenate([np.ravel(params[name]["kernel"])
                            for name in ("conv1", "conv2", "conv3", "downsample_conv")])
  assert abs(kernels.std() - layers.CONV_INIT_STD) < 0.05 * layers.CONV_INIT_STD
  assert abs(kernels.mean()) < 0.05 * layers.CONV_INIT_STD
  for name in ("bn1", "bn2", "bn3", "downsample_bn"):
    np.testing.assert_array_equal(params[name]["scale"], 1.0)
    np.testing.assert_array_equal(params[name]["bias"], 0.0)
    np.testing.assert_array_equal(variables["batch_stats"][name]["mean"], 0.0)
    np.testing.assert_array_equal(variables["batch_stats"][name]["var"], 1.0)
  assert set(params["conv1"]) == {"kernel"}
  final = layers.conv(17, 1, use_bias=True, dtype=jnp.float32)
  np.testing.assert_array_equal(final.init(jax.random.key(1), x)["params"]["bias"], 0.0)
