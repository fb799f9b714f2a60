"""Pose overlays: the skeletons of a PoseTrack18 prediction file drawn on its frames.

  python -m posewarper_jax.viz.overlays --predictions FILE_OR_DIR --images ROOT --out DIR \
      [--ground_truth FILE_OR_DIR] [--every N]

reads each prediction file with posetrack.read_posetrack18_video (file names relative to the
dataset root ROOT) and writes DIR/<video>/<frame>.png for every N-th frame whose image exists:
each predicted person in the colour of its track, and, with --ground_truth (the file of the same
name when both are folders), the annotated persons in white. Joints are drawn when their score
(a prediction's joint score, else the visibility) is above SCORE_THRESHOLD; bones
(keypoints.SKELETON) when both of their joints are.
"""

import argparse
import dataclasses
import os
from typing import Iterator, Optional, Sequence, Union

from absl import logging
import cv2
import numpy as np

from posewarper_jax.data import cli_paths
from posewarper_jax.data import file_io
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import posetrack
from posewarper_jax.data import records

# SPEC 7c: joints above score 0.2 count as predicted.
SCORE_THRESHOLD = 0.2
REFERENCE_COLOUR = (255, 255, 255)  # RGB of the reference (ground-truth) persons.
# RGB colours of predicted persons, by track id (by index in the frame without one).
TRACK_COLOURS = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                 (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190))
# Line width in pixels per pixel of the image's shorter side (at least 1).
_THICKNESS_PER_PIXEL = 1 / 200

Pose = Union[np.ndarray, records.Person]


