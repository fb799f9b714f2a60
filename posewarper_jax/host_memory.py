"""Host memory for XLA:CPU: glibc's malloc on transparent huge pages; training keeps its memory.

XLA:CPU allocates an executable's temporary buffers afresh on every call, and glibc serves
large blocks with fresh mmaps, so each call faults its memory in page by page: about 90,000
minor faults (4 KiB pages) per HRNet-W48 forward at 384x288, batch 4, and 35,000 per step of
the synthetic stage-1 training. With the glibc tunable `glibc.malloc.hugetlb=1` (glibc 2.35+),
malloc asks the kernel for transparent huge pages (2 MiB, madvise), which cuts those faults to
under 1,000 and took 2-10% off the W48 forward and stage-2 step and 12-16% off the synthetic
training steps on a 2-core Xeon (benchmarks/RESULTS.md). Results are unchanged: only where
memory comes from differs.

Training processes (train.py, benchmarks/train_step.py) also keep the memory they free: one
malloc arena, no mmaps and no trimming (KEPT_MEMORY_TUNABLES). Even on huge pages, every
stage-2 step at HRNet-W48's size spent 4-7 s of CPU time in the kernel faulting in memory
that the previous step had handed back; with these settings the memory stays in the process
after the first step, system time falls to 0.1-0.3 s and the step ran 1.15-1.3x faster on a
2-core Zen 3 (benchmarks/RESULTS.md), with the same peak memory. Inference keeps glibc's
default arenas: with one arena XLA's threads wait on its lock (thousands of context switches
per call) and aggregation ran 5-15% slower. POSEWARPER_KEEP_MEMORY=0 turns this off.

glibc reads tunables once, at process start, so the command-line entry points (train.py,
evaluate.py, the apps' commands, the benchmarks) call `restart_with_huge_pages()` before they
import anything heavy: it re-executes the same command line once, with the missing tunables
added to GLIBC_TUNABLES. A tunable that GLIBC_TUNABLES already sets is left as it is; nothing
happens off Linux, and huge pages are not asked for when the kernel's transparent huge pages
are off or POSEWARPER_HUGE_PAGES=0. The Makefile exports the huge-page tunable itself.

This module imports only the standard library, so calling it costs nothing measurable.
"""

import os
import pathlib
import sys
from typing import Mapping, Optional

TUNABLE = "glibc.malloc.hugetlb"
SWITCH = "POSEWARPER_HUGE_PAGES"
KEPT_MEMORY_TUNABLES = {"glibc.malloc.arena_max": "1", "glibc.malloc.mmap_max": "0",
                        "glibc.malloc.trim_threshold": str(2**36)}
KEEP_SWITCH = "POSEWARPER_KEEP_MEMORY"
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
                          mode_file: pathlib.Path = THP_MODE_FILE, *,
                          keep_freed_memory: bool = False) -> Optional[dict[str, str]]:
  """The environment to restart with, or None when the process should run as it is."""
  if not platform.startswith("linux"):
    return None
  wanted = {}
  if environ.get(SWITCH, "1") != "0" and transparent_huge_pages_available(mode_file):
    wanted[TUNABLE] = "1"
  if keep_freed_memory and environ.get(KEEP_SWITCH, "1") != "0":
    wanted.update(KEPT_MEMORY_TUNABLES)
  tunables = environ.get("GLIBC_TUNABLES", "")
  already_set = {item.split("=")[0] for item in tunables.split(":")}
  missing = [f"{name}={value}" for name, value in wanted.items() if name not in already_set]
  if not missing:
    return None
  environment = dict(environ)
  environment["GLIBC_TUNABLES"] = ":".join(filter(None, (tunables, *missing)))
  return environment


def restart_with_huge_pages(keep_freed_memory: bool = False) -> None:
  """Re-executes this process's command line with huge-page malloc (and, for training, kept
  memory), unless it needs none.

  Call it first thing in a `__main__` module: everything done before it runs twice.
  """
  environment = huge_page_environment(os.environ, keep_freed_memory=keep_freed_memory)
  if environment is not None and sys.executable:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, environment)
