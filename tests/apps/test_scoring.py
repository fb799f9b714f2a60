"""Scoring: the covered frames on both sides, the ground truth itself scores 100."""

import dataclasses
import json

import pytest

from posewarper_jax.apps import scoring


@pytest.fixture(scope="module")
def cut_videos(videos):
  """The first video with frame 0 unlabeled, so that its run is positions 1..11."""
  first = videos[0]
  return (dataclasses.replace(first, frames=(
      dataclasses.replace(first.frames[0], is_labeled=False),) + first.frames[1:]),) + videos[1:]


def _as_predictions(video):
  """Ground-truth persons as predictions with joint scores 1 (visible) and 0."""
  return dataclasses.replace(video, frames=tuple(
      dataclasses.replace(frame, persons=tuple(
          dataclasses.replace(p, joint_scores=p.keypoints[:, 2].copy()) for p in frame.persons))
      for frame in video.frames))


def test_ground_truth_scores_100_on_the_covered_frames(cut_videos, dataset_root, tmp_path):
  # Covered: the labeled frames; frame 0 of the first video is not (and keeps its persons).
  predicted = tuple(dataclasses.replace(video, frames=tuple(
      frame if frame.is_labeled else dataclasses.replace(frame, persons=())
      for frame in video.frames)) for video in map(_as_predictions, cut_videos))
  results = scoring.score(predicted, cut_videos, tmp_path, image_root=dataset_root)
  assert results["table"]["Total"] == pytest.approx(100.0)
  for video in cut_videos:
    name = f"{video.name}.json"
    listed = [[image["file_name"].split("/")[-1] for image in
               json.loads((tmp_path / folder / name).read_text())["images"]]
              for folder in (scoring.PREDICTIONS_DIR, scoring.GROUND_TRUTH_DIR)]
    expected = [f"{f.frame_id:06d}.jpg" for f in video.frames if f.is_labeled]
    assert listed == [expected, expected]
  assert results["predictions"] == str(tmp_path / scoring.PREDICTIONS_DIR)


def test_propagated_poses_are_scored(propagated, videos, dataset_root, tmp_path):
  results = scoring.score(propagated, videos, tmp_path, image_root=dataset_root)
  assert 0.0 < results["table"]["Total"] <= 100.0
  assert set(results) == {"per_joint", "table", "predictions", "ground_truth"}


def test_frames_without_ground_truth_raise(videos, cut_videos, dataset_root, tmp_path):
  predicted = tuple(_as_predictions(v) for v in videos)
  with pytest.raises(ValueError, match=r"frames \[0\] are covered"):
    scoring.score(predicted, cut_videos, tmp_path, image_root=dataset_root)
  with pytest.raises(ValueError, match="does not match"):
    scoring.score(predicted[::-1], videos, tmp_path, image_root=dataset_root)
