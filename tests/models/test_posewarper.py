"""PoseWarper: layout and size, identity at init, the three entry points, float64, freezing,
BN modes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posewarper_jax.models import (REFERENCE_FIELDS, PoseWarper, convert, posewarper,
                                   with_reference_fields)
from tests.models import official_layout
from tests.models.conftest import IMAGE_SHAPE, TINY_HEAD

# SPEC 4.7: offset_feats 5,783,040 + offset convs 1,762,560 + deformable convs 13,005.
HEAD_PARAMETERS = 7_558_605


def test_full_size_layout_and_parameter_count(tiny_posewarper):
  official = {**official_layout.hrnet_shapes(48), **official_layout.head_shapes()}
  assert official_layout.parameter_count(official_layout.head_shapes()) == HEAD_PARAMETERS
  shapes = convert.pytorch_shapes(posewarper("w48"), "posewarper")
  assert shapes == official_layout.without_counters(official)
  # The Flax parameters are exactly these minus the running statistics: SPEC 4.7's head size.
  head = [s for k, s in shapes.items() if k.startswith(("offset_feats.", "offsets", "deform_conv"))
          and not k.endswith(("running_mean", "running_var"))]
  assert sum(int(np.prod(s)) for s in head) == HEAD_PARAMETERS
  tiny = {**official_layout.hrnet_shapes(4, stage_modules=(1, 1, 1), num_blocks=1, stem=8,
                                         layer1_blocks=1),
          **official_layout.head_shapes(channels=8, num_blocks=2, num_dilations=2)}
  assert convert.pytorch_shapes(tiny_posewarper, "mmpose_posewarper") == (
      official_layout.without_counters(official_layout.to_mmpose(tiny)))


def test_rejects_bad_configuration_and_inputs(tiny_hrnet):
  frames = jnp.zeros(IMAGE_SHAPE)
  with pytest.raises(ValueError, match="backbone_batch_stats"):
    jax.eval_shape(PoseWarper(backbone=tiny_hrnet, backbone_batch_stats="frozen").init,
                   jax.random.key(0), frames, frames)
  model = PoseWarper(backbone=tiny_hrnet, **TINY_HEAD)
  with pytest.raises(ValueError, match="same shape"):
    jax.eval_shape(model.init, jax.random.key(0), frames, frames[:1])
  variables = jax.eval_shape(model.init, jax.random.key(0), frames, frames)
  with pytest.raises(ValueError, match=r"\(N, 5, H, W, 3\)"):
    jax.eval_shape(lambda v, x: model.apply(v, x, method="aggregate"), variables,
                   jnp.zeros((1, 3, 64, 32, 3)))


@pytest.fixture(scope="module")
def initial_variables(tiny_posewarper, tiny_hrnet_state):
  """A trained-looking backbone with the head at its initialisation (start of stage 2)."""
  return convert.from_pytorch(tiny_hrnet_state, tiny_posewarper, "hrnet",
                              allow_missing_head=True, head_rng=jax.random.key(0, impl="rbg"))


@pytest.fixture(scope="module")
def trained_variables(tiny_posewarper, tiny_posewarper_state):
  """Random values everywhere, so offsets are non-zero and the warp is not the identity."""
  return convert.from_pytorch(tiny_posewarper_state, tiny_posewarper, "posewarper")


@pytest.fixture(scope="module")
def methods(tiny_posewarper):
  """Jitted entry points (eval mode) shared by the tests."""
  def method(name):
    return jax.jit(lambda v, *args: tiny_posewarper.apply(v, *args, method=name))
  return {name: method(name)
          for name in ("__call__", "heatmaps", "warp", "propagate", "aggregate")}


@pytest.fixture(scope="module")
def frames():
  rng = np.random.default_rng(5)
  return jnp.asarray(rng.normal(size=(2, 5) + IMAGE_SHAPE[1:]), jnp.float32)


def _random_heatmaps(seed, shape=(2, 16, 8, 17)):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def test_untrained_warper_is_identity(initial_variables, methods, frames):
  head = initial_variables["params"]
  for d in range(len(TINY_HEAD["dilations"])):
    np.testing.assert_array_equal(head[f"offsets_{d}"]["kernel"], 0.0)
  heatmaps = _random_heatmaps(6)
  warped = methods["warp"](initial_variables, _random_heatmaps(7), heatmaps)
  np.testing.assert_allclose(warped, heatmaps, rtol=1e-6, atol=1e-7)
  frame_a, frame_b = frames[:, 0], frames[:, 1]
  heatmaps_b = methods["heatmaps"](initial_variables, frame_b)
  assert float(jnp.abs(heatmaps_b).max()) > 0.1
  np.testing.assert_allclose(methods["__call__"](initial_variables, frame_a, frame_b), heatmaps_b,
                             rtol=1e-5, atol=1e-6)


def test_propagating_onto_the_same_frame_at_init_returns_given_heatmaps(initial_variables,
                                                                       methods, frames):
  given = _random_heatmaps(8)
  out = methods["propagate"](initial_variables, frames[:, 2], frames[:, 2], given)
  np.testing.assert_allclose(out, given, rtol=1e-6, atol=1e-7)


def test_aggregating_identical_frames_at_init_returns_single_frame_heatmaps(initial_variables,
                                                                           methods, frames):
  identical = jnp.repeat(frames[:, 2:3], 5, axis=1)
  single = methods["heatmaps"](initial_variables, frames[:, 2])
  np.testing.assert_allclose(methods["aggregate"](initial_variables, identical), single,
                             rtol=1e-5, atol=1e-6)


def test_entry_points_agree_with_the_shared_warp(trained_variables, methods, frames):
  v = trained_variables
  frame_a, frame_b = frames[:, 0], frames[:, 1]
  heatmaps = methods["heatmaps"](v, jnp.concatenate([frame_a, frame_b]))
  heatmaps_a, heatmaps_b = heatmaps[:2], heatmaps[2:]
  pair = methods["__call__"](v, frame_a, frame_b)
  # A non-trivial warp: the trained-looking head moves the heatmaps.
  assert float(jnp.abs(pair - heatmaps_b).max()) > 1e-2
  np.testing.assert_allclose(pair, methods["warp"](v, heatmaps_a - heatmaps_b, heatmaps_b),
                             rtol=1e-5, atol=1e-5)
  given = _random_heatmaps(9)
  np.testing.assert_allclose(methods["propagate"](v, frame_a, frame_b, given),
                             methods["warp"](v, heatmaps_b - heatmaps_a, given),
                             rtol=1e-5, atol=1e-5)
  # Aggregation: sum_i w_i warp(H_t - H_i, H_i), reference t = 2 (SPEC 7b).
  per_frame = methods["heatmaps"](v, frames.reshape((10,) + frames.shape[2:]))
  per_frame = per_frame.reshape((2, 5) + per_frame.shape[1:])
  expected = sum(
      w * methods["warp"](v, per_frame[:, 2] - per_frame[:, i], per_frame[:, i])
      for i, w in enumerate((0.1, 0.25, 0.3, 0.25, 0.1)))
  np.testing.assert_allclose(methods["aggregate"](v, frames), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("weights", [(1.0,), (0.2, 0.5, 0.3)])
def test_aggregating_other_window_lengths_is_the_weighted_sum_of_warps(
    tiny_posewarper, trained_variables, methods, frames, weights):
  """A window of 1 or 3 frames (the reference in the middle): the inference path, which warps the
  neighbours and the reference apart, and train=True both give sum_i w_i warp(H_t - H_i, H_i)."""
  model = tiny_posewarper.clone(aggregation_weights=weights)
  middle = len(weights) // 2  # the reference: frame 2 of `frames`, the middle of the window
  window = frames[:, 2 - middle:3 + middle]
  per_frame = methods["heatmaps"](trained_variables, window.reshape((-1,) + window.shape[2:]))
  per_frame = per_frame.reshape(window.shape[:2] + per_frame.shape[1:])
  expected = sum(w * methods["warp"](trained_variables, per_frame[:, middle] - per_frame[:, i],
                                     per_frame[:, i]) for i, w in enumerate(weights))
  inference = jax.jit(functools.partial(model.apply, method="aggregate"))(trained_variables,
                                                                          window)
  np.testing.assert_allclose(inference, expected, rtol=1e-5, atol=1e-5)
  # train=True: every frame runs the trunk, BatchNorm on the statistics of all N * T frames.
  def train_mode(*args, method):
    apply = jax.jit(lambda variables, *inputs: model.apply(
        variables, *inputs, True, method=method, mutable=["batch_stats"])[0])
    return apply(trained_variables, *args)
  flat = window.reshape((-1,) + window.shape[2:])
  per_frame = train_mode(flat, method="heatmaps")
  per_frame = per_frame.reshape(window.shape[:2] + per_frame.shape[1:])
  difference = per_frame[:, middle:middle + 1] - per_frame
  warped = train_mode(difference.reshape((-1,) + per_frame.shape[2:]),
                      per_frame.reshape((-1,) + per_frame.shape[2:]), method="warp")
  expected = jnp.einsum("t,nthwk->nhwk", jnp.asarray(weights), warped.reshape(per_frame.shape))
  np.testing.assert_allclose(train_mode(window, method="aggregate"), expected,
                             rtol=1e-5, atol=1e-5)


def test_aggregating_with_stored_reference_fields(tiny_posewarper, trained_variables, methods,
                                                 frames):
  """with_reference_fields stores the offsets of a zero difference; aggregate reads them instead
  of computing them: the same heatmaps, the stored fields are the ones used, and fields of
  another crop size are refused."""
  stored = with_reference_fields(tiny_posewarper, trained_variables, frames.shape[2:4])
  fields = stored[REFERENCE_FIELDS]["fields"]
  heatmaps = methods["heatmaps"](trained_variables, frames.reshape((-1,) + frames.shape[2:]))
  heatmaps = heatmaps.reshape(frames.shape[:2] + heatmaps.shape[1:])
  zero_difference = jnp.zeros((1,) + heatmaps.shape[2:])
  computed = tiny_posewarper.apply(trained_variables, zero_difference, method="offset_fields")
  assert len(fields) == len(TINY_HEAD["dilations"])
  for field, expected in zip(fields, computed):
    assert float(jnp.abs(expected).max()) > 1e-3  # Biases and borders: not zero.
    np.testing.assert_allclose(field, expected, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(methods["aggregate"](stored, frames),
                             methods["aggregate"](trained_variables, frames), rtol=1e-6,
                             atol=1e-7)
  # Other stored fields: the reference is warped with them, the neighbours as before.
  zeros = [jnp.zeros_like(field) for field in fields]
  replaced = {**stored, REFERENCE_FIELDS: {"fields": tuple(zeros)}}
  weights = tiny_posewarper.aggregation_weights
  expected = sum(w * methods["warp"](trained_variables, heatmaps[:, 2] - heatmaps[:, i],
                                     heatmaps[:, i]) for i, w in enumerate(weights) if i != 2)
  reference = tiny_posewarper.apply(trained_variables, heatmaps[:, 2],
                                    [jnp.broadcast_to(z, (2,) + z.shape[1:]) for z in zeros],
                                    method="deform")
  np.testing.assert_allclose(methods["aggregate"](replaced, frames),
                             expected + weights[2] * reference, rtol=1e-5, atol=1e-6)
  other_size = with_reference_fields(tiny_posewarper, trained_variables,
                                     (frames.shape[2] // 2, frames.shape[3]))
  with pytest.raises(ValueError, match="with_reference_fields for this crop size"):
    methods["aggregate"](other_size, frames)


def test_float64_compute_is_float64_end_to_end(tiny_hrnet, trained_variables, methods, frames):
  """With x64 enabled (for this test only) a float64 PoseWarper (backbone and head) returns
  float64 warped heatmaps that agree with the float32 model's to float32 precision."""
  frame_a, frame_b = frames[:, 0], frames[:, 1]
  with jax.enable_x64(True):
    model = PoseWarper(backbone=tiny_hrnet.clone(dtype=jnp.float64), dtype=jnp.float64,
                       **TINY_HEAD)
    shapes = jax.eval_shape(model.init, jax.random.key(0), frame_a, frame_b)
    out = jax.jit(model.apply)(trained_variables, jnp.asarray(frame_a, jnp.float64),
                               jnp.asarray(frame_b, jnp.float64))
  assert {x.dtype for x in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float64)}
  assert out.dtype == jnp.float64
  reference = np.asarray(methods["__call__"](trained_variables, frame_a, frame_b), np.float64)
  np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())


