import collections
import dataclasses
import shutil

import cv2
import numpy as np
import pytest

from configs import common
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import image_check
from posewarper_jax.data import posetrack
from posewarper_jax.data import targets
from posewarper_jax.data import transforms
from posewarper_jax.viz import pairs as pairs_viz
from tests.data import derived_sample
from tests.data import tiny_posetrack

IMAGE_SIZE = (48, 64)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
  return tiny_posetrack.write(tmp_path_factory.mktemp("tiny"))


def _config(**overrides):
  config = common.input_config()
  config.image_size = IMAGE_SIZE
  config.update(overrides)
  return config


def _batches(dataset, num):
  return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(num)]


def _encoded_targets(batch, config):
  """The batch's (target, target_weight) as the train step encodes them from its joints."""
  return map(np.asarray, targets.joint_targets(batch["joints"], batch["frame_a"],
                                               config.heatmap_stride, config.sigma))


def _grey_level(uint8_crops):
  """Mean pixel value of uint8 crops (B, H, W, 3) -> (B,)."""
  return uint8_crops.mean(axis=(1, 2, 3))


def test_instances_clip_and_fall_back(videos):
  instances = frame_pairs.build_instances(videos, _config(), seed=0)
  # Video 1: frame 0 (2 persons), frame 2 (1 person); video 2: frame 1 (1 person).
  np.testing.assert_array_equal(instances["frame_position"], [0, 0, 2, 1])
  np.testing.assert_array_equal(instances["neighbour_deltas"], [
      [0, 0, 0, 1, 2], [0, 0, 0, 1, 2],  # -2, -1 clipped to frame 0.
      [-2, -1, 0, 1, 0],  # +2 is frame 4, whose file is missing: falls back to A.
      [-1, -1, 0, 1, 1]])
  assert instances["neighbour_paths"][2, 4] == instances["path_a"][2]
  assert instances["keypoints"].shape == (4, 17, 3)


@pytest.mark.parametrize("backend", ["tf", "cv2"])
def test_batch_shapes_and_frame_b_content(videos, backend):
  dataset = frame_pairs.make_pair_dataset(videos, _config(warp_backend=backend), seed=0,
                                          batch_size=4, training=False)
  (batch,) = _batches(dataset, 2)
  assert batch["frame_a"].shape == batch["frame_b"].shape == (4, 64, 48, 3)
  assert batch["frame_a"].dtype == batch["frame_b"].dtype == np.uint8
  assert batch["joints"].shape == (4, 17, 3) and batch["joints"].dtype == np.float32
  assert "target" not in batch  # Encoded by the train step, on the device.
  # The ground-truth crops lie inside the flat frames: A and B show their frames' levels.
  levels = np.array([tiny_posetrack.frame_level(p) for p in batch["frame_position"]])
  np.testing.assert_allclose(_grey_level(batch["frame_a"]), levels, atol=1.5)
  np.testing.assert_allclose(_grey_level(batch["frame_b"]),
                             tiny_posetrack.frame_level(batch["frame_position"] + batch["delta"]),
                             atol=1.5)
  # A's joints are its ground truth under the crop's affine, with their visibility.
  for i in range(4):
    frame = videos[batch["video_index"][i]].frames[batch["frame_position"][i]]
    person = [p for p in frame.persons
              if np.allclose(p.center, batch["center"][i], atol=1e-3)][0]
    matrix = transforms.affine_matrix(person.center, person.scale, 0.0, IMAGE_SIZE)
    joints = transforms.apply_affine(person.keypoints[:, :2], matrix)
    np.testing.assert_allclose(batch["joints"][i, :, :2], joints, atol=1e-3)
    np.testing.assert_array_equal(batch["joints"][i, :, 2], person.keypoints[:, 2])


def test_deterministic_for_a_seed(videos):
  make = lambda seed: frame_pairs.make_pair_dataset(videos, _config(), seed=seed, batch_size=3)
  first, second, other = _batches(make(3), 3), _batches(make(3), 3), _batches(make(4), 3)
  for a, b in zip(first, second):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  assert not all(np.array_equal(a["frame_a"], c["frame_a"]) for a, c in zip(first, other))


