"""Evaluates a checkpoint on a PoseTrack-layout split and prints the PoseTrack mAP table.

  python evaluate.py --config configs/posetrack18.py:stage2 --checkpoint CKPT_DIR \
      --output_dir OUT [--config.eval.mode=single] [--config.data.boxes=gt] ...

CKPT_DIR is a checkpoint written by posewarper_jax.models.save or the PyTorch converter
(python -m posewarper_jax.models.convert). OUT receives predictions/ (per-video PoseTrack18
JSON), predictions_annolist/ with --config.eval.write_annolist, and results.json. A missing or
malformed input (checkpoint, dataset, detections, config value) ends it with one line
"error: <message>" and exit status 1.
"""

# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

from absl import app
from absl import flags
from ml_collections import config_flags

from posewarper_jax.data import cli_paths
from posewarper_jax.eval import evaluation
from posewarper_jax.eval import posetrack_map

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:variant]).",
                                          lock_config=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Model checkpoint directory.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where predictions and results go.")
flags.mark_flags_as_required(["config", "checkpoint", "output_dir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config, checkpoint = _CONFIG.value, _CHECKPOINT.value
  with cli_paths.one_line_errors():
    split, model, variables = evaluation.load_inputs(config, checkpoint)
  results = evaluation.evaluate_model(config, model, variables, _OUTPUT_DIR.value, split=split,
                                      source=checkpoint)
  print(posetrack_map.format_results(results))


if __name__ == "__main__":
  app.run(main)
