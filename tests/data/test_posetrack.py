import collections
import dataclasses
import json

import numpy as np
import pytest

from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from tests.data import derived_sample

SEQUENCES = ("003418_mpii_test", "009473_mpii_test", "012834_mpii_test")
NFRAMES = (149, 101, 140)
PERSONS = (1, 2, 11)
IGNORE_POLYGONS = (9, 2, 4)


@pytest.fixture(scope="module")
def sample_videos(posetrack18_sample):
  return posetrack.read_posetrack18(posetrack18_sample / "annotations" / "val",
                                    posetrack18_sample)


def _reference_clean(box, width, height):
  """SPEC 3.1 box cleaning, written out independently of transforms.clean_box."""
  x, y, w, h = box
  x1, y1 = max(0.0, x), max(0.0, y)
  x2, y2 = min(width - 1.0, x1 + max(0.0, w - 1.0)), min(height - 1.0, y1 + max(0.0, h - 1.0))
  return [x1, y1, x2 - x1, y2 - y1]


def assert_videos_equal(a: records.Video, b: records.Video):
  assert a.name == b.name and len(a.frames) == len(b.frames)
  for fa, fb in zip(a.frames, b.frames):
    assert (fa.path, fa.frame_id, fa.image_id, fa.width, fa.height, fa.is_labeled) == (
        fb.path, fb.frame_id, fb.image_id, fb.width, fb.height, fb.is_labeled)
    assert len(fa.ignore_regions) == len(fb.ignore_regions)
    for ra, rb in zip(fa.ignore_regions, fb.ignore_regions):
      np.testing.assert_array_equal(ra, rb)
    assert len(fa.persons) == len(fb.persons)
    for pa, pb in zip(fa.persons, fb.persons):
      np.testing.assert_array_equal(pa.keypoints, pb.keypoints)
      assert pa.keypoints.dtype == pb.keypoints.dtype == np.float32
      for name in ("box", "center", "scale"):
        np.testing.assert_allclose(getattr(pa, name), getattr(pb, name), rtol=0, atol=1e-9)
      assert (pa.head_box is None) == (pb.head_box is None)
      if pa.head_box is not None:
        np.testing.assert_array_equal(pa.head_box, pb.head_box)
      assert (pa.track_id, pa.score) == (pb.track_id, pb.score)
      assert (pa.joint_scores is None) == (pb.joint_scores is None)
      if pa.joint_scores is not None:
        np.testing.assert_array_equal(pa.joint_scores, pb.joint_scores)


def test_sample_dense_frames_persons_and_regions(sample_videos, posetrack18_sample):
  assert tuple(v.name for v in sample_videos) == SEQUENCES
  for video, nframes, persons, polygons in zip(sample_videos, NFRAMES, PERSONS, IGNORE_POLYGONS):
    assert len(video.frames) == nframes
    assert video.labeled_positions == (0,)
    assert [f.frame_id for f in video.frames] == list(range(nframes))
    assert all(not f.persons for f in video.frames[1:])
    assert len(video.frames[0].persons) == persons
    assert len(video.frames[0].ignore_regions) == polygons
    assert all(r.ndim == 2 and r.shape[1] == 2 and len(r) >= 3
               for r in video.frames[0].ignore_regions)
    expected = posetrack18_sample / "images" / "val" / video.name / "000007.jpg"
    assert video.frames[7].path == str(expected)
    assert video.frames[0].image_id == 10_000_000_000 + int(video.name[:6]) * 10_000
    assert video.frames[7].image_id == video.frames[0].image_id + 7
    assert (video.frames[5].width, video.frames[5].height) == (1920, 1080)
  assert sum(len(v.frames[0].persons) for v in sample_videos) == 14


def test_sample_persons_match_json(sample_videos, posetrack18_sample):
  for video in sample_videos:
    data = json.loads((posetrack18_sample / "annotations" / "val" /
                       f"{video.name}.json").read_text())
    annotations = data["annotations"]
    assert len(video.frames[0].persons) == len(annotations)
    for person, annotation in zip(video.frames[0].persons, annotations):
      raw = np.array(annotation["keypoints"], np.float32).reshape(17, 3)
      np.testing.assert_array_equal(person.keypoints, raw)
      np.testing.assert_allclose(person.box, _reference_clean(annotation["bbox"], 1920, 1080))
      np.testing.assert_array_equal(person.head_box, annotation["bbox_head"])
      assert person.track_id == annotation["track_id"]
      assert person.score == 1.0 and person.joint_scores is None


