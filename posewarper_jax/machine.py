"""What CPU a number was measured on, in one line (benchmarks, the demo's report), and its vendor.

"AMD EPYC" alone names Zen 3, Zen 4 and Zen 5 parts alike, whose speeds differ by 2x here, so
the line adds the family and model numbers and the widest vector extension.
"""

import os
import pathlib
import platform
from typing import Optional

CPUINFO = pathlib.Path("/proc/cpuinfo")


def available_cores() -> int:
  """CPUs this process may run on (its affinity where the OS has one, else all of them)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def cpu_fields(cpuinfo: Optional[str] = None) -> dict[str, str]:
  """The first processor's fields of /proc/cpuinfo (or of the given text); {} where there is
  no cpuinfo."""
  if cpuinfo is None:
    try:
      cpuinfo = CPUINFO.read_text(encoding="utf-8")
    except OSError:
      cpuinfo = ""
  fields = {}
  for line in cpuinfo.splitlines():
    if not line.strip():
      break  # the first processor's block only
    key, _, value = line.partition(":")
    fields[key.strip()] = value.strip()
  return fields


def cpu_vendor(cpuinfo: Optional[str] = None) -> str:
  """cpuinfo's vendor_id ("GenuineIntel", "AuthenticAMD", ...); "" where there is none."""
  return cpu_fields(cpuinfo).get("vendor_id", "")


def cpu_description(cpuinfo: Optional[str] = None) -> str:
  """E.g. "AMD EPYC (family 26, model 2, AVX-512), 2 cores", from /proc/cpuinfo's first
  processor (or the given text); the platform's processor name where there is no cpuinfo."""
  fields = cpu_fields(cpuinfo)
  cores = f"{available_cores()} cores"
  if "model name" not in fields:
    return f"{platform.processor() or platform.machine()}, {cores}"
  flags = set(fields.get("flags", "").split())
  vector = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else
            "no AVX2" if flags else None)
  details = [f"{label} {fields[key]}" for key, label in (("cpu family", "family"),
                                                         ("model", "model")) if key in fields]
  if vector:
    details.append(vector)
  suffix = f" ({', '.join(details)})" if details else ""
  return f"{fields['model name']}{suffix}, {cores}"
