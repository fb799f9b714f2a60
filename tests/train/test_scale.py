"""train.py over several devices and several processes gives the single-device result."""

import re
import socket

import jax
import numpy as np

from posewarper_jax import models
from tests.train.conftest import losses, run, run_environment, start, train_command

# Two steps, as in test_eight_devices_give_the_parameters_of_one.
STEPS = {"train__num_steps": "2"}


def _params(workdir):
  return jax.tree.map(np.asarray, models.load(workdir)[1]["params"])


def _check_ok(result):
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def test_eight_devices_give_the_parameters_of_one(tmp_path, synthetic_root, compilation_cache):
  """Same global batch of 8: BatchNorm statistics and gradients are the global batch's.

  Adam's first steps move every parameter by about +-lr whatever the size of its gradient, so
  a gradient that is zero but for rounding (summed in another order on 8 devices) would move
  by a whole step either way; the tiny runs' adam_eps = 1e-2 makes small updates
  proportional to the gradient. Two steps: a wrong statistic or a missing gradient sum shows
  in the first. Later, rounding differences can change a gradient discontinuously (a ReLU
  near a tie, for one): in the third step of this run the losses still agree to 3e-7 but the
  gradient norms differ by 3e-4 (0.081447 vs 0.081474; equal in the first two steps).
  """
  for num_devices in (1, 8):
    workdir = tmp_path / f"devices_{num_devices}"
    result = run(train_command(workdir, "stage1", synthetic_root, **STEPS),
                 run_environment(compilation_cache, num_devices))
    _check_ok(result)
    assert f"on {num_devices} devices" in result.stderr
  np.testing.assert_allclose(losses(tmp_path / "devices_8"), losses(tmp_path / "devices_1"),
                             rtol=1e-5)
  # Within 1/1000 of one step (the learning rate, 1e-3) of each other.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               _params(tmp_path / "devices_8"), _params(tmp_path / "devices_1"))


def _free_port() -> int:
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    return sock.getsockname()[1]


def test_two_processes_on_localhost(tmp_path, synthetic_root, compilation_cache):
  """jax.distributed on CPU: each process feeds half the global batch; both end with the same
  parameters, which are those of the saved checkpoint. (Each process reads its own shard of
  the videos, so the batches are not those of a one-process run.)"""
  port = _free_port()
  command = train_command(tmp_path / "run", "stage1", synthetic_root, **STEPS)
  processes = [
      start(command + [f"--coordinator_address=localhost:{port}", "--num_processes=2",
                       f"--process_id={i}"], run_environment(compilation_cache, 1),
            tmp_path / f"process_{i}.log")
      for i in range(2)]
  logs = []
  for i, process in enumerate(processes):
    code = process.wait(timeout=900)
    logs.append((tmp_path / f"process_{i}.log").read_text())
    assert code == 0, logs[-1][-5000:]
  assert "on 2 devices, 2 processes" in logs[0]
  finished = rf"finished at step {STEPS['train__num_steps']}; parameter checksum (\S+)"
  checksums = [float(re.search(finished, log).group(1)) for log in logs]
  assert checksums[0] == checksums[1]
  saved = sum(np.abs(leaf.astype(np.float64)).sum()
              for leaf in jax.tree.leaves(_params(tmp_path / "run")))
  np.testing.assert_allclose(saved, checksums[0], rtol=1e-12)
