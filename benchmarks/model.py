"""Benchmark: the inference forwards of the PERFORMANCE.md table; the training steps are in
train_step.py.

  * HRNet-W32 256x192 forward, batch 8, and HRNet-W48 384x288 forward, batch 4: images/s;
  * temporal aggregation (SPEC 7b), W48 384x288, 2 boxes x 5 frames: boxes/s;
each through inference/heatmaps.py's jitted heatmap function (what inference/predict.py runs),
with the BatchNorms kept ("kept") and folded into the convolutions ("folded", models/fold.py,
predict's default). Nothing here imports TensorFlow, so the script runs where only JAX is
installed (benchmarks/run_gpu.sh).

FLOPs come from XLA's cost analysis of the compiled function; the analytic convolution GMAC of
PERFORMANCE.md are printed beside them, and the achieved rate is compared with --peak_gflops
(default: the 157 GFLOP/s fp32 peak of the reference CPU). Variables are random (no init
compile, which is slow on CPU).

  python benchmarks/model.py [--repeats 5] [--only hrnet_w32 hrnet_w48 aggregation]
                             [--dtype float32 bfloat16] [--batch_norm kept folded]
                             [--peak_gflops 157] [--small]
"""

import argparse
import dataclasses
import pathlib
import statistics
import sys
import time
from typing import Any, Callable, Sequence

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from posewarper_jax import sharding, xla_cpu
from posewarper_jax.inference import heatmaps
from posewarper_jax.models import checkpoint, fold_batch_norm, hrnet, posewarper

# PERFORMANCE.md: fp32 peak of the reference CPU (2 Zen 3 cores, AVX2 + FMA, 2.445 GHz).
PEAK_GFLOPS = 157.0
# PERFORMANCE.md: convolution GMAC per 384x288 frame of the HRNet-W48 backbone and of the
# warping head (offset trunk 39.9, offset convs 12.2, deformable convs 0.09); the original's
# aggregation runs 0.163 boxes/s on the reference CPU (437 GMAC per box).
W48_GMAC = 35.31
HEAD_GMAC = 52.2


def w48_gmac_per_item(mode: str) -> float:
  """PERFORMANCE.md's convolution GMAC of one W48 384x288 image ("single") or of one box of
  five frames ("aggregate", the warping head counted on every frame as the original runs it)."""
  head = HEAD_GMAC if mode == "aggregate" else 0.0
  return len(heatmaps.FRAME_OFFSETS[mode]) * (W48_GMAC + head)


@dataclasses.dataclass(frozen=True)
class Setting:
  name: str
  arch: str
  height: int
  width: int
  batch: int  # Images, or boxes of 5 frames for "aggregate".
  analytic_gmac: float  # PERFORMANCE.md, convolutions only, per image or box
  mode: str = "single"  # heatmaps.MODES


SETTINGS = (
    Setting("hrnet_w32", "w32", 256, 192, 8, 7.65),
    Setting("hrnet_w48", "w48", 384, 288, 4, w48_gmac_per_item("single")),
    Setting("aggregation", "w48", 384, 288, 2, w48_gmac_per_item("aggregate"), mode="aggregate"),
)
# --small: a quick correctness run of the same code paths (analytic numbers then do not apply).
SMALL = dict(height=128, width=96, batch=1)


def random_variables(model, seed: int = 0) -> dict[str, Any]:
  """Random variables shaped like the model's: conv N(0, 0.001) as the original init, BN 1/0."""
  rng = np.random.default_rng(seed)
  flat = traverse_util.flatten_dict(checkpoint.abstract_variables(model))
  values = {}
  for path, leaf in flat.items():
    if path[-1] in ("scale", "var"):
      values[path] = np.ones(leaf.shape, np.float32)
    elif path[-1] == "kernel" and path[-2].startswith("deform_convs"):
      values[path] = np.zeros(leaf.shape, np.float32)
      values[path][1, 1] = np.eye(leaf.shape[2], dtype=np.float32)
    elif path[-1] == "kernel":
      values[path] = rng.normal(0.0, 1e-3, leaf.shape).astype(np.float32)
    else:
      values[path] = np.zeros(leaf.shape, np.float32)
  return jax.tree.map(jnp.asarray, traverse_util.unflatten_dict(values))