def test_freeze_backbone_stops_gradients(tiny_hrnet, trained_variables, frames):
  # Everything is passed as arguments: constants closed over by jit get folded, slowly.
  def loss(model, params, batch_stats, frame_a, frame_b):
    out, _ = model.apply({"params": params, "batch_stats": batch_stats}, frame_a, frame_b,
                         train=True, mutable=["batch_stats"])
    return jnp.mean(out ** 2)

  args = (trained_variables["batch_stats"], frames[:, 0], frames[:, 1])
  frozen = PoseWarper(backbone=tiny_hrnet, freeze_backbone=True, **TINY_HEAD)
  grads = jax.jit(jax.grad(lambda p, *a: loss(frozen, p, *a)))(trained_variables["params"], *args)
  assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads["backbone"]))
  assert all(float(jnp.abs(g).max()) > 0 for k, sub in grads.items() if k != "backbone"
             for g in jax.tree.leaves(sub))
  # Unfrozen, the same loss does reach the backbone (checked at its final layer only, which
  # needs no backward pass through the HRNet body).
  unfrozen = PoseWarper(backbone=tiny_hrnet, freeze_backbone=False, **TINY_HEAD)

  def loss_of_final_layer(final_layer, params, *a):
    params = {**params, "backbone": {**params["backbone"], "final_layer": final_layer}}
    return loss(unfrozen, params, *a)

  final_grads = jax.jit(jax.grad(loss_of_final_layer))(
      trained_variables["params"]["backbone"]["final_layer"], trained_variables["params"], *args)
  assert float(jnp.abs(final_grads["kernel"]).max()) > 0


def changed(before, after) -> bool:
  return any(not np.array_equal(x, y)
             for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after)))


@pytest.mark.parametrize("mode", ["batch", "running"])
def test_backbone_batch_stats_modes(tiny_hrnet, trained_variables, frames, mode):
  model = PoseWarper(backbone=tiny_hrnet, backbone_batch_stats=mode, **TINY_HEAD)
  train_step = jax.jit(lambda v, a, b: model.apply(v, a, b, train=True, mutable=["batch_stats"]))
  _, updates = train_step(trained_variables, frames[:, 0], frames[:, 1])
  old, new = trained_variables["batch_stats"], updates["batch_stats"]
  assert changed(old["offset_feats_0"], new["offset_feats_0"])  # the head always trains
  if mode == "batch":  # official (SPEC 5.4): batch statistics, running stats keep moving
    assert changed(old["backbone"], new["backbone"])
  else:  # mmpose (SPEC 10.2): running statistics, left unchanged
    assert not changed(old["backbone"], new["backbone"])
