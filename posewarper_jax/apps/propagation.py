"""Video pose propagation from sparse labels (SPEC 7a) and its pseudo-labeling baseline.

Every frame of a video's longest labeled run takes the nearest labeled frame as its source
(sparse_labels.propagation_sources: |delta| <= 3, labeled frames are their own source). For
every ground-truth person of a source frame A and every frame B = A + delta taking A:

  crops of A and B under A's box (no augmentation) and A's ground-truth target heatmaps
  -> PoseWarper.propagate (jit over a data-parallel mesh) -> decoding with A's box (SPEC 6.3).

A labeled frame propagates onto itself (delta 0, SPEC 7a step 5). A propagated person keeps the
source person's box, centre, scale, track id and score (1 for ground truth); its joint scores
are the heatmap maxima. The frames of the run are marked labeled; the other frames of the video
are returned unlabeled and without persons.

`pseudo_label_baseline` is Table 1's "pseudo-labeling with HRNet": the single-frame model's
poses inside the boxes of each frame's source.

Command line (writes the predictions and the matching ground truth under OUT, see
apps.scoring, and prints the PoseTrack mAP; --method pseudolabel runs the baseline):
  python -m posewarper_jax.apps.propagation --config configs/synthetic.py:stage2 \
      --checkpoint DIR --out DIR [--method posewarper|pseudolabel] [--every_k K]
"""

# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import dataclasses
import functools
import time
from typing import Any, Callable, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import flax.linen as nn
import jax
import ml_collections
from ml_collections import config_flags
import numpy as np
import tensorflow as tf

from posewarper_jax import models
from posewarper_jax import sharding
from posewarper_jax.apps import scoring
from posewarper_jax.data import cli_paths
from posewarper_jax.data import crops
from posewarper_jax.data import datasets
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import image_check
from posewarper_jax.data import pixels
from posewarper_jax.data import records
from posewarper_jax.data import sparse_labels
from posewarper_jax.data import targets
from posewarper_jax.eval import posetrack_map
from posewarper_jax.inference import decode
from posewarper_jax.inference import heatmaps
from posewarper_jax.inference import predict
from posewarper_jax.models import PoseWarper
from posewarper_jax.models import fold

METHODS = ("posewarper", "pseudolabel")
# SPEC 7a steps 3-4: with deltas up to 3, a step of up to 7 labeled frames leaves no frame of
# the run farther than 3 from a labeled one.
MAX_EVERY_K = 2 * sparse_labels.PROPAGATION_MAX_DELTA + 1

Sources = dict[int, tuple[int, int]]  # {position: (source position, delta)} of one video.


def labeled_positions(videos: Sequence[records.Video],
                      every_k: Optional[int] = None) -> tuple[tuple[int, ...], ...]:
  """Per video, the positions treated as labeled (SPEC 7a step 4).

  every_k None: the paper's protocol (sparse_labels.propagation_protocol: the 4th frame of the
  longest labeled run, then every 7th, and the run's last frame if it lies more than 3 frames
  past the last chosen one). Otherwise the same rule with step every_k, in 1..MAX_EVERY_K (a
  larger step would leave frames farther than 3 from every labeled frame).
  """
  if every_k is None:
    return tuple(sparse_labels.propagation_protocol(video) for video in videos)
  if not 1 <= every_k <= MAX_EVERY_K:
    raise ValueError(f"every_k={every_k}: expected 1..{MAX_EVERY_K}, since propagation reaches "
                     f"at most {sparse_labels.PROPAGATION_MAX_DELTA} frames (SPEC 7a)")
  return tuple(_every_k_of_run(video, every_k) for video in videos)


def _every_k_of_run(video: records.Video, every_k: int) -> tuple[int, ...]:
  """The protocol's choice in the longest labeled run with step `every_k`."""
  run = sparse_labels.longest_labeled_run(video)
  first = sparse_labels.PROPAGATION_FIRST_INDEX
  if len(run) <= first:
    raise ValueError(f"video {video.name}: the longest run of consecutive labeled frames has "
                     f"{len(run)} frame(s); propagation needs more than {first}")
  chosen = list(run[first::every_k])  # The run's frame_ids are consecutive.
  frame_id = lambda position: video.frames[position].frame_id
  if frame_id(run[-1]) - frame_id(chosen[-1]) > sparse_labels.PROPAGATION_MAX_DELTA:
    chosen.append(run[-1])
  return tuple(chosen)


