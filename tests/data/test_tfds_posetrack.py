import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import common
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import posetrack
from posewarper_jax.data import synthetic
from posewarper_jax.data import tfds_posetrack
from tests.data import tiny_posetrack


def _prepare(config, manual_dir, data_dir):
  builder = tfds_posetrack.PosetrackFrames(config=config, data_dir=str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


def _assert_same_labeled_frames(got, want):
  assert [v.name for v in got] == sorted(v.name for v in want)
  want = {v.name: v for v in want}
  for video in got:
    original = want[video.name]
    assert len(video.frames) == len(original.frames)
    assert video.labeled_positions == original.labeled_positions
    for position in video.labeled_positions:
      frame, source = video.frames[position], original.frames[position]
      assert (frame.path, frame.image_id, frame.width) == (source.path, source.image_id,
                                                           source.width)
      assert len(frame.persons) == len(source.persons)
      for person, source_person in zip(frame.persons, source.persons):
        np.testing.assert_array_equal(person.keypoints, source_person.keypoints)
        np.testing.assert_array_equal(person.center, source_person.center)
        np.testing.assert_array_equal(person.scale, source_person.scale)
        np.testing.assert_array_equal(person.box, source_person.box)
        assert person.track_id == source_person.track_id
        assert (person.head_box is None) == (source_person.head_box is None)


def test_real_sample_round_trip(posetrack18_sample, tmp_path):
  manual_dir = tmp_path / "manual"
  manual_dir.mkdir()
  os.symlink(posetrack18_sample, manual_dir / "posetrack18")
  builder = _prepare("posetrack18", manual_dir, tmp_path / "data")
  assert list(builder.info.splits) == ["val"]
  image_root = str(manual_dir / "posetrack18")
  videos = tfds_posetrack.read_split(builder, "val", image_root)
  original = posetrack.read_posetrack18(manual_dir / "posetrack18" / "annotations" / "val",
                                        image_root)
  _assert_same_labeled_frames(videos, original)
  # Only frame 000000 exists: every other position has no path.
  assert all(not f.path for v in videos for f in v.frames[1:])


@pytest.fixture(scope="module")
def synthetic_build(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("synthetic")
  root = tmp_path / "manual" / "synthetic"
  for split in ("train", "val"):
    synthetic.generate(root, num_videos=2, frames_per_video=4, image_size=(160, 120), seed=0,
                       split=split)
  return _prepare("synthetic", tmp_path / "manual", tmp_path / "data"), str(root)


def test_synthetic_round_trip_and_pairs(synthetic_build):
  builder, root = synthetic_build
  assert sorted(builder.info.splits) == ["train", "val"]
  videos = tfds_posetrack.read_split(builder, "train", root)
  original = posetrack.read_posetrack18(os.path.join(root, "annotations", "train"), root)
  _assert_same_labeled_frames(videos, original)
  config = common.input_config()
  config.image_size = (48, 64)
  from_tfds = frame_pairs.build_instances(videos, config, seed=0)
  from_reader = frame_pairs.build_instances(original, config, seed=0)
  for key in from_reader:
    np.testing.assert_array_equal(from_tfds[key], from_reader[key], err_msg=key)
  batch = next(iter(frame_pairs.make_pair_dataset(videos, config, seed=0, batch_size=4)))
  assert batch["frame_a"].shape == (4, 64, 48, 3)
  assert batch["frame_b"].shape == (4, 64, 48, 3)
  assert batch["joints"].shape == (4, 17, 3) and batch["joints"].numpy()[..., 2].sum() > 0


def test_posetrack17_config(tmp_path):
  root = tmp_path / "manual" / "posetrack17"
  original = tiny_posetrack.write(root, "val", posetrack17=True)
  builder = _prepare("posetrack17", tmp_path / "manual", tmp_path / "data")
  videos = tfds_posetrack.read_split(builder, "val", str(root))
  _assert_same_labeled_frames(videos, original)
  assert videos[0].frames[0].path.endswith("00000001.jpg")
  # Frame 5 (position 4) of the first video is missing: stored without a path.
  assert [bool(f.path) for f in videos[0].frames] == [True, True, True, True, False]


def test_missing_manual_data_raises(tmp_path):
  (tmp_path / "manual" / "posetrack18").mkdir(parents=True)
  with pytest.raises(ValueError, match="annotations"):
    _prepare("posetrack18", tmp_path / "manual", tmp_path / "data")


def _example(image_path, neighbour_paths=("", "", "", "", "")):
  """A numpy example of frame 0 of a 5-frame video, without persons."""
  no_persons = {key: np.zeros((0,) + shape) for key, shape in (
      ("keypoints", (17, 3)), ("box", (4,)), ("center", (2,)), ("scale", (2,)),
      ("head_box", (4,)), ("has_head_box", ()), ("track_id", ()), ("score", ()))}
  return {"video_name": b"000001_tiny", "frame_position": 0, "num_frames": 5, "frame_id": 0,
          "image_id": 10_000, "width": 320, "height": 240, "image_path": image_path.encode(),
          "neighbour_positions": np.arange(5), "neighbour_paths": np.array(
              [p.encode() for p in neighbour_paths], object), "persons": no_persons}


def test_paths_stay_inside_the_image_root(tmp_path):
  root, outside = tmp_path / "root", tmp_path / "outside"
  (root / "images").mkdir(parents=True)
  outside.mkdir()
  os.symlink(outside, root / "images" / "link")
  (video,) = tfds_posetrack.videos_from_examples(
      [_example("images/a/../000000.jpg", ["", "images/000001.jpg", "", "", ""])], str(root))
  assert video.frames[0].path == str(root / "images" / "000000.jpg")
  assert video.frames[1].path == str(root / "images" / "000001.jpg")
  cases = [
      (_example("../outside/000000.jpg"),
       "example 000001_tiny/000000.image_path '../outside/000000.jpg' leaves the dataset root"),
      (_example("/etc/000000.jpg"),
       "example 000001_tiny/000000.image_path '/etc/000000.jpg' is an absolute path"),
      (_example("images/link/000000.jpg"),
       "example 000001_tiny/000000.image_path 'images/link/000000.jpg' resolves to "
       f"{outside.resolve()}/000000.jpg through a symlink"),
      (_example("images/000000.jpg", ["", "", "", "images/../../x.jpg", ""]),
       "example 000001_tiny/000000.neighbour_paths[3] 'images/../../x.jpg' leaves the dataset "
       "root"),
  ]
  for example, message in cases:
    with pytest.raises(ValueError) as error:
      tfds_posetrack.videos_from_examples([example], str(root), source="posetrack_frames/x")
    assert str(error.value).startswith(f"posetrack_frames/x: {message}")
