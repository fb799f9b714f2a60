import collections
import json
import shutil

import cv2
import numpy as np
import pytest

from configs import common
from posewarper_jax.data import detections
from posewarper_jax.data import eval_inputs
from posewarper_jax.data import image_check
from posewarper_jax.data import neighbours
from posewarper_jax.data import posetrack
from posewarper_jax.data import transforms
from tests.data import derived_sample
from tests.data import tiny_posetrack

IMAGE_SIZE = (48, 64)


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory):
  return tiny_posetrack.write(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def sample_videos(posetrack18_sample):
  return posetrack.read_posetrack18(posetrack18_sample / "annotations" / "val",
                                    posetrack18_sample)


def _config(image_size=IMAGE_SIZE, decode_ratio="auto", warp_backend="tf"):
  config = common.input_config()
  config.image_size = image_size
  config.decode_ratio = decode_ratio
  config.warp_backend = warp_backend
  return config


def _all(dataset):
  batches = [{k: v.numpy() for k, v in b.items()} for b in dataset]
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def _grey_level(frames):
  """Mean pixel value of uint8 crops (..., H, W, 3) -> (...)."""
  return frames.mean(axis=(-3, -2, -1))


@pytest.mark.parametrize("backend", ["tf", "cv2"])
def test_five_frames_per_box_with_clipping_and_fallback(tiny_videos, backend):
  boxes = _all(eval_inputs.make_eval_dataset(tiny_videos, _config(warp_backend=backend),
                                             batch_size=3))
  assert boxes["frames"].shape == (4, 5, 64, 48, 3) and boxes["frames"].dtype == np.uint8
  np.testing.assert_array_equal(boxes["video_index"], [0, 0, 0, 1])
  np.testing.assert_array_equal(boxes["frame_position"], [0, 0, 2, 1])
  np.testing.assert_array_equal(boxes["person_index"], [0, 1, 0, 0])
  # Order t, t-1, t-2, t+1, t+2; clipped at the start; frame 4 of video 0 is missing.
  np.testing.assert_array_equal(boxes["frame_offsets"], [
      [0, 0, 0, 1, 2], [0, 0, 0, 1, 2], [0, -1, -2, 1, 0], [0, -1, -1, 1, 1]])
  want = tiny_posetrack.frame_level(boxes["frame_position"][:, None] + boxes["frame_offsets"])
  np.testing.assert_allclose(_grey_level(boxes["frames"]), want, atol=1.5)
  person = tiny_videos[0].frames[0].persons[1]
  np.testing.assert_allclose(boxes["center"][1], person.center, rtol=1e-6)
  np.testing.assert_allclose(boxes["scale"][1], person.scale, rtol=1e-6)
  np.testing.assert_array_equal(boxes["score"], 1.0)


def test_single_frame_and_sharding(tiny_videos):
  seen = []
  for process_index in range(2):
    boxes = _all(eval_inputs.make_eval_dataset(tiny_videos, _config(), batch_size=8,
                                               single_frame=True, process_index=process_index,
                                               process_count=2))
    assert boxes["frames"].shape[1:] == (1, 64, 48, 3)
    seen.extend(zip(boxes["video_index"], boxes["frame_position"], boxes["person_index"]))
  assert sorted(seen) == [(0, 0, 0), (0, 0, 1), (0, 2, 0), (1, 1, 0)]


@pytest.mark.parametrize("decode_ratio, backend, tolerance", [
    ("full", "tf", 1.0 / 255), ("auto", "tf", 0.1), ("full", "cv2", 1.0 / 255)])
def test_crops_match_cv2_on_real_frames(sample_videos, decode_ratio, backend, tolerance):
  config = _config((288, 384), decode_ratio, backend)
  boxes = _all(eval_inputs.make_eval_dataset(sample_videos[:2], config, batch_size=4,
                                             single_frame=True))
  assert len(boxes["frames"]) == 3  # 1 + 2 ground-truth persons.
  for i in range(3):
    frame = sample_videos[boxes["video_index"][i]].frames[boxes["frame_position"][i]]
    person = frame.persons[boxes["person_index"][i]]
    image = cv2.cvtColor(cv2.imread(frame.path), cv2.COLOR_BGR2RGB)
    matrix = transforms.affine_matrix(person.center, person.scale, 0.0, (288, 384))
    want = cv2.warpAffine(image, matrix, (288, 384), flags=cv2.INTER_LINEAR)
    error = np.abs(boxes["frames"][i, 0].astype(np.float64) - want)[4:-4, 4:-4].mean()
    # In grey levels; cv2.imread and tf.io.decode_jpeg are different JPEG decoders (about half
    # a grey level apart).
    assert error < 255 * tolerance, (i, error)


def test_detection_boxes(posetrack18_sample, sample_videos):
  with_detections = detections.read_detections(
      posetrack18_sample / "annotations" / "test_posetrack18_human_detections.json",
      sample_videos)
  scores = [p.score for v in with_detections for f in v.frames for p in f.persons]
  boxes = _all(eval_inputs.make_eval_dataset(with_detections, _config(), batch_size=64,
                                             single_frame=True))
  assert len(boxes["score"]) == len(scores) > 10
  np.testing.assert_allclose(boxes["score"], scores, rtol=1e-6)
  assert boxes["score"].min() >= 0.2
  assert boxes["frames"].dtype == np.uint8 and boxes["frames"].shape[1:] == (1, 64, 48, 3)


@pytest.fixture
def two_videos(posetrack18_sample, tmp_path):
  """Copies of two sample videos; the first has its frame 0 image also as frame 1."""
  files = [derived_sample.copy_video(posetrack18_sample, tmp_path, name)[0]
           for name in (derived_sample.VIDEO, "003418_mpii_test")]
  shutil.copy(derived_sample.image_path(tmp_path), derived_sample.image_path(tmp_path, frame=1))
  return tmp_path, files


def _read(root, files):
  return tuple(posetrack.read_posetrack18_video(path, root) for path in files)


@pytest.mark.parametrize("frame", [0, 1])  # Frame t of two boxes, or their neighbour t + 1.
def test_corrupt_image_is_named_or_skipped(two_videos, frame):
  root, files = two_videos
  image = derived_sample.image_path(root, frame=frame)
  image.write_bytes(derived_sample.HTML)
  videos = _read(root, files)
  with pytest.raises(ValueError) as error:
    eval_inputs.make_eval_dataset(videos, _config(), batch_size=4, annotation_files=files)
  assert str(error.value).startswith(f"{files[0]}: video {derived_sample.VIDEO}, frame {frame}: "
                                     f"image {image}: not a JPEG image")
  skipped = collections.Counter()
  images = image_check.ImageCheck(videos, files, skip_corrupt=True, skipped=skipped)
  entries = eval_inputs.build_frame_entries(videos, neighbours.AGGREGATION_OFFSETS, images)
  assert skipped == {image_check.SKIP_CORRUPT_IMAGE: 1}
  if frame == 0:  # The frame and its boxes are skipped.
    np.testing.assert_array_equal(entries["video_index"], [1])
  else:  # Read as missing: t + 1 falls back to t.
    np.testing.assert_array_equal(entries["video_index"], [0, 1])
    np.testing.assert_array_equal(entries["frame_offsets"][0], [0, 0, 0, 0, 0])


def test_declared_size_differs_from_the_image(two_videos):
  root, files = two_videos
  data = json.loads(files[0].read_text())
  data["images"][0].update(width=1280, height=720)
  derived_sample.write_json(files[0], data)
  with pytest.raises(ValueError) as error:
    eval_inputs.make_eval_dataset(_read(root, files), _config(), batch_size=4,
                                  annotation_files=files)
  assert str(error.value) == (
      f"{files[0]}: video {derived_sample.VIDEO}, frame 0: image "
      f"{derived_sample.image_path(root)} is 1920x1080 pixels, but width x height are declared "
      "as 1280x720")


def test_missing_image_of_a_frame_with_boxes(two_videos):
  root, files = two_videos
  derived_sample.image_path(root).unlink()
  with pytest.raises(FileNotFoundError, match=f"{files[0]}: video {derived_sample.VIDEO}, "
                     f"frame 0: image {derived_sample.image_path(root)} does not exist"):
    eval_inputs.make_eval_dataset(_read(root, files), _config(), batch_size=4,
                                  annotation_files=files)
