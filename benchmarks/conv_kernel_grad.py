"""Benchmark: `ops.conv2d`'s kernel gradient against XLA's own, per convolution shape.

On CPU, conv2d computes a convolution's kernel gradient as per-image patch matmuls accumulated
in a scan (posewarper_jax/ops/conv.py); XLA's own kernel gradient is what
`lax.conv_general_dilated` differentiates to. Each row times the jitted gradient with respect
to the kernel alone (3x3 kernels, padding 1) both ways, the median of --repeats runs after a
warm-up, at the shapes of configs/synthetic.py's tiny HRNet (batch 16, the demo's training
batch) and of HRNet-W48 at 384x288 (batch 4 and 8).

  python benchmarks/conv_kernel_grad.py [--repeats 7]
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import model as model_bench
from posewarper_jax import xla_cpu
from posewarper_jax.ops import conv2d

PADDING = ((1, 1), (1, 1))
# (model, batch, height, width, in channels, out channels, stride).
SHAPES = (
    ("synthetic stem 1", 16, 128, 96, 3, 32, 2),
    ("synthetic stem 2", 16, 64, 48, 32, 32, 2),
    ("synthetic branch 1", 16, 32, 24, 16, 16, 1),
    ("synthetic branch 2", 16, 16, 12, 32, 32, 1),
    ("synthetic branch 3", 16, 8, 6, 64, 64, 1),
    ("synthetic branch 4", 16, 4, 3, 128, 128, 1),
    ("W48 stem 2", 4, 192, 144, 64, 64, 2),
    ("W48 branch 1", 4, 96, 72, 48, 48, 1),
    ("W48 branch 2", 4, 48, 36, 96, 96, 1),
    ("W48 branch 3", 4, 24, 18, 192, 192, 1),
    ("W48 branch 4", 4, 12, 9, 384, 384, 1),
    ("W48 head trunk", 8, 96, 72, 128, 128, 1),
)


def _kernel_grad(convolution, stride):
  def loss(kernel, x, cotangent):
    return jnp.vdot(convolution(x, kernel, stride), cotangent)
  return jax.jit(jax.grad(loss))


def _conv2d(x, kernel, stride):
  return conv2d(x, kernel, stride=(stride, stride), padding=PADDING)


def _xla(x, kernel, stride):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), PADDING,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=7)
  args = parser.parse_args()
  print(f"jax {jax.__version__}, backend {jax.default_backend()}; {xla_cpu.describe()}")
  print("| shape | N | H x W | C_in -> C_out | stride | per-image MFLOP | XLA ms | conv2d ms "
        "| XLA / conv2d |")
  print("|---|---|---|---|---|---|---|---|---|")
  rng = np.random.default_rng(0)
  for name, batch, height, width, c_in, c_out, stride in SHAPES:
    x = jnp.asarray(rng.normal(size=(batch, height, width, c_in)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, c_in, c_out)), jnp.float32)
    out_shape = _xla(x, kernel, stride).shape
    cotangent = jnp.asarray(rng.normal(size=out_shape), jnp.float32)
    inputs = (kernel, x, cotangent)
    xla_grad, ours_grad = _kernel_grad(_xla, stride), _kernel_grad(_conv2d, stride)
    xla_ms = 1e3 * model_bench.time_calls(lambda: xla_grad(*inputs), args.repeats)
    ours_ms = 1e3 * model_bench.time_calls(lambda: ours_grad(*inputs), args.repeats)
    mflop = 2 * out_shape[1] * out_shape[2] * 9 * c_in * c_out / 1e6
    print(f"| {name} | {batch} | {height} x {width} | {c_in} -> {c_out} | {stride} | "
          f"{mflop:.1f} | {xla_ms:.2f} | {ours_ms:.2f} | {xla_ms / ours_ms:.2f} |", flush=True)


if __name__ == "__main__":
  main()
