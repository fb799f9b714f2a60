"""Benchmark: the library's training step (posewarper_jax/train/step.py) at the paper's sizes.

  * stage 1: HRNet-W48 384x288, 4 images, every parameter trained (SPEC 5.3);
  * stage 2: PoseWarper W48 384x288, 4 pairs, the warping head trained on the frozen backbone
    with BatchNorm in the official "batch" mode (SPEC 5.4).

The step is the one training runs: make_train_step with make_optimizer's Adam (learning rate
as an input),
compiled by compile_train_step over sharding.data_mesh(), the state donated. The model comes
from configs/common.py (config.model.dtype and .remat set from the flags), variables are random
(benchmarks/model.py), inputs are random. Each row is the median of --repeats steps after one
warm-up step. FLOPs come from XLA's cost analysis of the compiled step (per device, times the
devices); "of peak" divides the rate by --peak_gflops per device (default: the reference CPU's
fp32 peak; on a GPU pass the card's dense peak for the dtype to read model FLOP utilisation).
--small runs the same code on configs/synthetic.py's tiny model and 128x96 crops. The process
runs with train.py's malloc settings (posewarper_jax/host_memory.py: freed memory kept;
POSEWARPER_KEEP_MEMORY=0 for glibc's defaults).

  python benchmarks/train_step.py [--only stage1 stage2] [--dtype float32 bfloat16] [--batch N]
                                  [--remat] [--repeats 3] [--peak_gflops 157] [--small]
"""

import argparse
import pathlib
import sys
from typing import Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages(keep_freed_memory=True)  # first: it re-executes

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import model as model_bench
from configs import common, synthetic
from posewarper_jax import machine, models, sharding, xla_cpu
from posewarper_jax.train import optimizer as optimizer_lib
from posewarper_jax.train import step as step_lib
from posewarper_jax.train.state import TrainState

STAGES = {"stage1": "images", "stage2": "pairs"}  # Config variant -> what one batch row is.
# The original's stage-2 step, W48 384x288, 4 pairs, float32, torch 2.14.1 on 2 threads:
# ../shared/PERFORMANCE.md (AMD EPYC Zen 3) and side-by-side runs on AMD EPYC Zen 4 and Zen 5
# and Intel Xeon Emerald Rapids (benchmarks/side_by_side.py).
ORIGINAL = {"stage2": "16.2 s Zen 3, 13.7 s Zen 4, 8.1 s Zen 5, 8.9-17.6 s Xeon EMR"}
ORIGINAL_BATCH = 4


def random_batch(model, batch: int, height: int, width: int,
                 joints: int) -> dict[str, np.ndarray]:
  """Random float32 inputs for every key of step_lib.input_keys(model): frames (B, H, W, 3)
  N(0, 1), joints (B, K, 3) uniform over the crop, all visible."""
  rng = np.random.default_rng(1)
  inputs = {}
  for key in step_lib.input_keys(model):
    if key == step_lib.JOINTS_KEY:
      inputs[key] = np.concatenate([rng.uniform(0, [width, height], (batch, joints, 2)),
                                    np.ones((batch, joints, 1))], axis=-1)
    else:
      inputs[key] = rng.normal(size=(batch, height, width, 3))
  return {key: value.astype(np.float32) for key, value in inputs.items()}


def compiled_step(config, model, variables, inputs: dict[str, np.ndarray],
                  mesh: jax.sharding.Mesh, compiler_options: Optional[dict] = None):
  """(run, compiled) for the library's training step of `config` on `inputs` (a global batch
  of host arrays): run() advances a TrainState made from `variables` by one donated step of
  config.train's Adam and returns (state, metrics). `compiler_options` go to XLA's compile."""
  optimizer = optimizer_lib.make_optimizer(config.train, variables["params"])
  learning_rate = jax.device_put(np.float32(config.train.learning_rate),
                                 sharding.replicated(mesh))
  state = jax.device_put(
      TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                 batch_stats=variables["batch_stats"],
                 opt_state=optimizer.init(variables["params"])),
      sharding.replicated(mesh))
  inputs = sharding.global_batch(inputs, mesh)
  train_step = step_lib.compile_train_step(
      step_lib.make_train_step(model, optimizer, heatmap_stride=config.input.heatmap_stride,
                               sigma=config.input.sigma), mesh)
  compiled = train_step.lower(state, inputs, learning_rate).compile(
      compiler_options=compiler_options)
  carried = [state]

  def run():
    carried[0], metrics = compiled(carried[0], inputs, learning_rate)
    return carried[0], metrics

  return run, compiled


def time_step(variant: str, dtype: str, batch: int, remat: bool, small: bool, repeats: int,
              mesh: jax.sharding.Mesh) -> tuple[float, float, str]:
  """-> (median seconds per step, XLA GFLOP per step, the work's label)."""
  config = synthetic.get_config(variant) if small else common.base_config(variant)
  config.model.update(dtype=dtype, remat=remat)
  model = models.build(config.model)
  width, height = config.input.image_size
  inputs = random_batch(model, batch, height, width, config.model.num_joints)
  run, compiled = compiled_step(config, model, model_bench.random_variables(model), inputs, mesh)
  seconds = model_bench.time_calls(run, repeats)
  label = f"{variant} W{config.model.width} {height}x{width}"
  return seconds, model_bench.xla_flops(compiled) * mesh.size / 1e9, label


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", nargs="+", choices=tuple(STAGES), default=list(STAGES))
  parser.add_argument("--dtype", nargs="+", choices=("float32", "bfloat16"),
                      default=["float32", "bfloat16"])
  parser.add_argument("--batch", type=int, default=0,
                      help="global images or pairs per step (default 4, --small 2)")
  parser.add_argument("--remat", action="store_true", help="config.model.remat")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--peak_gflops", type=float, default=model_bench.PEAK_GFLOPS,
                      help="peak GFLOP/s of one device for the 'of peak' column")
  parser.add_argument("--small", action="store_true",
                      help="quick check: tiny model, 128x96 crops, batch 2")
  args = parser.parse_args()
  batch = args.batch or (2 if args.small else ORIGINAL_BATCH)
  mesh = sharding.data_mesh()
  sharding.check_batch_size(batch, mesh)
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, {mesh.size} x "
        f"{jax.devices()[0].device_kind}; CPU {machine.cpu_description()}; {xla_cpu.describe()}; "
        f"peak {args.peak_gflops:.0f} "
        f"GFLOP/s per device; remat {args.remat}")
  print(f"{'work':<26} {'dtype':<9} {'batch':>5} {'ms':>10} {'items/s':>15} "
        f"{'XLA GFLOP':>10} {'GFLOP/s':>9} {'of peak':>8}  original")
  for variant in args.only:
    for dtype in args.dtype:
      seconds, gflop, label = time_step(variant, dtype, batch, args.remat, args.small,
                                        args.repeats, mesh)
      at_original_size = (batch, args.small) == (ORIGINAL_BATCH, False)
      original = ORIGINAL.get(variant, "n/a") if at_original_size else "n/a"
      rate = f"{batch / seconds:.3f} {STAGES[variant]}"
      print(f"{label:<26} {dtype:<9} {batch:>5} {1e3 * seconds:10.1f} "
            f"{rate:>15} {gflop:10.1f} {gflop / seconds:9.1f} "
            f"{gflop / seconds / (args.peak_gflops * mesh.size):8.1%}  {original}")


if __name__ == "__main__":
  main()
