"""XLA:CPU settings applied when the package is imported, before JAX starts its backend.

jaxlib 0.10 hands CPU convolutions to YNNPACK by default (with dots and reductions). XLA's own
convolution was faster on every x86 CPU measured (benchmarks/RESULTS.md):
  * Intel Xeon (Emerald Rapids, 2 cores, AVX-512): 1.1-2x at HRNet's shapes (3x3, 48-306
    channels: 120-242 against 83-168 GFLOP/s), the W32 and W48 forwards 1.2-1.7x, the stage-2
    training step 10-16%;
  * AMD EPYC Zen 5 (family 26, 2 cores, AVX-512): as fast to 1.5x at the same shapes (180-355
    against 171-318 GFLOP/s), the W32 and W48 forwards 1.06-1.28x, the stage-2 step and
    aggregation 2-9%;
  * AMD EPYC Zen 3 (family 25 model 1, 2 cores, AVX2): 1.03-1.8x at the same shapes (90-172
    against 86-147 GFLOP/s), the W48 forward 12%, the stage-2 step 13%, aggregation 25%.
YNNPACK's dots and reductions stay (without its reductions, BatchNorm statistics became XLA
reduce-windows that took 2.8 s of a 14 s step). So on Intel and AMD CPUs the package appends

  --xla_cpu_experimental_ynn_fusion_type=-individual_convolution

to XLA_FLAGS. Other CPUs (other vendors, and ARM, whose cpuinfo names none) were not measured
and keep jaxlib's default; benchmarks/cpu_convolution.py compares the two on any CPU.
POSEWARPER_CPU_CONVOLUTION overrides the choice: "auto" (the default, as above), "xla" (XLA's
own convolution on any CPU) or "ynnpack" (leave XLA_FLAGS alone). An XLA_FLAGS that already
sets xla_cpu_experimental_ynn_fusion_type is left as it is. The two convolutions round
differently, so CPU results depend on the choice (as they do on the CPU's vector width).

XLA reads XLA_FLAGS when the backend starts: importing posewarper_jax after the first JAX
computation leaves the setting without effect, and a warning says so. GPUs and TPUs ignore it.
This module and posewarper_jax.machine import only the standard library.
"""

import os
import sys
import warnings
from typing import Mapping, Optional

from posewarper_jax import machine

SWITCH = "POSEWARPER_CPU_CONVOLUTION"
CHOICES = ("auto", "xla", "ynnpack")
MEASURED_VENDORS = ("GenuineIntel", "AuthenticAMD")  # "auto" takes XLA's convolution on these
YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
XLA_CONVOLUTION_FLAG = f"{YNN_FUSION_FLAG}=-individual_convolution"


def xla_flags(environ: Mapping[str, str], vendor: str) -> Optional[str]:
  """The XLA_FLAGS to set, or None to leave the environment as it is.

  Raises:
    ValueError: POSEWARPER_CPU_CONVOLUTION is not one of CHOICES.
  """
  choice = environ.get(SWITCH, "auto")
  if choice not in CHOICES:
    raise ValueError(f"{SWITCH}={choice!r}: expected one of {CHOICES}")
  flags = environ.get("XLA_FLAGS", "")
  wanted = choice == "xla" or (choice == "auto" and vendor in MEASURED_VENDORS)
  if not wanted or YNN_FUSION_FLAG in flags:
    return None
  return " ".join(filter(None, (flags, XLA_CONVOLUTION_FLAG)))


def _backend_started() -> bool:
  """Whether JAX has started a backend in this process (XLA_FLAGS were then read already)."""
  if "jax" not in sys.modules:
    return False
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return xla_bridge.backends_are_initialized()


def configure() -> None:
  """Sets XLA_FLAGS as `xla_flags` says, or warns where JAX's backend has started already."""
  flags = xla_flags(os.environ, machine.cpu_vendor())
  if flags is None:
    return
  if _backend_started():
    warnings.warn(f"posewarper_jax was imported after JAX started its backend, so "
                  f"{XLA_CONVOLUTION_FLAG} (posewarper_jax/xla_cpu.py) does not apply; import "
                  f"posewarper_jax first, or set {SWITCH}=ynnpack to silence this",
                  stacklevel=3)
    return
  os.environ["XLA_FLAGS"] = flags


def describe() -> str:
  """The XLA_FLAGS this process runs with, for the benchmarks' headers."""
  return f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