def frame_sources(videos: Sequence[records.Video],
                  labeled: Sequence[Sequence[int]]) -> tuple[Sources, ...]:
  """Per video, {position: (source position, delta)} over its longest labeled run (SPEC 7a.5)."""
  if len(labeled) != len(videos):
    raise ValueError(f"{len(videos)} videos but labeled positions for {len(labeled)}")
  return tuple(sparse_labels.propagation_sources(video, positions)
               for video, positions in zip(videos, labeled))


def source_boxes(videos: Sequence[records.Video],
                 sources: Sequence[Sources]) -> tuple[records.Video, ...]:
  """The videos whose run frames carry their source's ground-truth persons (boxes and joints)
  and are labeled; the other frames are unlabeled and without persons."""
  return tuple(
      dataclasses.replace(video, frames=tuple(
          dataclasses.replace(frame, is_labeled=position in video_sources,
                              persons=(video.frames[video_sources[position][0]].persons
                                       if position in video_sources else ()))
          for position, frame in enumerate(video.frames)))
      for video, video_sources in zip(videos, sources))


@functools.lru_cache(maxsize=16)
def propagate_function(model: PoseWarper, mesh: jax.sharding.Mesh, heatmap_stride: int,
                       sigma: float
                       ) -> Callable[[dict, np.ndarray, np.ndarray, np.ndarray], jax.Array]:
  """A jitted (variables, frame_a, frame_b, joints_a) -> heatmaps warped onto B, over `mesh`.

  frame_a, frame_b: (B, H, W, 3) crops, uint8 RGB (normalised here, pixels.model_input) or
  floating ImageNet-normalised; joints_a: (B, K, 3) A's joints in crop pixels (x, y) and
  visibility, encoded here as A's heatmaps (targets.joint_targets with heatmap_stride and
  sigma); output (B, H/stride, W/stride, K). Cached: one compilation per argument set.
  """
  if not isinstance(model, PoseWarper):
    raise ValueError(f"propagation needs a PoseWarper checkpoint, got {type(model).__name__}")

  def warp(variables, frame_a, frame_b, joints_a):
    heatmaps_a, _ = targets.joint_targets(joints_a, frame_a, heatmap_stride, sigma)
    return model.apply(variables, pixels.model_input(frame_a), pixels.model_input(frame_b),
                       heatmaps_a, method=PoseWarper.propagate)

  batch = sharding.batch_sharded(mesh)
  return jax.jit(warp, in_shardings=(sharding.replicated(mesh), batch, batch, batch),
                 out_shardings=batch)


def _propagation_items(videos: Sequence[records.Video], sources: Sequence[Sources],
                       box_videos: Sequence[records.Video]) -> dict[str, np.ndarray]:
  """One row per person box of `box_videos` (source_boxes): frames A and B, A's joints and box.

  Returns over N rows: path_a, path_b (N,) object; keypoints (N, 17, 3), center, scale (N, 2)
  float32; and predict.BOX_LOCATION arrays (N,) int32 locating the box in `box_videos`.
  """
  images = image_check.ImageCheck(videos)
  rows = {key: [] for key in ("path_a", "path_b", "keypoints", "center", "scale",
                              *predict.BOX_LOCATION)}
  for video_index, (video, video_sources) in enumerate(zip(box_videos, sources)):
    for position, (source, _) in video_sources.items():
      path_a, path_b = video.frames[source].path, video.frames[position].path
      persons = video.frames[position].persons
      if persons:
        images.require(path_a)
        images.require(path_b)
      for person_index, person in enumerate(persons):
        for key, value in (("path_a", path_a), ("path_b", path_b),
                           ("keypoints", person.keypoints), ("center", person.center),
                           ("scale", person.scale), ("video_index", video_index),
                           ("frame_position", position), ("person_index", person_index)):
          rows[key].append(value)
  if not rows["path_a"]:
    raise ValueError("videos: no labeled frame of the runs has a ground-truth person, nothing "
                     "to propagate")
  types = {"path_a": object, "path_b": object, "keypoints": np.float32, "center": np.float32,
           "scale": np.float32}
  return {key: np.array(value, types.get(key, np.int32)) for key, value in rows.items()}


