"""JointsMSELoss against a float64 transcription of the original's per-joint loop (SPEC 5.1)."""

import numpy as np
import pytest

from posewarper_jax.train import losses


def official_joints_mse(output, target, target_weight):
  """PW:lib/core/loss.py JointsMSELoss(use_target_weight=True) on NCHW-flattened float64."""
  batch, height, width, joints = output.shape
  pred = output.transpose(0, 3, 1, 2).reshape(batch, joints, -1)
  gt = target.transpose(0, 3, 1, 2).reshape(batch, joints, -1)
  loss = 0.0
  for j in range(joints):
    w = target_weight[:, j:j + 1]
    loss += 0.5 * np.mean((pred[:, j] * w - gt[:, j] * w) ** 2)
  return loss / joints


def test_joints_mse_matches_the_original():
  rng = np.random.default_rng(0)
  output = rng.normal(size=(3, 6, 5, 4))
  target = rng.uniform(size=(3, 6, 5, 4))
  weight = rng.integers(0, 2, size=(3, 4)).astype(np.float64)
  expected = official_joints_mse(output, target, weight)
  got = losses.joints_mse(output.astype(np.float32), target.astype(np.float32),
                          weight.astype(np.float32))
  np.testing.assert_allclose(float(got), expected, rtol=1e-6)
  weight[:] = 0
  assert float(losses.joints_mse(output, target, weight)) == 0.0


def test_joints_mse_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match=r"target_weight \(2, 3\)"):
    losses.joints_mse(np.zeros((2, 4, 4, 5)), np.zeros((2, 4, 4, 5)), np.zeros((2, 3)))
