"""Evaluates a checkpoint on one split of a PoseTrack-layout dataset (SPEC 6, 7b).

  boxes (ground truth or detections) -> predict.predict -> per-video prediction files
  -> the PoseTrack mAP against the split's ground-truth files -> results.json.

Layout of a dataset root (PoseTrack17, PoseTrack18 and the synthetic videos alike):
  images/<split>/<sequence>/<frame>.jpg and annotations/<split>/<sequence>.json.
"""

import json
import os
import time
from typing import Any

from absl import logging
import ml_collections

from posewarper_jax import models
from posewarper_jax.data import detections
from posewarper_jax.data import file_io
from posewarper_jax.data import posetrack
from posewarper_jax.inference import predict
from posewarper_jax.eval import posetrack_map
from posewarper_jax.eval import predictions

BOX_SOURCES = ("gt", "detections")
PREDICTIONS_DIR = "predictions"  # PoseTrack18 JSON, one file per video.
ANNOLIST_DIR = "predictions_annolist"  # The same predictions as PoseTrack17 annolist.
RESULTS_FILE = "results.json"


def check_data_config(config: ml_collections.ConfigDict) -> None:
  if not config.root:
    raise ValueError("config.data.root is empty: set it to the dataset root "
                     "(images/<split>/..., annotations/<split>/*.json)")
  if config.format not in posetrack.READERS:
    raise ValueError(f"config.data.format={config.format!r}: expected one of {posetrack.READERS}")
  if config.boxes not in BOX_SOURCES:
    raise ValueError(f"config.data.boxes={config.boxes!r}: expected one of {BOX_SOURCES}")
  if config.boxes == "detections" and not config.detections:
    raise ValueError("config.data.boxes='detections' needs config.data.detections, the box file")


def evaluate(config: ml_collections.ConfigDict, checkpoint_dir: str,
             output_dir: str) -> dict[str, Any]:
  """Runs the whole evaluation; returns posetrack_map's results (percent).

  config: with sections `data`, `input` and `eval` (configs/common.py). Writes output_dir/predictions/<ground-truth file name> (and
  predictions_annolist/ when config.eval.write_annolist) and output_dir/results.json.
  """
  check_data_config(config.data)
  predict.check_eval_config(config.eval)
  model, variables = models.load(checkpoint_dir)
  json_paths = posetrack.split_annotation_files(config.data.root, config.data.split)
  videos = tuple(posetrack.read_video_file(config.data.format, path, config.data.root)
                 for path in json_paths)
  if config.data.boxes == "detections":
    videos = detections.read_detections(config.data.detections, videos,
                                        config.data.min_box_score)
  start = time.perf_counter()
  predicted = predict.predict(videos, model, variables, config.input, config.eval)
  seconds = time.perf_counter() - start
  num_boxes = sum(len(frame.persons) for video in videos for frame in video.frames)
  logging.info("%d boxes in %.1f s (%.2f boxes/s)", num_boxes, seconds, num_boxes / seconds)

  file_names = [os.path.basename(path) for path in json_paths]
  frame_ids = [posetrack.listed_frame_ids(path) for path in json_paths]
  prediction_dir = os.path.join(output_dir, PREDICTIONS_DIR)
  predictions.write_predictions(predicted, prediction_dir, file_names=file_names,
                                frame_ids=frame_ids)
  if config.eval.write_annolist:
    predictions.write_predictions(predicted, os.path.join(output_dir, ANNOLIST_DIR),
                                  file_names=file_names, frame_ids=frame_ids,
                                  output_format="annolist")
  gt_dir = os.path.dirname(json_paths[0])
  results = posetrack_map.posetrack_map(gt_dir, prediction_dir)
  summary = {**results, "checkpoint": os.fspath(checkpoint_dir), "ground_truth": gt_dir,
             "num_boxes": num_boxes, "inference_seconds": seconds, "config": config.to_dict()}
  file_io.write_text(os.path.join(output_dir, RESULTS_FILE),
                     json.dumps(summary, indent=2, default=str) + "\n")
  return results