@pytest.mark.parametrize("mode", ["per_epoch", "fixed"])
def test_delta_modes(videos, mode):
  config = _config(delta_mode=mode)
  dataset = frame_pairs.make_pair_dataset(videos, config, seed=1, batch_size=4)
  instances = frame_pairs.build_instances(videos, config, seed=1)
  deltas = {}
  for batch in _batches(dataset, 12):  # 12 epochs of 4 instances.
    for index, delta in zip(batch["instance_index"], batch["delta"]):
      deltas.setdefault(int(index), []).append(int(delta))
      assert delta in instances["neighbour_deltas"][index]
  assert sorted(deltas) == [0, 1, 2, 3] and all(len(d) == 12 for d in deltas.values())
  distinct = [len(set(d)) for d in deltas.values()]
  if mode == "fixed":
    assert distinct == [1, 1, 1, 1]
    assert [d[0] for d in deltas.values()] == [
        instances["neighbour_deltas"][i, instances["fixed_choice"][i]] for i in deltas]
  else:
    assert max(distinct) >= 3


def test_sharding_by_process(videos):
  seen = []
  for process_index in range(2):
    dataset = frame_pairs.make_pair_dataset(videos, _config(), seed=0, batch_size=8,
                                            process_index=process_index, process_count=2,
                                            training=False)
    (batch,) = _batches(dataset, 1)
    np.testing.assert_array_equal(batch["instance_index"] % 2, process_index)
    seen.extend(batch["instance_index"])
  assert sorted(seen) == [0, 1, 2, 3]


def _assert_same_batches(got, want, skip=()):
  assert len(got) == len(want)
  for got_batch, want_batch in zip(got, want):
    assert set(got_batch) == set(want_batch) - set(skip)
    for key in got_batch:
      np.testing.assert_array_equal(got_batch[key], want_batch[key], err_msg=key)


def test_resumed_run_sees_the_batches_of_an_uninterrupted_run(videos):
  make = lambda start_step: frame_pairs.make_pair_dataset(
      videos, _config(), seed=5, batch_size=3, start_step=start_step)
  uninterrupted = _batches(make(0), 5)
  # Batch 3 starts in the third epoch of 4 instances (element 9).
  _assert_same_batches(_batches(make(3), 2), uninterrupted[3:])


def test_every_epoch_is_a_fresh_permutation_of_the_process_instances(videos):
  many = tuple(videos) * 3  # 12 instances, 6 per process.
  seen = []
  for process_index in range(2):
    dataset = frame_pairs.make_pair_dataset(many, _config(), seed=0, batch_size=6,
                                            process_index=process_index, process_count=2)
    epochs = [batch["instance_index"] for batch in _batches(dataset, 4)]
    local = np.arange(process_index, 12, 2)
    for order in epochs:
      np.testing.assert_array_equal(np.sort(order), local)
    assert any(not np.array_equal(order, epochs[0]) for order in epochs[1:])
    seen.append(set(local))
  assert not seen[0] & seen[1]


def test_single_frame_is_the_pair_example_without_frame_b(videos):
  make = lambda single_frame: frame_pairs.make_pair_dataset(
      videos, _config(), seed=7, batch_size=3, single_frame=single_frame)
  pairs, singles = _batches(make(False), 3), _batches(make(True), 3)
  for single, pair in zip(singles, pairs):
    np.testing.assert_array_equal(single.pop("delta"), 0)
    pair.pop("delta")
  _assert_same_batches(singles, pairs, skip=("frame_b",))  # Same order and augmentation.


def test_num_instances_counts_the_rows_of_build_instances(videos):
  frame = videos[0].frames[0]
  hidden = dataclasses.replace(frame.persons[0], keypoints=frame.persons[0].keypoints * [1, 1, 0])
  edited = (dataclasses.replace(videos[0], frames=(
      dataclasses.replace(frame, persons=(hidden, frame.persons[1])),) + videos[0].frames[1:]),
            ) + tuple(videos[1:])
  assert frame_pairs.num_instances(edited) == 3  # The person without a visible joint is out.
  for case in (videos, edited):
    instances = frame_pairs.build_instances(case, _config(), seed=0)
    assert frame_pairs.num_instances(case) == len(instances["path_a"])


def test_augmented_targets_follow_joints(videos):
  config = _config(decode_ratio="full")
  dataset = frame_pairs.make_pair_dataset(videos, config, seed=2, batch_size=4)
  for batch in _batches(dataset, 3):
    target, target_weight = _encoded_targets(batch, config)
    assert target_weight.sum() > 0
    for i, k in zip(*np.nonzero(target_weight)):
      joint = batch["joints"][i, k, :2]
      y, x = np.unravel_index(np.argmax(target[i, ..., k]), (16, 12))
      if 0 <= joint[0] < 46 and 0 <= joint[1] < 62:
        np.testing.assert_array_equal([x, y], np.trunc(joint / 4 + 0.5))