def test_sample_box_hand_checked(sample_videos):
  # 003418, bbox [214.25, 15, 1358.5, 1092] in a 1920x1080 image: y2 = min(1079, 15 + 1091).
  person = sample_videos[0].frames[0].persons[0]
  np.testing.assert_allclose(person.box, [214.25, 15.0, 1357.5, 1064.0])
  np.testing.assert_allclose(person.center, [893.0, 547.0])
  # w / h = 1.276 > 0.75, so h grows to 1357.5 / 0.75 = 1810; scale = size / 200 * 1.25.
  np.testing.assert_allclose(person.scale, [8.484375, 11.3125])
  np.testing.assert_array_equal(person.head_box, [346, 337, 296, 237])
  # The head box that starts above the image is kept as annotated.
  head_tops = [p.head_box[1] for v in sample_videos for p in v.frames[0].persons]
  assert min(head_tops) == -29


def test_coco_style_file_gives_same_persons(sample_videos, posetrack18_sample):
  merged = posetrack.read_coco_style(
      posetrack18_sample / "annotations" / "test_posetrack18_val.json", posetrack18_sample)
  assert sorted(v.name for v in merged) == list(SEQUENCES)
  by_name = {v.name: v for v in merged}
  for video in sample_videos:
    other = by_name[video.name]
    assert len(other.frames) == len(video.frames)
    assert len(other.frames[0].persons) == len(video.frames[0].persons)
    for a, b in zip(video.frames[0].persons, other.frames[0].persons):
      np.testing.assert_array_equal(a.keypoints, b.keypoints)
      np.testing.assert_array_equal(a.box, b.box)
      np.testing.assert_array_equal(a.head_box, b.head_box)
  assert sum(len(v.frames[0].persons) for v in merged) == 14


def test_check_images(posetrack18_sample, tmp_path):
  json_path = posetrack18_sample / "annotations" / "val" / f"{SEQUENCES[1]}.json"
  video = posetrack.read_posetrack18_video(json_path, posetrack18_sample, check_images=True)
  assert video.labeled_positions == (0,)
  with pytest.raises(ValueError, match=r"009473_mpii_test\.json.*000000\.jpg does not exist"):
    posetrack.read_posetrack18_video(json_path, tmp_path, check_images=True)


def test_posetrack18_round_trip(sample_videos, posetrack18_sample, tmp_path):
  video = sample_videos[2]
  first = video.frames[0]
  rng = np.random.default_rng(0)
  persons = list(first.persons)
  persons[0] = records.Person(
      keypoints=persons[0].keypoints, box=persons[0].box, center=persons[0].center,
      scale=persons[0].scale, head_box=None, track_id=7, score=0.8125,
      joint_scores=rng.uniform(size=17).astype(np.float32))
  frames = list(video.frames)
  frames[0] = dataclasses.replace(first, persons=tuple(persons))
  frames[3] = dataclasses.replace(frames[3], is_labeled=True, persons=(first.persons[1],))
  video = records.Video(video.name, tuple(frames))
  path = tmp_path / "out" / f"{video.name}.json"
  posetrack.write_posetrack18_video(video, path, image_root=posetrack18_sample)
  data = json.loads(path.read_text())
  assert len(data["images"]) == 140
  assert data["images"][0]["file_name"] == f"images/val/{video.name}/000000.jpg"
  assert len(data["annotations"][0]["scores"]) == 17 and data["annotations"][1]["scores"] == []
  assert_videos_equal(posetrack.read_posetrack18_video(path, posetrack18_sample), video)


POSETRACK17 = {
    "annolist": [
        {"image": [{"name": "images/bonn/000042_bonn/00000002.jpg"}], "imgnum": [2],
         "is_labeled": [1],
         "ignore_regions": [{"point": [{"x": [1.0], "y": [2.0]}, {"x": [30.0], "y": [2.0]},
                                       {"x": [15.0], "y": [40.0]}]}],
         "annorect": [
             {"x1": [100], "y1": [50], "x2": [140], "y2": [100], "track_id": [3],
              "annopoints": [{"point": [
                  {"id": [i], "x": [200.0 + 10 * i], "y": [300.0 + i], "is_visible": [i % 2]}
                  for i in range(15)]}]},
             {"x1": [5], "y1": [5], "x2": [9], "y2": [9], "track_id": [4], "annopoints": []},
         ]},
        {"image": [{"name": "images/bonn/000042_bonn/00000004.jpg"}], "imgnum": [4],
         "is_labeled": [0], "annorect": []},
    ]
}


