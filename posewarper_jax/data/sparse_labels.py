"""Reproducible sparse-label selections (SPEC 5.3, 7a, 7c).

The original's sparse training sets are fixed JSON files of its release, not code (SPEC 5.3);
these functions rebuild such subsets from dense annotations. Every selection returns new Videos
whose unselected frames have is_labeled=False and no persons; keep the dense videos for scoring.

Also the frame choice of the pose-propagation experiment (SPEC 7a steps 4 and 5).

Command line (writes the selection as PoseTrack18 JSON, one file per video):
  python -m posewarper_jax.data.sparse_labels --annotations DIR --images DIR --out DIR \
      [--every-k 7 [--start 0] | --per-video N] [--num-videos V] [--seed 0]
"""

import argparse
import dataclasses
import os
import zlib
from typing import Optional, Sequence

import numpy as np

from posewarper_jax.data import cli_paths
from posewarper_jax.data import posetrack
from posewarper_jax.data import records

# SPEC 7a step 4: the first labeled frame is the 4th of the run, then every 7th.
PROPAGATION_FIRST_INDEX = 3
PROPAGATION_STEP = 7
# SPEC 7a step 3: propagation uses delta in {-3, ..., 3}, in this search order (step 5).
PROPAGATION_DELTAS = (-3, -2, -1, 1, 2, 3)
PROPAGATION_MAX_DELTA = 3


def keep_labels(video: records.Video, positions: Sequence[int]) -> records.Video:
  """`video` with labels (is_labeled and persons) kept only at `positions`."""
  keep = set(positions)
  for position in keep:
    if not 0 <= position < len(video.frames) or not video.frames[position].is_labeled:
      raise ValueError(f"video {video.name}: position {position} is not a labeled frame")
  return dataclasses.replace(video, frames=tuple(
      frame if i in keep else dataclasses.replace(frame, is_labeled=False, persons=())
      for i, frame in enumerate(video.frames)))


def every_k(videos: Sequence[records.Video], k: int,
            start: int = 0) -> tuple[records.Video, ...]:
  """Keeps labeled frames number start, start + k, ... (counted among the labeled frames)."""
  if k < 1 or start < 0:
    raise ValueError(f"every_k needs k >= 1 and start >= 0, got k={k}, start={start}")
  return tuple(keep_labels(v, v.labeled_positions[start::k]) for v in videos)


def _video_rng(seed: int, video: records.Video) -> np.random.Generator:
  """A generator per (seed, video name): a video's choice does not depend on the others."""
  return np.random.default_rng([seed, zlib.crc32(video.name.encode("utf-8"))])


def per_video(videos: Sequence[records.Video], n: int, seed: int) -> tuple[records.Video, ...]:
  """Keeps n labeled frames per video, drawn uniformly without replacement (all if fewer)."""
  if n < 1:
    raise ValueError(f"per_video needs n >= 1, got {n}")
  selected = []
  for video in videos:
    labeled = video.labeled_positions
    chosen = _video_rng(seed, video).choice(len(labeled), min(n, len(labeled)), replace=False)
    selected.append(keep_labels(video, [labeled[i] for i in chosen]))
  return tuple(selected)


def subset_videos(videos: Sequence[records.Video], v: int,
                  seed: int) -> tuple[records.Video, ...]:
  """v videos drawn uniformly without replacement, unchanged, in their original order."""
  if not 1 <= v <= len(videos):
    raise ValueError(f"subset_videos needs 1 <= v <= {len(videos)} videos, got {v}")
  chosen = np.random.default_rng(seed).choice(len(videos), v, replace=False)
  return tuple(videos[i] for i in sorted(chosen))


def longest_labeled_run(video: records.Video) -> tuple[int, ...]:
  """Positions of the longest run of labeled frames with consecutive frame_ids (first wins).

  Unlike the original script, which sees only frames with at least one valid annotation, a
  labeled frame without persons belongs to the run.
  """
  best, run, previous_id = [], [], None
  for position in video.labeled_positions:
    frame_id = video.frames[position].frame_id
    run = run + [position] if previous_id is not None and frame_id == previous_id + 1 else [
        position]
    previous_id = frame_id
    if len(run) > len(best):
      best = run
  return tuple(best)


