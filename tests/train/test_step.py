"""The train step and the train state: the loss it reports, the head-only mask, weight
transplant. (BatchNorm modes: tests/models/test_posewarper.py; whole runs: test_loop.py.)"""

import flax.traverse_util
import jax
import numpy as np
import pytest

from configs import common
from posewarper_jax import sharding
from posewarper_jax.data import pixels
from posewarper_jax.data import targets
from posewarper_jax.models import HRNet, PoseWarper
from posewarper_jax.models import checkpoint as checkpoint_lib
from posewarper_jax.train import losses
from posewarper_jax.train import optimizer as optimizer_lib
from posewarper_jax.train import state as state_lib
from posewarper_jax.train import step as step_lib
from tests.models.conftest import TINY_HEAD, TINY_HRNET

BATCH, HEIGHT, WIDTH, JOINTS = 2, 64, 32, 17
SIGMA = 2.0


def _batch(seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  return {
      "frame_a": rng.integers(0, 256, size=(BATCH, HEIGHT, WIDTH, 3), dtype=np.uint8),
      "frame_b": rng.integers(0, 256, size=(BATCH, HEIGHT, WIDTH, 3), dtype=np.uint8),
      "joints": np.concatenate([rng.uniform(-8, [WIDTH + 8, HEIGHT + 8], (BATCH, JOINTS, 2)),
                                rng.integers(0, 2, (BATCH, JOINTS, 1))], -1).astype(np.float32),
  }


def _run_step(model, trainable: str):
  config = common.train_config("stage2")
  config.trainable = trainable
  config.learning_rate = 1e-2
  params = checkpoint_lib.abstract_variables(model)["params"]
  optimizer = optimizer_lib.make_optimizer(config, params)
  state = state_lib.initial_state(model, optimizer, seed=0)
  before = jax.tree.map(np.asarray, state)
  train_step = step_lib.compile_train_step(
      step_lib.make_train_step(model, optimizer, heatmap_stride=4, sigma=SIGMA),
      sharding.data_mesh())
  batch = {key: value for key, value in _batch().items() if key in step_lib.input_keys(model)}
  after, metrics = train_step(state, batch, np.float32(config.learning_rate))
  return before, jax.tree.map(np.asarray, after), metrics, batch


def _changed(before, after) -> dict[str, bool]:
  flat_before = flax.traverse_util.flatten_dict(before)
  flat_after = flax.traverse_util.flatten_dict(after)
  return {"/".join(path): not np.array_equal(flat_before[path], flat_after[path])
          for path in flat_before}


@pytest.fixture(scope="module")
def stage2_results():
  model = PoseWarper(backbone=HRNet(**TINY_HRNET), **TINY_HEAD)
  return model, _run_step(model, "head")


def test_stage2_step_trains_the_head_only(stage2_results):
  model, (before, after, metrics, batch) = stage2_results
  assert int(after.step) == 1
  changed = _changed(before.params, after.params)
  assert not any(v for k, v in changed.items() if k.startswith("backbone/"))
  head = [k for k in changed if not k.startswith("backbone/")]
  assert head and all(changed[k] for k in head if "offsets" in k or "deform" in k)
  # The loss is the one of the parameters before the step (SPEC 5.1), of the uint8 crops
  # normalised, against the joints' targets.
  heatmaps, _ = jax.jit(lambda v, a, b: model.apply(v, a, b, train=True, mutable=["batch_stats"]))(
      before.variables, pixels.normalize(batch["frame_a"]), pixels.normalize(batch["frame_b"]))
  target, target_weight = targets.gaussian_heatmaps(
      batch["joints"][..., :2], batch["joints"][..., 2], (WIDTH, HEIGHT), 4, SIGMA)
  assert 0 < float(target_weight.sum()) < BATCH * JOINTS
  expected = losses.joints_mse(heatmaps, target, target_weight)
  np.testing.assert_allclose(float(metrics["loss"]), float(expected), rtol=1e-5)
  assert float(metrics["learning_rate"]) == pytest.approx(1e-2)


def _numbered_variables(model, first: int) -> dict:
  """Variables of `model`'s shapes whose leaves are filled with distinct numbers from `first`."""
  abstract = checkpoint_lib.abstract_variables(model)
  leaves, treedef = jax.tree.flatten(abstract)
  return jax.tree.unflatten(treedef, [np.full(leaf.shape, first + i, leaf.dtype)
                                      for i, leaf in enumerate(leaves)])


def test_transplant_moves_a_backbone_between_models():
  hrnet = HRNet(**TINY_HRNET)
  warper = PoseWarper(backbone=hrnet, **TINY_HEAD)
  hrnet_vars = _numbered_variables(hrnet, 1)
  warper_vars = _numbered_variables(warper, 1000)
  merged = state_lib.transplant(warper, warper_vars, hrnet, hrnet_vars)
  jax.tree.map(np.testing.assert_array_equal, merged["params"]["backbone"], hrnet_vars["params"])
  jax.tree.map(np.testing.assert_array_equal, merged["batch_stats"]["backbone"],
               hrnet_vars["batch_stats"])
  np.testing.assert_array_equal(merged["params"]["offsets_0"]["kernel"],
                                warper_vars["params"]["offsets_0"]["kernel"])
  back = state_lib.transplant(hrnet, hrnet_vars, warper, merged)
  jax.tree.map(np.testing.assert_array_equal, back["params"], hrnet_vars["params"])


def test_transplant_names_what_does_not_fit():
  small = HRNet(**TINY_HRNET)
  wider = HRNet(**{**TINY_HRNET, "width": 8})
  with pytest.raises(ValueError, match=r"params/stage2_0/.*checkpoint shape"):
    state_lib.transplant(wider, _numbered_variables(wider, 0), small,
                         _numbered_variables(small, 0))
  deeper = HRNet(**{**TINY_HRNET, "layer1_blocks": 2})
  with pytest.raises(ValueError, match=r"missing from the checkpoint: .*layer1_1"):
    state_lib.transplant(deeper, _numbered_variables(deeper, 0), small,
                         _numbered_variables(small, 0))
