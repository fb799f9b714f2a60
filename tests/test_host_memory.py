"""Tests of the huge-page restart of the entry points (posewarper_jax/host_memory.py)."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from posewarper_jax import host_memory

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def madvise_mode(tmp_path) -> pathlib.Path:
  mode_file = tmp_path / "enabled"
  mode_file.write_text("always [madvise] never\n")
  return mode_file


def test_restart_environment_adds_the_tunable_to_existing_ones(madvise_mode):
  environment = host_memory.huge_page_environment(
      {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "linux", madvise_mode)
  assert environment == {
      "PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}
  assert host_memory.huge_page_environment({}, "linux", madvise_mode) == {
      "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


def test_training_environment_adds_the_kept_memory_tunables_not_set(madvise_mode):
  environment = host_memory.huge_page_environment(
      {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "linux", madvise_mode,
      keep_freed_memory=True)
  assert environment["GLIBC_TUNABLES"].split(":") == [
      "glibc.malloc.arena_max=2", "glibc.malloc.hugetlb=1", "glibc.malloc.mmap_max=0",
      f"glibc.malloc.trim_threshold={2**36}"]
  no_thp = madvise_mode.parent / "never"
  no_thp.write_text("always madvise [never]")
  environment = host_memory.huge_page_environment({}, "linux", no_thp, keep_freed_memory=True)
  assert environment["GLIBC_TUNABLES"] == ":".join(
      f"{name}={value}" for name, value in host_memory.KEPT_MEMORY_TUNABLES.items())
  switched_off = {host_memory.KEEP_SWITCH: "0"}
  assert host_memory.huge_page_environment(switched_off, "linux", madvise_mode,
                                           keep_freed_memory=True)["GLIBC_TUNABLES"] == (
                                               "glibc.malloc.hugetlb=1")


@pytest.mark.parametrize("environ, platform, mode", [
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "linux", "always [madvise] never"),
    ({"POSEWARPER_HUGE_PAGES": "0"}, "linux", "[always] madvise never"),
    ({}, "darwin", "always [madvise] never"),
    ({}, "linux", "always madvise [never]"),
    ({}, "linux", None),  # no transparent huge pages in this kernel
], ids=["tunable already set", "switched off", "not linux", "thp never", "no thp"])
def test_no_restart(tmp_path, environ, platform, mode):
  mode_file = tmp_path / "enabled"
  if mode is not None:
    mode_file.write_text(mode)
  assert host_memory.huge_page_environment(environ, platform, mode_file) is None


def _glibc_version() -> tuple[int, ...]:
  """(2, 36) for "glibc 2.36"; () where the C library is not glibc."""
  try:
    name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
  except (AttributeError, ValueError, OSError):
    return ()
  return tuple(int(part) for part in version.split(".")[:2]) if name == "glibc" else ()


@pytest.mark.skipif(not (sys.platform.startswith("linux") and _glibc_version() >= (2, 35)
                         and host_memory.transparent_huge_pages_available()),
                    reason="needs Linux, glibc 2.35+ (glibc.malloc.hugetlb) and transparent "
                           "huge pages")
def test_restarted_process_faults_in_huge_pages():
  """A process that restarts itself malloc's 64 MiB in huge pages: about 32 page faults instead
  of 16,384 (glibc's malloc through ctypes; numpy asks for huge pages by itself)."""
  script = textwrap.dedent("""
      import ctypes, os, resource
      from posewarper_jax import host_memory
      host_memory.restart_with_huge_pages()
      libc = ctypes.CDLL(None)
      libc.malloc.restype = ctypes.c_void_p
      size = 64 * 2**20
      before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      ctypes.memset(libc.malloc(size), 1, size)
      faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
      print(os.environ.get("GLIBC_TUNABLES"), faults)
  """)
  environment = {key: value for key, value in os.environ.items()
                 if key not in ("GLIBC_TUNABLES", host_memory.SWITCH)}
  environment["PYTHONPATH"] = str(REPO)

  def run(extra: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", script], env={**environment, **extra},
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], int(out[1])

  tunables, faults = run({})
  assert tunables == "glibc.malloc.hugetlb=1"
  assert faults < 2048
  tunables, faults = run({host_memory.SWITCH: "0"})
  assert tunables == "None"
  if "[madvise]" in host_memory.THP_MODE_FILE.read_text():
    assert faults >= 16384  # without the tunable, 4 KiB pages


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc_version(),
                    reason="needs Linux with glibc")
def test_training_process_reuses_the_memory_it_freed():
  """With keep_freed_memory, 64 MiB malloc'ed, touched and freed come back without a single
  page fault; by default glibc unmaps them on free and the next block faults in again."""
  script = textwrap.dedent("""
      import ctypes, resource, sys
      from posewarper_jax import host_memory
      host_memory.restart_with_huge_pages(keep_freed_memory=sys.argv[1] == "keep")
      libc = ctypes.CDLL(None)
      libc.malloc.restype = ctypes.c_void_p
      libc.free.argtypes = [ctypes.c_void_p]
      size = 64 * 2**20
      block = libc.malloc(size)
      ctypes.memset(block, 1, size)
      libc.free(block)
      before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      ctypes.memset(libc.malloc(size), 1, size)
      print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
  """)
  environment = {key: value for key, value in os.environ.items()
                 if key not in ("GLIBC_TUNABLES", host_memory.KEEP_SWITCH)}
  environment["PYTHONPATH"] = str(REPO)

  def faults(mode: str) -> int:
    return int(subprocess.run([sys.executable, "-c", script, mode], env=environment,
                              capture_output=True, text=True, check=True).stdout)

  assert faults("keep") < 8
  assert faults("default") >= 32  # 2 MiB pages at best
