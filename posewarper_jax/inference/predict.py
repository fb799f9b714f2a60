"""Pose inference over person boxes: the HRNet alone or temporal aggregation (SPEC 6, 7b).

`predict` turns dense videos whose frames carry person boxes (ground truth, or detections from
data.detections) into the same videos whose persons carry predicted joints and scores:

  crops (data.eval_inputs) -> heatmaps (heatmaps.py, jit over a data-parallel mesh)
  -> decoding (decode.py).

The heatmaps come from the model with its BatchNorm folded into the convolutions
(models/fold.py; `predict(..., fold_batch_norm=False)`, which the callers set from
config.eval.fold_batch_norm, runs the model as given): the same function to float32 rounding,
without a pass over every activation per BatchNorm.

config.eval.mode is one of heatmaps.MODES: "single" (the backbone on frame t) or "aggregate"
(PoseWarper.aggregate over frames t-2..t+2, all cropped with frame t's box).

Options that the original lacks are switches of the `eval` config section (configs/common.py)
and off by default: flip test, mmpose's rescoring with OKS-NMS, and the predicted head_bottom
as PoseTrack's neck. Prediction runs in one process over a mesh of its local devices.
"""

import collections
import dataclasses
import time
from typing import Optional, Sequence

from absl import logging
import flax.linen as nn
import jax
import ml_collections
import numpy as np

from posewarper_jax.data import eval_inputs
from posewarper_jax.data import file_io
from posewarper_jax.data import records
from posewarper_jax.data import transforms
from posewarper_jax.inference import decode
from posewarper_jax.inference import heatmaps
from posewarper_jax.models import fold
from posewarper_jax import sharding

# Where a box is in a tuple of videos: the keys of the per-box arrays of eval_inputs.
BOX_LOCATION = ("video_index", "frame_position", "person_index")


