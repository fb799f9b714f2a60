"""Poses on a user's own video: sparse pose labels propagated to every frame (SPEC 7a), or
temporal aggregation on given person boxes (SPEC 7b).

  python -m posewarper_jax.apps.video --video FILE --checkpoint DIR --out DIR \
      (--labels FILE | --boxes FILE [--min_score S]) [--image_size W,H] [--batch_size N]

The video is read with OpenCV and its frames written as OUT/frames/<name>/%06d.jpg, where <name>
is the video's file name without extension and frame index i (0-based) is file i.

--labels: a PoseTrack18 JSON file of the same video. Each of its images is a frame by index:
  the number of its file_name (000012.jpg: frame 12), or its frame_id when the file name is not
  a number. Images with is_labeled (default true) are the labeled frames; their annotations
  (keypoints, bbox, track_id) are the labels. A PoseWarper checkpoint propagates them to every
  frame (apps.propagation.propagate), so every frame must lie within 3 frames of a labeled one.
--boxes: person boxes in the COCO results format that detectors write,
  [{"image_id": FRAME_INDEX, "category_id": 1, "bbox": [x, y, w, h], "score": s}, ...], with
  image_id the 0-based frame index (data.detections); boxes with score < --min_score are
  dropped. inference.predict aggregates frames t-2..t+2 with a PoseWarper checkpoint
  ("aggregate") and runs the HRNet alone with an HRNet checkpoint ("single").

Writes OUT/<name>.json (PoseTrack18 predictions for every frame, file names relative to OUT)
and OUT/<name>_poses.mp4 (the poses drawn on the frames, mp4v, the video's frame rate). The
`input` config section (crop size, heatmap stride, sigma, ...) is the training run's when the
checkpoint is a training workdir or one of its step folders (its config.json), else
configs/common.input_config(); --image_size overrides the crop size.
"""

# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import argparse
import collections
import dataclasses
import os
import pathlib
from typing import Optional, Sequence

from absl import logging
import cv2
import jax
import ml_collections
import numpy as np
import tqdm

from configs import common
from posewarper_jax import models
from posewarper_jax import sharding
from posewarper_jax.apps import propagation
from posewarper_jax.data import cli_paths
from posewarper_jax.data import detections
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.data import sparse_labels
from posewarper_jax.inference import predict
from posewarper_jax.models import PoseWarper
from posewarper_jax.models import checkpoint as checkpoint_lib
from posewarper_jax.viz import overlays

JPEG_QUALITY = 95
# Frame rate of the overlay video when the input container declares none.
DEFAULT_FPS = 25.0


def input_config(checkpoint: str,
                 image_size: Optional[tuple[int, int]] = None) -> ml_collections.ConfigDict:
  """The `input` config section for `checkpoint` (see the module docstring).

  An exported checkpoint (model.json) gets the defaults; a training workdir or one of its step
  folders the section of the run's config.json. image_size (width, height) overrides the crop.
  """
  config = common.input_config()
  directory = pathlib.Path(checkpoint).absolute()
  if not (directory / checkpoint_lib.CONFIG_FILE).is_file():
    for run_config in (directory / checkpoint_lib.RUN_CONFIG_FILE,
                       directory.parent / checkpoint_lib.RUN_CONFIG_FILE):
      if run_config.is_file():
        config.update(posetrack.field(posetrack.load_json(run_config), "input", run_config,
                                      "the top level"))
        break
  if image_size is not None:
    config.image_size = image_size
  return config


