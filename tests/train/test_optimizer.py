"""Adam and the MultiStepLR schedule against a NumPy transcription of PyTorch's (SPEC 5.2)."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import common
from posewarper_jax.train import optimizer as optimizer_lib


def _config(**overrides) -> ml_collections.ConfigDict:
  config = common.train_config("stage1")
  config.update(overrides)
  return config


def test_schedule_decays_one_epoch_early_as_the_original():
  """SPEC 5.2: milestones [5, 7], 10 epochs -> 1e-4 for epochs 0-3, 1e-5 for 4-5, 1e-6 after."""
  steps_per_epoch = 3
  schedule = optimizer_lib.learning_rate_schedule(_config(), steps_per_epoch)
  per_epoch = [float(schedule(epoch * steps_per_epoch + i)) for epoch in range(10)
               for i in range(steps_per_epoch)]
  expected = np.repeat([1e-4] * 4 + [1e-5] * 2 + [1e-6] * 4, steps_per_epoch)
  np.testing.assert_allclose(per_epoch, expected, rtol=1e-6)
  exact = optimizer_lib.learning_rate_schedule(_config(decay_one_epoch_early=False), 1)
  np.testing.assert_allclose([float(exact(s)) for s in (4, 5, 6, 7)], [1e-4, 1e-5, 1e-5, 1e-6],
                             rtol=1e-6)


def torch_adam(params, grads_per_step, lrs, b1=0.9, b2=0.999, eps=1e-8):
  """torch.optim.Adam (amsgrad off, weight_decay 0) in float64."""
  m = np.zeros_like(params)
  v = np.zeros_like(params)
  for t, (grad, lr) in enumerate(zip(grads_per_step, lrs), start=1):
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad ** 2
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    params = params - lr * m_hat / (np.sqrt(v_hat) + eps)
  return params


def test_adam_matches_pytorch_and_freezes_the_backbone():
  rng = np.random.default_rng(0)
  params = {"backbone": {"w": rng.normal(size=(3,))}, "offsets_0": {"w": rng.normal(size=(4,))}}
  grads = [{"backbone": {"w": rng.normal(size=(3,))}, "offsets_0": {"w": rng.normal(size=(4,))}}
           for _ in range(6)]
  config = _config(trainable="head", learning_rate=1e-2, lr_decay_epochs=(2, 3))
  steps_per_epoch = 2
  optimizer = optimizer_lib.make_optimizer(config, params)
  schedule = optimizer_lib.learning_rate_schedule(config, steps_per_epoch)
  lrs = [float(schedule(s)) for s in range(6)]
  state = optimizer.init(params)
  current = params
  for grad, lr in zip(grads, lrs):
    current, state = optimizer_lib.apply_updates(optimizer, grad, state, current, lr)
  assert lrs == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4])
  expected = torch_adam(params["offsets_0"]["w"], [g["offsets_0"]["w"] for g in grads], lrs)
  np.testing.assert_allclose(np.asarray(current["offsets_0"]["w"]), expected, rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(current["backbone"]["w"]),
                                params["backbone"]["w"].astype(np.float32))


def test_head_only_needs_a_posewarper():
  with pytest.raises(ValueError, match="trainable='head'"):
    optimizer_lib.trainable_labels({"conv1": {"kernel": jnp.zeros(2)}}, "head")
  with pytest.raises(ValueError, match="'some'"):
    optimizer_lib.trainable_labels({"conv1": {"kernel": jnp.zeros(2)}}, "some")
