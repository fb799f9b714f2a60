"""Benchmark of `deform_conv2d` at the PoseWarper shape (SPEC 4.4, PERFORMANCE.md).

Shape: B=8, 96x72, 17 -> 17 channels, 3x3 kernel, offset_groups=17, groups=1, stride 1,
padding = dilation, dilations 3 and 24. Three jitted passes are timed: the forward, forward +
backward w.r.t. (offset, weight) (PoseWarper stage 2, where x is the frozen backbone's heatmaps),
and forward + backward w.r.t. everything. The backward passes differentiate 0.5e-3 * sum(out^2),
so that, as with a training loss, the cotangent depends on the forward's output. Each is the
median of --repeats runs after one warm-up, each run ending in block_until_ready. --schedule
picks the batch schedule: the whole batch at once (the default) or one image at a time.

How the floor is derived. A pass cannot be faster than the larger of two bounds:
- memory: compulsory bytes / bandwidth. Compulsory bytes are every input of the jitted function
  read once plus every output written once (the offsets, 306 channels at full resolution,
  dominate). Bandwidth is measured here with a large numpy copy (bytes read + bytes written
  per second, one thread).
- compute: FLOPs / peak. FLOPs count the contraction with the weight, 2 * B*Ho*Wo * Cout *
  kh*kw * Cin/groups, and the bilinear interpolation, 8 per sampled value (4 multiplies, 4 adds;
  B*Ho*Wo*kh*kw*Cin values). The backward w.r.t. (offset, weight) adds two contractions (the
  weight gradient and the samples' cotangent) and two interpolation-sized passes (d/dy, d/dx);
  the backward w.r.t. x adds one more interpolation-sized pass (the scatter of the samples'
  cotangent). Peak is --peak-gflops (AMD EPYC Zen 3, 2 cores, AVX2 + FMA: about 157 GFLOP/s).
The table prints achieved GB/s and GFLOP/s under these models and time / floor (1.0 is ideal).
Gathers are irregular accesses, so the floor is optimistic; it is a bound, not a target.

With torch and torchvision installed (a benchmark extra: requirements-bench.txt, never a
dependency of the package), each pass is also timed with torchvision's `deform_conv2d` on the
same inputs in NCHW (the official code's CPU stand-in, PERFORMANCE.md), on as many threads as
the process may use, in blocks alternating with ours (model.time_side_by_side); the table then
adds its time, torchvision / ours, and the largest difference of the outputs (forward) or the
gradients (backward) relative to their largest magnitude. --no-torchvision skips it.
"""

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import model as model_bench
from posewarper_jax import machine, xla_cpu
from posewarper_jax.ops import deform_conv

# PoseWarper's deformable convs (SPEC 4.4): 17 joints in and out, 3x3, one offset field per joint.
JOINTS = 17
KERNEL = 3
HEATMAP_HW = (96, 72)
DILATIONS = (3, 24)