def read_video(path: str, out: str) -> tuple[records.Video, float]:
  """Writes the frames of a video file as out/frames/<name>/%06d.jpg -> (Video, frames per
  second).

  The Video, named <name> for the file, lists every frame unlabeled and without persons, with
  frame_id = image_id = its index. ValueError when OpenCV decodes no frame.
  """
  name = os.path.splitext(os.path.basename(path))[0]
  frames_dir = os.path.join(out, "frames", name)
  os.makedirs(frames_dir, exist_ok=True)
  capture = cv2.VideoCapture(path)
  frames = []
  try:
    expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    with tqdm.tqdm(total=expected if expected > 0 else None, desc="extracting frames",
                   unit="frame") as progress:
      while True:
        ok, image = capture.read()
        if not ok:
          break
        index = len(frames)
        frame_path = os.path.join(frames_dir, posetrack.POSETRACK18_NAMING.file_name(index))
        if not cv2.imwrite(frame_path, image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
          raise OSError(f"{frame_path}: could not write the frame")
        frames.append(records.Frame(path=frame_path, frame_id=index, image_id=index,
                                    width=image.shape[1], height=image.shape[0],
                                    is_labeled=False))
        progress.update()
    fps = capture.get(cv2.CAP_PROP_FPS)
  finally:
    capture.release()
  if not frames:
    raise ValueError(f"{path}: not a readable video (OpenCV decoded no frame)")
  return records.Video(name, tuple(frames)), fps if fps > 0 else DEFAULT_FPS


def _frame_index(image: dict, source: str, where: str) -> tuple[int, str]:
  """An image of a labels file -> (frame index, "<field> <value>" for messages)."""
  name = image.get("file_name") if isinstance(image, dict) else None
  stem = os.path.splitext(os.path.basename(name))[0] if isinstance(name, str) else ""
  if stem.isdigit():
    return int(stem), f"{where}.file_name '{name}'"
  value = posetrack.field(image, "frame_id", source, f"{where} (no frame number in file_name)")
  return posetrack.integer(value, source, f"{where}.frame_id"), f"{where}.frame_id {value}"


def read_labels(path: str, video: records.Video) -> tuple[records.Video, tuple[int, ...]]:
  """A PoseTrack18 labels file of `video` -> (video with the labels, labeled positions).

  Frames are matched as the module docstring says. Every frame of the returned video is marked
  labeled, so that propagation covers the whole video; the labeled positions carry the
  annotated persons (persons without keypoints are skipped, as the readers do). ValueError
  names the file, the field and the value of a frame outside the video and of a malformed
  record, and is raised when no labeled image has a person.
  """
  data = posetrack.load_json(path)
  lists = {key: posetrack.field(data, key, path, "the top level")
           for key in ("images", "annotations")}
  for key, value in lists.items():
    if not isinstance(value, list):
      raise ValueError(f"{path}: '{key}' is not a list")
  last = len(video.frames) - 1
  position_by_id, listed, labeled = {}, set(), set()
  for i, image in enumerate(lists["images"]):
    where = f"images[{i}]"
    position, what = _frame_index(image, path, where)
    if not 0 <= position <= last:
      raise ValueError(f"{path}: {what} is frame {position}, but the video {video.name} has "
                       f"frames 0..{last}")
    if position in listed:
      raise ValueError(f"{path}: {what}: frame {position} is listed twice")
    listed.add(position)
    image_id = posetrack.integer(posetrack.field(image, "id", path, where), path, f"{where}.id")
    if image_id in position_by_id:
      raise ValueError(f"{path}: {where}.id {image_id} is used by two images")
    position_by_id[image_id] = position
    is_labeled = image.get("is_labeled", True)
    if not isinstance(is_labeled, (bool, int)):
      raise ValueError(f"{path}: {where}.is_labeled is not a bool: {is_labeled!r}")
    if is_labeled:
      labeled.add(position)
  persons = collections.defaultdict(list)
  skipped = collections.Counter()
  for i, annotation in enumerate(lists["annotations"]):
    where = f"annotations[{i}]"
    image_id = posetrack.integer(posetrack.field(annotation, "image_id", path, where), path,
                                 f"{where}.image_id")
    if image_id not in position_by_id:
      raise ValueError(f"{path}: {where}.image_id {image_id} matches no image")
    position = position_by_id[image_id]
    keypoints = posetrack.numbers(posetrack.field(annotation, "keypoints", path, where), path,
                                  f"{where}.keypoints", count=3 * keypoints_lib.NUM_JOINTS)
    if not keypoints.any():
      skipped[posetrack.SKIP_NO_KEYPOINTS] += 1
      continue
    frame = video.frames[position]
    person = posetrack.person_from_box(
        keypoints, posetrack.box(posetrack.field(annotation, "bbox", path, where), path,
                                 f"{where}.bbox"),
        frame.width, frame.height,
        track_id=posetrack.integer(annotation.get("track_id", -1), path, f"{where}.track_id"))
    if person is None:
      skipped[posetrack.SKIP_EMPTY_BOX] += 1
      continue
    persons[position].append(person)
  if skipped:
    logging.info("%s: skipped persons %s", path, dict(skipped))
  if not any(persons[position] for position in labeled):
    raise ValueError(f"{path}: no labeled image has a person with keypoints, nothing to "
                     "propagate")
  labeled_video = dataclasses.replace(video, frames=tuple(
      dataclasses.replace(frame, is_labeled=True, persons=tuple(persons[position]))
      for position, frame in enumerate(video.frames)))
  return labeled_video, tuple(sorted(labeled))


def _ranges(positions: Sequence[int]) -> str:
  """Sorted positions -> "0-2, 7, 9-11"."""
  runs = []
  for position in positions:
    if runs and position == runs[-1][1] + 1:
      runs[-1][1] = position
    else:
      runs.append([position, position])
  return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def check_coverage(path: str, num_frames: int, labeled: Sequence[int]) -> None:
  """ValueError naming the frames farther than 3 from every labeled one (SPEC 7a)."""
  reach = sparse_labels.PROPAGATION_MAX_DELTA
  covered = np.zeros(num_frames, bool)
  for position in labeled:
    covered[max(0, position - reach):position + reach + 1] = True
  if not covered.all():
    raise ValueError(f"{path}: frames {_ranges(np.flatnonzero(~covered))} of the video are more "
                     f"than {reach} frames from every labeled frame (labeled: "
                     f"{_ranges(labeled) or 'none'}); propagation reaches {reach} frames")


def write_overlay_video(video: records.Video, predicted: records.Video, path: str,
                        fps: float) -> None:
  """Writes the frames of `video` with the poses of `predicted` drawn on them as an mp4v file."""
  first = video.frames[0]
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                           (first.width, first.height))
  if not writer.isOpened():
    raise OSError(f"{path}: OpenCV cannot write an mp4v video")
  try:
    for _, image in tqdm.tqdm(overlays.overlay_video_frames(video, predicted),
                              total=len(video.frames), desc="writing overlays", unit="frame"):
      writer.write(np.ascontiguousarray(image[..., ::-1]))
  finally:
    writer.release()


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description="Dense poses on a video from sparse pose labels "
                                               "or from person boxes (see the module docstring).")
  parser.add_argument("--video", required=True, type=cli_paths.existing,
                      help="a video file OpenCV reads")
  parser.add_argument("--checkpoint", required=True, type=cli_paths.existing,
                      help="PoseWarper (or, with --boxes, HRNet) checkpoint or training workdir")
  parser.add_argument("--out", required=True, help="output folder")
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--labels", type=cli_paths.existing,
                      help="PoseTrack18 JSON of sparse pose labels, propagated to every frame")
  source.add_argument("--boxes", type=cli_paths.existing,
                      help="COCO results JSON of person boxes, image_id = 0-based frame index")
  parser.add_argument("--min_score", type=float, default=detections.DEFAULT_MIN_SCORE,
                      help="with --boxes: boxes scoring below it are dropped")
  parser.add_argument("--image_size", type=cli_paths.numbers(2, int),
                      help="crop W,H (default: the checkpoint's training run, else 288,384)")
  parser.add_argument("--batch_size", type=int, default=common.eval_config("stage1").batch_size,
                      help="person boxes per step")
  args = parser.parse_args(argv)
  with cli_paths.one_line_errors():
    config = input_config(args.checkpoint, args.image_size)
    frame_pairs.check_config(config)
    mesh = sharding.data_mesh(jax.local_devices())
    sharding.check_batch_size(args.batch_size, mesh)
    video, fps = read_video(args.video, args.out)
    if args.labels:
      labeled_video, labeled = read_labels(args.labels, video)
      check_coverage(args.labels, len(video.frames), labeled)
    else:
      (box_video,) = detections.read_detections(args.boxes, (video,), args.min_score)
      if not any(frame.persons for frame in box_video.frames):
        raise ValueError(f"{args.boxes}: no person box with score >= {args.min_score}")
    model, variables = models.load(args.checkpoint)
    if args.labels and not isinstance(model, PoseWarper):
      raise ValueError(f"--labels needs a PoseWarper checkpoint; {args.checkpoint} holds a "
                       f"{type(model).__name__}")
  if args.labels:
    (predicted,) = propagation.propagate((labeled_video,), (labeled,), model, variables, config,
                                         batch_size=args.batch_size, mesh=mesh)
  else:
    eval_config = common.eval_config("stage1")
    eval_config.mode = "aggregate" if isinstance(model, PoseWarper) else "single"
    eval_config.batch_size = args.batch_size
    (predicted,) = predict.predict((box_video,), model, variables, config, eval_config,
                                   mesh=mesh, fold_batch_norm=eval_config.fold_batch_norm)
  json_path = os.path.join(args.out, f"{video.name}.json")
  posetrack.write_posetrack18_video(predicted, json_path, image_root=args.out)
  video_path = os.path.join(args.out, f"{video.name}_poses.mp4")
  write_overlay_video(video, predicted, video_path, fps)
  num_persons = sum(len(frame.persons) for frame in predicted.frames)
  print(f"{len(video.frames)} frames, {num_persons} poses: {json_path}, {video_path}")


if __name__ == "__main__":
  main()