def test_real_sample_pairs(posetrack18_sample):
  videos = posetrack.read_posetrack18(posetrack18_sample / "annotations" / "val",
                                      posetrack18_sample)
  config = common.input_config()
  dataset = frame_pairs.make_pair_dataset(videos, config, seed=0, batch_size=2)
  (batch,) = _batches(dataset, 1)
  assert batch["frame_a"].shape == (2, 384, 288, 3)
  target, target_weight = _encoded_targets(batch, config)
  assert target.shape == (2, 96, 72, 17)
  # Only frame 000000 of each sequence exists: B falls back to A.
  np.testing.assert_array_equal(batch["delta"], 0)
  np.testing.assert_array_equal(batch["frame_a"], batch["frame_b"])
  assert target_weight.sum() > 0 and target.max() == 1.0


@pytest.mark.parametrize("field, value", [("delta_mode", "sometimes"), ("decode_ratio", "half"),
                                          ("warp_backend", "pil"), ("sigma", 2.5),
                                          ("image_size", (50, 64))])
def test_bad_config_raises(videos, field, value):
  config = _config()
  config[field] = value
  with pytest.raises(ValueError, match=field):
    frame_pairs.make_pair_dataset(videos, config, seed=0, batch_size=2)


def test_bad_process_index_raises(videos):
  with pytest.raises(ValueError, match="process_index"):
    frame_pairs.make_pair_dataset(videos, _config(), seed=0, batch_size=2, process_index=2,
                                  process_count=2)


@pytest.mark.parametrize("start_step, training", [(-1, True), (2, False)])
def test_bad_start_step_raises(videos, start_step, training):
  with pytest.raises(ValueError, match=f"start_step={start_step}"):
    frame_pairs.make_pair_dataset(videos, _config(), seed=0, batch_size=2,
                                  start_step=start_step, training=training)


@pytest.fixture
def two_videos(posetrack18_sample, tmp_path):
  """Copies of two sample videos (frame 0 labeled); the first has its frame 0 image also as
  frame 1."""
  files = [derived_sample.copy_video(posetrack18_sample, tmp_path, name)[0]
           for name in (derived_sample.VIDEO, "003418_mpii_test")]
  shutil.copy(derived_sample.image_path(tmp_path), derived_sample.image_path(tmp_path, frame=1))
  videos = tuple(posetrack.read_posetrack18_video(path, tmp_path) for path in files)
  return videos, files


@pytest.mark.parametrize("frame", [0, 1])  # Frame A of the first video, or its frame B = A + 1.
def test_corrupt_image_is_named_or_skipped(two_videos, frame):
  videos, files = two_videos
  image = derived_sample.image_path(files[0].parents[2], frame=frame)
  derived_sample.truncate(image)
  with pytest.raises(ValueError) as error:
    frame_pairs.make_pair_dataset(videos, _config(), seed=0, batch_size=2,
                                  annotation_files=files)
  assert str(error.value).startswith(f"{files[0]}: video {derived_sample.VIDEO}, frame {frame}: "
                                     f"image {image}: truncated JPEG")
  config = _config(skip_corrupt_images=True)
  skipped = collections.Counter()
  instances = frame_pairs.build_instances(videos, config, seed=0, annotation_files=files,
                                          skipped=skipped)
  assert skipped == {image_check.SKIP_CORRUPT_IMAGE: 1}
  first = [len(f.persons) for f in videos[0].frames if f.persons][0]
  rows = len(instances["path_a"])
  assert frame_pairs.num_instances(videos, config, annotation_files=files) == rows
  if frame == 0:  # Frame A gives no instances: the count without reading images is too high.
    assert set(instances["video_index"]) == {1}
    assert frame_pairs.num_instances(videos) == rows + first
  else:  # Read as missing: A + 1 falls back to A.
    assert frame_pairs.num_instances(videos) == rows
    np.testing.assert_array_equal(instances["neighbour_deltas"][:first], [[0, 0, 0, 0, 0]] * first)


def test_missing_image_of_a_frame_a(two_videos):
  videos, files = two_videos
  image = derived_sample.image_path(files[0].parents[2])
  image.unlink()
  with pytest.raises(FileNotFoundError, match=f"^{files[0]}: video {derived_sample.VIDEO}, "
                     f"frame 0: image {image} does not exist$"):
    frame_pairs.build_instances(videos, _config(skip_corrupt_images=True), seed=0,
                                annotation_files=files)


def test_viz_writes_png_grids(videos, tmp_path):
  paths = pairs_viz.write_pair_grids(videos, str(tmp_path), num=2, seed=0, config=_config())
  assert len(paths) == 2
  image = cv2.imread(paths[0])
  assert image.shape == (64 + 20, 4 * 48, 3) and image.std() > 0
