"""Evaluates a checkpoint on one split of a PoseTrack-layout dataset (SPEC 6, 7b).

  boxes (ground truth or detections, datasets.evaluation_split) -> predict.predict
  -> per-video prediction files
  -> the PoseTrack mAP against the split's ground-truth files -> results.json.

Layout of a dataset root (PoseTrack17, PoseTrack18 and the synthetic videos alike):
  images/<split>/<sequence>/<frame>.jpg and annotations/<split>/<sequence>.json.
"""

import json
import os
import time
from typing import Any, Optional

from absl import logging
import flax.linen as nn
import jax
import ml_collections

from posewarper_jax import models
from posewarper_jax.data import datasets
from posewarper_jax.data import file_io
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import posetrack
from posewarper_jax.inference import predict
from posewarper_jax.eval import posetrack_map
from posewarper_jax.eval import predictions

PREDICTIONS_DIR = "predictions"  # PoseTrack18 JSON, one file per video.
ANNOLIST_DIR = "predictions_annolist"  # The same predictions as PoseTrack17 annolist.
RESULTS_FILE = "results.json"


def load_inputs(config: ml_collections.ConfigDict, checkpoint_dir: file_io.Path
                ) -> tuple[datasets.EvaluationSplit, nn.Module, dict]:
  """What `evaluate` reads before any work: the checked config sections, the split and the
  checkpoint (models.load: exported, or a training workdir) as (split, model, variables).

  A missing input is a FileNotFoundError, a malformed one a ValueError, both naming it.
  """
  predict.check_eval_config(config.eval)
  frame_pairs.check_config(config.input)
  split = datasets.evaluation_split(config.data)
  model, variables = models.load(checkpoint_dir)
  return split, model, variables


def evaluate(config: ml_collections.ConfigDict, checkpoint_dir: file_io.Path,
             output_dir: file_io.Path) -> dict[str, Any]:
  """Evaluates the checkpoint on config.data.split (`load_inputs`, then `evaluate_model`)."""
  split, model, variables = load_inputs(config, checkpoint_dir)
  return evaluate_model(config, model, variables, output_dir, split=split,
                        source=os.fspath(checkpoint_dir))


def evaluate_model(config: ml_collections.ConfigDict, model: nn.Module, variables: dict,
                   output_dir: file_io.Path, *, split: Optional[datasets.EvaluationSplit] = None,
                   mesh: Optional[jax.sharding.Mesh] = None, source: str = "") -> dict[str, Any]:
  """Predicts every box of the split, writes the prediction files, scores them.

  config: with sections `data`, `input` and `eval` (configs/common.py). `variables`
  ({"params", "batch_stats"}) are used as they are, e.g. a training run's in-memory ones; split
  defaults to datasets.evaluation_split(config.data); mesh: local devices (predict.predict).
  Writes output_dir/predictions/<ground-truth file name> (and predictions_annolist/ when
  config.eval.write_annolist) and output_dir/results.json; returns posetrack_map's results
  (percent).
  """
  predict.check_eval_config(config.eval)
  split = datasets.evaluation_split(config.data) if split is None else split
  videos, json_paths = split.videos, split.annotation_files
  output_dir = os.fspath(output_dir)
  start = time.perf_counter()
  predicted = predict.predict(videos, model, variables, config.input, config.eval, mesh=mesh,
                              annotation_files=json_paths,
                              fold_batch_norm=config.eval.fold_batch_norm)
  seconds = time.perf_counter() - start
  num_boxes = sum(len(frame.persons) for video in videos for frame in video.frames)
  logging.info("%d boxes in %.1f s (%.2f boxes/s)", num_boxes, seconds, num_boxes / seconds)

  file_names = [os.path.basename(path) for path in json_paths]
  frame_ids = [posetrack.listed_frame_ids(path) for path in json_paths]
  prediction_dir = os.path.join(output_dir, PREDICTIONS_DIR)
  predictions.write_predictions(predicted, prediction_dir, file_names=file_names,
                                frame_ids=frame_ids, image_root=config.data.root)
  if config.eval.write_annolist:
    predictions.write_predictions(predicted, os.path.join(output_dir, ANNOLIST_DIR),
                                  file_names=file_names, frame_ids=frame_ids,
                                  output_format="annolist", image_root=config.data.root)
  gt_dir = os.path.dirname(json_paths[0])
  results = posetrack_map.posetrack_map(gt_dir, prediction_dir)
  summary = {**results, "checkpoint": source, "ground_truth": gt_dir,
             "num_boxes": num_boxes, "inference_seconds": seconds, "config": config.to_dict()}
  file_io.write_text(os.path.join(output_dir, RESULTS_FILE),
                     json.dumps(summary, indent=2, default=str) + "\n")
  return results
