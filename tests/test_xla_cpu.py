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
print("ynn" in conv.lower(x, w).compile().as_text(), os.environ.get("XLA_FLAGS", ""))
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


def _probe(choice: str, order: str = "package_first") -> tuple[bool, str, str]:
  """(YNNPACK runs the convolution, the probe's XLA_FLAGS, its stderr) in a fresh interpreter."""
  environ = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
  environ[xla_cpu.SWITCH] = choice
  result = subprocess.run([sys.executable, "-c", _PROBE, order], env=environ,
                          capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  uses_ynn, _, flags = result.stdout.strip().partition(" ")
  return uses_ynn == "True", flags, result.stderr


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
