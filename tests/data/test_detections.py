import collections
import json
import shutil

import numpy as np
import pytest

from posewarper_jax.data import detections
from posewarper_jax.data import posetrack
from posewarper_jax.data import transforms
from tests.data import derived_sample
from tests.data import tiny_posetrack


@pytest.fixture(scope="module")
def sample(posetrack18_sample):
  videos = posetrack.read_posetrack18(posetrack18_sample / "annotations" / "val",
                                      posetrack18_sample)
  path = posetrack18_sample / "annotations" / "test_posetrack18_human_detections.json"
  return videos, path, json.loads(path.read_text())


def _count(videos):
  return sum(len(frame.persons) for video in videos for frame in video.frames)


def test_sample_counts(sample):
  videos, path, raw = sample
  everything = detections.read_detections(path, videos, min_score=0.0)
  assert _count(everything) == 278
  assert [len(v.frames[0].persons) for v in everything] == [100, 78, 100]
  kept = detections.read_detections(path, videos)
  expected = sum(1 for d in raw if d["score"] >= 0.2 and d["category_id"] == 1)
  assert _count(kept) == expected == 186
  assert all(p.score >= 0.2 for v in kept for p in v.frames[0].persons)


def test_detection_persons(sample):
  videos, path, raw = sample
  out = detections.read_detections(path, videos, min_score=0.0)
  assert [v.name for v in out] == [v.name for v in videos]
  assert [len(v.frames) for v in out] == [len(v.frames) for v in videos]
  by_image = {}
  for d in raw:
    by_image.setdefault(d["image_id"], []).append(d)
  for video in out:
    frame = video.frames[0]
    for person, d in zip(frame.persons, by_image[frame.image_id]):
      np.testing.assert_array_equal(person.keypoints, 0.0)
      assert person.score == d["score"] and person.head_box is None
      x, y, w, h = d["bbox"]
      x1, y1 = max(0.0, x), max(0.0, y)
      x2, y2 = min(1919.0, x1 + max(0.0, w - 1)), min(1079.0, y1 + max(0.0, h - 1))
      np.testing.assert_allclose(person.box, [x1, y1, x2 - x1, y2 - y1])
      center, scale = transforms.box_to_center_scale(person.box, 0.75)
      np.testing.assert_array_equal(person.center, center)
      np.testing.assert_array_equal(person.scale, scale)


def _write(tmp_path, records):
  path = tmp_path / "dets.json"
  path.write_text(json.dumps(records))
  return path


def _detection(**fields):
  return {"bbox": [10, 20, 30, 40], "score": 0.9, "category_id": 1, **fields}


def test_match_by_image_name_and_category(sample, tmp_path):
  videos, _, _ = sample
  path = _write(tmp_path, [
      _detection(image_name="images/val/009473_mpii_test/000000.jpg"),
      _detection(image_name="./009473_mpii_test/000000.jpg", score=0.5),
      _detection(image_name="009473_mpii_test/000000.jpg", category_id=2),
      _detection(image_id=videos[2].frames[0].image_id, bbox=[1, 1, 5, 5], score=0.3),
      _detection(image_id=videos[2].frames[0].image_id, bbox=[1, 1, 5, 5], score=0.1),
  ])
  out = detections.read_detections(path, videos)
  assert [len(v.frames[0].persons) for v in out] == [0, 2, 1]
  assert _count(out) == 3
  assert out[1].frames[0].persons[1].score == 0.5
  # Ground-truth persons are replaced, not extended.
  assert not out[0].frames[0].persons


def test_zero_area_box_is_a_counted_skip(sample, tmp_path):
  videos, _, _ = sample
  path = _write(tmp_path, [_detection(image_id=videos[1].frames[0].image_id, bbox=[5, 5, 0, 9])])
  skipped = collections.Counter()
  assert _count(detections.read_detections(path, videos, skipped=skipped)) == 0
  assert skipped == {posetrack.SKIP_EMPTY_BOX: 1}


