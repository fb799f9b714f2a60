"""Inference, prediction files and evaluate.py on synthetic videos with a tiny PoseWarper."""

import dataclasses
import json
import pathlib
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import synthetic as synthetic_config
from posewarper_jax import models
from posewarper_jax.data import datasets
from posewarper_jax.data import eval_inputs
from posewarper_jax.data import neighbours
from posewarper_jax.data import pixels
from posewarper_jax.data import posetrack
from posewarper_jax.data import synthetic
from posewarper_jax.eval import evaluation
from posewarper_jax.inference import heatmaps
from posewarper_jax.inference import predict
from posewarper_jax.eval import posetrack_map
from posewarper_jax.eval import predictions
from posewarper_jax.models import HRNet, PoseWarper
from posewarper_jax import sharding
from posewarper_jax.train import state as state_lib
from tests.conftest import REPO_ROOT
from tests.data import derived_sample
from tests.models.conftest import TINY_HEAD, TINY_HRNET

NUM_VIDEOS, NUM_FRAMES = 2, 5


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("synthetic")
  synthetic.generate(root, num_videos=NUM_VIDEOS, frames_per_video=NUM_FRAMES,
                     image_size=(160, 120), seed=3, split="val", max_people=2)
  return root


@pytest.fixture(scope="module")
def config(dataset_root) -> ml_collections.ConfigDict:
  config = synthetic_config.get_config("stage2")
  config.data.root = str(dataset_root)
  config.eval.batch_size = 4
  return config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, config) -> pathlib.Path:
  """A tiny PoseWarper with a random backbone and the untrained (identity) warper."""
  model = PoseWarper(backbone=HRNet(**TINY_HRNET), **TINY_HEAD)
  width, height = config.input.image_size
  images = jnp.zeros((1, height, width, 3))
  variables = state_lib.jit_init(model)(jax.random.key(0), images, images)
  return models.save(tmp_path_factory.mktemp("checkpoint"), model, variables)


@pytest.fixture(scope="module")
def loaded(checkpoint):
  return models.load(checkpoint)


@pytest.fixture(scope="module")
def videos(config):
  return datasets.evaluation_split(config.data).videos


def test_aggregation_takes_frames_in_time_order(loaded, videos, config):
  """An untrained warper is the identity, so aggregate = sum_i w_i H(t + i - 2)."""
  model, variables = loaded
  middle = dataclasses.replace(videos[0], frames=tuple(  # Boxes only where t-2..t+2 differ.
      frame if position == 2 else dataclasses.replace(frame, persons=())
      for position, frame in enumerate(videos[0].frames)))
  batch = next(eval_inputs.make_eval_dataset((middle,), config.input, batch_size=2)
               .as_numpy_iterator())
  mesh = sharding.data_mesh(jax.local_devices()[:1])
  aggregated = heatmaps.heatmap_function(model, "aggregate", mesh)(variables, batch["frames"])
  single = heatmaps.heatmap_function(model, "single", mesh)
  per_frame = {offset: np.asarray(single(variables, batch["frames"][:, k:k + 1]), np.float64)
               for k, offset in enumerate(neighbours.AGGREGATION_OFFSETS)}
  expected = sum(weight * per_frame[offset] for weight, offset in
                 zip(model.aggregation_weights, sorted(per_frame)))
  scale = np.abs(expected).max()
  assert np.abs(per_frame[-2] - per_frame[0]).max() > 1e-2 * scale  # The frames differ.
  np.testing.assert_allclose(aggregated, expected, rtol=1e-4, atol=1e-5 * scale)
  # What predict gives the function: the reference frame's offsets computed once beforehand.
  prepared = heatmaps.inference_variables(model, variables, "aggregate",
                                          batch["frames"].shape[2:4], mesh)
  assert models.REFERENCE_FIELDS in prepared
  assert models.REFERENCE_FIELDS not in heatmaps.inference_variables(
      model, variables, "single", batch["frames"].shape[2:4], mesh)
  np.testing.assert_allclose(
      heatmaps.heatmap_function(model, "aggregate", mesh)(prepared, batch["frames"]), aggregated,
      rtol=1e-6, atol=1e-6 * scale)


