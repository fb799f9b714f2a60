"""Benchmark: `ops.conv2d`'s CPU kernel gradients against XLA's own, per convolution shape.

On CPU, conv2d computes a convolution's kernel gradient image by image in a scan (at stride
1 as a convolution of the transposed image with its cotangent, otherwise as patch matmuls:
posewarper_jax/ops/conv.py); XLA's own kernel gradient is what
`lax.conv_general_dilated` differentiates to. Each row times the jitted gradient with respect
to the kernel alone (3x3 kernels, padding = dilation) both ways, alternated in --rounds blocks
of --repeats calls (the lowest block median), at the shapes of configs/synthetic.py's tiny HRNet
(batch 16, the demo's training batch), of HRNet-W48 at 384x288 (batch 4) and of PoseWarper's
head in the stage-2 step (batch 4 pairs: the first convolution, the trunk and the offset
convolutions at dilations 3 and 24).

  python benchmarks/conv_kernel_grad.py [--repeats 3] [--rounds 3]
"""

import argparse
import functools
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
from posewarper_jax import machine
from posewarper_jax import xla_cpu
from posewarper_jax.ops import conv2d

# (model, batch, height, width, in channels, out channels, stride, dilation).
SHAPES = (
    ("synthetic stem 1", 16, 128, 96, 3, 32, 2, 1),
    ("synthetic stem 2", 16, 64, 48, 32, 32, 2, 1),
    ("synthetic branch 1", 16, 32, 24, 16, 16, 1, 1),
    ("synthetic branch 2", 16, 16, 12, 32, 32, 1, 1),
    ("synthetic branch 3", 16, 8, 6, 64, 64, 1, 1),
    ("synthetic branch 4", 16, 4, 3, 128, 128, 1, 1),
    ("W48 stem 2", 4, 192, 144, 64, 64, 2, 1),
    ("W48 branch 1", 4, 96, 72, 48, 48, 1, 1),
    ("W48 branch 2", 4, 48, 36, 96, 96, 1, 1),
    ("W48 branch 3", 4, 24, 18, 192, 192, 1, 1),
    ("W48 branch 4", 4, 12, 9, 384, 384, 1, 1),
    ("W48 head: first convolution", 4, 96, 72, 17, 128, 1, 1),
    ("W48 head trunk", 4, 96, 72, 128, 128, 1, 1),
    ("W48 head offsets, dilation 3", 4, 96, 72, 128, 306, 1, 3),
    ("W48 head offsets, dilation 24", 4, 96, 72, 128, 306, 1, 24),
)


def _xla(x, kernel, stride, padding, dilation):
  return jax.lax.conv_general_dilated(x, kernel, stride, padding, rhs_dilation=dilation,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _xla_kernel_grad(x, kernel, cotangent, stride, padding, dilation):
  """What lax.conv_general_dilated differentiates to."""
  convolution = lambda k: _xla(x, k, stride, padding, dilation)
  return jax.vjp(convolution, kernel)[1](cotangent)[0]


def _conv2d_kernel_grad(x, kernel, cotangent, stride, padding, dilation):
  convolution = lambda k: conv2d(x, k, stride=stride, padding=padding, dilation=dilation)
  return jax.vjp(convolution, kernel)[1](cotangent)[0]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--rounds", type=int, default=3)
  args = parser.parse_args()
  print(f"jax {jax.__version__}, backend {jax.default_backend()}; CPU "
        f"{machine.cpu_description()}; {xla_cpu.describe()}")
  print("| shape | N | H x W | C_in -> C_out | stride | dilation | GFLOP | XLA ms | conv2d ms "
        "| conv2d GFLOP/s | XLA / conv2d |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  rng = np.random.default_rng(0)
  for name, batch, height, width, c_in, c_out, stride, dilation in SHAPES:
    x = jnp.asarray(rng.normal(size=(batch, height, width, c_in)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, c_in, c_out)), jnp.float32)
    options = dict(stride=(stride, stride), padding=((dilation, dilation),) * 2,
                   dilation=(dilation, dilation))
    out_shape = jax.eval_shape(functools.partial(_xla, **options), x, kernel).shape
    cotangent = jnp.asarray(rng.normal(size=out_shape), jnp.float32)
    compiled = [jax.jit(functools.partial(fn, **options))
                for fn in (_xla_kernel_grad, _conv2d_kernel_grad)]
    xla_s, ours_s = model_bench.time_side_by_side(
        [functools.partial(fn, x, kernel, cotangent) for fn in compiled], args.repeats,
        args.rounds)
    gflop = 2 * batch * out_shape[1] * out_shape[2] * 9 * c_in * c_out / 1e9
    print(f"| {name} | {batch} | {height} x {width} | {c_in} -> {c_out} | {stride} | {dilation} "
          f"| {gflop:.2f} | {1e3 * xla_s:.2f} | {1e3 * ours_s:.2f} | {gflop / ours_s:.0f} | "
          f"{xla_s / ours_s:.2f} |", flush=True)


if __name__ == "__main__":
  main()
