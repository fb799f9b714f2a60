"""The stage-2 training input: pairs (A, B = A + delta) with A's target heatmaps (SPEC 3.2-3.4).

Instances are the labeled persons of every labeled frame A. Each instance carries the paths of
its 2T + 1 candidate frames B (index clipped to the video, a missing file replaced by A, checked
once with tf.io.gfile when the list is built) and one candidate is picked per sample:
- `delta_mode="per_epoch"` (official): a fresh delta for every sample, i.e. every epoch;
- `delta_mode="fixed"` (mmpose, SPEC 10.2 point 2): one delta per instance for the whole run.
Everything after the instance list (reading, decoding, augmentation, targets) runs in the
tf.data graph; random numbers are stateless and seeded per element from (seed, process, element
counter), so a seed gives the same batches on every run. A and B share the decode window and
the affine, and are cropped and normalised together (crops.warp_and_normalize: one set of
gathers for both frames).
"""

import functools
from typing import Sequence

import ml_collections
import numpy as np
import tensorflow as tf

from posewarper_jax.data import augment
from posewarper_jax.data import crops
from posewarper_jax.data import neighbours
from posewarper_jax.data import records
from posewarper_jax.data import targets

DELTA_MODES = ("per_epoch", "fixed")
DECODE_RATIO_MODES = ("auto", "full")


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError for settings the pipeline does not support."""
  if config.delta_mode not in DELTA_MODES:
    raise ValueError(f"config.delta_mode={config.delta_mode!r}: expected one of {DELTA_MODES}")
  if config.decode_ratio not in DECODE_RATIO_MODES:
    raise ValueError(
        f"config.decode_ratio={config.decode_ratio!r}: expected one of {DECODE_RATIO_MODES}")
  if config.warp_backend not in crops.WARP_BACKENDS:
    raise ValueError(f"config.warp_backend={config.warp_backend!r}: expected one of "
                     f"{tuple(crops.WARP_BACKENDS)}")
  if config.delta_range < 0:
    raise ValueError(f"config.delta_range={config.delta_range}: must be >= 0")
  targets.window_radius(config.sigma)


def build_instances(videos: Sequence[records.Video], config: ml_collections.ConfigDict, *,
                    seed: int) -> dict[str, np.ndarray]:
  """One row per labeled person of every labeled frame (persons without a joint are skipped).

  Returns arrays over N instances: path_a (N,), neighbour_paths (N, 2T+1) for delta = -T..T,
  neighbour_deltas (N, 2T+1) (effective B - A after clipping and the missing-file fallback),
  fixed_choice (N,) index into the candidates for delta_mode "fixed" (drawn from `seed`),
  keypoints (N, 17, 3), center (N, 2), scale (N, 2), video_index (N,), frame_position (N,),
  instance_index (N,) = arange(N).
  """
  check_config(config)
  offsets = np.arange(-config.delta_range, config.delta_range + 1)
  exists = neighbours.FileExistence()
  rows = {key: [] for key in ("path_a", "neighbour_paths", "neighbour_deltas", "keypoints",
                              "center", "scale", "video_index", "frame_position")}
  for video_index, video in enumerate(videos):
    for position in video.labeled_positions:
      frame = video.frames[position]
      persons = [p for p in frame.persons if np.any(p.keypoints[:, 2] > 0)]
      if not persons:
        continue
      paths, deltas = neighbours.resolve(video, position, offsets, exists)
      for person in persons:
        rows["path_a"].append(frame.path)
        rows["neighbour_paths"].append(paths)
        rows["neighbour_deltas"].append(deltas)
        rows["keypoints"].append(person.keypoints)
        rows["center"].append(person.center)
        rows["scale"].append(person.scale)
        rows["video_index"].append(video_index)
        rows["frame_position"].append(position)
  if not rows["path_a"]:
    raise ValueError("videos: no labeled frame with a visible joint, nothing to train on")
  instances = {
      "path_a": np.array(rows["path_a"], object),
      "neighbour_paths": np.array(rows["neighbour_paths"], object),
      "neighbour_deltas": np.array(rows["neighbour_deltas"], np.int32),
      "keypoints": np.array(rows["keypoints"], np.float32),
      "center": np.array(rows["center"], np.float32),
      "scale": np.array(rows["scale"], np.float32),
      "video_index": np.array(rows["video_index"], np.int32),
      "frame_position": np.array(rows["frame_position"], np.int32),
  }
  instances["instance_index"] = np.arange(len(rows["path_a"]), dtype=np.int32)
  rng = np.random.default_rng(seed)
  instances["fixed_choice"] = rng.integers(0, len(offsets), len(rows["path_a"])).astype(np.int32)
  return instances


def _load_pair(counter: tf.Tensor, instance: dict[str, tf.Tensor], *, config, process_seed: int,
               training: bool) -> dict[str, tf.Tensor]:
  """One instance -> one augmented pair (see make_pair_dataset for the keys)."""
  seed = tf.stack([tf.constant(process_seed, tf.int64), counter])
  delta_seed, augment_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  num_candidates = 2 * config.delta_range + 1
  if config.delta_mode == "per_epoch":
    choice = tf.random.stateless_uniform([], delta_seed, 0, num_candidates, tf.int32)
  else:
    choice = instance["fixed_choice"]
  contents_a = tf.io.read_file(instance["path_a"])
  contents_b = tf.io.read_file(instance["neighbour_paths"][choice])
  image_shape = tf.image.extract_jpeg_shape(contents_a)  # B has A's size (same video).
  image_width = image_shape[1]

  keypoints = instance["keypoints"]
  if training:
    params = augment.sample(augment_seed, keypoints, instance["center"], instance["scale"],
                            image_width, config)
  else:
    params = {"center": instance["center"], "scale": instance["scale"],
              "rotation": tf.constant(0.0), "flip": tf.constant(False), "keypoints": keypoints}
  image_size = tuple(config.image_size)
  joint_matrix = crops.affine_matrix(params["center"], params["scale"], params["rotation"],
                                     image_size)
  visibility = params["keypoints"][:, 2]
  joints = crops.apply_affine(params["keypoints"][:, :2], joint_matrix)
  target, target_weight = targets.gaussian_heatmaps(joints, visibility, image_size,
                                                    config.heatmap_stride, config.sigma)
  ratio, window, window_matrix = crops.plan_decode(
      image_shape, augment.crop_matrix(params, image_width, image_size), image_size,
      reduced_decode=config.decode_ratio == "auto")
  frame_a, frame_b = crops.warp_and_normalize(
      [crops.decode_jpeg(contents_a, ratio, window), crops.decode_jpeg(contents_b, ratio, window)],
      window_matrix, image_size, config.warp_backend)
  return {
      "frame_a": frame_a,
      "frame_b": frame_b,
      "target": target,
      "target_weight": target_weight,
      "joints": tf.concat([joints, visibility[:, None]], axis=1),
      "center": params["center"],
      "scale": params["scale"],
      "rotation": params["rotation"],
      "flip": params["flip"],
      "delta": instance["neighbour_deltas"][choice],
      "video_index": instance["video_index"],
      "frame_position": instance["frame_position"],
      "instance_index": instance["instance_index"],
  }


def make_pair_dataset(videos: Sequence[records.Video], config: ml_collections.ConfigDict, *,
                      seed: int, batch_size: int, process_index: int = 0,
                      process_count: int = 1, training: bool = True) -> tf.data.Dataset:
  """Per-host batches of training pairs.

  Instance i goes to process i % process_count (before shuffling). Training: shuffled with a
  new order every epoch, repeated forever, augmented, remainder dropped. Otherwise: one pass in
  order, no augmentation (crop of the ground-truth box), last partial batch kept.
  Yields dicts of
    frame_a, frame_b: (B, H, W, 3) float32 ImageNet-normalised crops (H, W from image_size);
    target: (B, H/4, W/4, 17) float32; target_weight: (B, 17) float32;
    joints: (B, 17, 3) frame A's joints in crop pixels and visibility;
    center, scale: (B, 2) crop parameters (center in the flipped image when flip is set);
    rotation: (B,) degrees; flip: (B,) bool; delta: (B,) int32 effective B - A;
    video_index, frame_position: (B,) int32 frame A in `videos`;
    instance_index: (B,) int32 row of build_instances.
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} not in [0, process_count={process_count})")
  instances = build_instances(videos, config, seed=seed)
  num_local = len(range(process_index, len(instances["path_a"]), process_count))
  if num_local == 0:
    raise ValueError(f"process {process_index} of {process_count} gets no instance "
                     f"({len(instances['path_a'])} in all)")
  dataset = tf.data.Dataset.from_tensor_slices(instances).shard(process_count, process_index)
  if training:
    dataset = dataset.shuffle(config.shuffle_buffer or num_local, seed=seed,
                              reshuffle_each_iteration=True).repeat()
  dataset = dataset.enumerate()
  process_seed = int(np.random.default_rng([seed, process_index]).integers(2**62))
  load = functools.partial(_load_pair, config=config, process_seed=process_seed,
                           training=training)
  dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  dataset = dataset.batch(batch_size, drop_remainder=training)
  return dataset.prefetch(tf.data.AUTOTUNE)
