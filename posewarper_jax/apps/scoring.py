"""Scores propagated poses against the dense ground truth with the PoseTrack mAP (SPEC 7a step 6).

The scored frames are the covered ones, those a propagation method marks labeled (every frame
of the runs, labeled frames included). Both sides list exactly these frames, so ground truth
outside the runs (e.g. PoseTrack17's sparser labels around the consecutive span) never counts,
and every method of Table 1 is scored on the same files.
"""

import dataclasses
import os
from typing import Any, Sequence

from posewarper_jax.data import file_io
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.eval import posetrack_map
from posewarper_jax.eval import predictions

PREDICTIONS_DIR = "predictions"
GROUND_TRUTH_DIR = "ground_truth"


def _covered_ground_truth(predicted: records.Video, truth: records.Video) -> records.Video:
  """`truth` reduced to the frames that `predicted` covers; each must be labeled."""
  if predicted.name != truth.name or len(predicted.frames) != len(truth.frames):
    raise ValueError(f"predicted video {predicted.name} ({len(predicted.frames)} frames) does "
                     f"not match ground-truth video {truth.name} ({len(truth.frames)} frames)")
  covered = [position for position, frame in enumerate(predicted.frames) if frame.is_labeled]
  unlabeled = [truth.frames[p].frame_id for p in covered if not truth.frames[p].is_labeled]
  if unlabeled:
    raise ValueError(f"video {truth.name}: frames {unlabeled[:5]} are covered by the predictions "
                     f"but have no ground truth")
  return dataclasses.replace(truth, frames=tuple(truth.frames[p] for p in covered))


def score(predicted_videos: Sequence[records.Video],
          ground_truth_videos: Sequence[records.Video], out_dir: file_io.Path, *,
          image_root: file_io.Path) -> dict[str, Any]:
  """Writes and scores the covered frames of each video.

  Args:
    predicted_videos: a propagation method's output (covered frames are labeled).
    ground_truth_videos: the dense ground truth of the same videos, in the same order.
    out_dir: receives PREDICTIONS_DIR/ and GROUND_TRUTH_DIR/, one PoseTrack18 file per video.
    image_root: the images' root; ground-truth file names are written relative to it.
  Returns:
    posetrack_map's results ({"per_joint", "table"}, percent) and the folders "predictions" and
    "ground_truth".
  """
  if len(predicted_videos) != len(ground_truth_videos):
    raise ValueError(f"{len(predicted_videos)} predicted videos but {len(ground_truth_videos)} "
                     f"ground-truth videos")
  truths = [_covered_ground_truth(p, t) for p, t in zip(predicted_videos, ground_truth_videos)]
  prediction_dir = os.path.join(os.fspath(out_dir), PREDICTIONS_DIR)
  ground_truth_dir = os.path.join(os.fspath(out_dir), GROUND_TRUTH_DIR)
  file_io.make_dirs(ground_truth_dir)
  for truth in truths:
    posetrack.write_posetrack18_video(truth, os.path.join(ground_truth_dir, f"{truth.name}.json"),
                                      image_root=image_root)
  predictions.write_predictions(predicted_videos, prediction_dir,
                                frame_ids=[[f.frame_id for f in t.frames] for t in truths],
                                image_root=image_root)
  results = posetrack_map.posetrack_map(ground_truth_dir, prediction_dir)
  return {**results, "predictions": prediction_dir, "ground_truth": ground_truth_dir}