def test_posetrack17_joint_mapping_and_boxes(tmp_path):
  path = tmp_path / "000042_bonn.json"
  path.write_text(json.dumps(POSETRACK17))
  skipped = collections.Counter()
  video = posetrack.read_posetrack17_annolist(path, "/data", num_frames=6,
                                              image_size=(640, 480), skipped=skipped)
  assert skipped == {posetrack.SKIP_NO_KEYPOINTS: 1}
  assert [f.frame_id for f in video.frames] == [1, 2, 3, 4, 5, 6]
  assert video.frames[0].path == "/data/images/bonn/000042_bonn/00000001.jpg"
  assert video.labeled_positions == (1,)
  person, = video.frames[1].persons
  # poseval ids: 0 r_ankle .. 5 l_ankle, 6 r_wrist .. 11 l_wrist, 12 neck, 13 nose, 14 head_top.
  by_name = dict(zip(
      ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
       "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
       "left_wrist", "head_bottom", "nose", "head_top"], range(15)))
  for name, pt17_id in by_name.items():
    np.testing.assert_array_equal(person.keypoints[keypoints_lib.JOINT_INDEX[name]],
                                  [200.0 + 10 * pt17_id, 300.0 + pt17_id, 1.0])
  np.testing.assert_array_equal(person.keypoints[[3, 4]], 0.0)
  np.testing.assert_array_equal(person.head_box, [100, 50, 40, 50])
  assert person.track_id == 3
  # Joints span x 200..340, y 300..314; the head rectangle 100..140, 50..100: margin 0.15.
  tight = np.array([100.0, 50.0, 240.0, 264.0])
  grown = [tight[0] - 36.0, tight[1] - 39.6, 240.0 * 1.3, 264.0 * 1.3]
  np.testing.assert_allclose(person.box, _reference_clean(grown, 640, 480))
  np.testing.assert_array_equal(video.frames[1].ignore_regions[0], [[1, 2], [30, 2], [15, 40]])
  assert video.frames[0].image_id == 42 * 10_000 + 1


def test_posetrack17_round_trip(tmp_path):
  path = tmp_path / "in.json"
  data = json.loads(json.dumps(POSETRACK17))
  for point in data["annolist"][0]["annorect"][0]["annopoints"][0]["point"]:
    point["score"] = [0.5 + 0.03 * point["id"][0]]
  data["annolist"][0]["annorect"][0]["score"] = [0.75]
  path.write_text(json.dumps(data))
  video = posetrack.read_posetrack17_annolist(path, "/data", image_size=(640, 480))
  assert len(video.frames) == 4
  np.testing.assert_allclose(video.frames[1].persons[0].joint_scores[[3, 4]], 0.0)
  out = tmp_path / "out.json"
  posetrack.write_posetrack17_annolist_video(video, out, image_root="/data")
  written = json.loads(out.read_text())
  assert written["annolist"][1]["image"][0]["name"] == "images/bonn/000042_bonn/00000002.jpg"
  assert len(written["annolist"][1]["annorect"][0]["annopoints"][0]["point"]) == 15
  again = posetrack.read_posetrack17_annolist(out, "/data", image_size=(640, 480))
  assert_videos_equal(again, video)


def _write(tmp_path, data, name="bad.json"):
  path = tmp_path / name
  path.write_text(data if isinstance(data, str) else json.dumps(data))
  return path


def _one_image(nframes=3, **extra):
  image = {"file_name": "images/val/000001_x/000000.jpg", "id": 11, "nframes": nframes,
           "is_labeled": True, "width": 100, "height": 80}
  image.update(extra)
  return image


def _annotation(**extra):
  annotation = {"image_id": 11, "keypoints": [10.0, 20.0, 1.0] * 17, "bbox": [5, 5, 30, 40],
                "bbox_head": [8, 8, 10, 10], "track_id": 0}
  annotation.update(extra)
  return annotation


