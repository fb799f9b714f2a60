import collections
import json
import os
import shutil

import pytest
import tensorflow_datasets as tfds

from configs import common
from posewarper_jax.data import datasets
from posewarper_jax.data import posetrack
from posewarper_jax.data import sparse_labels
from posewarper_jax.data import synthetic
from posewarper_jax.data import tfds_posetrack
from tests.data import derived_sample

NUM_VIDEOS, NUM_FRAMES = 3, 8  # Synthetic training split; every frame is labeled.
DETECTIONS_FILE = "test_posetrack18_human_detections.json"


def _build_tfds(manual_dir, name, data_dir):
  builder = tfds_posetrack.PosetrackFrames(config=name, data_dir=str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory):
  """(dataset root, TFDS data dir) of tiny synthetic train and val splits."""
  tmp_path = tmp_path_factory.mktemp("synthetic")
  root = tmp_path / "manual" / "synthetic"
  synthetic.generate(root, num_videos=NUM_VIDEOS, frames_per_video=NUM_FRAMES,
                     image_size=(160, 120), seed=0, split="train")
  synthetic.generate(root, num_videos=2, frames_per_video=4, image_size=(160, 120), seed=0,
                     split="val")
  _build_tfds(tmp_path / "manual", "synthetic", tmp_path / "tfds")
  return root, tmp_path / "tfds"


@pytest.fixture(scope="module")
def sample_set(posetrack18_sample, tmp_path_factory):
  """(dataset root, TFDS data dir) of the real PoseTrack18 sample (val only)."""
  tmp_path = tmp_path_factory.mktemp("sample")
  (tmp_path / "manual").mkdir()
  os.symlink(posetrack18_sample, tmp_path / "manual" / "posetrack18")
  _build_tfds(tmp_path / "manual", "posetrack18", tmp_path / "tfds")
  return tmp_path / "manual" / "posetrack18", tmp_path / "tfds"


def _config(root, **fields):
  """config.data for `root` with ground-truth boxes; fields: flattened overrides."""
  config = common.data_config()
  config.root = str(root)
  config.boxes = "gt"
  config.update_from_flattened_dict(fields)
  return config


def _persons(frame):
  return [(p.keypoints.tolist(), p.box.tolist(), p.center.tolist(), p.scale.tolist(),
           p.track_id, p.score) for p in frame.persons]


def _labeled(videos):
  """{name: (number of frames, {labeled position: (path, image_id, persons)})}."""
  return {video.name: (len(video.frames), {
      position: (video.frames[position].path, video.frames[position].image_id,
                 _persons(video.frames[position])) for position in video.labeled_positions})
          for video in videos}


def _num_labeled_frames(videos):
  return sum(len(video.labeled_positions) for video in videos)


@pytest.mark.parametrize("dataset, split", [("synthetic_set", "train"), ("sample_set", "val")])
def test_json_and_tfds_sources_give_the_labeled_frames_of_the_reader(request, dataset, split):
  root, tfds_dir = request.getfixturevalue(dataset)
  name = "synthetic" if dataset == "synthetic_set" else "posetrack18"
  want = posetrack.read_split("posetrack18", root, split)
  from_json = datasets.load_split(_config(root), split)
  assert [f.path for v in from_json for f in v.frames] == [f.path for v in want for f in v.frames]
  assert _labeled(from_json) == _labeled(want)
  from_tfds = datasets.load_split(
      _config(root, source="tfds", tfds_name=f"posetrack_frames/{name}",
              tfds_data_dir=str(tfds_dir)), split)
  assert [v.name for v in from_tfds] == [v.name for v in want]
  assert _labeled(from_tfds) == _labeled(want)


def test_unprepared_tfds_dataset_is_named(synthetic_set, tmp_path):
  root, _ = synthetic_set
  config = _config(root, source="tfds", tfds_name="posetrack_frames/synthetic",
                   tfds_data_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match="config.data.tfds_name='posetrack_frames/synth"):
    datasets.load_split(config, "train")


def test_missing_tfds_split_is_named(synthetic_set):
  root, tfds_dir = synthetic_set
  config = _config(root, source="tfds", tfds_name="posetrack_frames/synthetic",
                   tfds_data_dir=str(tfds_dir))
  with pytest.raises(ValueError, match="no split 'test'"):
    datasets.load_split(config, "test")


def test_training_videos_without_selection_are_the_train_split(synthetic_set):
  root, _ = synthetic_set
  videos = datasets.training_videos(_config(root))
  assert _labeled(videos) == _labeled(posetrack.read_split("posetrack18", root, "train"))
  assert _num_labeled_frames(videos) == NUM_VIDEOS * NUM_FRAMES


def test_train_labels_dir_replaces_the_labels(synthetic_set, tmp_path):
  root, _ = synthetic_set
  dense = posetrack.read_split("posetrack18", root, "train")
  sparse = sparse_labels.every_k(dense, 4, start=1)
  for video in sparse:
    posetrack.write_posetrack18_video(video, tmp_path / f"{video.name}.json", image_root=root)
  videos = datasets.training_videos(_config(root, train_labels_dir=str(tmp_path)))
  assert [v.labeled_positions for v in videos] == [(1, 5)] * NUM_VIDEOS
  assert _labeled(videos) == _labeled(sparse)  # Images still under root.


