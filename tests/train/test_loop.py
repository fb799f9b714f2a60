"""train.py end to end on tiny synthetic runs: learning, resuming, preemption, divergence."""

import re
import signal
import time

import jax
import numpy as np
import pytest

from posewarper_jax import models
from posewarper_jax.models import checkpoint as checkpoint_lib
from tests.train.conftest import losses, read_metrics, run, run_environment, start, train_command

NUM_STEPS = "24"


def _params(workdir):
  return jax.tree.map(np.asarray, models.load(workdir)[1]["params"])


def _checkpoint_steps(workdir):
  folder = workdir / checkpoint_lib.CHECKPOINTS_DIR
  if not folder.is_dir():
    return []
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def _check_ok(result):
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


@pytest.fixture(scope="module")
def stage1_run(tmp_path_factory, synthetic_root, compilation_cache):
  workdir = tmp_path_factory.mktemp("stage1")
  _check_ok(run(train_command(workdir, "stage1", synthetic_root, train__num_steps=NUM_STEPS),
                run_environment(compilation_cache)))
  return workdir


def test_stage1_loss_goes_down(stage1_run):
  values = losses(stage1_run)
  assert len(values) == int(NUM_STEPS)
  assert np.mean(values[-6:]) < 0.8 * np.mean(values[:6]), values
  assert _checkpoint_steps(stage1_run) == [8, 16, 24]


def test_stage2_loss_goes_down_on_the_frozen_stage1_backbone(stage1_run, tmp_path, synthetic_root,
                                                             compilation_cache):
  # The paper's wider targets (sigma 3, not configs/synthetic.py's 1): gradients large enough
  # for the tiny runs' adam_eps to let the head move within 24 steps; the compiled step is shared.
  result = run(train_command(tmp_path, "stage2", synthetic_root, train__num_steps=NUM_STEPS,
                             train__init_from=str(stage1_run), train__learning_rate="1e-2",
                             input__sigma="3.0"),
               run_environment(compilation_cache))
  _check_ok(result)
  values = losses(tmp_path)
  assert np.mean(values[-6:]) < 0.9 * np.mean(values[:6]), values
  # SPEC 5.4: the backbone starts from stage 1 and is not trained.
  jax.tree.map(np.testing.assert_array_equal, _params(tmp_path)["backbone"], _params(stage1_run))


def test_resume_after_sigkill_matches_an_uninterrupted_run(stage1_run, tmp_path, synthetic_root,
                                                           compilation_cache):
  command = train_command(tmp_path, "stage1", synthetic_root, train__num_steps=NUM_STEPS)
  env = run_environment(compilation_cache)
  process = start(command, env, tmp_path / "first.log")
  deadline = time.monotonic() + 600
  while not _checkpoint_steps(tmp_path) and process.poll() is None:
    assert time.monotonic() < deadline, "no checkpoint within 600 s"
    time.sleep(0.1)
  process.send_signal(signal.SIGKILL)
  process.wait()
  saved = _checkpoint_steps(tmp_path)
  assert saved and saved[-1] < int(NUM_STEPS), saved
  result = run(command, env)
  _check_ok(result)
  resumed_at = int(re.search(r"starting at step (\d+)", result.stderr).group(1))
  assert resumed_at == saved[-1]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9),
               _params(tmp_path), _params(stage1_run))


def test_sigterm_saves_and_exits_cleanly(tmp_path, synthetic_root, compilation_cache):
  command = train_command(tmp_path, "stage1", synthetic_root, train__num_steps="100000",
                          train__checkpoint_every_steps="100000")
  process = start(command, run_environment(compilation_cache), tmp_path / "run.log")
  deadline = time.monotonic() + 600
  while len(read_metrics(tmp_path)) < 2:
    assert process.poll() is None and time.monotonic() < deadline, (
        (tmp_path / "run.log").read_text()[-3000:])
    time.sleep(0.1)
  process.send_signal(signal.SIGTERM)
  assert process.wait(timeout=300) == 0, (tmp_path / "run.log").read_text()[-3000:]
  (step,) = _checkpoint_steps(tmp_path)
  assert 2 <= step < 100000 and step >= read_metrics(tmp_path)[-1]["step"]
  assert "SIGTERM: saved step" in (tmp_path / "run.log").read_text()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, synthetic_root,
                                                                   compilation_cache):
  # Adam steps are about the learning rate in size: 1e30 overflows the activations at once.
  result = run(train_command(tmp_path, "stage1", synthetic_root, train__num_steps="20",
                             train__checkpoint_every_steps="1", train__learning_rate="1e30"),
               run_environment(compilation_cache))
  assert result.returncode != 0
  match = re.search(r"TrainingDivergedError: step (\d+): (loss|grad_norm) is (nan|inf)",
                    result.stderr)
  assert match, result.stderr[-3000:]
  bad_step = int(match.group(1))
  saved = _checkpoint_steps(tmp_path)
  assert saved and saved[-1] == bad_step - 1, (saved, bad_step)
  assert f"last good checkpoint is step {bad_step - 1}" in result.stderr
  for leaf in jax.tree.leaves(_params(tmp_path)):
    assert np.isfinite(leaf).all()


def test_misspelt_override_is_named(tmp_path, synthetic_root, compilation_cache):
  command = train_command(tmp_path, "stage1", synthetic_root) + ["--config.train.num_stepz=3"]
  result = run(command, run_environment(compilation_cache), timeout=300)
  assert result.returncode != 0 and "num_stepz" in result.stderr
  assert not (tmp_path / "config.json").exists()