@pytest.mark.parametrize("content, message", [
    ("{not json", r"bad\.json: malformed JSON"),
    ({"images": [_one_image()]}, r"bad\.json: the top level has no field 'annotations'"),
    ({"images": [_one_image()], "annotations": [_annotation(keypoints=[1.0] * 48)]},
     r"bad\.json: annotations\[0\]\.keypoints has 48 values, expected 51"),
    ({"images": [_one_image()], "annotations": [_annotation(keypoints=[1.0] * 50 + ["a"])]},
     r"bad\.json: annotations\[0\]\.keypoints\[50\] is not a finite number: 'a'"),
    ({"images": [_one_image()], "annotations": [_annotation(bbox=[1, 2, None, 4])]},
     r"bad\.json: annotations\[0\]\.bbox\[2\] is not a finite number: None"),
    ({"images": [_one_image()], "annotations": [_annotation(image_id=12)]},
     r"bad\.json: annotations\[0\]\.image_id 12 matches no image"),
    ({"images": [_one_image()], "annotations": [{"image_id": 11, "bbox": [0, 0, 1, 1]}]},
     r"bad\.json: annotations\[0\] has no field 'keypoints'"),
    ({"images": [_one_image(nframes="3")], "annotations": []},
     r"bad\.json: images\[0\]\.nframes is not a finite number: '3'"),
    ({"images": [_one_image(file_name="images/val/x/frame.jpg")], "annotations": []},
     r"bad\.json: images\[0\]\.file_name 'images/val/x/frame\.jpg' is not named by a frame"),
    ({"images": [_one_image(nframes=1, file_name="images/val/000001_x/000004.jpg")],
      "annotations": []}, r"bad\.json: frame 000004\.jpg of 000001_x lies outside frames 0\.\.0"),
    ({"images": [_one_image(ignore_regions_x=[[1, 2, 3]], ignore_regions_y=[[1, 2]])],
      "annotations": []},
     r"bad\.json: images\[0\]\.ignore_regions_y\[0\] has 2 values, expected 3"),
])
def test_bad_posetrack18_input(tmp_path, content, message):
  with pytest.raises(ValueError, match=message):
    posetrack.read_posetrack18_video(_write(tmp_path, content), tmp_path)


def test_documented_skips(tmp_path):
  annotations = [_annotation(), _annotation(keypoints=[0.0] * 51),
                 _annotation(bbox=[5, 5, 0, 40]), _annotation(bbox=[200, 5, 30, 40]),
                 _annotation(keypoints=[10.0, 20.0, 2.0] * 17)]
  image = _one_image(ignore_regions_x=[[], [1, 9, 5]], ignore_regions_y=[[], [1, 1, 7]])
  path = _write(tmp_path, {"images": [image], "annotations": annotations})
  skipped = collections.Counter()
  video = posetrack.read_posetrack18_video(path, tmp_path, skipped=skipped)
  assert skipped == {posetrack.SKIP_NO_KEYPOINTS: 1, posetrack.SKIP_EMPTY_BOX: 2}
  kept = video.frames[0].persons
  assert len(kept) == 2
  np.testing.assert_array_equal(kept[1].keypoints[:, 2], 1.0)  # Visibility 2 clipped to 1.
  regions = video.frames[0].ignore_regions  # The empty polygon is dropped.
  assert len(regions) == 1
  np.testing.assert_array_equal(regions[0], [[1, 1], [9, 1], [5, 7]])


def test_one_frame_video(tmp_path):
  path = _write(tmp_path, {"images": [_one_image(nframes=1)], "annotations": [_annotation()]})
  video = posetrack.read_posetrack18_video(path, tmp_path)
  assert len(video.frames) == 1 and len(video.frames[0].persons) == 1
  with pytest.raises(ValueError, match=r"bad\.json: video 000001_x has 1 frame\(s\), this reader "
                     r"requires at least 2"):
    posetrack.read_posetrack18_video(path, tmp_path, min_frames=2)


def test_image_size_read_from_image_when_absent(posetrack18_sample, tmp_path):
  data = json.loads((posetrack18_sample / "annotations" / "val" /
                     f"{SEQUENCES[1]}.json").read_text())
  for image in data["images"]:
    del image["width"], image["height"]
  path = _write(tmp_path, data, "no_size.json")
  video = posetrack.read_posetrack18_video(path, posetrack18_sample)
  assert (video.frames[3].width, video.frames[3].height) == (1920, 1080)
  empty_root = tmp_path / "empty"
  empty_root.mkdir()
  with pytest.raises(FileNotFoundError, match=r"no_size\.json: no width and height given, and "
                     r"image .*000000\.jpg \(read for them\) does not exist"):
    posetrack.read_posetrack18_video(path, empty_root)