def _points_and_scores(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
  """(17, 3) keypoints or a Person -> (x, y) (17, 2) and scores (17,)."""
  keypoints = np.asarray(pose.keypoints if isinstance(pose, records.Person) else pose, np.float64)
  if keypoints.shape != (keypoints_lib.NUM_JOINTS, 3):
    raise ValueError(f"draw_pose: keypoints must be ({keypoints_lib.NUM_JOINTS}, 3) (x, y, score), "
                     f"got shape {keypoints.shape}")
  scores = keypoints[:, 2]
  if isinstance(pose, records.Person) and pose.joint_scores is not None:
    scores = np.asarray(pose.joint_scores, np.float64)
  return keypoints[:, :2], scores


def draw_pose(image: np.ndarray, pose: Pose, colour: Sequence[int],
              score_threshold: float = SCORE_THRESHOLD) -> np.ndarray:
  """image (H, W, 3) uint8 -> a copy with the pose's bones and joints drawn in `colour`.

  pose: (17, 3) (x, y, score) in image pixels, or a records.Person (scored by its
  joint_scores, else its visibilities). Joints with score <= score_threshold are not drawn,
  nor are their bones.
  """
  points, scores = _points_and_scores(pose)
  shown = scores > score_threshold
  pixels = [(int(round(x)), int(round(y))) for x, y in points]
  thickness = max(1, round(min(image.shape[:2]) * _THICKNESS_PER_PIXEL))
  colour = tuple(int(c) for c in colour)
  image = image.copy()
  for a, b in keypoints_lib.SKELETON:
    if shown[a] and shown[b]:
      cv2.line(image, pixels[a], pixels[b], colour, thickness, cv2.LINE_AA)
  for k in np.flatnonzero(shown):
    cv2.circle(image, pixels[k], 2 * thickness, colour, -1, cv2.LINE_AA)
  return image


def track_colour(person: records.Person, index: int) -> tuple[int, int, int]:
  """RGB colour of a predicted person: by track id, or by its index in the frame without one."""
  key = person.track_id if person.track_id >= 0 else index
  return TRACK_COLOURS[key % len(TRACK_COLOURS)]


def read_rgb(path: file_io.Path) -> np.ndarray:
  """An image file (local or tf.io.gfile URL) -> (H, W, 3) uint8 RGB."""
  data = np.frombuffer(file_io.read_bytes(path), np.uint8)
  image = cv2.imdecode(data, cv2.IMREAD_COLOR)
  if image is None:
    raise ValueError(f"{path}: not a readable image")
  return image[..., ::-1]


def write_png(path: file_io.Path, image: np.ndarray) -> str:
  """Writes (H, W, 3) uint8 RGB as a PNG (local or tf.io.gfile URL, folders created); the path."""
  ok, data = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
  if not ok:
    raise ValueError(f"{path}: could not encode an image of shape {image.shape} as PNG")
  file_io.write_bytes(path, data.tobytes())
  return os.fspath(path)


def overlay_video_frames(video: records.Video, predicted: records.Video,
                         every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
  """Yields (position in video.frames, (H, W, 3) uint8 RGB) for every `every`-th drawable frame.

  video: the frames (their images) and reference persons drawn in REFERENCE_COLOUR (e.g. the
    ground truth; a video without persons for predictions alone).
  predicted: the predicted persons, paired with video's frames by frame_id, drawn in
    `track_colour`.
  Frames whose image does not exist are skipped (and counted in the log); FileNotFoundError
  when none exists.
  """
  if every < 1:
    raise ValueError(f"every={every}: must be a positive integer")
  by_id = {frame.frame_id: frame for frame in predicted.frames}
  unknown = sorted(set(by_id) - {frame.frame_id for frame in video.frames})
  if unknown:
    raise ValueError(f"video {video.name}: predicted frames {unknown[:5]} (video "
                     f"{predicted.name}) are not among its frames")
  positions = [i for i, frame in enumerate(video.frames) if file_io.exists(frame.path)]
  if not positions:
    raise FileNotFoundError(f"video {video.name}: none of its {len(video.frames)} frame images "
                            f"exists (the first is {video.frames[0].path})")
  if len(positions) < len(video.frames):
    logging.info("video %s: %d of %d frames have no image and are not drawn", video.name,
                 len(video.frames) - len(positions), len(video.frames))
  for position in positions[::every]:
    frame = video.frames[position]
    image = read_rgb(frame.path)
    for person in frame.persons:
      image = draw_pose(image, person, REFERENCE_COLOUR)
    prediction = by_id.get(frame.frame_id)
    for index, person in enumerate(prediction.persons if prediction else ()):
      image = draw_pose(image, person, track_colour(person, index))
    yield position, image


def write_overlays(prediction_file: file_io.Path, image_root: file_io.Path,
                   out_dir: file_io.Path, every: int = 1,
                   ground_truth_file: Optional[file_io.Path] = None) -> list[str]:
  """Writes the overlays of one PoseTrack18 prediction file; returns the PNG paths.

  Files: out_dir/<video>/<frame file stem>.png (see `overlay_video_frames`); ground_truth_file
  (PoseTrack18, same video) adds the annotated persons in REFERENCE_COLOUR.
  """
  predicted = posetrack.read_posetrack18_video(prediction_file, image_root)
  if ground_truth_file is None:
    video = dataclasses.replace(predicted, frames=tuple(
        dataclasses.replace(frame, persons=()) for frame in predicted.frames))
  else:
    video = posetrack.read_posetrack18_video(ground_truth_file, image_root)
  paths = []
  for position, image in overlay_video_frames(video, predicted, every):
    stem = os.path.splitext(os.path.basename(video.frames[position].path))[0]
    paths.append(write_png(os.path.join(os.fspath(out_dir), video.name, f"{stem}.png"), image))
  return paths


def _file_pairs(predictions: str,
                ground_truth: Optional[str]) -> list[tuple[str, Optional[str]]]:
  """--predictions / --ground_truth (files, or folders paired by file name) -> file pairs."""
  if not os.path.isdir(predictions):
    if ground_truth is not None and os.path.isdir(ground_truth):
      raise ValueError(f"--ground_truth {ground_truth} is a folder but --predictions "
                       f"{predictions} is a file")
    return [(predictions, ground_truth)]
  if ground_truth is not None and not os.path.isdir(ground_truth):
    raise ValueError(f"--ground_truth {ground_truth} is a file but --predictions {predictions} "
                     f"is a folder")
  files = file_io.glob(os.path.join(predictions, "*.json"))
  if not files:
    raise ValueError(f"--predictions {predictions}: no *.json prediction files")
  return [(path, None if ground_truth is None
           else os.path.join(ground_truth, os.path.basename(path))) for path in files]


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description="Draws the poses of PoseTrack18 prediction files "
                                               "on their frames (PNG).")
  parser.add_argument("--predictions", required=True, type=cli_paths.existing,
                      help="a PoseTrack18 prediction file, or a folder of them")
  parser.add_argument("--images", required=True, type=cli_paths.existing,
                      help="dataset root the file_names are relative to")
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--ground_truth", type=cli_paths.existing,
                      help="the annotation file (or folder: same file names) drawn in white")
  parser.add_argument("--every", type=int, default=1, help="draw every N-th frame")
  args = parser.parse_args(argv)
  with cli_paths.one_line_errors():
    pairs = _file_pairs(args.predictions, args.ground_truth)
    for prediction_file, ground_truth_file in pairs:
      paths = write_overlays(prediction_file, args.images, args.out, args.every,
                             ground_truth_file)
      print(f"{prediction_file}: {len(paths)} frames in {os.path.dirname(paths[0])}")


if __name__ == "__main__":
  main()
