"""Trains stage 1, stage 2 or a retraining run, as the config says; resumes from the workdir.

  python train.py --config configs/posetrack18.py:stage2 --workdir runs/pt18_stage2 \
      [--config.train.batch_size=64 --config.data.root=/data/posetrack18 ...]

Multi-host: on Cloud TPU slices and SLURM jobs the processes find each other by themselves;
elsewhere pass --coordinator_address=HOST:PORT --num_processes=N --process_id=I to each.
"""

# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages(keep_freed_memory=True)  # first: it re-executes

from absl import app
from absl import flags
from ml_collections import config_flags

from posewarper_jax import sharding
from posewarper_jax.data import cli_paths
from posewarper_jax.train import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:variant]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: config, checkpoints, logs.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", "",
                                   "host:port of process 0 (multi-process runs).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "Processes of a multi-process run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", -1, "This process's index in a multi-process run.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  sharding.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  with cli_paths.one_line_errors():
    run = loop.prepare(_CONFIG.value, _WORKDIR.value)
  loop.train(run)


if __name__ == "__main__":
  app.run(main)
