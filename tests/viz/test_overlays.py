"""Pose overlays: what draw_pose touches, and PNGs of prediction files (function and CLI)."""

import dataclasses
import os

import cv2
import numpy as np
import pytest

from posewarper_jax.data import keypoints
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.viz import overlays

SHOULDER = keypoints.JOINT_INDEX["left_shoulder"]
ELBOW = keypoints.JOINT_INDEX["left_elbow"]
WRIST = keypoints.JOINT_INDEX["left_wrist"]
WIDTH, HEIGHT = 64, 48
VIDEO = "000001_overlay"


def _distance_to_segment(shape, a, b) -> np.ndarray:
  """(H, W) distance of each pixel centre to the segment a-b, points (x, y)."""
  yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
  points = np.stack([xx, yy], axis=-1).astype(np.float64)
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  t = np.clip(((points - a) @ (b - a)) / max((b - a) @ (b - a), 1e-12), 0, 1)
  return np.linalg.norm(points - (a + t[..., None] * (b - a)), axis=-1)


def test_draw_pose_touches_only_visible_joints_and_their_bones():
  image = np.zeros((60, 100, 3), np.uint8)
  pose = np.zeros((17, 3))
  pose[SHOULDER] = (20, 30, 1)
  pose[ELBOW] = (80, 30, 1)
  pose[WRIST] = (80, 55, 0)  # Invisible: neither its dot nor the elbow-wrist bone.
  drawn = overlays.draw_pose(image, pose, (255, 0, 0))
  assert not image.any()
  lit = drawn.any(axis=-1)
  assert lit[30, 20:81].all()
  assert not lit[_distance_to_segment(lit.shape, (20, 30), (80, 30)) > 4].any()
  assert (drawn[lit][:, 1:] <= drawn[lit][:, :1]).all()  # Red, anti-aliased.
  nothing = pose.copy()
  nothing[:, 2] = overlays.SCORE_THRESHOLD
  assert not overlays.draw_pose(image, nothing, (255, 0, 0)).any()
  shoulder_only = nothing.copy()
  shoulder_only[SHOULDER, 2] = 0.9
  lit = overlays.draw_pose(image, shoulder_only, (0, 255, 0)).any(axis=-1)
  assert lit[30, 20] and not lit[_distance_to_segment(lit.shape, (20, 30), (20, 30)) > 4].any()
  with pytest.raises(ValueError, match=r"\(17, 3\)"):
    overlays.draw_pose(image, pose[:, :2], (255, 0, 0))


def test_a_person_is_scored_by_its_joint_scores():
  image = np.zeros((60, 100, 3), np.uint8)
  joints = np.zeros((17, 3), np.float32)
  joints[SHOULDER] = (20, 30, 1)
  joints[ELBOW] = (80, 30, 1)
  person = posetrack.person_from_box(joints, (10, 10, 80, 40), 100, 60)
  assert overlays.draw_pose(image, person, (255, 0, 0))[30, 50].any()
  unsure = dataclasses.replace(person, joint_scores=np.full(17, 0.1, np.float32))
  assert not overlays.draw_pose(image, unsure, (255, 0, 0)).any()


def _person(x: float, track_id: int) -> records.Person:
  """A standing figure whose left shoulder is at (x, 12), all joints visible and scored 0.9."""
  joints = np.zeros((17, 3), np.float32)
  joints[:, 0] = x + np.linspace(-6, 6, 17)
  joints[:, 1] = np.linspace(4, 44, 17)
  joints[:, 2] = 1
  return posetrack.person_from_box(joints, (x - 8, 2, 16, 44), WIDTH, HEIGHT, track_id=track_id,
                                   joint_scores=np.full(17, 0.9, np.float32))


def _write_video(root, name: str, xs, num_frames: int = 3, with_images: bool = True) -> str:
  """A PoseTrack18 file under root/<name>/ of `num_frames` frames, one person at x = xs[i]."""
  folder = root / "images" / "val" / VIDEO
  folder.mkdir(parents=True, exist_ok=True)
  frames = []
  for i in range(num_frames):
    path = folder / f"{i:06d}.jpg"
    if with_images:
      cv2.imwrite(str(path), np.full((HEIGHT, WIDTH, 3), 60, np.uint8))
    frames.append(records.Frame(path=str(path), frame_id=i, image_id=10_000 + i, width=WIDTH,
                                height=HEIGHT, is_labeled=True, persons=(_person(xs[i], 0),)))
  json_path = root / name / f"{VIDEO}.json"
  json_path.parent.mkdir(parents=True, exist_ok=True)
  posetrack.write_posetrack18_video(records.Video(VIDEO, tuple(frames)), json_path,
                                    image_root=root)
  return str(json_path)


def _read(paths):
  return [cv2.imread(path) for path in paths]


def test_write_overlays_draws_each_frame_from_the_file(tmp_path):
  first = _write_video(tmp_path, "first", xs=(20, 30, 40))
  moved = _write_video(tmp_path, "moved", xs=(40, 30, 20), with_images=False)
  paths = overlays.write_overlays(first, tmp_path, tmp_path / "out_first")
  assert [os.path.relpath(p, tmp_path / "out_first") for p in paths] == [
      f"{VIDEO}/{i:06d}.png" for i in range(3)]
  images = _read(paths)
  assert images[0].shape == (HEIGHT, WIDTH, 3)
  assert (images[0] != images[1]).any()
  grey = cv2.imread(str(tmp_path / "images" / "val" / VIDEO / "000000.jpg"))
  assert (images[0] != grey).any()
  moved_images = _read(overlays.write_overlays(moved, tmp_path, tmp_path / "out_moved"))
  assert (moved_images[0] != images[0]).any() and (moved_images[1] == images[1]).all()
  assert len(overlays.write_overlays(first, tmp_path, tmp_path / "out_every", every=2)) == 2
  with_truth = _read(overlays.write_overlays(moved, tmp_path, tmp_path / "out_truth",
                                             ground_truth_file=first))
  white = (with_truth[0] == 255).all(axis=-1)
  assert white.any() and not (moved_images[0] == 255).all(axis=-1).any()
  os.remove(tmp_path / "images" / "val" / VIDEO / "000002.jpg")
  assert len(overlays.write_overlays(first, tmp_path, tmp_path / "out_missing")) == 2


def test_cli_writes_overlays_of_a_folder(tmp_path, capsys):
  _write_video(tmp_path, "predictions", xs=(20, 30, 40))
  overlays.main(["--predictions", str(tmp_path / "predictions"), "--images", str(tmp_path),
                 "--out", str(tmp_path / "out"), "--every", "3"])
  assert sorted(os.listdir(tmp_path / "out" / VIDEO)) == ["000000.png"]
  assert "1 frames" in capsys.readouterr().out
  with pytest.raises(SystemExit, match="--ground_truth .* is a file"):
    overlays.main(["--predictions", str(tmp_path / "predictions"), "--images", str(tmp_path),
                   "--out", str(tmp_path / "out"),
                   "--ground_truth", str(tmp_path / "predictions" / f"{VIDEO}.json")])
