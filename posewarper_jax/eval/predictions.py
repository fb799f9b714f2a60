"""Predicted videos -> per-video prediction files for the PoseTrack evaluation (SPEC 6.5, 6.6).

One file per video, named like its ground-truth file, listing the same frames in the same order
(poseval pairs frames by position; eval.posetrack_map pairs them by file name). A listed frame
without predictions gets the original's dummy person: one joint (right ankle, poseval id 0) at
(0, 0) with score DUMMY_SCORE.
"""

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from posewarper_jax.data import file_io
from posewarper_jax.data import keypoints
from posewarper_jax.data import posetrack
from posewarper_jax.data import records

FORMATS = ("posetrack18", "annolist")
DUMMY_SCORE = -100.0
DUMMY_JOINT = keypoints.JOINT_INDEX["right_ankle"]


def dummy_person() -> records.Person:
  """The placeholder person of a frame without predictions."""
  joints = np.zeros((keypoints.NUM_JOINTS, 3), np.float32)
  joints[DUMMY_JOINT, 2] = 1.0
  scores = np.zeros(keypoints.NUM_JOINTS, np.float32)
  scores[DUMMY_JOINT] = DUMMY_SCORE
  zeros = np.zeros(2, np.float64)
  return records.Person(keypoints=joints, box=np.zeros(4), center=zeros, scale=zeros,
                        score=0.0, joint_scores=scores)


def prediction_video(video: records.Video,
                     frame_ids: Optional[Sequence[int]] = None) -> records.Video:
  """The frames to write: those with `frame_ids` in that order (default: all), dummies added."""
  by_id = {frame.frame_id: frame for frame in video.frames}
  if frame_ids is None:
    frame_ids = list(by_id)
  missing = [i for i in frame_ids if i not in by_id]
  if missing:
    raise ValueError(f"video {video.name}: frames {missing[:5]} of the ground truth are not in "
                     f"the predicted video (frames {min(by_id)}..{max(by_id)})")
  frames = tuple(
      dataclasses.replace(by_id[i], persons=by_id[i].persons or (dummy_person(),))
      for i in frame_ids)
  return dataclasses.replace(video, frames=frames)


def write_predictions(videos: Sequence[records.Video], out_dir: file_io.Path, *,
                      file_names: Optional[Sequence[str]] = None,
                      frame_ids: Optional[Sequence[Sequence[int]]] = None,
                      output_format: str = "posetrack18",
                      image_root: Optional[file_io.Path] = None) -> list[str]:
  """Writes one prediction file per video into `out_dir`; returns the paths.

  Args:
    videos: predicted videos (persons with keypoints and joint_scores).
    out_dir: destination folder (local or any tf.io.gfile path).
    file_names: per video, the basename of its ground-truth file (default: `<name>.json`).
    frame_ids: per video, the frame numbers its ground-truth file lists, in order
      (posetrack.listed_frame_ids); default: every frame.
    output_format: "posetrack18" (official PoseTrack18 JSON) or "annolist" (PoseTrack17).
    image_root: the dataset root; image names are written relative to it, as in the ground
      truth, so that the readers accept the files (default: the paths as they are).
  """
  if output_format not in FORMATS:
    raise ValueError(f"output_format={output_format!r}: expected one of {FORMATS}")
  write = (posetrack.write_posetrack18_video if output_format == "posetrack18"
           else posetrack.write_posetrack17_annolist_video)
  file_names = file_names or [f"{video.name}.json" for video in videos]
  frame_ids = frame_ids or [None] * len(videos)
  if not len(videos) == len(file_names) == len(frame_ids):
    raise ValueError(f"{len(videos)} videos but {len(file_names)} file names and "
                     f"{len(frame_ids)} frame lists")
  file_io.make_dirs(out_dir)
  paths = []
  for video, name, ids in zip(videos, file_names, frame_ids):
    path = os.path.join(os.fspath(out_dir), name)
    write(prediction_video(video, ids), path, image_root=image_root)
    paths.append(path)
  return paths
