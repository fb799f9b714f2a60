"""Benchmark: XLA:CPU's convolution choice (posewarper_jax/xla_cpu.py), both sides in one process.

jaxlib 0.10 runs CPU convolutions through YNNPACK unless the fusion type
`individual_convolution` is taken away, which is what posewarper_jax sets on Intel and AMD CPUs.
Each row here is lowered once and compiled twice, with the compiler option
`xla_cpu_experimental_ynn_fusion_type` naming YNNPACK's convolution, dots and reductions
("ynnpack", jaxlib's default) or only its dots and reductions ("xla", the package's setting), so
the process's own XLA_FLAGS do not matter. The two executables are timed in alternating blocks
(benchmarks/model.py `time_side_by_side`: --rounds blocks of a warm-up and --repeats calls
each; the lowest block median), which is what separates them on machines whose speed drifts
between runs. Rows:
  * conv: single 3x3 convolutions (`lax.conv_general_dilated`, NHWC, stride 1) at HRNet-W48's
    branch shapes, HRNet-W32's first branch and PoseWarper's offset trunk and offset
    convolutions, with GFLOP/s;
  * hrnet_w32 / hrnet_w48 / aggregation: inference/heatmaps.py's heatmap functions, BatchNorms
    folded, at side_by_side.py's sizes (W32 256x192 batch 8, W48 384x288 batch 4, aggregation of
    2 boxes x 5 frames);
  * stage2_step: train/step.py's W48 stage-2 step, 4 pairs, Adam (benchmarks/train_step.py).
Variables and inputs are random (benchmarks/model.py). "ynnpack / xla" > 1 means XLA's own
convolution is faster.

  python benchmarks/cpu_convolution.py [--only conv hrnet_w32 hrnet_w48 aggregation stage2_step]
                                       [--rounds 4] [--repeats 3]
"""

import argparse
import pathlib
import sys
from typing import Any, Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import model as model_bench
from benchmarks import train_step as train_step_bench
from configs import common
from posewarper_jax import machine, models, sharding, xla_cpu
from posewarper_jax.inference import heatmaps
from posewarper_jax.models import fold_batch_norm, hrnet, posewarper

_FUSION_OPTION = xla_cpu.YNN_FUSION_FLAG.lstrip("-")  # the flag as a compiler option
# Compiler options of each side: YNNPACK's fusion types as jaxlib's default sets them, and the
# same without the convolution (what `--xla_cpu_experimental_ynn_fusion_type=
# -individual_convolution` in XLA_FLAGS compiles to).
SIDES = {
    "ynnpack": {_FUSION_OPTION: "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION,"
                                "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"},
    "xla": {_FUSION_OPTION: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"},
}
# (label, batch, H, W, C_in, C_out) of the single convolutions.
CONV_SHAPES = (
    ("W48 branch 1", 4, 96, 72, 48, 48),
    ("W48 branch 2", 4, 48, 36, 96, 96),
    ("W48 branch 3", 4, 24, 18, 192, 192),
    ("W48 branch 4", 4, 12, 9, 384, 384),
    ("W32 branch 1", 8, 64, 48, 32, 32),
    ("offset trunk", 4, 96, 72, 128, 128),
    ("offset convolution", 4, 96, 72, 128, 306),
)
# name -> (arch, heatmap function mode, batch, height, width)
FORWARDS = {
    "hrnet_w32": ("w32", "single", 8, 256, 192),
    "hrnet_w48": ("w48", "single", 4, 384, 288),
    "aggregation": ("w48", "aggregate", 2, 384, 288),
}
ROWS = ("conv", *FORWARDS, "stage2_step")


def both_sides(lowered, *args) -> list[Callable[[], Any]]:
  """One blocking call per side of `lowered` compiled with that side's options."""
  calls = []
  for options in SIDES.values():
    compiled = lowered.compile(compiler_options=options)
    calls.append(lambda compiled=compiled: jax.block_until_ready(compiled(*args)))
  return calls


def convolution(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def forward_sides(name: str) -> list[Callable[[], Any]]:
  """The folded heatmap function of FORWARDS[name] on random frames, both sides."""
  arch, mode, batch, height, width = FORWARDS[name]
  model = posewarper(arch) if mode == "aggregate" else hrnet(arch)
  model, variables = fold_batch_norm(model, model_bench.random_variables(model))
  frames = jnp.asarray(np.random.default_rng(1).normal(
      size=(batch, len(heatmaps.FRAME_OFFSETS[mode]), height, width, 3)), jnp.float32)
  mesh = sharding.data_mesh(jax.local_devices())
  forward = heatmaps.heatmap_function(model, mode, mesh)
  variables = heatmaps.inference_variables(model, variables, mode, (height, width), mesh)
  return both_sides(forward.lower(variables, frames), variables, frames)


def step_sides() -> list[Callable[[], Any]]:
  """The W48 stage-2 training step, 4 pairs, one donated state per side."""
  config = common.base_config("stage2")
  model = models.build(config.model)
  # Host copies: each side's state then gets buffers of its own to donate.
  variables = jax.tree.map(np.asarray, model_bench.random_variables(model))
  width, height = config.input.image_size
  inputs = train_step_bench.random_batch(model, train_step_bench.ORIGINAL_BATCH, height, width,
                                         config.model.num_joints)
  return [train_step_bench.compiled_step(config, model, variables, inputs, sharding.data_mesh(),
                                         compiler_options=options)[0]
          for options in SIDES.values()]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
  parser.add_argument("--rounds", type=int, default=4,
                      help="blocks of --repeats calls per side, alternating between the sides")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  print(f"jax {jax.__version__}, backend {jax.default_backend()}; CPU "
        f"{machine.cpu_description()}; {xla_cpu.describe()} (not used: each side sets its own "
        f"options); {args.rounds} blocks of {args.repeats} calls per side")
  print(f"{'work':<48} {'ynnpack ms':>11} {'xla ms':>9} {'ynnpack/xla':>12} "
        f"{'ynnpack GF/s':>13} {'xla GF/s':>9}")

  def report(work: str, calls: list[Callable[[], Any]], gflop: float = 0.0) -> None:
    ynnpack, xla = model_bench.time_side_by_side(calls, args.repeats, args.rounds)
    rates = f"{gflop / ynnpack:13.0f} {gflop / xla:9.0f}" if gflop else ""
    print(f"{work:<48} {1e3 * ynnpack:11.1f} {1e3 * xla:9.1f} {ynnpack / xla:12.2f} {rates}",
          flush=True)

  rng = np.random.default_rng(0)
  for row in args.only:
    if row == "conv":
      for label, batch, height, width, c_in, c_out in CONV_SHAPES:
        x = jnp.asarray(rng.normal(size=(batch, height, width, c_in)), jnp.float32)
        kernel = jnp.asarray(rng.normal(size=(3, 3, c_in, c_out)), jnp.float32)
        gflop = 2 * 9 * batch * height * width * c_in * c_out / 1e9
        report(f"3x3 conv {label} ({batch}, {height}x{width}, {c_in}->{c_out})",
               both_sides(jax.jit(convolution).lower(x, kernel), x, kernel), gflop)
    elif row in FORWARDS:
      arch, mode, batch, height, width = FORWARDS[row]
      report(f"{row} ({arch} {mode}, {height}x{width} b{batch})", forward_sides(row))
    else:
      report("stage2_step (w48, 384x288, 4 pairs, Adam)", step_sides())


if __name__ == "__main__":
  main()