def test_flip_test_returns_heatmaps_of_the_flipped_crops(loaded, videos, config):
  model, variables = loaded
  batch = next(eval_inputs.make_eval_dataset(videos, config.input, batch_size=2,
                                             single_frame=True).as_numpy_iterator())
  mesh = sharding.data_mesh(jax.local_devices()[:1])
  both = heatmaps.heatmap_function(model, "single", mesh, flip_test=True)(
      variables, batch["frames"])
  flipped = model.apply(variables, pixels.normalize(batch["frames"][:, 0, :, ::-1]),
                        method=PoseWarper.heatmaps)
  np.testing.assert_allclose(both[1], flipped, rtol=1e-5, atol=1e-5 * np.abs(flipped).max())


def test_aggregate_needs_a_posewarper(loaded):
  model, _ = loaded
  with pytest.raises(ValueError, match="needs a PoseWarper"):
    heatmaps.heatmap_function(model.backbone, "aggregate", sharding.data_mesh())


def test_predict_decodes_every_gt_box(loaded, videos, config):
  model, variables = loaded
  eval_config = ml_collections.ConfigDict(config.eval.to_dict())
  eval_config.mode = "single"
  predicted = predict.predict(videos, model, variables, config.input, eval_config)
  batch_frames = [p for v in videos for f in v.frames for p in f.persons]
  assert len(batch_frames) > eval_config.batch_size  # A padded last batch is exercised.
  for video, result in zip(videos, predicted):
    for frame, frame_result in zip(video.frames, result.frames):
      assert len(frame_result.persons) == len(frame.persons)
      for person, prediction in zip(frame.persons, frame_result.persons):
        np.testing.assert_array_equal(prediction.center, person.center)
        assert prediction.track_id == person.track_id and prediction.head_box is None
        assert prediction.keypoints.shape == (17, 3) and np.all(prediction.keypoints[:, 2] == 1)
        assert np.all(np.isfinite(prediction.joint_scores))
        # Joints decode inside the crop box (centre +- scale * 200 / 2).
        half = person.scale * 200 / 2
        assert np.all(np.abs(prediction.keypoints[:, :2] - person.center) <= half + 1e-3)


def test_rescoring_with_oks_nms_drops_duplicate_boxes(loaded, videos, config):
  model, variables = loaded
  frame = videos[0].frames[0]
  duplicate = dataclasses.replace(frame.persons[0], score=0.5)
  video = dataclasses.replace(videos[0], frames=(
      dataclasses.replace(frame, persons=(frame.persons[0], duplicate)),))
  eval_config = ml_collections.ConfigDict(config.eval.to_dict())
  eval_config.update(mode="single", rescore_nms=True)
  (result,) = predict.predict((video,), model, variables, config.input, eval_config)
  (kept,) = result.frames[0].persons
  # The higher-scoring box survives; its score is rescored, its joint scores are raw maxima.
  assert kept.score <= 1.0 and kept.score == pytest.approx(
      np.mean(kept.joint_scores[kept.joint_scores > 0.2]) if np.any(kept.joint_scores > 0.2)
      else 0.0)


def test_corrupt_image_is_named_or_skipped(loaded, config, tmp_path):
  model, variables = loaded
  root = tmp_path / "root"
  shutil.copytree(config.data.root, root)
  copy = ml_collections.ConfigDict(config.to_dict())
  copy.data.root = str(root)
  copy.eval.mode = "single"
  split = datasets.evaluation_split(copy.data)
  frame = split.videos[0].frames[2]
  derived_sample.truncate(pathlib.Path(frame.path))
  with pytest.raises(ValueError) as error:
    evaluation.evaluate_model(copy, model, variables, tmp_path / "out", split=split)
  assert str(error.value).startswith(f"{split.annotation_files[0]}: video {split.videos[0].name}, "
                                     f"frame {frame.frame_id}: image {frame.path}: truncated JPEG")
  copy.input.skip_corrupt_images = True
  predicted = predict.predict(split.videos, model, variables, copy.input, copy.eval,
                              annotation_files=split.annotation_files)
  boxes = [[len(f.persons) for f in video.frames] for video in predicted]
  want = [[len(f.persons) for f in video.frames] for video in split.videos]
  assert want[0][2] > 0
  want[0][2] = 0  # The frame with the corrupt image loses its boxes.
  assert boxes == want


