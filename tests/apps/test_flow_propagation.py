"""Farneback propagation on a textured image translating by a fixed sub-pixel step per frame."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from posewarper_jax.apps import flow_propagation
from posewarper_jax.apps import propagation
from posewarper_jax.data import keypoints
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from tests.conftest import REPO_ROOT

WIDTH, HEIGHT, NUM_FRAMES, LABELED = 160, 120, 7, 3
STEP = np.array([1.5, -0.75])  # Image motion (dx, dy) per frame.
TOLERANCE = 0.5  # Pixels.
LEFT_SHOULDER = keypoints.JOINT_INDEX["left_shoulder"]
NECK = keypoints.JOINT_INDEX["head_bottom"]


def _texture(seed: int) -> np.ndarray:
  noise = np.random.default_rng(seed).uniform(0, 255, (HEIGHT, WIDTH)).astype(np.float32)
  texture = cv2.GaussianBlur(noise, (0, 0), 2.0)
  return cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)


def _person(rng: np.random.Generator, hidden: tuple[int, ...]) -> records.Person:
  joints = np.zeros((keypoints.NUM_JOINTS, 3))
  joints[:, :2] = rng.uniform([30, 30], [WIDTH - 30, HEIGHT - 30], (keypoints.NUM_JOINTS, 2))
  joints[:, 2] = 1.0
  joints[list(hidden)] = 0.0
  box = posetrack.box_around_joints(joints[joints[:, 2] > 0, :2])
  return posetrack.person_from_box(joints, box, WIDTH, HEIGHT, track_id=len(hidden))


@pytest.fixture(scope="module")
def translating_video(tmp_path_factory) -> records.Video:
  """Frame t is the texture moved by (t - LABELED) * STEP; frame LABELED holds two persons,
  the second without its left shoulder."""
  folder = tmp_path_factory.mktemp("translating")
  texture = _texture(0)
  rng = np.random.default_rng(1)
  persons = (_person(rng, ()), _person(rng, (LEFT_SHOULDER,)))
  frames = []
  for t in range(NUM_FRAMES):
    shift = (t - LABELED) * STEP
    matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
    image = cv2.warpAffine(texture, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT)
    path = folder / f"{t:06d}.jpg"
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8),
                [cv2.IMWRITE_JPEG_QUALITY, 95])
    frames.append(records.Frame(path=str(path), frame_id=t, image_id=t, width=WIDTH,
                                height=HEIGHT, is_labeled=True,
                                persons=persons if t == LABELED else ()))
  return records.Video("000001_translating", tuple(frames))


def test_carried_joints_follow_the_translation(translating_video):
  (result,) = flow_propagation.propagate([translating_video], [(LABELED,)], neck="head_bottom")
  truth = translating_video.frames[LABELED].persons
  for t, frame in enumerate(result.frames):
    assert frame.is_labeled and len(frame.persons) == len(truth)
    for carried, person in zip(frame.persons, truth):
      visible = person.keypoints[:, 2] > 0
      expected = person.keypoints[visible, :2] + (t - LABELED) * STEP
      np.testing.assert_allclose(carried.keypoints[visible, :2], expected, atol=TOLERANCE)
      np.testing.assert_array_equal(carried.keypoints[visible, 2], 1.0)
      np.testing.assert_array_equal(carried.joint_scores, visible.astype(np.float32))
      np.testing.assert_array_equal(carried.keypoints[~visible], 0.0)
      np.testing.assert_array_equal(carried.box, person.box)
      assert carried.track_id == person.track_id and carried.score == 1.0


def test_shoulder_midpoint_neck_needs_both_shoulders(translating_video):
  (result,) = flow_propagation.propagate([translating_video], [(LABELED,)])
  both, one = result.frames[LABELED].persons
  shoulders = [LEFT_SHOULDER, keypoints.JOINT_INDEX["right_shoulder"]]
  np.testing.assert_allclose(both.keypoints[NECK, :2], both.keypoints[shoulders, :2].mean(0))
  assert both.joint_scores[NECK] == 1.0
  np.testing.assert_array_equal(one.keypoints[NECK], 0.0)
  assert one.joint_scores[NECK] == 0.0


def test_labeled_frames_keep_their_ground_truth(translating_video):
  video = translating_video
  (result,) = flow_propagation.propagate([video], [(LABELED,)], neck="head_bottom")
  for carried, person in zip(result.frames[LABELED].persons, video.frames[LABELED].persons):
    np.testing.assert_array_equal(carried.keypoints, person.keypoints)


def test_command_line_scores_the_synthetic_videos(dataset_root, tmp_path):
  out = tmp_path / "flow"
  completed = subprocess.run(
      [sys.executable, "-m", "posewarper_jax.apps.flow_propagation",
       "--config", str(REPO_ROOT / "configs" / "synthetic.py"),
       f"--config.data.root={dataset_root}", "--config.data.split=val", f"--out={out}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert completed.returncode == 0, completed.stderr
  assert "PoseTrack mAP" in completed.stdout
  assert sorted(p.name for p in (out / "predictions").iterdir()) == sorted(
      p.name for p in (out / "ground_truth").iterdir())


def test_uncovered_frames_raise(translating_video):
  with pytest.raises(ValueError, match="more than 3 frames"):
    flow_propagation.propagate([translating_video], [(0,)])
  assert propagation.labeled_positions([translating_video]) == ((LABELED,),)