def check_eval_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError for settings `predict` does not support."""
  if config.mode not in heatmaps.MODES:
    raise ValueError(f"config.eval.mode={config.mode!r}: expected one of {heatmaps.MODES}")
  if config.neck not in decode.NECK_MODES:
    raise ValueError(f"config.eval.neck={config.neck!r}: expected one of {decode.NECK_MODES}")
  if config.batch_size < 1:
    raise ValueError(f"config.eval.batch_size={config.batch_size}: must be positive")
  if not isinstance(config.fold_batch_norm, bool):
    raise ValueError(f"config.eval.fold_batch_norm={config.fold_batch_norm!r}: expected True or "
                     f"False")


def predict(videos: Sequence[records.Video], model: nn.Module, variables: dict,
            input_config: ml_collections.ConfigDict, eval_config: ml_collections.ConfigDict,
            *, mesh: Optional[jax.sharding.Mesh] = None,
            annotation_files: Optional[Sequence[file_io.Path]] = None,
            fold_batch_norm: bool = True) -> tuple[records.Video, ...]:
  """Predicts the joints of every person box of `videos`.

  Args:
    videos: dense videos; every Person of every frame is a box (center, scale, score).
    model, variables: an HRNet or PoseWarper and its {"params", "batch_stats"}.
    input_config: the `input` config section (image_size, decoding, warping, and
      skip_corrupt_images: images skipped as corrupt are logged, see data.eval_inputs).
    eval_config: the `eval` config section (configs/common.py).
    mesh: the caller's data-parallel mesh of this process's devices (default: a mesh over all
      local devices); `variables` may already live on it.
    annotation_files: per video, the file that listed it, named in errors about its images.
    fold_batch_norm: run the model with every BatchNorm folded into the convolution before it
      (models/fold.py): the same heatmaps to float32 rounding, faster. False runs `model` as
      given. Callers with a config pass config.eval.fold_batch_norm.
  Returns:
    The videos with each box replaced by its prediction: keypoints (17, 3) with (x, y, 1),
    joint_scores (17,), score (the box score, or the rescored person score), box, centre, scale
    and track id of the box. With rescore_nms, boxes removed by OKS-NMS are dropped.
  """
  check_eval_config(eval_config)
  mesh = sharding.data_mesh(jax.local_devices()) if mesh is None else mesh
  sharding.check_batch_size(eval_config.batch_size, mesh)
  if fold_batch_norm:
    model, variables = fold.fold_batch_norm(model, variables)
  forward = heatmaps.heatmap_function(model, eval_config.mode, mesh, eval_config.flip_test)
  width, height = input_config.image_size
  variables = heatmaps.inference_variables(model, variables, eval_config.mode, (height, width),
                                           mesh)
  skipped = collections.Counter()
  dataset = eval_inputs.make_eval_dataset(videos, input_config,
                                          batch_size=eval_config.batch_size,
                                          single_frame=eval_config.mode == "single",
                                          annotation_files=annotation_files,
                                          skip_corrupt_images=input_config.skip_corrupt_images,
                                          skipped=skipped)
  if skipped:
    logging.warning("prediction inputs: skipped %s", dict(skipped))
  boxes = collections.defaultdict(list)  # Per-box results, batch by batch.
  start, count = time.perf_counter(), 0
  for batch in dataset.as_numpy_iterator():
    frames, rows = sharding.pad_batch(batch["frames"], eval_config.batch_size)
    maps = np.asarray(forward(variables, frames))
    if eval_config.flip_test:
      maps = decode.flip_test_average(maps[0, :rows], maps[1, :rows],
                                      shift_heatmap=eval_config.shift_heatmap)
    else:
      maps = maps[:rows]
    coords, maxvals = decode.decode_heatmaps(maps, batch["center"], batch["scale"],
                                             post_process=eval_config.post_process)
    for key in BOX_LOCATION:
      boxes[key].append(batch[key])
    boxes["coords"].append(coords)
    boxes["maxvals"].append(maxvals)
    count += rows
  logging.info("predicted %d boxes in %.1f s (mode %s)", count, time.perf_counter() - start,
               eval_config.mode)
  return _assemble(videos, {key: np.concatenate(value) for key, value in boxes.items()},
                   eval_config)


def _assemble(videos: Sequence[records.Video], boxes: dict[str, np.ndarray],
              eval_config: ml_collections.ConfigDict) -> tuple[records.Video, ...]:
  """Per-box decoded joints -> videos of predicted persons (SPEC 6.4, 6.5, 10.2)."""
  sources = [videos[v].frames[f].persons[p] for v, f, p in
             zip(*(boxes[key] for key in BOX_LOCATION))]
  box_scores = np.array([person.score for person in sources], np.float64)
  # mmpose writes the raw heatmap maxima as joint scores and rescores the person instead.
  joint_box_scores = np.ones_like(box_scores) if eval_config.rescore_nms else box_scores
  coords, joint_scores = decode.to_posetrack_joints(boxes["coords"], boxes["maxvals"],
                                                    joint_box_scores, neck=eval_config.neck)
  person_scores, keep = box_scores, np.arange(len(sources))
  if eval_config.rescore_nms:
    areas = np.array([np.prod(p.scale * transforms.PIXEL_STD) for p in sources])
    frame_ids = boxes["video_index"].astype(np.int64) * (1 << 32) + boxes["frame_position"]
    keep, person_scores = decode.rescore_and_oks_nms(
        coords, joint_scores, box_scores, areas, frame_ids,
        visibility_threshold=eval_config.rescore_visibility_threshold,
        oks_threshold=eval_config.oks_threshold)
  keep = np.sort(keep)
  joints = np.concatenate([coords, np.ones(coords.shape[:2] + (1,))], axis=-1)
  return with_predictions(videos, {key: boxes[key][keep] for key in BOX_LOCATION}, joints[keep],
                          joint_scores[keep], person_scores[keep])


def with_predictions(videos: Sequence[records.Video], boxes: dict[str, np.ndarray],
                     keypoints: np.ndarray, joint_scores: np.ndarray,
                     person_scores: np.ndarray) -> tuple[records.Video, ...]:
  """The videos with every person box replaced by its prediction; boxes without one are dropped.

  boxes: BOX_LOCATION arrays (M,) of the M predicted boxes of `videos`, in the order their
    frames list them; keypoints: (M, 17, 3) image (x, y, visibility); joint_scores: (M, 17);
    person_scores: (M,).
  A prediction keeps its box's Person fields (box, centre, scale, track id), has no head box,
  and its frame keeps is_labeled.
  """
  predicted = [[[] for _ in video.frames] for video in videos]
  for i, location in enumerate(zip(*(boxes[key] for key in BOX_LOCATION))):
    video_index, position, person_index = (int(value) for value in location)
    person = dataclasses.replace(videos[video_index].frames[position].persons[person_index],
                                 keypoints=np.asarray(keypoints[i], np.float32),
                                 joint_scores=np.asarray(joint_scores[i], np.float32),
                                 score=float(person_scores[i]), head_box=None)
    predicted[video_index][position].append(person)
  return tuple(
      dataclasses.replace(video, frames=tuple(
          dataclasses.replace(frame, persons=tuple(persons))
          for frame, persons in zip(video.frames, predicted[v])))
      for v, video in enumerate(videos))