def propagation_protocol(video: records.Video) -> tuple[int, ...]:
  """Positions treated as labeled in the propagation experiment (SPEC 7a step 4).

  In the longest run of consecutive labeled frame_ids: the 4th frame (seq[3]), then every 7th,
  plus the run's last frame if it lies more than 3 frames past the last chosen one. Runs of 3
  frames or fewer raise ValueError (the original script crashes there on an undefined variable).
  """
  run = longest_labeled_run(video)
  if len(run) <= PROPAGATION_FIRST_INDEX:
    raise ValueError(f"video {video.name}: the longest run of consecutive labeled frames has "
                     f"{len(run)} frame(s); the propagation protocol needs more than "
                     f"{PROPAGATION_FIRST_INDEX}")
  position_of = {video.frames[p].frame_id: p for p in run}
  first_id = video.frames[run[PROPAGATION_FIRST_INDEX]].frame_id
  last_id = video.frames[run[-1]].frame_id
  chosen = list(range(first_id, last_id + 1, PROPAGATION_STEP))
  if last_id - chosen[-1] > PROPAGATION_MAX_DELTA:
    chosen.append(last_id)
  return tuple(position_of[i] for i in chosen)


def propagation_sources(video: records.Video,
                        labeled: Sequence[int]) -> dict[int, tuple[int, int]]:
  """{position: (source_position, delta)} for every frame of the longest labeled run (SPEC 7a.5).

  Each frame takes the labeled frame with the smallest |delta|, delta = frame_id(frame) -
  frame_id(source) in {-3, ..., 3}; labeled frames are their own source (delta 0). Ties go to the
  first found, scanning `labeled` in order and deltas in PROPAGATION_DELTAS order, as the
  original. Raises ValueError if a labeled position is not in the run or a frame is not covered.
  """
  run = longest_labeled_run(video)
  position_of = {video.frames[p].frame_id: p for p in run}
  sources = {}
  for source in labeled:
    if source not in run:
      raise ValueError(f"video {video.name}: labeled position {source} is not in the longest "
                       f"labeled run (positions {run[0]}..{run[-1]})")
    sources[source] = (source, 0)
    source_id = video.frames[source].frame_id
    for delta in PROPAGATION_DELTAS:
      target = position_of.get(source_id + delta)
      if target is not None and (target not in sources or abs(delta) < abs(sources[target][1])):
        sources[target] = (source, delta)
  missing = [p for p in run if p not in sources]
  if missing:
    raise ValueError(f"video {video.name}: frames at positions {missing} are more than "
                     f"{PROPAGATION_MAX_DELTA} frames from every labeled frame")
  return dict(sorted(sources.items()))


def select(videos: Sequence[records.Video], seed: int, every: Optional[int] = None,
           start: int = 0, n_per_video: Optional[int] = None,
           num_videos: Optional[int] = None) -> tuple[records.Video, ...]:
  """The command line's selection: optional video subset, then every-k or n-per-video."""
  if every is not None and n_per_video is not None:
    raise ValueError("choose one of every-k and per-video")
  videos = tuple(videos)
  if num_videos is not None:
    videos = subset_videos(videos, num_videos, seed)
  if every is not None:
    videos = every_k(videos, every, start)
  if n_per_video is not None:
    videos = per_video(videos, n_per_video, seed)
  return videos


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--annotations", required=True, type=cli_paths.existing,
                      help="folder of PoseTrack18 *.json")
  parser.add_argument("--images", required=True, type=cli_paths.existing,
                      help="image root of the file_names")
  parser.add_argument("--out", required=True, help="output folder for the selected *.json")
  parser.add_argument("--every-k", type=int, help="keep every k-th labeled frame")
  parser.add_argument("--start", type=int, default=0, help="first kept labeled frame (every-k)")
  parser.add_argument("--per-video", type=int, help="keep N random labeled frames per video")
  parser.add_argument("--num-videos", type=int, help="keep V random videos")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  videos = posetrack.read_posetrack18(args.annotations, args.images)
  selected = select(videos, args.seed, every=args.every_k, start=args.start,
                    n_per_video=args.per_video, num_videos=args.num_videos)
  for video in selected:
    posetrack.write_posetrack18_video(video, os.path.join(args.out, f"{video.name}.json"),
                                      image_root=args.images)
  labeled = sum(len(v.labeled_positions) for v in selected)
  print(f"wrote {len(selected)} videos with {labeled} labeled frames to {args.out}")


if __name__ == "__main__":
  main()