@pytest.mark.parametrize("labels, num_videos, labeled_per_video", [
    ({"every_k": 3, "start": 1}, NUM_VIDEOS, 3),  # Labeled frames 1, 4, 7.
    ({"per_video": 2}, NUM_VIDEOS, 2),
    ({"num_videos": 2}, 2, NUM_FRAMES),
    ({"num_videos": 2, "per_video": 3, "seed": 5}, 2, 3),
])
def test_sparse_label_selection(synthetic_set, labels, num_videos, labeled_per_video):
  root, _ = synthetic_set
  fields = {f"labels.{key}": value for key, value in labels.items()}
  videos = datasets.training_videos(_config(root, **fields))
  assert len(videos) == num_videos
  assert [len(v.labeled_positions) for v in videos] == [labeled_per_video] * num_videos
  assert all(len(v.frames) == NUM_FRAMES for v in videos)


def test_per_video_draws_follow_the_seed(synthetic_set):
  root, _ = synthetic_set
  draw = lambda seed: [v.labeled_positions for v in datasets.training_videos(
      _config(root, **{"labels.per_video": 2, "labels.seed": seed}))]
  assert draw(0) == draw(0) and draw(0) != draw(1)


def test_evaluation_split_with_ground_truth_boxes(synthetic_set):
  root, _ = synthetic_set
  split = datasets.evaluation_split(_config(root, source="tfds"))  # Always the JSON files.
  assert split.annotation_files == tuple(sorted(
      str(p) for p in (root / "annotations" / "val").glob("*.json")))
  assert _labeled(split.videos) == _labeled(posetrack.read_split("posetrack18", root, "val"))


@pytest.mark.parametrize("min_box_score", [0.2, 0.6])
def test_evaluation_split_with_detections(posetrack18_sample, min_box_score):
  detections_path = posetrack18_sample / "annotations" / DETECTIONS_FILE
  split = datasets.evaluation_split(_config(
      posetrack18_sample, boxes="detections", detections=str(detections_path),
      min_box_score=min_box_score))
  kept = collections.Counter(d["image_id"] for d in json.loads(detections_path.read_text())
                             if d["category_id"] == 1 and d["score"] >= min_box_score)
  boxes = collections.Counter()
  for video in split.videos:
    for frame in video.frames:
      boxes[frame.image_id] += len(frame.persons)
      assert all(not p.keypoints.any() and p.score >= min_box_score for p in frame.persons)
  assert +boxes == kept
  assert [os.path.basename(p) for p in split.annotation_files] == [
      f"{v.name}.json" for v in split.videos]


def test_evaluation_split_detections_only_on_listed_frames(posetrack18_sample, tmp_path):
  """Frame 9 is not listed (the sample files list frame 0 only), though its image exists."""
  json_path, _ = derived_sample.copy_video(posetrack18_sample, tmp_path)
  shutil.copy(derived_sample.image_path(tmp_path), derived_sample.image_path(tmp_path, frame=9))
  video = posetrack.read_posetrack18_video(json_path, tmp_path)
  detections_path = derived_sample.write_json(tmp_path / "boxes.json", [
      {"image_id": video.frames[9].image_id, "bbox": [10, 10, 50, 80], "score": 0.9,
       "category_id": 1}])
  with pytest.raises(ValueError) as error:
    datasets.evaluation_split(_config(tmp_path, boxes="detections",
                                      detections=str(detections_path)))
  assert str(error.value) == (
      f"{detections_path}: [0].image_id {video.frames[9].image_id} is frame 9 of video "
      f"{derived_sample.VIDEO}, which {json_path} does not list")


@pytest.mark.parametrize("fields, message", [
    ({"root": ""}, "config.data.root"),
    ({"format": "coco"}, "config.data.format='coco'"),
    ({"source": "csv"}, "config.data.source='csv'"),
    ({"source": "tfds", "tfds_name": ""}, "config.data.tfds_name"),
    ({"boxes": "both"}, "config.data.boxes='both'"),
    ({"boxes": "detections", "detections": ""}, "config.data.detections"),
    ({"labels.every_k": -1}, "config.data.labels.every_k=-1"),
    ({"labels.start": -2}, "config.data.labels.start=-2"),
    ({"labels.per_video": -1}, "config.data.labels.per_video=-1"),
    ({"labels.num_videos": -3}, "config.data.labels.num_videos=-3"),
    ({"labels.every_k": 2, "labels.per_video": 5},
     "config.data.labels.every_k=2 and config.data.labels.per_video=5"),
])
@pytest.mark.parametrize("entry_point", [
    datasets.check_data_config, lambda config: datasets.load_split(config, "train"),
    datasets.training_videos, datasets.evaluation_split])
def test_bad_config_fields_are_named(synthetic_set, fields, message, entry_point):
  config = _config(synthetic_set[0])
  config.update_from_flattened_dict(fields)
  with pytest.raises(ValueError, match=message):
    entry_point(config)


def test_bad_training_labels_are_named(synthetic_set, tmp_path):
  root, _ = synthetic_set
  with pytest.raises(FileNotFoundError, match="config.data.train_labels_dir='.*missing'"):
    datasets.training_videos(_config(root, train_labels_dir=str(tmp_path / "missing")))
  with pytest.raises(ValueError, match=f"config.data.labels.num_videos=4: .* {NUM_VIDEOS}"):
    datasets.training_videos(_config(root, **{"labels.num_videos": 4}))
