"""machine.cpu_description and cpu_vendor on cpuinfo texts of the CPUs measured here."""

import os
import platform

from posewarper_jax import machine

ZEN5 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw

processor\t: 1
model name\t: another CPU that must not be read
"""
ZEN3 = "cpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx avx2 fma\n"
OLD = "model name\t: Some CPU\nflags\t\t: fpu sse2\n"


def test_family_model_and_vector_width_tell_epycs_apart():
  cores = f"{machine.available_cores()} cores"
  assert machine.cpu_description(ZEN5) == f"AMD EPYC (family 26, model 2, AVX-512), {cores}"
  assert machine.cpu_description(ZEN3) == f"AMD EPYC (family 25, model 1, AVX2), {cores}"
  assert machine.cpu_description(OLD) == f"Some CPU (no AVX2), {cores}"


def test_available_cores_is_the_affinity_where_there_is_one():
  expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  assert machine.available_cores() == expected


def test_without_cpuinfo_names_the_platform():
  cores = f"{machine.available_cores()} cores"
  assert machine.cpu_description("") == f"{platform.processor() or platform.machine()}, {cores}"


def test_vendor_is_the_first_processors():
  assert machine.cpu_vendor(ZEN5) == "AuthenticAMD"
  assert machine.cpu_vendor("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n") == (
      "GenuineIntel")
  assert machine.cpu_vendor(ZEN3) == ""
  assert machine.cpu_vendor("") == ""
