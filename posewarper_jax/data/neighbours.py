"""Supporting frames t + delta of a frame, as the original resolves them (SPEC 3.2 and 7b).

The index is clipped to the video, and a frame whose image file does not exist is replaced by
frame t itself. Existence is checked once per path with tf.io.gfile (local or cloud storage).
"""

from typing import Sequence

import numpy as np
import tensorflow as tf

from posewarper_jax.data import records


class FileExistence:
  """Memoised tf.io.gfile.exists; the empty path never exists."""

  def __init__(self):
    self._known: dict[str, bool] = {}

  def __call__(self, path: str) -> bool:
    if path not in self._known:
      self._known[path] = bool(path) and tf.io.gfile.exists(path)
    return self._known[path]


def resolve(video: records.Video, position: int, offsets: Sequence[int],
            exists: FileExistence) -> tuple[list[str], list[int]]:
  """Paths of frames position + offset (clipped, missing -> position) and the effective offsets."""
  last = len(video.frames) - 1
  paths, deltas = [], []
  for offset in offsets:
    other = int(np.clip(position + offset, 0, last))
    if not exists(video.frames[other].path):
      other = position
    paths.append(video.frames[other].path)
    deltas.append(other - position)
  return paths, deltas
