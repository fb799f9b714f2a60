"""Tiny training runs of train.py on generated synthetic videos, shared by the loop tests.

Every run is a subprocess (as a user starts it), compiled programs are shared between runs
through JAX's persistent compilation cache, and the model and crops are the smallest that keep
every structural feature.
"""

import json
import os
import pathlib
import subprocess
import sys
from typing import Optional

import pytest

from posewarper_jax.data import synthetic
from tests.conftest import REPO_ROOT, with_xla_flag

# configs/synthetic.py shrunk further: TINY_HRNET of tests/models/conftest.py, 32 x 64 crops.
TINY_OVERRIDES = {
    "input.image_size": "(32,64)",
    "model.width": "4",
    "model.stage_modules": "(1,1,1)",
    "model.num_blocks": "1",
    "model.stem_width": "8",
    "model.layer1_blocks": "1",
    "model.head.num_offset_blocks": "2",
    "model.head.offset_channels": "8",
    "model.head.dilations": "(1,3)",
    "train.batch_size": "8",
    # From scratch: the shipped pretrained HRNet (configs/synthetic.py) has the demo's sizes.
    "train.init_from": "",
    # Updates proportional to small gradients (see test_scale.py); every tiny run then shares
    # one compiled step per model (the learning rate is an input of the step).
    "train.adam_eps": "1e-2",
    "train.log_every_steps": "1",
    "train.checkpoint_every_steps": "8",
    "train.eval_at_end": "False",
    "eval.batch_size": "4",
}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> pathlib.Path:
  """3 training and 2 validation videos of 10 frames, 160 x 120."""
  root = tmp_path_factory.mktemp("synthetic")
  for split, num_videos in (("train", 3), ("val", 2)):
    synthetic.generate(root, num_videos=num_videos, frames_per_video=10, image_size=(160, 120),
                       split=split)
  return root


def train_command(workdir: pathlib.Path, variant: str, root: pathlib.Path,
                  **overrides: str) -> list[str]:
  """argv of `python train.py` on configs/synthetic.py with TINY_OVERRIDES and `overrides`
  (keys with "__" for ".", e.g. train__num_steps="12")."""
  fields = {**TINY_OVERRIDES, "data.root": str(root),
            **{key.replace("__", "."): value for key, value in overrides.items()}}
  return [sys.executable, str(REPO_ROOT / "train.py"), f"--config=configs/synthetic.py:{variant}",
          f"--workdir={workdir}"] + [f"--config.{key}={value}" for key, value in fields.items()]


def run_environment(cache: pathlib.Path, num_devices: Optional[int] = None) -> dict[str, str]:
  """The runs' environment: the shared cache keeps programs that compile in 0.5 s or more, as
  in tests/conftest.py (reading back the three dozen small eager ops of a run cost more than
  compiling them: a warm run 24 s with them cached, 20-22 s without)."""
  env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0", TF_CPP_MIN_LOG_LEVEL="2")
  if num_devices is not None:
    env["XLA_FLAGS"] = with_xla_flag(env.get("XLA_FLAGS"),
                                     f"--xla_force_host_platform_device_count={num_devices}")
  return env


def start(command: list[str], env: dict[str, str], log: pathlib.Path) -> subprocess.Popen:
  """Starts a run whose stdout and stderr go to `log`."""
  with open(log, "w") as stream:
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=stream,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def run(command: list[str], env: dict[str, str], timeout: float = 600
        ) -> subprocess.CompletedProcess:
  return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                        timeout=timeout, stdin=subprocess.DEVNULL)


def read_metrics(workdir: pathlib.Path) -> list[dict]:
  path = workdir / "metrics.jsonl"
  if not path.is_file():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def losses(workdir: pathlib.Path) -> list[float]:
  return [m["loss"] for m in read_metrics(workdir) if "loss" in m]