def test_folding_batch_norm_keeps_the_predictions(loaded, config, tmp_path, monkeypatch):
  """config.eval.fold_batch_norm reaches predict; folded and unfolded predict the same joints
  and scores to float32 rounding (aggregate mode: the backbone's and the head's BatchNorms)."""
  model, variables = loaded
  folds = []
  fold_batch_norm = predict.fold.fold_batch_norm
  monkeypatch.setattr(predict.fold, "fold_batch_norm",
                      lambda *args: folds.append(args) or fold_batch_norm(*args))
  annotations, tables = {}, {}
  for folded in (False, True):
    copy = ml_collections.ConfigDict(config.to_dict())
    copy.eval.fold_batch_norm = folded
    out = tmp_path / f"folded_{folded}"
    tables[folded] = evaluation.evaluate_model(copy, model, variables, out)["table"]
    annotations[folded] = [annotation for path in sorted((out / evaluation.PREDICTIONS_DIR)
                                                         .glob("*.json"))
                           for annotation in json.loads(path.read_text())["annotations"]]
  assert len(folds) == 1  # Only the folded run folds.
  assert len(annotations[True]) == len(annotations[False]) > 0
  for unfolded, folded in zip(annotations[False], annotations[True]):
    np.testing.assert_allclose(folded["keypoints"], unfolded["keypoints"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(folded["scores"], unfolded["scores"], rtol=1e-4, atol=1e-6)
  assert tables[True] == pytest.approx(tables[False], nan_ok=True)


def test_evaluate_aggregate_writes_files_the_metric_reads(checkpoint, config, videos, tmp_path):
  results = evaluation.evaluate(config, str(checkpoint), str(tmp_path))
  gt_files = posetrack.split_annotation_files(config.data.root, "val")
  for gt_file in gt_files:
    written = tmp_path / evaluation.PREDICTIONS_DIR / pathlib.Path(gt_file).name
    assert (posetrack.listed_frame_ids(written) == posetrack.listed_frame_ids(gt_file))
  assert set(results["table"]) == {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee",
                                   "Ankle", "Total"}
  assert all(0.0 <= ap <= 100.0 for ap in results["per_joint"].values())
  saved = json.loads((tmp_path / evaluation.RESULTS_FILE).read_text())
  assert saved["table"] == pytest.approx(results["table"], nan_ok=True)
  assert saved["num_boxes"] == sum(len(f.persons) for v in videos for f in v.frames)
  assert saved["config"]["eval"]["mode"] == "aggregate"


def test_evaluate_py_single_mode_with_annolist(checkpoint, config, tmp_path):
  command = [sys.executable, str(REPO_ROOT / "evaluate.py"),
             f"--config={REPO_ROOT / 'configs' / 'synthetic.py'}:stage1",
             f"--config.data.root={config.data.root}", "--config.eval.batch_size=4",
             "--config.eval.write_annolist=True", "--config.eval.fold_batch_norm=False",
             f"--checkpoint={checkpoint}", f"--output_dir={tmp_path}"]
  run = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "PoseTrack mAP" in run.stdout
  saved = json.loads((tmp_path / evaluation.RESULTS_FILE).read_text())
  assert saved["config"]["eval"]["mode"] == "single"
  assert saved["config"]["eval"]["fold_batch_norm"] is False
  # Both prediction formats score the same.
  gt_dir = pathlib.Path(config.data.root) / "annotations" / "val"
  annolist = posetrack_map.posetrack_map(str(gt_dir), str(tmp_path / evaluation.ANNOLIST_DIR))
  assert annolist["table"] == pytest.approx(saved["table"], nan_ok=True)


def test_evaluate_py_reports_a_missing_checkpoint_in_one_line(config, tmp_path):
  missing = tmp_path / "no_checkpoint"
  command = [sys.executable, str(REPO_ROOT / "evaluate.py"),
             f"--config={REPO_ROOT / 'configs' / 'synthetic.py'}:stage1",
             f"--config.data.root={config.data.root}", f"--checkpoint={missing}",
             f"--output_dir={tmp_path / 'out'}"]
  run = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  assert run.returncode == 1
  assert "Traceback" not in run.stderr
  assert run.stderr.splitlines()[-1].startswith(
      f"error: models.load: {missing} is neither an exported checkpoint")
  assert not (tmp_path / "out").exists()


def test_ground_truth_written_as_predictions_scores_100(posetrack18_sample, tmp_path):
  """The writer keeps the ground truth's frame list (the sample lists 1 of ~140 frames)."""
  gt_dir = posetrack18_sample / "annotations" / "val"
  paths = sorted(gt_dir.glob("*.json"))
  videos = [posetrack.read_posetrack18_video(p, posetrack18_sample) for p in paths]
  as_predictions = [dataclasses.replace(video, frames=tuple(
      dataclasses.replace(frame, persons=tuple(
          dataclasses.replace(p, joint_scores=np.ones(17, np.float32)) for p in frame.persons))
      for frame in video.frames)) for video in videos]
  for output_format in predictions.FORMATS:
    out = tmp_path / output_format
    predictions.write_predictions(
        as_predictions, out, file_names=[p.name for p in paths],
        frame_ids=[posetrack.listed_frame_ids(p) for p in paths], output_format=output_format)
    results = posetrack_map.posetrack_map(str(gt_dir), str(out))
    assert results["table"]["Total"] == pytest.approx(100.0)


def test_frames_without_predictions_get_the_dummy_person(videos, tmp_path):
  video = dataclasses.replace(videos[0], frames=tuple(
      dataclasses.replace(frame, persons=()) for frame in videos[0].frames))
  (path,) = predictions.write_predictions([video], tmp_path, frame_ids=[(2, 0)])
  data = json.loads(pathlib.Path(path).read_text())
  assert [image["frame_id"] % 10_000 for image in data["images"]] == [2, 0]
  for annotation in data["annotations"]:
    scores = np.array(annotation["scores"])
    assert scores.min() == predictions.DUMMY_SCORE and np.sum(scores != 0) == 1
    assert np.count_nonzero(np.array(annotation["keypoints"]).reshape(17, 3)[:, 2]) == 1
  with pytest.raises(ValueError, match="frames \\[99\\]"):
    predictions.write_predictions([video], tmp_path, frame_ids=[(99,)])


def test_listed_frame_ids_of_both_formats(posetrack18_sample, videos, tmp_path):
  path = posetrack18_sample / "annotations" / "val" / "003418_mpii_test.json"
  assert posetrack.listed_frame_ids(path) == (0,)
  annolist = tmp_path / "video.json"
  posetrack.write_posetrack17_annolist_video(videos[0], annolist)
  assert posetrack.listed_frame_ids(annolist) == tuple(range(NUM_FRAMES))


def test_bad_configs_are_named(config, checkpoint, tmp_path):
  bad = ml_collections.ConfigDict(config.to_dict())
  bad.eval.mode = "median"
  with pytest.raises(ValueError, match="config.eval.mode='median'"):
    predict.check_eval_config(bad.eval)
  unfolded = ml_collections.ConfigDict({**config.eval.to_dict(), "fold_batch_norm": "False"})
  with pytest.raises(ValueError, match="config.eval.fold_batch_norm='False'"):
    predict.check_eval_config(unfolded)
  bad = ml_collections.ConfigDict(config.to_dict())
  bad.data.boxes = "detections"
  with pytest.raises(ValueError, match="config.data.detections"):
    evaluation.evaluate(bad, str(checkpoint), str(tmp_path))
