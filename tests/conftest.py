"""Shared test fixtures."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def posetrack18_sample() -> pathlib.Path:
  """The real PoseTrack18 sample: $POSETRACK18_SAMPLE, else ../shared/data/posetrack18_sample."""
  path = pathlib.Path(os.environ.get(
      "POSETRACK18_SAMPLE", REPO_ROOT.parent / "shared" / "data" / "posetrack18_sample"))
  if not (path / "annotations").is_dir():
    pytest.skip(f"PoseTrack18 sample not found at {path}; set POSETRACK18_SAMPLE")
  return path
