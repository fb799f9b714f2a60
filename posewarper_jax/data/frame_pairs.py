"""The training input: pairs (A, B = A + delta) with A's joints (SPEC 3.2-3.4), or frame A alone
for the single-frame HRNet (stage 1 and retraining, SPEC 5.3, 7c).

Instances are the labeled persons of every labeled frame A. Each instance carries the paths of
its 2T + 1 candidate frames B (index clipped to the video, a missing file replaced by A) and one
candidate is picked per sample:
- `delta_mode="per_epoch"` (official): a fresh delta for every sample, i.e. every epoch;
- `delta_mode="fixed"` (mmpose, SPEC 10.2 point 2): one delta per instance for the whole run.
Everything after the instance list (reading, decoding, augmentation, the joints' crop
coordinates) runs in the tf.data graph. The training order and all random numbers are stateless
functions of (seed, process, element index): element i of a process is its local instance
number index_shuffle(i % n_local) in a permutation drawn for epoch i // n_local, augmented with
a seed derived from i. A seed gives the same batches on every run, and a run resumed at a step
sees exactly the batches of an uninterrupted one. A and B share the decode window and the
affine, and are cropped together (crops.warp_frames) into uint8 crops; the training step
normalises them on the device (pixels.model_input), with the original's arithmetic, and
encodes A's joints as the target heatmaps there (targets.joint_targets), so the host never
builds or copies them.

Every image that will be read is checked once when the instance list is built
(image_check.ImageCheck): a corrupt one raises ValueError naming it, its frame and annotation
file or, with config.skip_corrupt_images, is counted and read as missing (a corrupt frame B
falls back to A; a corrupt frame A gives no instances); a missing frame A is a
FileNotFoundError.
"""

import collections
from typing import Callable, Iterator, Optional, Sequence

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from posewarper_jax.data import augment
from posewarper_jax.data import crops
from posewarper_jax.data import file_io
from posewarper_jax.data import image_check
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
                     f"{crops.WARP_BACKENDS}")
  if config.delta_range < 0:
    raise ValueError(f"config.delta_range={config.delta_range}: must be >= 0")
  crops.check_crop_size(config.image_size, config.heatmap_stride)
  targets.window_radius(config.sigma)


def _trainable_persons(frame: records.Frame) -> list[records.Person]:
  """The persons of `frame` with at least one visible joint (the others give no target)."""
  return [person for person in frame.persons if np.any(person.keypoints[:, 2] > 0)]


def _instance_frames(videos: Sequence[records.Video], readable: Callable[[str], bool]
                     ) -> Iterator[tuple[int, int, records.Frame, list[records.Person]]]:
  """(video index, position, frame, trainable persons) of the labeled frames that give
  instances: with a trainable person and an image that `readable` accepts."""
  for video_index, video in enumerate(videos):
    for position in video.labeled_positions:
      frame = video.frames[position]
      persons = _trainable_persons(frame)
      if persons and readable(frame.path):
        yield video_index, position, frame, persons


def num_instances(videos: Sequence[records.Video],
                  config: Optional[ml_collections.ConfigDict] = None, *,
                  annotation_files: Optional[Sequence[file_io.Path]] = None) -> int:
  """Training instances over all processes: the rows of build_instances (e.g. steps per epoch).

  Without config.skip_corrupt_images no image is read: build_instances then yields exactly this
  many rows or raises. With it, a frame A whose image is corrupt gives no rows, so the images are
  checked as build_instances checks them; without `config` the count assumes that no image is
  skipped (an upper bound).
  """
  readable = lambda path: True
  if config is not None and config.skip_corrupt_images:
    readable = image_check.ImageCheck(videos, annotation_files, skip_corrupt=True).require
  return sum(len(persons) for *_, persons in _instance_frames(videos, readable))


def build_instances(videos: Sequence[records.Video], config: ml_collections.ConfigDict, *,
                    seed: int, annotation_files: Optional[Sequence[file_io.Path]] = None,
                    skipped: Optional[collections.Counter] = None) -> dict[str, np.ndarray]:
  """One row per labeled person of every labeled frame (persons without a joint are skipped).

  Images are checked as the module docstring says; annotation_files (per video) are named in
  errors, `skipped` counts image_check.SKIP_CORRUPT_IMAGE.
  Returns arrays over N instances: path_a (N,), neighbour_paths (N, 2T+1) for delta = -T..T,
  neighbour_deltas (N, 2T+1) (effective B - A after clipping and the missing-file fallback),
  fixed_choice (N,) index into the candidates for delta_mode "fixed" (drawn from `seed`),
  keypoints (N, 17, 3), center (N, 2), scale (N, 2), video_index (N,), frame_position (N,),
  instance_index (N,) = arange(N).
  """
  check_config(config)
  offsets = np.arange(-config.delta_range, config.delta_range + 1)
  images = image_check.ImageCheck(videos, annotation_files,
                                  skip_corrupt=config.skip_corrupt_images, skipped=skipped)
  rows = {key: [] for key in ("path_a", "neighbour_paths", "neighbour_deltas", "keypoints",
                              "center", "scale", "video_index", "frame_position")}
  for video_index, position, frame, persons in _instance_frames(videos, images.require):
    paths, deltas = neighbours.resolve(videos[video_index], position, offsets, images)
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
    raise ValueError("videos: no labeled frame with a visible joint and a readable image, "
                     "nothing to train on")
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


