"""The demo end to end with the tiny preset: every stage runs and the report's numbers are
those of the prediction files it names."""

import json

import ml_collections
import pytest

from posewarper_jax.apps import demo
from posewarper_jax.data import datasets
from posewarper_jax.data import frame_pairs
from posewarper_jax.eval import posetrack_map
from posewarper_jax.train import loop

METHODS = ("propagation_posewarper", "propagation_farneback", "propagation_pseudolabel",
           "single", "aggregate", "retrain_pseudolabel", "retrain_baseline")


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
  out = tmp_path_factory.mktemp("demo_out")
  demo.run_demo(str(out), "tiny")
  return out


def test_demo_writes_report_results_and_figures(demo_out):
  results = json.loads((demo_out / "results.json").read_text())
  assert set(results) == set(METHODS)
  report = (demo_out / "REPORT.md").read_text()
  for heading in ("Video pose propagation", "Temporal pose aggregation", "pseudo-labels",
                  "orderings"):
    assert heading in report
  for name in ("losses.png", "offsets.png"):
    assert (demo_out / "figures" / name).stat().st_size > 1000


@pytest.mark.parametrize("method", ["propagation_posewarper", "propagation_farneback",
                                    "aggregate"])
def test_reported_map_is_recomputable_from_the_files(demo_out, method):
  entry = json.loads((demo_out / "results.json").read_text())[method]
  recomputed = posetrack_map.posetrack_map(str(demo_out / entry["ground_truth"]),
                                           str(demo_out / entry["predictions"]))
  assert recomputed["table"]["Total"] == pytest.approx(entry["Total"], abs=1e-9)


def test_stage1_and_retraining_run_the_same_epochs(demo_out):
  """SPEC 7c: both single-frame runs take the preset's epochs over their own labels, so the
  retraining on the larger augmented set runs more steps."""
  steps = {}
  for run in ("stage1", "retrain"):
    config = ml_collections.ConfigDict(
        json.loads((demo_out / "runs" / run / "config.json").read_text()))
    instances = frame_pairs.num_instances(datasets.training_videos(config.data), config.input)
    steps[run] = config.train.num_steps
    assert steps[run] == demo.PRESETS["tiny"].stage1_epochs * loop.steps_per_epoch(
        instances, config.train.batch_size)
  assert steps["retrain"] > steps["stage1"]
