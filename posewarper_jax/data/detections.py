"""Person-detection box files -> the persons of each frame (SPEC 3.1, test time).

A detection file is a JSON list in COCO results format: {image_id or image_name, bbox [x, y, w, h],
score, category_id}. As in the original, only category 1 (person) with score >= min_score is kept
and no NMS is applied. Malformed records raise ValueError naming the file, the record's field and
the value: among others a box of negative width or height, an image_name that is absolute or
leaves the dataset root, and a detection on a frame that does not exist.
"""

import collections
import dataclasses
import os
from typing import Optional, Sequence

from absl import logging
import numpy as np

from posewarper_jax.data import file_io
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import path_containment
from posewarper_jax.data import posetrack
from posewarper_jax.data import records

# SPEC 3.1: TEST.IMAGE_THRE in every config used for detection testing.
DEFAULT_MIN_SCORE = 0.2
PERSON_CATEGORY = 1


class _FrameIndex:
  """Finds (video index, frame position) by image id or by image-name suffix."""

  def __init__(self, videos: tuple[records.Video, ...]):
    self._by_id = {}
    self._by_tail = collections.defaultdict(list)  # "seq/000000.jpg" -> [(path, location)]
    for v, video in enumerate(videos):
      for p, frame in enumerate(video.frames):
        self._by_id.setdefault(frame.image_id, (v, p))
        path = frame.path.replace(os.sep, "/")
        self._by_tail[self._tail(path)].append((path, (v, p)))

  @staticmethod
  def _tail(name: str) -> str:
    return "/".join(name.split("/")[-2:])

  def by_id(self, image_id: int) -> Optional[tuple[int, int]]:
    return self._by_id.get(image_id)

  def by_name(self, name: str) -> Optional[tuple[int, int]]:
    for path, location in self._by_tail.get(self._tail(name), ()):
      if path == name or path.endswith("/" + name):
        return location
    return None


class _FrameExistence:
  """Whether a frame exists: listed by its video's annotation file, or its image is on disk."""

  def __init__(self, videos: tuple[records.Video, ...],
               annotation_files: Optional[Sequence[file_io.Path]]):
    if annotation_files is not None and len(annotation_files) != len(videos):
      raise ValueError(f"{len(videos)} videos but {len(annotation_files)} annotation files")
    self._videos = videos
    self._files = annotation_files
    self._listed = [None] * len(videos)
    if annotation_files is not None:
      by_file = {path: posetrack.listed_image_ids(path) for path in set(annotation_files)}
      self._listed = [by_file[path] for path in annotation_files]
    self._on_disk: dict[str, bool] = {}

  def problem(self, location: tuple[int, int]) -> Optional[str]:
    """None when the frame at (video, position) exists, else why not."""
    video_index, position = location
    frame = self._videos[video_index].frames[position]
    where = f"frame {frame.frame_id} of video {self._videos[video_index].name}"
    listed = self._listed[video_index]
    if listed is not None:
      return None if frame.image_id in listed else (
          f"{where}, which {self._files[video_index]} does not list")
    if frame.path not in self._on_disk:
      self._on_disk[frame.path] = file_io.exists(frame.path)
    return None if self._on_disk[frame.path] else (
        f"{where}, whose image {frame.path} does not exist")


def read_detections(json_path: file_io.Path, videos: tuple[records.Video, ...],
                    min_score: float = DEFAULT_MIN_SCORE,
                    aspect_ratio: float = posetrack.DEFAULT_ASPECT_RATIO, *,
                    annotation_files: Optional[Sequence[file_io.Path]] = None,
                    skipped: Optional[collections.Counter] = None) -> tuple[records.Video, ...]:
  """Returns `videos` with every frame's persons replaced by its detections.

  Detections are matched to frames by `image_id` (Frame.image_id) or, without one, by
  `image_name` (a suffix of Frame.path, relative: path_containment.relative_path). A detection
  must lie on a frame that exists, or ValueError names it (even one that the threshold would
  drop: it means the file belongs to other videos):
  - with `annotation_files` (per video, the file it was read from): a PoseTrack18 or COCO-style
    file lists every frame, so the frame must be listed there (readers give unlisted frames
    guessed ids); a PoseTrack17 annolist lists only labeled frames, so the frame's image must
    exist;
  - without them: the frame's image must exist.
  Kept detections become Persons with zero keypoints, the cleaned box, centre/scale and the
  score, in file order; zero-area boxes are skipped and counted (posetrack.SKIP_EMPTY_BOX).
  """
  data = posetrack.load_json(json_path)
  if not isinstance(data, list):
    raise ValueError(f"{json_path}: expected a list of detections, got {type(data).__name__}")
  index = _FrameIndex(videos)
  existence = _FrameExistence(videos, annotation_files)
  persons = collections.defaultdict(list)  # (video, position) -> [Person]
  counts = collections.Counter()
  zero_keypoints = np.zeros((keypoints_lib.NUM_JOINTS, 3), np.float32)
  for i, detection in enumerate(data):
    where = f"[{i}]"
    if isinstance(detection, dict) and "image_id" in detection:
      image_id = posetrack.integer(detection["image_id"], json_path, f"{where}.image_id")
      location = index.by_id(image_id)
      what = f"{where}.image_id {image_id}"
    else:
      name = posetrack.field(detection, "image_name", json_path, f"{where} (no image_id)")
      location = index.by_name(path_containment.relative_path(name, json_path,
                                                              f"{where}.image_name"))
      what = f"{where}.image_name '{name}'"
    if location is None:
      raise ValueError(f"{json_path}: {what} matches no frame")
    problem = existence.problem(location)
    if problem is not None:
      raise ValueError(f"{json_path}: {what} is {problem}")
    category = posetrack.integer(posetrack.field(detection, "category_id", json_path, where),
                                 json_path, f"{where}.category_id")
    score = posetrack.number(posetrack.field(detection, "score", json_path, where), json_path,
                             f"{where}.score")
    box = posetrack.box(posetrack.field(detection, "bbox", json_path, where), json_path,
                        f"{where}.bbox")
    if category != PERSON_CATEGORY or score < min_score:
      continue
    frame = videos[location[0]].frames[location[1]]
    person = posetrack.person_from_box(zero_keypoints, box, frame.width, frame.height,
                                       aspect_ratio, score=score)
    if person is None:
      counts[posetrack.SKIP_EMPTY_BOX] += 1
      continue
    persons[location].append(person)
  if counts:
    logging.info("%s: skipped detections %s", json_path, dict(counts))
  if skipped is not None:
    skipped.update(counts)
  return tuple(
      dataclasses.replace(video, frames=tuple(
          dataclasses.replace(frame, persons=tuple(persons.get((v, p), ())))
          for p, frame in enumerate(video.frames)))
      for v, video in enumerate(videos))