def test_frame_listed_or_on_disk(posetrack18_sample, tmp_path):
  """Frame 9 is not listed (the sample files list frame 0 only); its image exists in the copy."""
  json_path, _ = derived_sample.copy_video(posetrack18_sample, tmp_path)
  shutil.copy(derived_sample.image_path(tmp_path), derived_sample.image_path(tmp_path, frame=9))
  videos = (posetrack.read_posetrack18_video(json_path, tmp_path),)
  image_id = videos[0].frames[9].image_id
  path = _write(tmp_path, [_detection(image_id=image_id)])
  # A PoseTrack18 file lists every frame: an unlisted one is an error, even with its image.
  with pytest.raises(ValueError) as error:
    detections.read_detections(path, videos, annotation_files=[json_path])
  assert str(error.value) == (f"{path}: [0].image_id {image_id} is frame 9 of video "
                              f"{derived_sample.VIDEO}, which {json_path} does not list")
  # Without the annotation files (or for a PoseTrack17 annolist) the image must exist.
  assert _count(detections.read_detections(path, videos)) == 1
  derived_sample.image_path(tmp_path, frame=9).unlink()
  with pytest.raises(ValueError) as error:
    detections.read_detections(path, videos)
  assert str(error.value) == (f"{path}: [0].image_id {image_id} is frame 9 of video "
                              f"{derived_sample.VIDEO}, whose image "
                              f"{derived_sample.image_path(tmp_path, frame=9)} does not exist")


def test_posetrack17_frames_must_exist(tmp_path):
  videos = tiny_posetrack.write(tmp_path, posetrack17=True)
  annotation_files = sorted((tmp_path / "annotations" / "train").glob("*.json"))
  missing = videos[0].frames[4]  # Listed, but its image is missing.
  path = _write(tmp_path, [_detection(image_id=videos[0].frames[1].image_id),
                           _detection(image_name="000001_tiny/00000005.jpg")])
  with pytest.raises(ValueError) as error:
    detections.read_detections(path, videos, annotation_files=annotation_files)
  assert str(error.value) == (f"{path}: [1].image_name '000001_tiny/00000005.jpg' is frame 5 of "
                              f"video 000001_tiny, whose image {missing.path} does not exist")


@pytest.mark.parametrize("record, message", [
    ({"image_id": 123, "bbox": [0, 0, 1, 1], "score": 1.0, "category_id": 1},
     r"dets\.json: \[0\]\.image_id 123 matches no frame"),
    ({"image_name": "images/val/other/000000.jpg", "bbox": [0, 0, 1, 1], "score": 1.0,
      "category_id": 1}, r"dets\.json: \[0\]\.image_name 'images/val/other/000000\.jpg' matches"),
    ({"image_id": 10034180000, "bbox": [0, 0, 1], "score": 1.0, "category_id": 1},
     r"dets\.json: \[0\]\.bbox has 3 values, expected 4"),
    ({"image_id": 10034180000, "bbox": [0, 0, 1, 1], "category_id": 1},
     r"dets\.json: \[0\] has no field 'score'"),
    ({"bbox": [0, 0, 1, 1], "score": 1.0, "category_id": 1},
     r"dets\.json: \[0\] \(no image_id\) has no field 'image_name'"),
    ({"image_id": 10034180000, "bbox": [0, 0, -5, 1], "score": 1.0, "category_id": 1},
     r"dets\.json: \[0\]\.bbox\[2\] \(width\) is negative: -5$"),
    ({"image_id": 10034180000, "bbox": [0, 0, 5, -1.5], "score": 0.0, "category_id": 1},
     r"dets\.json: \[0\]\.bbox\[3\] \(height\) is negative: -1\.5$"),
    ({"image_name": "../images/val/003418_mpii_test/000000.jpg", "bbox": [0, 0, 1, 1],
      "score": 1.0, "category_id": 1},
     r"dets\.json: \[0\]\.image_name '\.\./images/val/003418_mpii_test/000000\.jpg' leaves the "
     r"dataset root$"),
    ({"image_name": "/data/images/val/003418_mpii_test/000000.jpg", "bbox": [0, 0, 1, 1],
      "score": 1.0, "category_id": 1},
     r"dets\.json: \[0\]\.image_name '/data/images/val/003418_mpii_test/000000\.jpg' is an "
     r"absolute path"),
])
def test_bad_detections(sample, tmp_path, record, message):
  videos, _, _ = sample
  path = _write(tmp_path, [record])
  with pytest.raises(ValueError, match=message):
    detections.read_detections(path, videos)
