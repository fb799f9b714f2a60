"""Inference throughput in boxes/s: `single` (HRNet alone) and `aggregate` (SPEC 7b).

For each mode, at W48 384x288 (or --small):
  * model: the jitted heatmap function of inference/heatmaps.py on a batch of random crops
    (random N(0, 0.001) variables, as the original's init), median of --repeats calls;
  * input: the evaluation pipeline (data/eval_inputs.py) alone, from 1920x1080 JPEG frames with
    3 boxes each (benchmarks/input_pipeline.py's frames): decode, crop 1 or 5 frames per box;
  * end to end: inference/predict.predict over the same frames (pipeline, model, decoding).
The model rate is compared with the analytic convolution cost of PERFORMANCE.md and the CPU's
fp32 peak (benchmarks/model.py). --batch_norm folded (default, what predict runs) times the
model with its BatchNorms folded into the convolutions (models/fold.py), kept as trained.

  python benchmarks/inference.py [--small] [--batch 4] [--repeats 3] [--frames 4]
                                 [--batch_norm folded|kept]
"""

import argparse
import dataclasses
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import input_pipeline
from benchmarks import model as model_bench
from configs import common
from posewarper_jax.data import eval_inputs
from posewarper_jax.inference import heatmaps
from posewarper_jax.inference import predict
from posewarper_jax.models import fold_batch_norm, posewarper
from posewarper_jax import sharding, xla_cpu


def time_model(model, variables, mode: str, batch: int, height: int, width: int,
               repeats: int) -> tuple[float, float]:
  """Median seconds per batch and XLA GFLOP of the compiled heatmap function."""
  mesh = sharding.data_mesh(jax.local_devices())
  forward = heatmaps.heatmap_function(model, mode, mesh)
  num_frames = len(heatmaps.FRAME_OFFSETS[mode])
  frames = jnp.asarray(np.random.default_rng(0).normal(
      size=(batch, num_frames, height, width, 3)), jnp.float32)
  variables = heatmaps.inference_variables(model, variables, mode, (height, width), mesh)
  compiled = forward.lower(variables, frames).compile()
  seconds = model_bench.time_calls(lambda: compiled(variables, frames), repeats)
  return seconds, model_bench.xla_flops(compiled) / 1e9


def time_pipeline(videos, input_config, mode: str, batch: int) -> float:
  """Boxes/s of the evaluation input pipeline alone (one pass, after the first batch)."""
  dataset = eval_inputs.make_eval_dataset(videos, input_config, batch_size=batch,
                                          single_frame=mode == "single")
  iterator = dataset.as_numpy_iterator()
  next(iterator)
  count, start = 0, time.perf_counter()
  for element in iterator:
    count += len(element["score"])
  return count / (time.perf_counter() - start)


def time_end_to_end(videos, model, variables, input_config, mode: str, batch: int,
                    folded: bool = True) -> float:
  """Boxes/s of predict.predict, after a warm-up call on one frame compiled the model."""
  eval_config = common.eval_config("stage2")
  eval_config.update(mode=mode, batch_size=batch)
  first_frame = dataclasses.replace(videos[0], frames=videos[0].frames[:1])
  predict.predict((first_frame,), model, variables, input_config, eval_config,
                  fold_batch_norm=folded)
  start = time.perf_counter()
  predict.predict(videos, model, variables, input_config, eval_config, fold_batch_norm=folded)
  boxes = sum(len(frame.persons) for video in videos for frame in video.frames)
  return boxes / (time.perf_counter() - start)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=4, help="boxes per step")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--frames", type=int, default=4, help="1920x1080 frames, 3 boxes each")
  parser.add_argument("--small", action="store_true",
                      help="W32-sized check at 128x96 (analytic numbers do not apply)")
  parser.add_argument("--batch_norm", choices=("folded", "kept"), default="folded",
                      help="BatchNorm folded into the convolutions (as predict runs) or kept")
  args = parser.parse_args()
  folded = args.batch_norm == "folded"
  width, height = (96, 128) if args.small else (288, 384)
  model = posewarper("w32" if args.small else "w48")
  variables = model_bench.random_variables(model)
  folded_model, folded_variables = (fold_batch_norm(model, variables) if folded
                                    else (model, variables))
  input_config = common.input_config()
  input_config.image_size = (width, height)
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}; "
        f"{xla_cpu.describe()}; crop {height}x{width}, batch {args.batch}, "
        f"BatchNorm {args.batch_norm}")
  print(f"{'mode':<10} {'model ms/batch':>15} {'model boxes/s':>14} {'GFLOP/s':>8} "
        f"{'of peak':>8} {'analytic GFLOP/box':>19} {'input boxes/s':>14} {'end-to-end':>11}")
  with tempfile.TemporaryDirectory() as folder:
    video = input_pipeline.write_video(pathlib.Path(folder), args.frames, persons_per_frame=3,
                                       rng=np.random.default_rng(0))
    for mode in heatmaps.MODES:
      analytic = 2 * model_bench.w48_gmac_per_item(mode)
      seconds, gflop = time_model(folded_model, folded_variables, mode, args.batch, height,
                                  width, args.repeats)
      pipeline_rate = time_pipeline((video,), input_config, mode, args.batch)
      end_to_end = time_end_to_end((video,), model, variables, input_config, mode, args.batch,
                                   folded)
      print(f"{mode:<10} {1e3 * seconds:15.1f} {args.batch / seconds:14.3f} "
            f"{gflop / seconds:8.1f} {gflop / seconds / model_bench.PEAK_GFLOPS:8.1%} "
            f"{'n/a' if args.small else f'{analytic:.0f}':>19} {pipeline_rate:14.1f} "
            f"{end_to_end:11.3f}")


if __name__ == "__main__":
  main()
