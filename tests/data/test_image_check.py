import collections
import dataclasses

import cv2
import numpy as np
import pytest

from posewarper_jax.data import image_check
from posewarper_jax.data import posetrack
from tests.data import derived_sample


@pytest.fixture
def copy(posetrack18_sample, tmp_path):
  """A copy of one sample video: (annotation file, video read from it)."""
  json_path, _ = derived_sample.copy_video(posetrack18_sample, tmp_path)
  return json_path, posetrack.read_posetrack18_video(json_path, tmp_path)


def test_jpeg_size_of_sample_and_encoded_images(posetrack18_sample):
  image = posetrack18_sample / "images" / "val" / derived_sample.VIDEO / "000000.jpg"
  assert image_check.jpeg_size(image.read_bytes()) == (1920, 1080)
  grey = cv2.imencode(".jpg", np.zeros((5, 7), np.uint8))[1].tobytes()
  assert image_check.jpeg_size(grey) == (7, 5)
  # PoseTrack18's frames are progressive JPEGs.
  assert image_check.jpeg_header(image.read_bytes()) == (1920, 1080, True)


def test_jpeg_header_tells_progressive_from_baseline():
  pixels = np.random.default_rng(0).integers(0, 256, (9, 11, 3), np.uint8)
  for progressive in (0, 1):
    data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_PROGRESSIVE, progressive])[1].tobytes()
    assert image_check.jpeg_header(data) == (11, 9, bool(progressive))


@pytest.mark.parametrize("defect, message", [
    ("truncated", r"truncated JPEG: \d+ bytes, no end-of-image marker"),
    ("html", r"not a JPEG image: it starts with b'<!DOCTYPE html>"),
    ("header_only", r"truncated JPEG: 100 bytes end inside the header"),
])
def test_corrupt_image_names_image_frame_and_annotation_file(copy, defect, message):
  json_path, video = copy
  path = video.frames[0].path
  data = open(path, "rb").read()
  corrupt = {"truncated": data[:len(data) // 2], "html": derived_sample.HTML,
             "header_only": data[:100]}[defect]
  with open(path, "wb") as f:
    f.write(corrupt)
  check = image_check.ImageCheck([video], [json_path])
  with pytest.raises(ValueError, match=message) as error:
    check(path)
  assert str(error.value).startswith(
      f"{json_path}: video {derived_sample.VIDEO}, frame 0: image {path}: ")


def test_skip_corrupt_counts_and_reads_as_missing(copy):
  json_path, video = copy
  derived_sample.truncate(derived_sample.image_path(json_path.parents[2]))
  skipped = collections.Counter()
  check = image_check.ImageCheck([video], [json_path], skip_corrupt=True, skipped=skipped)
  assert not check(video.frames[0].path) and not check(video.frames[0].path)
  assert skipped == {image_check.SKIP_CORRUPT_IMAGE: 1}  # Each image is checked once.


def test_declared_size_must_match(copy):
  json_path, video = copy
  declared = dataclasses.replace(video.frames[0], width=1280, height=720)
  video = dataclasses.replace(video, frames=(declared,) + video.frames[1:])
  check = image_check.ImageCheck([video], [json_path], skip_corrupt=True)
  with pytest.raises(ValueError, match=r"is 1920x1080 pixels, but width x height are declared "
                     r"as 1280x720") as error:
    check(declared.path)
  assert str(error.value).startswith(f"{json_path}: video {video.name}, frame 0: image "
                                     f"{declared.path} ")


def test_missing_images(copy):
  json_path, video = copy
  check = image_check.ImageCheck([video], [json_path])
  assert check(video.frames[0].path) and check.require(video.frames[0].path)
  assert not check(video.frames[1].path) and not check("")
  with pytest.raises(FileNotFoundError, match=f"{json_path}: video {video.name}, frame 1: "
                     f"image {video.frames[1].path} does not exist"):
    check.require(video.frames[1].path)