def _load_example(counter: tf.Tensor, instance: dict[str, tf.Tensor], *, config,
                  process_seed: int, training: bool,
                  single_frame: bool) -> dict[str, tf.Tensor]:
  """One instance -> one augmented example (see make_pair_dataset for the keys).

  The delta and augmentation seeds come from (process_seed, counter) whether or not frame B is
  read, so a single-frame example is the pair example of the same element without frame B.
  """
  seed = tf.stack([tf.constant(process_seed, tf.int64), counter])
  delta_seed, augment_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  contents = [tf.io.read_file(instance["path_a"])]
  if single_frame:
    delta = tf.constant(0, tf.int32)
  else:
    if config.delta_mode == "per_epoch":
      num_candidates = 2 * config.delta_range + 1
      choice = tf.random.stateless_uniform([], delta_seed, 0, num_candidates, tf.int32)
    else:
      choice = instance["fixed_choice"]
    contents.append(tf.io.read_file(instance["neighbour_paths"][choice]))
    delta = instance["neighbour_deltas"][choice]
  image_shape = tf.image.extract_jpeg_shape(contents[0])  # B has A's size (same video).
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
  ratio, window, window_matrix = crops.plan_decode(
      image_shape, augment.crop_matrix(params, image_width, image_size), image_size,
      reduced_decode=config.decode_ratio == "auto")
  frames = crops.warp_frames([crops.decode_jpeg(c, ratio, window) for c in contents],
                             window_matrix, image_size, config.warp_backend)
  example = {
      "frame_a": frames[0],
      "joints": tf.concat([joints, visibility[:, None]], axis=1),
      "center": params["center"],
      "scale": params["scale"],
      "rotation": params["rotation"],
      "flip": params["flip"],
      "delta": delta,
      "video_index": instance["video_index"],
      "frame_position": instance["frame_position"],
      "instance_index": instance["instance_index"],
  }
  if not single_frame:
    example["frame_b"] = frames[1]
  return example


def make_pair_dataset(videos: Sequence[records.Video], config: ml_collections.ConfigDict, *,
                      seed: int, batch_size: int, process_index: int = 0,
                      process_count: int = 1, training: bool = True, start_step: int = 0,
                      single_frame: bool = False,
                      annotation_files: Optional[Sequence[file_io.Path]] = None
                      ) -> tf.data.Dataset:
  """Per-host batches of training pairs (or single frames).

  Instance i goes to process i % process_count. Training: every epoch visits the process's
  n_local instances in a fresh permutation (index_shuffle seeded by (seed, process, epoch); a
  full permutation, so no shuffle buffer), forever, augmented, remainder dropped; start_step
  starts directly at batch `start_step` (element start_step * batch_size) of that sequence.
  Otherwise: one pass in order, no augmentation (crop of the ground-truth box), last partial
  batch kept. single_frame: only frame A is read and decoded (stage 1, retraining).
  annotation_files: per video, the file that listed it, named in errors about its images;
  images skipped as corrupt are logged (build_instances).
  Yields dicts of
    frame_a, frame_b: (B, H, W, 3) uint8 RGB crops (H, W from image_size; no frame_b when
      single_frame), to be ImageNet-normalised (pixels.model_input, done by the train step);
    joints: (B, 17, 3) float32 frame A's joints in crop pixels (x, y) and visibility, which the
      train step encodes as target heatmaps (targets.joint_targets);
    center, scale: (B, 2) crop parameters (center in the flipped image when flip is set);
    rotation: (B,) degrees; flip: (B,) bool; delta: (B,) int32 effective B - A (0 when
      single_frame);
    video_index, frame_position: (B,) int32 frame A in `videos`;
    instance_index: (B,) int32 row of build_instances.
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} not in [0, process_count={process_count})")
  if start_step < 0 or (start_step and not training):
    raise ValueError(f"start_step={start_step}: expected >= 0, and 0 unless training")
  skipped = collections.Counter()
  instances = build_instances(videos, config, seed=seed, annotation_files=annotation_files,
                              skipped=skipped)
  if skipped:
    logging.warning("training instances: skipped %s", dict(skipped))
  local = {key: tf.constant(value[process_index::process_count])
           for key, value in instances.items()}
  num_local = int(local["path_a"].shape[0])
  if num_local == 0:
    raise ValueError(f"process {process_index} of {process_count} gets no instance "
                     f"({len(instances['path_a'])} in all)")
  rng = np.random.default_rng([seed, process_index])
  process_seed, order_seed = int(rng.integers(2**62)), int(rng.integers(2**62))

  def example(index: tf.Tensor) -> dict[str, tf.Tensor]:
    position = index
    if training:
      epoch_seed = tf.stack([tf.constant(order_seed, tf.int64), index // num_local])
      position = tf.random.experimental.index_shuffle(index % num_local, epoch_seed,
                                                      num_local - 1)
    instance = {key: tf.gather(value, position) for key, value in local.items()}
    return _load_example(index, instance, config=config, process_seed=process_seed,
                         training=training, single_frame=single_frame)

  if training:
    indices = tf.data.Dataset.counter(start=start_step * batch_size)
  else:
    indices = tf.data.Dataset.range(num_local)
  # Plain graph tracing: autograph would rewrite every function reached (~10 s, nothing to gain).
  dataset = indices.map(tf.autograph.experimental.do_not_convert(example),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  dataset = dataset.batch(batch_size, drop_remainder=training)
  return dataset.prefetch(tf.data.AUTOTUNE)