def measure_bandwidth_gbs(megabytes: int = 256, repeats: int = 5) -> float:
  """Memory bandwidth in GB/s of a numpy copy: (bytes read + bytes written) / time."""
  source = np.ones(megabytes * 2**20 // 4, np.float32)
  target = np.empty_like(source)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    np.copyto(target, source)
    times.append(time.perf_counter() - start)
  return 2 * source.nbytes / min(times) / 1e9


def gather_floor_ms(batch: int, table_size: int, count: int, repeats: int) -> float:
  """Median ms for XLA:CPU to gather and sum `count` random scalars per image from an in-cache
  table of `table_size` floats, image by image: the cost of the gathers alone, which any
  gather-based deformable convolution pays (4 corners per sample)."""
  rng = np.random.default_rng(0)
  table = jnp.asarray(rng.normal(size=(batch, table_size)), jnp.float32)
  index = jnp.asarray(rng.integers(0, table_size, (batch, count)), jnp.int32)
  gather_sum = jax.jit(lambda t, i: jax.lax.map(lambda a: jnp.sum(a[0][a[1]]), (t, i)))
  return 1e3 * model_bench.time_calls(lambda: gather_sum(table, index), repeats)


def torchvision_pass(name: str, x, offset, weight, dilation: int):
  """torchvision's deform_conv2d for one of the benchmark's passes, on NCHW copies of the
  inputs: a callable that runs the pass and returns its results as NHWC/HWIO numpy arrays in
  the order of ours (forward: the output; backward: the gradients)."""
  import torch  # pylint: disable=import-outside-toplevel
  from torchvision.ops import deform_conv2d  # pylint: disable=import-outside-toplevel

  wrt = {"forward": (), "fwd+bwd (offset, weight)": (1, 2), "fwd+bwd (all)": (0, 1, 2)}[name]
  to_torch_axes = ((0, 3, 1, 2), (0, 3, 1, 2), (3, 2, 0, 1))  # NHWC -> NCHW, HWIO -> OIHW
  back_axes = ((0, 2, 3, 1), (0, 2, 3, 1), (2, 3, 1, 0))
  tensors = [torch.from_numpy(np.ascontiguousarray(np.transpose(np.asarray(array, np.float32),
                                                                axes))).requires_grad_(i in wrt)
             for i, (array, axes) in enumerate(zip((x, offset, weight), to_torch_axes))]

  def call():
    for tensor in tensors:
      tensor.grad = None
    with torch.set_grad_enabled(bool(wrt)):
      out = deform_conv2d(tensors[0], tensors[1], tensors[2], padding=dilation,
                          dilation=dilation)
    if not wrt:
      return (out.numpy().transpose(0, 2, 3, 1),)
    (0.5e-3 * out.square().sum()).backward()
    return tuple(tensors[i].grad.numpy().transpose(back_axes[i]) for i in wrt)

  return call


def nbytes(tree) -> int:
  return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
  parser.add_argument("--schedule", choices=deform_conv.SCHEDULES,
                      default=deform_conv.BATCHED_SCHEDULE,
                      help="batch schedule: the whole batch at once or one image at a time")
  parser.add_argument("--peak-gflops", type=float, default=157.0,
                      help="fp32 peak of the machine (default: EPYC Zen 3, 2 cores, AVX2+FMA)")
  parser.add_argument("--no-torchvision", dest="torchvision", action="store_false",
                      help="do not time torchvision's deform_conv2d even if it is installed")
  args = parser.parse_args()
  if args.torchvision:
    try:
      import torch  # pylint: disable=import-outside-toplevel
      import torchvision  # pylint: disable=import-outside-toplevel
    except ImportError:
      args.torchvision = False
  if args.torchvision and args.dtype != "float32":
    parser.error("torchvision's deform_conv2d is compared in float32: pass --no-torchvision")

  dtype = jnp.dtype(args.dtype)
  height, width = HEATMAP_HW
  taps = KERNEL * KERNEL
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (args.batch, height, width, JOINTS), dtype)
  weight = (0.1 * jax.random.normal(keys[1], (KERNEL, KERNEL, JOINTS, JOINTS))).astype(dtype)
  offset = 4.0 * jax.random.normal(keys[2], (args.batch, height, width, 2 * JOINTS * taps))

  bandwidth = measure_bandwidth_gbs()
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"jax {jax.__version__}, {jax.device_count()} device(s); CPU {machine.cpu_description()}; "
        f"{xla_cpu.describe()}")
  print(f"x {x.shape} {x.dtype}, offset {offset.shape} {offset.dtype}, weight {weight.shape}, "
        f"offset_groups {JOINTS}, groups 1, stride 1, padding = dilation, "
        f"schedule {args.schedule}")
  print(f"memory bandwidth (numpy copy): {bandwidth:.1f} GB/s; peak {args.peak_gflops:.0f} GFLOP/s")

  samples = args.batch * height * width * taps * JOINTS
  gather_ms = gather_floor_ms(args.batch, (height + 2) * (width + 2) * JOINTS,
                              4 * samples // args.batch, args.repeats)
  print(f"gather floor: {4 * samples / 1e6:.1f} M random scalar gathers (4 corners x {samples / 1e6:.1f} M "
        f"samples) take {gather_ms:.1f} ms on this machine")
  if args.torchvision:
    torch.set_num_threads(machine.available_cores())
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{torch.get_num_threads()} threads")
  contraction = 2 * args.batch * height * width * JOINTS * taps * JOINTS
  interpolation = 8 * samples
  torch_columns = f" {'tv ms':>8} {'tv/ours':>7} {'rel diff':>8}" if args.torchvision else ""
  print(f"{'dilation':>8} {'pass':<24} {'ms':>8} {'GB/s':>7} {'GFLOP/s':>8} {'floor ms':>9} "
        f"{'/floor':>7}{torch_columns}")
  for dilation in DILATIONS:
    def forward(x, offset, weight, dilation=dilation):
      return deform_conv.deform_conv2d(x, offset, weight, padding=dilation, dilation=dilation,
                                       offset_groups=JOINTS, schedule=args.schedule)

    def loss(x, offset, weight):
      return 0.5e-3 * jnp.sum(jnp.square(forward(x, offset, weight).astype(jnp.float32)))

    passes = (
        ("forward", jax.jit(forward), contraction + interpolation),
        ("fwd+bwd (offset, weight)", jax.jit(jax.grad(loss, argnums=(1, 2))),
         3 * contraction + 3 * interpolation),
        ("fwd+bwd (all)", jax.jit(jax.grad(loss, argnums=(0, 1, 2))),
         3 * contraction + 4 * interpolation),
    )
    for name, fn, flops in passes:
      ours = lambda fn=fn: jax.block_until_ready(fn(x, offset, weight))
      torch_cells = ""
      if args.torchvision:
        theirs = torchvision_pass(name, x, offset, weight, dilation)
        milliseconds, torch_ms = (1e3 * t for t in
                                  model_bench.time_side_by_side((ours, theirs), args.repeats))
        difference = max(map(model_bench.relative_difference, jax.tree.leaves(ours()),
                                 theirs()))
        torch_cells = f" {torch_ms:8.1f} {torch_ms / milliseconds:7.1f} {difference:8.1e}"
      else:
        milliseconds = 1e3 * model_bench.time_calls(ours, args.repeats)
      outputs = jax.eval_shape(fn, x, offset, weight)
      traffic = nbytes((x, offset, weight)) + nbytes(outputs)
      floor_ms = 1e3 * max(traffic / (bandwidth * 1e9), flops / (args.peak_gflops * 1e9))
      print(f"{dilation:>8} {name:<24} {milliseconds:8.1f} {traffic / milliseconds / 1e6:7.1f} "
            f"{flops / milliseconds / 1e6:8.1f} {floor_ms:9.1f} {milliseconds / floor_ms:7.1f}"
            f"{torch_cells}")


if __name__ == "__main__":
  main()
