"""BatchNorm folding: the folded models compute what the unfolded ones do, in inference only."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from posewarper_jax.models import PoseWarper, convert, fold_batch_norm, layers
from tests.models.conftest import IMAGE_SHAPE, TINY_HEAD, with_random_batch_norm


@pytest.fixture(scope="module")
def hrnet_variables(tiny_hrnet, tiny_hrnet_state):
  return with_random_batch_norm(convert.from_pytorch(tiny_hrnet_state, tiny_hrnet, "hrnet"), 10)


@pytest.fixture(scope="module")
def posewarper_variables(tiny_posewarper, tiny_posewarper_state):
  return with_random_batch_norm(
      convert.from_pytorch(tiny_posewarper_state, tiny_posewarper, "posewarper"), 11)


@pytest.fixture(scope="module")
def frames():
  return jnp.asarray(np.random.default_rng(12).normal(size=(2, 5) + IMAGE_SHAPE[1:]),
                     jnp.float32)


def assert_relative_close(actual, expected, rtol):
  expected = np.asarray(expected, np.float64)
  np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol,
                             atol=rtol * np.abs(expected).max())


def shapes(tree):
  return jax.tree.map(lambda leaf: (leaf.shape, jnp.dtype(leaf.dtype).name), tree)


@pytest.mark.parametrize("kind", ["hrnet", "posewarper"])
def test_folded_variables_are_those_of_the_folded_model(kind, tiny_hrnet, tiny_posewarper,
                                                        hrnet_variables, posewarper_variables):
  model, variables = ((tiny_hrnet, hrnet_variables) if kind == "hrnet"
                      else (tiny_posewarper, posewarper_variables))
  folded_model, folded = fold_batch_norm(model, variables)
  assert folded_model.batch_norm_folded
  if kind == "posewarper":
    assert folded_model.backbone.batch_norm_folded and folded_model.dilations == model.dilations
  images = jnp.zeros(IMAGE_SHAPE)
  inputs = (images, images) if kind == "posewarper" else (images,)
  abstract = jax.eval_shape(folded_model.init, jax.random.key(0), *inputs)
  assert set(abstract) == set(folded) == {"params"}
  assert shapes(folded) == shapes(abstract)
  # Every BatchNorm went into the convolution named before it; the formula, eps included.
  scope = ("backbone",) if kind == "posewarper" else ()
  stem = traverse_util.flatten_dict(folded["params"])
  kernel, bias = stem[scope + ("conv1", "kernel")], stem[scope + ("conv1", "bias")]
  backbone_params = variables["params"]["backbone"] if scope else variables["params"]
  backbone_stats = variables["batch_stats"]["backbone"] if scope else variables["batch_stats"]
  norm, stats = backbone_params["bn1"], backbone_stats["bn1"]
  multiplier = np.asarray(norm["scale"], np.float64) / np.sqrt(
      np.asarray(stats["var"], np.float64) + layers.BN_EPSILON)
  np.testing.assert_allclose(kernel, np.asarray(backbone_params["conv1"]["kernel"]) * multiplier,
                             rtol=1e-6)
  np.testing.assert_allclose(bias, norm["bias"] - stats["mean"] * multiplier, rtol=1e-6,
                             atol=1e-7)


def test_folded_hrnet_matches_unfolded(tiny_hrnet, hrnet_variables, images):
  expected = jax.jit(tiny_hrnet.apply)(hrnet_variables, images)
  folded_model, folded = fold_batch_norm(tiny_hrnet, hrnet_variables)
  out = jax.jit(folded_model.apply)(folded, images)
  assert out.dtype == jnp.float32 and out.shape == expected.shape
  assert_relative_close(out, expected, rtol=1e-5)


def test_folded_posewarper_aggregation_matches_unfolded(tiny_posewarper, posewarper_variables,
                                                        frames):
  def aggregate(model, variables):
    return jax.jit(lambda v, x: model.apply(v, x, method=PoseWarper.aggregate))(variables, frames)

  expected = aggregate(tiny_posewarper, posewarper_variables)
  out = aggregate(*fold_batch_norm(tiny_posewarper, posewarper_variables))
  assert out.dtype == jnp.float32
  assert_relative_close(out, expected, rtol=1e-5)


def test_float64_folding_is_exact_to_float64_rounding(tiny_hrnet, hrnet_variables,
                                                      posewarper_variables, images):
  """The HRNet whole, and the PoseWarper's head (warp) whose BatchNorms are the head's own."""
  heatmaps = np.random.default_rng(13).normal(size=(2, 16, 8, 17))
  with jax.enable_x64(True):
    hrnet64 = tiny_hrnet.clone(dtype=jnp.float64)
    images64 = jnp.asarray(images, jnp.float64)
    expected = jax.jit(hrnet64.apply)(hrnet_variables, images64)
    folded_model, folded = fold_batch_norm(hrnet64, hrnet_variables)
    out = jax.jit(folded_model.apply)(folded, images64)
    assert out.dtype == expected.dtype == jnp.float64
    assert_relative_close(out, expected, rtol=1e-12)

    head64 = PoseWarper(backbone=tiny_hrnet, dtype=jnp.float64, **TINY_HEAD)
    difference, given = jnp.asarray(heatmaps, jnp.float64), jnp.asarray(heatmaps[::-1])
    def warp(model, variables):
      return jax.jit(lambda v, d, h: model.apply(v, d, h, method=PoseWarper.warp))(
          variables, difference, given)
    expected = warp(head64, posewarper_variables)
    out = warp(*fold_batch_norm(head64, posewarper_variables))
    assert out.dtype == jnp.float64
    assert float(jnp.abs(expected - given).max()) > 1e-2  # The warp is not the identity.
    assert_relative_close(out, expected, rtol=1e-12)


def test_folded_models_run_only_in_inference_mode(tiny_hrnet, tiny_posewarper, hrnet_variables,
                                                  posewarper_variables):
  folded_hrnet, hrnet_folded = fold_batch_norm(tiny_hrnet, hrnet_variables)
  images = jnp.zeros(IMAGE_SHAPE)
  with pytest.raises(ValueError, match="only train=False"):
    jax.eval_shape(lambda v, x: folded_hrnet.apply(v, x, train=True), hrnet_folded, images)
  for mode in ("batch", "running"):  # "running" keeps the backbone in inference: the head fails.
    model = tiny_posewarper.clone(backbone_batch_stats=mode)
    folded_model, folded = fold_batch_norm(model, posewarper_variables)
    with pytest.raises(ValueError, match="only train=False"):
      jax.eval_shape(lambda v, a, b: folded_model.apply(v, a, b, train=True), folded, images,
                     images)


def test_folding_a_folded_model_returns_it_and_bad_inputs_raise(tiny_hrnet, hrnet_variables):
  folded_model, folded = fold_batch_norm(tiny_hrnet, hrnet_variables)
  again_model, again = fold_batch_norm(folded_model, folded)
  assert again_model is folded_model and again is folded
  half = PoseWarper(backbone=folded_model, **TINY_HEAD)
  with pytest.raises(ValueError, match="head has batch_norm_folded=False"):
    fold_batch_norm(half, {})
  with pytest.raises(ValueError, match="an HRNet or a PoseWarper"):
    fold_batch_norm(layers.BasicBlock(4), hrnet_variables)
  with pytest.raises(ValueError, match="'params' and 'batch_stats'"):
    fold_batch_norm(tiny_hrnet, {"params": hrnet_variables["params"]})
  stray = {"params": hrnet_variables["params"],
           "batch_stats": {**hrnet_variables["batch_stats"],
                           "stray_bn": hrnet_variables["batch_stats"]["bn1"]}}
  with pytest.raises(ValueError, match="no convolution precedes BatchNorm stray_bn"):
    fold_batch_norm(tiny_hrnet, stray)
  stats = dict(hrnet_variables["batch_stats"])
  stats["bn1"] = {"mean": stats["bn1"]["mean"]}
  with pytest.raises(ValueError, match="BatchNorm bn1 lacks 'var'"):
    fold_batch_norm(tiny_hrnet, {"params": hrnet_variables["params"], "batch_stats": stats})
