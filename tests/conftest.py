"""Shared test fixtures."""

import os
import pathlib
from typing import Optional

import pytest

# The suite compiles hundreds of tiny programs and runs each a few times: LLVM's optimisations
# would cost more compile time than they save at run time. Set before JAX starts its backend;
# subprocesses inherit it. POSEWARPER_TEST_XLA_OPTIMIZATION=1 keeps XLA's default level.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"


def with_xla_flag(flags: Optional[str], flag: str) -> str:
  """XLA_FLAGS `flags` (None when unset) with `flag` appended."""
  return " ".join(filter(None, (flags, flag)))


if os.environ.get("POSEWARPER_TEST_XLA_OPTIMIZATION", "0") != "1":
  os.environ["XLA_FLAGS"] = with_xla_flag(os.environ.get("XLA_FLAGS"), TEST_XLA_FLAGS)

import posewarper_jax  # pylint: disable=unused-import,g-import-not-at-top  (XLA:CPU flags first)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def posetrack18_sample() -> pathlib.Path:
  """The real PoseTrack18 sample: $POSETRACK18_SAMPLE, else ../shared/data/posetrack18_sample."""
  path = pathlib.Path(os.environ.get(
      "POSETRACK18_SAMPLE", REPO_ROOT.parent / "shared" / "data" / "posetrack18_sample"))
  if not (path / "annotations").is_dir():
    pytest.skip(f"PoseTrack18 sample not found at {path}; set POSETRACK18_SAMPLE")
  return path


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory) -> pathlib.Path:
  """One persistent XLA compilation cache for the test session, shared by the pytest workers
  and the training runs they start: the same tiny programs compile once."""
  import jax  # pylint: disable=import-outside-toplevel
  path = tmp_path_factory.getbasetemp().parent / "jax_compilation_cache"
  jax.config.update("jax_compilation_cache_dir", str(path))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  return path
