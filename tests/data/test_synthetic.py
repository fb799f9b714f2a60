import hashlib
import json

import cv2
import numpy as np
import pytest

from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import posetrack
from posewarper_jax.data import synthetic

NUM_VIDEOS, NUM_FRAMES, SIZE = 3, 6, (160, 120)
_J = keypoints_lib.JOINT_INDEX


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  root = tmp_path_factory.mktemp("synthetic")
  paths = synthetic.generate(root, NUM_VIDEOS, NUM_FRAMES, SIZE, seed=0, split="val")
  return root, paths


def _sha(path):
  return hashlib.sha256(path.read_bytes()).hexdigest()


def test_layout_and_read_back(dataset):
  root, paths = dataset
  assert [p.split("/")[-1] for p in paths] == [
      f"{100_001 + i:06d}_synthetic_val.json" for i in range(NUM_VIDEOS)]
  videos = posetrack.read_posetrack18(root / "annotations" / "val", root, check_images=True)
  assert len(videos) == NUM_VIDEOS
  for index, video in enumerate(videos):
    assert len(video.frames) == NUM_FRAMES
    assert video.labeled_positions == tuple(range(NUM_FRAMES))
    scene = synthetic.video_scene(0, "val", index, NUM_FRAMES, SIZE)
    for t, frame in enumerate(video.frames):
      assert frame.path == str(root / "images" / "val" / video.name / f"{t:06d}.jpg")
      assert cv2.imread(frame.path).shape == (SIZE[1], SIZE[0], 3)
      _, expected, regions = synthetic.render_frame(scene, t)
      assert 1 <= len(frame.persons) <= len(scene.actors) <= 4
      assert [p.track_id for p in frame.persons] == [p.track_id for p in expected]
      for person, drawn in zip(frame.persons, expected):
        np.testing.assert_array_equal(person.keypoints, drawn.keypoints)
        np.testing.assert_allclose(person.box, drawn.box, atol=1e-9)
        np.testing.assert_array_equal(person.head_box, drawn.head_box)
      assert len(frame.ignore_regions) == len(regions)


def test_annotation_conventions(dataset):
  root, _ = dataset
  for video in posetrack.read_posetrack18(root / "annotations" / "val", root):
    for frame in video.frames:
      for person in frame.persons:
        keypoints = person.keypoints
        np.testing.assert_array_equal(keypoints[[_J["left_ear"], _J["right_ear"]]], 0.0)
        labeled = keypoints[:, 2] > 0
        assert np.all(np.isin(keypoints[:, 2], [0.0, 1.0]))
        np.testing.assert_array_equal(keypoints[~labeled], 0.0)
        xy = keypoints[labeled, :2]
        assert np.all((xy >= 0) & (xy <= [SIZE[0] - 1, SIZE[1] - 1]))
        # The box holds every annotated joint (box cleaning takes up to 1 px off the far side).
        low, size = person.box[:2], person.box[2:]
        assert np.all((xy >= low - 1e-6) & (xy <= low + size + 1.0 + 1e-6))


def test_deterministic(dataset, tmp_path):
  root, paths = dataset
  again = synthetic.generate(tmp_path, 2, NUM_FRAMES, SIZE, seed=0, split="val")
  name = paths[1].split("/")[-1]
  assert _sha(root / "annotations" / "val" / name) == _sha(tmp_path / "annotations" / "val" /
                                                          name)
  image = f"images/val/{name[:-5]}/000004.jpg"
  np.testing.assert_array_equal(cv2.imread(str(root / image)), cv2.imread(str(tmp_path / image)))
  other = synthetic.generate(tmp_path / "other", 1, 2, SIZE, seed=1, split="val")
  first = json.loads(open(again[0]).read())["annotations"][0]["keypoints"]
  assert first != json.loads(open(other[0]).read())["annotations"][0]["keypoints"]


@pytest.fixture(scope="module")
def scenes():
  return [synthetic.video_scene(0, "train", i, 8, SIZE) for i in range(16)]


def test_joints_lie_on_drawn_people(scenes):
  """The pixel between head top and head bottom differs from the background plate."""
  differs, total = 0, 0
  for scene in scenes:
    for t in (0, 4, 7):
      image, persons, _ = synthetic.render_frame(scene, t)
      plate, plate_persons, _ = synthetic.render_frame(scene, t, people=False)
      assert len(plate_persons) == len(persons)
      for person in persons:
        head = person.keypoints[[_J["head_top"], _J["head_bottom"]]]
        if head[:, 2].all():
          x, y = np.round(head[:, :2].mean(axis=0)).astype(int)
          differs += np.abs(image[y, x].astype(int) - plate[y, x]).max() > 25
          total += 1
  # Occluders in front of a head are drawn on the plate too; they hide a few heads.
  assert total > 50 and differs >= 0.85 * total, (differs, total)


def test_hard_cases_occur(scenes):
  assert any(s.motion_blur.any() for s in scenes)
  assert any(s.defocus.any() for s in scenes)
  assert any(s.occluders for s in scenes)
  assert any(s.ignore_polygon is not None for s in scenes)
  left = [p for s in scenes for t in range(0, 8, 7) for p in synthetic.render_frame(s, t)[1]
          if 2 < (p.keypoints[:, 2] == 0).sum() < 17]
  assert left  # Some people are partly outside the image.
  scene = next(s for s in scenes if s.ignore_polygon is not None)
  regions = synthetic.render_frame(scene, 0)[2]
  assert regions and regions[0].shape[1] == 2 and len(regions[0]) >= 5


def test_line_kernel():
  kernel = synthetic._line_kernel(7, 0.0)  # pylint: disable=protected-access
  np.testing.assert_allclose(kernel.sum(), 1.0, rtol=1e-6)
  np.testing.assert_allclose(kernel[3], 1.0 / 7, rtol=1e-5)
  np.testing.assert_array_equal(np.delete(kernel, 3, axis=0), 0.0)


def test_command_line(tmp_path):
  synthetic.main(["--out", str(tmp_path), "--num-videos", "1", "--frames", "2", "--width", "64",
                  "--height", "48", "--splits", "train"])
  video, = posetrack.read_posetrack18(tmp_path / "annotations" / "train", tmp_path)
  assert len(video.frames) == 2 and video.frames[0].width == 64


def test_speed_scales_every_motion_and_keeps_the_scene():
  """speed=2 draws the same scene, and its frame t is frame 2t at speed 1 (in view coordinates:
  the wider background of a faster pan starts elsewhere)."""
  slow = synthetic.video_scene(0, "train", 3, 8, SIZE)
  fast = synthetic.video_scene(0, "train", 3, 8, SIZE, speed=2.0)
  assert [a.track_id for a in fast.actors] == [a.track_id for a in slow.actors]
  for t in range(4):
    np.testing.assert_allclose(fast.camera_x[t] - fast.camera_x[0],
                               slow.camera_x[2 * t] - slow.camera_x[0], atol=1e-9)
    for fast_actor, slow_actor in zip(fast.actors, slow.actors):
      fast_pose = synthetic._pose(fast_actor, t)  # pylint: disable=protected-access
      slow_pose = synthetic._pose(slow_actor, 2 * t)  # pylint: disable=protected-access
      np.testing.assert_allclose(fast_pose.joints - [fast.camera_x[0], 0],
                                 slow_pose.joints - [slow.camera_x[0], 0], atol=1e-9)

