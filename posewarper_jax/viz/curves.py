"""Training curves from the workdirs' metrics.jsonl files (train/metric_writer.py) as a PNG.

  python -m posewarper_jax.viz.curves --workdirs runs/stage1 runs/stage2 --out curves.png
"""

import argparse
import json
import os
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from posewarper_jax.data import cli_paths
from posewarper_jax.train import metric_writer


def read_losses(workdir: str) -> tuple[list[int], list[float]]:
  """(steps, losses) logged in workdir/metrics.jsonl; ValueError naming a malformed line."""
  path = os.path.join(workdir, metric_writer.METRICS_FILE)
  steps, losses = [], []
  with open(path, encoding="utf-8") as lines:
    for number, line in enumerate(lines, start=1):
      try:
        record = json.loads(line)
      except json.JSONDecodeError as error:
        raise ValueError(f"{path}: line {number} is not JSON: {error}") from None
      if "loss" in record:
        steps.append(int(record["step"]))
        losses.append(float(record["loss"]))
  return steps, losses


def plot_losses(workdirs: Sequence[str], out_path: str,
                labels: Optional[Sequence[str]] = None) -> str:
  """One loss curve (log scale) per workdir, written to `out_path`; returns it."""
  labels = list(labels) if labels is not None else [os.path.basename(os.path.normpath(w))
                                                     for w in workdirs]
  figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
  for workdir, label in zip(workdirs, labels):
    steps, losses = read_losses(workdir)
    axes.plot(steps, losses, label=label)
  axes.set_xlabel("step")
  axes.set_ylabel("training loss (JointsMSE)")
  axes.set_yscale("log")
  axes.grid(True, alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(out_path)
  plt.close(figure)
  return out_path


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description="Plots training losses of workdirs.")
  parser.add_argument("--workdirs", nargs="+", required=True, type=cli_paths.existing)
  parser.add_argument("--out", required=True, help="PNG path")
  args = parser.parse_args(argv)
  print(plot_losses(args.workdirs, args.out))


if __name__ == "__main__":
  main()