def xla_flops(compiled) -> float:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get("flops", float("nan")))


def time_calls(fn: Callable[[], Any], repeats: int) -> float:
  """Median seconds of `repeats` calls after one warm-up call."""
  jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def time_side_by_side(fns: Sequence[Callable[[], Any]], repeats: int,
                      rounds: int = 2) -> list[float]:
  """Seconds per call of each callable, measured in turns: each in `rounds` blocks of
  time_calls(fn, repeats), the blocks alternating between the callables; the lowest block
  median of each. Blocks rather than call-by-call alternation: a call right after another
  program's call pays for the memory that one freed (alternating call by call slowed the
  stage-2 step from 7.4 to 9.6 s on a 2-core Zen 5, benchmarks/RESULTS.md), while a block's
  warm-up call absorbs it. Each callable must block until its result is ready."""
  blocks = [[] for _ in fns]
  for _ in range(rounds):
    for fn, fn_blocks in zip(fns, blocks):
      fn_blocks.append(time_calls(fn, repeats))
  return [min(fn_blocks) for fn_blocks in blocks]


def relative_difference(ours, theirs) -> float:
  """max |ours - theirs| / max |theirs| in float64: how far two implementations' results are."""
  ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
  return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30))


def inference_forward(setting: Setting, dtype, repeats: int, folded: bool = False):
  """Median seconds and XLA FLOPs of one call of the setting's heatmap function."""
  build = posewarper if setting.mode == "aggregate" else hrnet
  model = build(setting.arch, dtype=dtype)
  variables = random_variables(model)
  if folded:
    model, variables = fold_batch_norm(model, variables)
  frames = jnp.asarray(np.random.default_rng(1).normal(
      size=(setting.batch, len(heatmaps.FRAME_OFFSETS[setting.mode]), setting.height,
            setting.width, 3)), jnp.float32)
  mesh = sharding.data_mesh(jax.local_devices()[:1])
  forward = heatmaps.heatmap_function(model, setting.mode, mesh)
  variables = heatmaps.inference_variables(model, variables, setting.mode,
                                           (setting.height, setting.width), mesh)
  compiled = forward.lower(variables, frames).compile()
  seconds = time_calls(lambda: compiled(variables, frames), repeats)
  return seconds, xla_flops(compiled)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--only", nargs="+", choices=[s.name for s in SETTINGS],
                      default=[s.name for s in SETTINGS])
  parser.add_argument("--dtype", nargs="+", choices=("float32", "bfloat16"),
                      default=["float32", "bfloat16"])
  parser.add_argument("--batch_norm", nargs="+", choices=("kept", "folded"),
                      default=["kept", "folded"],
                      help="BatchNorm as trained, or folded into the convolutions (inference)")
  parser.add_argument("--peak_gflops", type=float, default=PEAK_GFLOPS,
                      help="peak GFLOP/s of the device for the 'of peak' column")
  parser.add_argument("--small", action="store_true",
                      help=f"quick check at {SMALL} (analytic numbers do not apply)")
  args = parser.parse_args()
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}; "
        f"{xla_cpu.describe()}")
  print(f"{'work':<34} {'dtype':<9} {'BN':<7} {'ms':>9} {'items/s':>9} {'XLA GFLOP':>10} "
        f"{'GFLOP/s':>8} {'of peak':>8} {'analytic GFLOP':>15}")
  for setting in SETTINGS:
    if setting.name not in args.only:
      continue
    if args.small:
      setting = dataclasses.replace(setting, **SMALL)
    for dtype_name in args.dtype:
      for batch_norm in args.batch_norm:
        seconds, flops = inference_forward(setting, jnp.dtype(dtype_name), args.repeats,
                                           folded=batch_norm == "folded")
        gflops = flops / 1e9
        analytic = "n/a" if args.small else f"{2 * setting.analytic_gmac * setting.batch:.1f}"
        label = f"{setting.name} {setting.height}x{setting.width} b{setting.batch}"
        print(f"{label:<34} {dtype_name:<9} {batch_norm:<7} {1e3 * seconds:9.1f} "
              f"{setting.batch / seconds:9.3f} {gflops:10.1f} {gflops / seconds:8.1f} "
              f"{gflops / seconds / args.peak_gflops:8.1%} {analytic:>15}", flush=True)


if __name__ == "__main__":
  main()