def _crop_pair(item: dict[str, tf.Tensor], *, config: ml_collections.ConfigDict
               ) -> dict[str, tf.Tensor]:
  """One row -> frame_a, frame_b (H, W, 3) uint8 crops under A's box, joints_a (17, 3) A's
  joints in crop pixels and visibility."""
  image_size = tuple(config.image_size)
  matrix = crops.affine_matrix(item["center"], item["scale"], tf.constant(0.0), image_size)
  joints = crops.apply_affine(item["keypoints"][:, :2], matrix)
  contents = [tf.io.read_file(item["path_a"]), tf.io.read_file(item["path_b"])]
  ratio, window, window_matrix = crops.plan_decode(
      tf.image.extract_jpeg_shape(contents[0]), matrix, image_size,
      reduced_decode=config.decode_ratio == "auto")
  frame_a, frame_b = crops.warp_frames(
      [crops.decode_jpeg(c, ratio, window) for c in contents], window_matrix, image_size,
      config.warp_backend)
  return {"frame_a": frame_a, "frame_b": frame_b,
          "joints_a": tf.concat([joints, item["keypoints"][:, 2:]], axis=1)}


def propagate(videos: Sequence[records.Video], labeled: Sequence[Sequence[int]],
              model: PoseWarper, variables: dict, input_config: ml_collections.ConfigDict, *,
              batch_size: int = 16, mesh: Optional[jax.sharding.Mesh] = None,
              neck: str = "shoulder_midpoint", fold_batch_norm: bool = True
              ) -> tuple[records.Video, ...]:
  """Propagates the ground truth of the labeled frames to every frame of the runs (SPEC 7a).

  Args:
    videos: dense videos; only the ground truth of the labeled positions is read.
    labeled: per video, the labeled positions (e.g. `labeled_positions`), inside the video's
      longest labeled run and leaving no frame of it farther than 3 frames from one.
    model, variables: a PoseWarper and its {"params", "batch_stats"}.
    input_config: the `input` config section (image_size, heatmap_stride, sigma, decode_ratio,
      warp_backend).
    batch_size: person boxes per step, a multiple of the mesh's device count.
    mesh: the caller's data-parallel mesh (default: all local devices).
    neck: what PoseTrack's neck is written from (decode.to_posetrack_joints).
    fold_batch_norm: run the warper with every BatchNorm folded into the convolution before
      it (models/fold.py), as `inference.predict` does: the same heatmaps to float32 rounding,
      faster. Callers with a config pass config.eval.fold_batch_norm.
  Returns:
    The videos with the propagated persons on every frame of the runs (see the module
    docstring): keypoints (17, 3) with (x, y, 1), joint_scores (17,).
  """
  frame_pairs.check_config(input_config)
  mesh = sharding.data_mesh(jax.local_devices()) if mesh is None else mesh
  sharding.check_batch_size(batch_size, mesh)
  if fold_batch_norm:
    model, variables = fold.fold_batch_norm(model, variables)
  forward = propagate_function(model, mesh, input_config.heatmap_stride, input_config.sigma)
  variables = heatmaps.replicated_variables(variables, mesh)
  sources = frame_sources(videos, labeled)
  box_videos = source_boxes(videos, sources)
  items = _propagation_items(videos, sources, box_videos)
  inputs = {key: items[key] for key in ("path_a", "path_b", "keypoints", "center", "scale")}
  dataset = (tf.data.Dataset.from_tensor_slices(inputs)
             .map(tf.autograph.experimental.do_not_convert(
                 functools.partial(_crop_pair, config=input_config)),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
             .batch(batch_size).prefetch(tf.data.AUTOTUNE))
  coords, maxvals = [], []
  start, done = time.perf_counter(), 0
  for batch in dataset.as_numpy_iterator():
    batch, rows = sharding.pad_batch(batch, batch_size)
    warped = np.asarray(forward(variables, batch["frame_a"], batch["frame_b"],
                                batch["joints_a"]))[:rows]
    batch_coords, batch_maxvals = decode.decode_heatmaps(
        warped, items["center"][done:done + rows], items["scale"][done:done + rows])
    coords.append(batch_coords)
    maxvals.append(batch_maxvals)
    done += rows
  num_boxes = len(items["path_a"])
  logging.info("propagated %d person boxes in %.1f s", num_boxes, time.perf_counter() - start)
  locations = {key: items[key] for key in predict.BOX_LOCATION}
  box_scores = np.array([box_videos[v].frames[f].persons[p].score
                         for v, f, p in zip(*locations.values())], np.float64)
  coords, joint_scores = decode.to_posetrack_joints(np.concatenate(coords),
                                                    np.concatenate(maxvals), box_scores,
                                                    neck=neck)
  keypoints = np.concatenate([coords, np.ones(coords.shape[:2] + (1,))], axis=-1)
  return predict.with_predictions(box_videos, locations, keypoints, joint_scores, box_scores)


def pseudo_label_baseline(videos: Sequence[records.Video], labeled: Sequence[Sequence[int]],
                          model: nn.Module, variables: dict,
                          input_config: ml_collections.ConfigDict,
                          eval_config: ml_collections.ConfigDict, *,
                          mesh: Optional[jax.sharding.Mesh] = None) -> tuple[records.Video, ...]:
  """Table 1's pseudo-labeling baseline: every frame of a run gets the single-frame model's poses
  inside the ground-truth boxes of its source labeled frame (sources as in `propagate`).

  model: an HRNet, or a PoseWarper whose backbone is used; the other arguments are those of
  inference.predict, which runs with eval_config.mode "single" whatever it says. Returns the
  videos as `propagate` does.
  """
  single = ml_collections.ConfigDict({**eval_config.to_dict(), "mode": "single"})
  box_videos = source_boxes(videos, frame_sources(videos, labeled))
  return predict.predict(box_videos, model, variables, input_config, single, mesh=mesh,
                         fold_batch_norm=eval_config.fold_batch_norm)


def _main(argv: Sequence[str], config: ml_collections.ConfigDict, checkpoint: str, out: str,
          method: str, every_k: Optional[int]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with cli_paths.one_line_errors():
    videos = datasets.load_split(config.data, config.data.split)
    labeled = labeled_positions(videos, every_k)
    model, variables = models.load(checkpoint)
  if method == "posewarper":
    predicted = propagate(videos, labeled, model, variables, config.input,
                          batch_size=config.eval.batch_size, neck=config.eval.neck,
                          fold_batch_norm=config.eval.fold_batch_norm)
  else:
    predicted = pseudo_label_baseline(videos, labeled, model, variables, config.input,
                                      config.eval)
  results = scoring.score(predicted, videos, out, image_root=config.data.root)
  print(posetrack_map.format_results(results))


def define_flags(split: str, out_help: str) -> tuple[Any, Any, Any]:
  """The (config, out, every_k) flags the propagation command lines share; `split` names the
  config field of the split they read."""
  config = config_flags.DEFINE_config_file(
      "config", None, f"Config file (configs/*.py[:variant]); data.{split} is propagated.",
      lock_config=True)
  out = flags.DEFINE_string("out", None, out_help)
  every_k = flags.DEFINE_integer("every_k", None, "Label every k-th frame of the longest run "
                                 "(default: the paper's protocol, SPEC 7a).")
  return config, out, every_k


def main() -> None:
  """The command line; its flags are defined here, so that importing the module defines none."""
  config, out, every_k = define_flags("split", "Output folder (predictions/, ground_truth/).")
  checkpoint = flags.DEFINE_string("checkpoint", None, "PoseWarper (or, for pseudolabel, "
                                   "HRNet) checkpoint directory.")
  method = flags.DEFINE_enum("method", "posewarper", METHODS, "Propagation method.")
  flags.mark_flags_as_required(["config", "checkpoint", "out"])
  app.run(lambda argv: _main(argv, config.value, checkpoint.value, out.value, method.value,
                             every_k.value))


if __name__ == "__main__":
  main()
