"""Host memory for XLA:CPU: glibc's malloc on transparent huge pages.

XLA:CPU allocates an executable's temporary buffers afresh on every call, and glibc serves
large blocks with fresh mmaps, so each call faults its memory in page by page: about 90,000
minor faults (4 KiB pages) per HRNet-W48 forward at 384x288, batch 4, and 35,000 per step of
the synthetic stage-1 training. With the glibc tunable `glibc.malloc.hugetlb=1` (glibc 2.35+),
malloc asks the kernel for transparent huge pages (2 MiB, madvise), which cuts those faults to
under 1,000 and took 2-10% off the W48 forward and stage-2 step and 12-16% off the synthetic
training steps on a 2-core Xeon (benchmarks/RESULTS.md). Results are unchanged: only where
memory comes from differs.

glibc reads tunables once, at process start, so the command-line entry points (train.py,
evaluate.py, the apps' commands, the benchmarks) call `restart_with_huge_pages()` before they
import anything heavy: it re-executes the same command line once, with the tunable added to
GLIBC_TUNABLES. It does nothing off Linux, when the kernel's transparent huge pages are off,
when GLIBC_TUNABLES already sets glibc.malloc.hugetlb, or when POSEWARPER_HUGE_PAGES=0. The
Makefile exports the tunable itself.

This module imports only the standard library, so calling it costs nothing measurable.
"""

import os
import pathlib
import sys
from typing import Mapping, Optional

TUNABLE = "glibc.malloc.hugetlb"
SWITCH = "POSEWARPER_HUGE_PAGES"
THP_MODE_FILE = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled")


def transparent_huge_pages_available(mode_file: pathlib.Path = THP_MODE_FILE) -> bool:
  """Whether the kernel gives transparent huge pages to a process that asks ("always" or
  "madvise" selected in `mode_file`, which reads e.g. "always [madvise] never")."""
  try:
    mode = mode_file.read_text()
  except OSError:
    return False
  return "[always]" in mode or "[madvise]" in mode


def huge_page_environment(environ: Mapping[str, str], platform: str = sys.platform,
                          mode_file: pathlib.Path = THP_MODE_FILE) -> Optional[dict[str, str]]:
  """The environment to restart with, or None when the process should run as it is."""
  tunables = environ.get("GLIBC_TUNABLES", "")
  if (not platform.startswith("linux") or environ.get(SWITCH, "1") == "0"
      or TUNABLE in tunables or not transparent_huge_pages_available(mode_file)):
    return None
  environment = dict(environ)
  environment["GLIBC_TUNABLES"] = ":".join(filter(None, (tunables, f"{TUNABLE}=1")))
  return environment


def restart_with_huge_pages() -> None:
  """Re-executes this process's command line with huge-page malloc, unless it needs none.

  Call it first thing in a `__main__` module: everything done before it runs twice.
  """
  environment = huge_page_environment(os.environ)
  if environment is not None and sys.executable:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, environment)
