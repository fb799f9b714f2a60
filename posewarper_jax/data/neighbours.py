"""Supporting frames t + delta of a frame, as the original resolves them (SPEC 3.2 and 7b).

The index is clipped to the video, and a frame whose image file does not exist is replaced by
frame t itself; the pipelines decide what exists (image_check.ImageCheck: a missing or,
when so configured, corrupt image does not).
"""

from typing import Callable, Sequence

import numpy as np

from posewarper_jax.data import records

# SPEC 7b: the frames a box of frame t reads, in the original's order: t, t-1, t-2, t+1, t+2
# (ref, prev1, prev2, next1, next2) for aggregation, t alone for a single-frame model.
AGGREGATION_OFFSETS = (0, -1, -2, 1, 2)
SINGLE_FRAME_OFFSETS = (0,)


def resolve(video: records.Video, position: int, offsets: Sequence[int],
            exists: Callable[[str], bool]) -> tuple[list[str], list[int]]:
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