def test_image_read_for_its_size_must_be_a_jpeg(posetrack18_sample, tmp_path):
  json_path, data = derived_sample.copy_video(posetrack18_sample, tmp_path)
  for image in data["images"]:
    del image["width"], image["height"]
  derived_sample.write_json(json_path, data)
  image = derived_sample.image_path(tmp_path)
  image.write_bytes(derived_sample.HTML)
  with pytest.raises(ValueError) as error:
    posetrack.read_posetrack18_video(json_path, tmp_path)
  assert str(error.value) == (f"{json_path}: no width and height given, and image {image} (read "
                              "for them): not a JPEG image: it starts with b'<!DOCTYPE html><'")


@pytest.mark.parametrize("name, message", [
    (f"../sibling/images/val/{derived_sample.VIDEO}/000000.jpg", "leaves the dataset root"),
    ("../../../etc/passwd", "leaves the dataset root"),
    ("/etc/passwd", "is an absolute path"),
])
def test_file_name_outside_the_root(posetrack18_sample, tmp_path, name, message):
  derived_sample.copy_video(posetrack18_sample, tmp_path / "sibling")  # Readable if reached.
  json_path, data = derived_sample.copy_video(posetrack18_sample, tmp_path / "root")
  data["images"][0]["file_name"] = name
  derived_sample.write_json(json_path, data)
  with pytest.raises(ValueError, match=message) as error:
    posetrack.read_posetrack18_video(json_path, tmp_path / "root")
  assert str(error.value).startswith(f"{json_path}: images[0].file_name '{name}' ")


def test_image_folder_linked_out_of_the_root(posetrack18_sample, tmp_path):
  json_path, _ = derived_sample.copy_video(posetrack18_sample, tmp_path)
  folder = tmp_path / "images" / "val" / derived_sample.VIDEO
  target = posetrack18_sample.resolve() / "images" / "val" / derived_sample.VIDEO
  for image in folder.iterdir():
    image.unlink()
  folder.rmdir()
  folder.symlink_to(target)
  with pytest.raises(ValueError) as error:
    posetrack.read_posetrack18_video(json_path, tmp_path)
  assert str(error.value).startswith(
      f"{json_path}: images[0].file_name 'images/val/{derived_sample.VIDEO}/000000.jpg' "
      f"resolves to {target / '000000.jpg'} through a symlink, outside the dataset root")


def test_posetrack17_name_outside_the_root(tmp_path):
  data = json.loads(json.dumps(POSETRACK17))
  data["annolist"][1]["image"][0]["name"] = "../images/bonn/000042_bonn/00000004.jpg"
  path = _write(tmp_path, data)
  with pytest.raises(ValueError, match=r"bad\.json: annolist\[1\]\.image\.name "
                     r"'\.\./images/bonn/000042_bonn/00000004\.jpg' leaves the dataset root"):
    posetrack.read_posetrack17_annolist(path, tmp_path, image_size=(640, 480))


@pytest.mark.parametrize("index, name", [(2, "width"), (3, "height")])
def test_negative_box_size(posetrack18_sample, tmp_path, index, name):
  json_path, data = derived_sample.copy_video(posetrack18_sample, tmp_path)
  data["annotations"][1]["bbox"][index] = -30
  derived_sample.write_json(json_path, data)
  with pytest.raises(ValueError) as error:
    posetrack.read_posetrack18_video(json_path, tmp_path)
  assert str(error.value) == (f"{json_path}: annotations[1].bbox[{index}] ({name}) is "
                              "negative: -30")


def test_missing_dataset_folders(posetrack18_sample, tmp_path):
  with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'none'}: dataset root does not exist"):
    posetrack.split_annotation_files(tmp_path / "none", "val")
  with pytest.raises(FileNotFoundError, match=f"{posetrack18_sample / 'annotations' / 'train'}: "
                     "annotation folder of train does not exist"):
    posetrack.split_annotation_files(posetrack18_sample, "train")


def test_bad_posetrack17_input(tmp_path):
  data = json.loads(json.dumps(POSETRACK17))
  data["annolist"][0]["annorect"][0]["annopoints"][0]["point"][2]["id"] = [17]
  with pytest.raises(ValueError, match=r"bad\.json: annolist\[0\]\.annorect\[0\]\.annopoints"
                     r"\.point\[2\]\.id is 17, expected 0\.\.14"):
    posetrack.read_posetrack17_annolist(_write(tmp_path, data), "/d", image_size=(640, 480))
  with pytest.raises(ValueError, match=r"bad\.json: the top level has no field 'annolist'"):
    posetrack.read_posetrack17_annolist(_write(tmp_path, {"images": []}), "/d",
                                        image_size=(640, 480))
