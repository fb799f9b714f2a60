"""Person-detection box files -> the persons of each frame (SPEC 3.1, test time).

A detection file is a JSON list in COCO results format: {image_id or image_name, bbox [x, y, w, h],
score, category_id}. As in the original, only category 1 (person) with score >= min_score is kept
and no NMS is applied.
"""

import collections
import dataclasses
import os
from typing import Optional

from absl import logging
import numpy as np

from posewarper_jax.data import file_io
from posewarper_jax.data import keypoints as keypoints_lib
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
    name = name.replace(os.sep, "/").lstrip("/")
    for path, location in self._by_tail.get(self._tail(name), ()):
      if path == name or path.endswith("/" + name):
        return location
    return None


def read_detections(json_path: file_io.Path, videos: tuple[records.Video, ...],
                    min_score: float = DEFAULT_MIN_SCORE,
                    aspect_ratio: float = posetrack.DEFAULT_ASPECT_RATIO, *,
                    skipped: Optional[collections.Counter] = None) -> tuple[records.Video, ...]:
  """Returns `videos` with every frame's persons replaced by its detections.

  Detections are matched to frames by `image_id` (Frame.image_id) or, without one, by
  `image_name` (a suffix of Frame.path); a detection that matches no frame raises ValueError
  (even one that the threshold would drop: it means the file belongs to other videos). Kept
  detections become Persons with zero keypoints, the cleaned box, centre/scale and the score, in
  file order; empty boxes are skipped and counted (posetrack.SKIP_EMPTY_BOX).
  """
  data = posetrack.load_json(json_path)
  if not isinstance(data, list):
    raise ValueError(f"{json_path}: expected a list of detections, got {type(data).__name__}")
  index = _FrameIndex(videos)
  persons = collections.defaultdict(list)  # (video, position) -> [Person]
  counts = collections.Counter()
  zero_keypoints = np.zeros((keypoints_lib.NUM_JOINTS, 3), np.float32)
  for i, detection in enumerate(data):
    where = f"[{i}]"
    if isinstance(detection, dict) and "image_id" in detection:
      image_id = posetrack.integer(detection["image_id"], json_path, f"{where}.image_id")
      location = index.by_id(image_id)
      if location is None:
        raise ValueError(f"{json_path}: {where}.image_id {image_id} matches no frame")
    else:
      name = posetrack.field(detection, "image_name", json_path, f"{where} (no image_id)")
      if not isinstance(name, str):
        raise ValueError(f"{json_path}: {where}.image_name is not a string: {name!r}")
      location = index.by_name(name)
      if location is None:
        raise ValueError(f"{json_path}: {where}.image_name '{name}' matches no frame")
    category = posetrack.integer(posetrack.field(detection, "category_id", json_path, where),
                                 json_path, f"{where}.category_id")
    score = posetrack.number(posetrack.field(detection, "score", json_path, where), json_path,
                             f"{where}.score")
    box = posetrack.numbers(posetrack.field(detection, "bbox", json_path, where), json_path,
                            f"{where}.bbox", count=4)
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

