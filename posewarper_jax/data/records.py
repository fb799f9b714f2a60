"""The in-memory index every reader produces and every pipeline consumes.

A dataset is a tuple of `Video`s; a video lists all of its frames densely in time order (labeled
or not), so that neighbour t + delta of a frame is `video.frames[position + delta]`.
"""

import dataclasses
from typing import Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class Person:
  """One annotated (or detected) person in one frame.

  keypoints: (17, 3) float32 (x, y, visibility in {0, 1}) in PoseTrack order; all zero when
    the person comes from a detection.
  box: (4,) float64 cleaned [x, y, w, h] (transforms.clean_box).
  center, scale: (2,) float64 crop parameters (transforms.box_to_center_scale).
  head_box: (4,) float64 [x, y, w, h] or None (detections have none).
  score: box score, 1.0 for ground truth.
  joint_scores: (17,) float32 per-joint confidences of a prediction, None for ground truth.
  """
  keypoints: np.ndarray
  box: np.ndarray
  center: np.ndarray
  scale: np.ndarray
  head_box: Optional[np.ndarray] = None
  track_id: int = -1
  score: float = 1.0
  joint_scores: Optional[np.ndarray] = None


@dataclasses.dataclass(frozen=True)
class Frame:
  """One frame of a video.

  path: image path, readable with tf.io.gfile (local or cloud storage).
  frame_id: the number in the file name (PoseTrack17: 1-based, PoseTrack18: 0-based).
  image_id: the dataset's image id (PoseTrack18 `id`/`frame_id`), used to match detections.
  ignore_regions: polygons, each (n, 2) float64 (x, y).
  """
  path: str
  frame_id: int
  image_id: int
  width: int
  height: int
  is_labeled: bool
  persons: tuple[Person, ...] = ()
  ignore_regions: tuple[np.ndarray, ...] = ()


@dataclasses.dataclass(frozen=True)
class Video:
  """All frames of one video in time order; `name` is the PoseTrack sequence name."""
  name: str
  frames: tuple[Frame, ...]

  @property
  def labeled_positions(self) -> tuple[int, ...]:
    return tuple(i for i, frame in enumerate(self.frames) if frame.is_labeled)
