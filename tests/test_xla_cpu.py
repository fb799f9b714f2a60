"""XLA:CPU's convolution chosen at import (posewarper_jax/xla_cpu.py)."""

import os
import subprocess
import sys

import pytest

from posewarper_jax import xla_cpu

FLAG = xla_cpu.XLA_CONVOLUTION_FLAG

# Compiles a 3x3 convolution after importing the package and prints whether YNNPACK runs it.
_PROBE = """
import os, sys
if sys.argv[1] == "jax_first":
  import jax.numpy as jnp
  jnp.zeros(1).block_until_ready()
import posewarper_jax
import jax, jax.numpy as jnp
x, w = jnp.zeros((4, 24, 18, 64)), jnp.zeros((3, 3, 64, 64))
conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
    x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")))
flags = os.environ.get("XLA_FLAGS", "")
print("ynn" in conv.lower(x, w).compile().as_text(),
      posewarper_jax.xla_cpu.convolutions_are_xla(flags), flags)
"""


@pytest.mark.parametrize("environ, vendor, expected", [
    ({}, "GenuineIntel", FLAG),
    ({}, "AuthenticAMD", FLAG),
    ({}, "", None),
    ({}, "CentaurHauls", None),
    ({xla_cpu.SWITCH: "ynnpack"}, "AuthenticAMD", None),
    ({xla_cpu.SWITCH: "auto"}, "GenuineIntel", FLAG),
    ({xla_cpu.SWITCH: "xla"}, "", FLAG),
    ({xla_cpu.SWITCH: "ynnpack"}, "GenuineIntel", None),
    ({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, "GenuineIntel",
     f"--xla_force_host_platform_device_count=2 {FLAG}"),
    ({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=reduce"}, "GenuineIntel", None),
    ({"XLA_FLAGS": FLAG, xla_cpu.SWITCH: "xla"}, "GenuineIntel", None),
])
def test_flags_follow_the_vendor_the_switch_and_the_users_own_flags(environ, vendor, expected):
  assert xla_cpu.xla_flags(environ, vendor) == expected


def test_an_unknown_switch_value_is_named():
  with pytest.raises(ValueError, match=r"POSEWARPER_CPU_CONVOLUTION='onednn'.*auto"):
    xla_cpu.xla_flags({xla_cpu.SWITCH: "onednn"}, "GenuineIntel")


# How jaxlib 0.10.2 compiled a 3x3 convolution under each XLA_FLAGS (YNNPACK's or XLA's own).
@pytest.mark.parametrize("flags, xla_convolution", [
    ("", False),
    ("--xla_force_host_platform_device_count=2", False),
    (FLAG, True),
    ("--xla_cpu_experimental_ynn_fusion_type=individual_dot,reduce", True),
    ("--xla_cpu_experimental_ynn_fusion_type=", True),
    ("--xla_cpu_experimental_ynn_fusion_type=+eltwise", False),
    ("--xla_cpu_experimental_ynn_fusion_type=individual_convolution,reduce", False),
    (f"{FLAG} --xla_cpu_experimental_ynn_fusion_type=individual_convolution", False),
])
def test_convolutions_are_xla_reads_the_last_fusion_type_flag(flags, xla_convolution):
  assert xla_cpu.convolutions_are_xla(flags) is xla_convolution


def _probe(choice: str, order: str = "package_first") -> tuple[bool, str, str]:
  """(YNNPACK runs the convolution, the probe's XLA_FLAGS, its stderr) in a fresh interpreter,
  checking that convolutions_are_xla reads those flags as XLA did."""
  environ = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
  environ[xla_cpu.SWITCH] = choice
  result = subprocess.run([sys.executable, "-c", _PROBE, order], env=environ,
                          capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  uses_ynn, read_as_xla, flags = (result.stdout.strip() + " ").split(" ", 2)
  assert read_as_xla == str(uses_ynn == "False"), result.stdout
  return uses_ynn == "True", flags.strip(), result.stderr


def test_the_switch_reaches_xla_before_the_backend_starts():
  ynn_default, default_flags, _ = _probe("ynnpack")
  if not ynn_default:
    pytest.skip("this jaxlib does not run CPU convolutions through YNNPACK")
  uses_ynn, flags, _ = _probe("xla")
  assert default_flags == "" and flags == FLAG
  assert not uses_ynn


def test_importing_after_the_backend_started_warns_and_changes_nothing():
  _, flags, stderr = _probe("xla", order="jax_first")
  assert flags == ""
  assert "imported after JAX started its backend" in stderr
  assert xla_cpu.SWITCH in stderr
