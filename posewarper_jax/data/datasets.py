"""The one way to load the videos of a config (`config.data`, configs/common.py).

Training, evaluation and the applications all read their data here:
  load_split(data, split)   the dense videos of a split, from the per-video JSON files or from
                            the prepared TFDS dataset (data.source);
  training_videos(data)     the training videos: data.train_split, or the labels of
                            data.train_labels_dir (SPEC 7c), with the sparse-label selection of
                            data.labels (SPEC 5.3);
  evaluation_split(data)    the videos of data.split with the boxes to predict (ground truth or
                            detections, SPEC 3.1) and the ground-truth files the metric reads.
"""

import dataclasses

from absl import logging
import ml_collections
import tensorflow_datasets as tfds

from posewarper_jax.data import detections
from posewarper_jax.data import file_io
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.data import sparse_labels
from posewarper_jax.data import tfds_posetrack  # Registers the "posetrack_frames" builder.

SOURCES = ("json", "tfds")
BOX_SOURCES = ("gt", "detections")
LABEL_COUNTS = ("every_k", "start", "per_video", "num_videos")


def check_data_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first unsupported field of `config` (config.data)."""
  if not config.root:
    raise ValueError("config.data.root is empty: set it to the dataset root "
                     "(images/<split>/..., annotations/<split>/*.json)")
  if config.format not in posetrack.READERS:
    raise ValueError(f"config.data.format={config.format!r}: expected one of {posetrack.READERS}")
  if config.source not in SOURCES:
    raise ValueError(f"config.data.source={config.source!r}: expected one of {SOURCES}")
  if config.source == "tfds" and not config.tfds_name:
    raise ValueError("config.data.source='tfds' needs config.data.tfds_name, e.g. "
                     "'posetrack_frames/posetrack18'")
  if config.boxes not in BOX_SOURCES:
    raise ValueError(f"config.data.boxes={config.boxes!r}: expected one of {BOX_SOURCES}")
  if config.boxes == "detections" and not config.detections:
    raise ValueError("config.data.boxes='detections' needs config.data.detections, the box file")
  labels = config.labels
  for name in LABEL_COUNTS:
    if labels[name] < 0:
      raise ValueError(f"config.data.labels.{name}={labels[name]}: must be >= 0")
  if labels.every_k and labels.per_video:
    raise ValueError(f"config.data.labels.every_k={labels.every_k} and "
                     f"config.data.labels.per_video={labels.per_video}: set at most one")


def _tfds_split(config: ml_collections.ConfigDict, split: str) -> tuple[records.Video, ...]:
  """`split` of the prepared TFDS dataset config.tfds_name, images under config.root."""
  builder = tfds.builder(config.tfds_name, data_dir=config.tfds_data_dir or None)
  if not builder.is_prepared():
    raise FileNotFoundError(
        f"config.data.tfds_name={config.tfds_name!r}: not prepared under {builder.data_dir} "
        f"(config.data.tfds_data_dir={config.tfds_data_dir!r}); build it with "
        f"python -m posewarper_jax.data.build_tfds")
  if split not in builder.info.splits:
    raise ValueError(f"config.data.tfds_name={config.tfds_name!r} under {builder.data_dir}: "
                     f"no split {split!r}, only {sorted(builder.info.splits)}")
  return tfds_posetrack.read_split(builder, split, image_root=config.root)


def load_split(config: ml_collections.ConfigDict, split: str) -> tuple[records.Video, ...]:
  """The dense videos of `split`, sorted by name, with their ground-truth persons.

  config.source "json": root/annotations/<split>/*.json in config.format; "tfds": the prepared
  dataset config.tfds_name (its labeled frames and their neighbours; see tfds_posetrack).
  """
  check_data_config(config)
  if config.source == "json":
    return posetrack.read_split(config.format, config.root, split)
  return _tfds_split(config, split)


def _num_labeled_frames(videos: tuple[records.Video, ...]) -> int:
  return sum(len(video.labeled_positions) for video in videos)


def training_videos(config: ml_collections.ConfigDict) -> tuple[records.Video, ...]:
  """The videos to train on, sparse-label selection applied (unselected frames unlabeled).

  The videos of config.train_split, or, when config.train_labels_dir is set, the PoseTrack18
  JSON files of that folder (images under config.root) instead. Then config.labels (0: off):
  num_videos random videos, and every_k-th (from start) or per_video random labeled frames per
  video, drawn with labels.seed (sparse_labels.select).
  """
  check_data_config(config)
  if config.train_labels_dir:
    if not file_io.exists(config.train_labels_dir):
      raise FileNotFoundError(
          f"config.data.train_labels_dir={config.train_labels_dir!r}: no such folder")
    videos = posetrack.read_posetrack18(config.train_labels_dir, config.root)
  else:
    videos = load_split(config, config.train_split)
  labels = config.labels
  if labels.num_videos > len(videos):
    raise ValueError(f"config.data.labels.num_videos={labels.num_videos}: the training videos "
                     f"number only {len(videos)}")
  selected = sparse_labels.select(videos, labels.seed, every=labels.every_k or None,
                                  start=labels.start, n_per_video=labels.per_video or None,
                                  num_videos=labels.num_videos or None)
  logging.info("training on %d of %d videos, %d of %d labeled frames", len(selected),
               len(videos), _num_labeled_frames(selected), _num_labeled_frames(videos))
  return selected


@dataclasses.dataclass(frozen=True)
class EvaluationSplit:
  """videos: dense videos whose persons are the boxes to predict; annotation_files: their
  ground-truth per-video JSON files (same order), which the metric and the prediction writer
  read (file names and listed frame ids)."""
  videos: tuple[records.Video, ...]
  annotation_files: tuple[str, ...]


def evaluation_split(config: ml_collections.ConfigDict) -> EvaluationSplit:
  """config.split read from the JSON files under config.root (whatever config.source), persons
  replaced by the detections of config.detections (score >= config.min_box_score) when
  config.boxes is "detections"."""
  check_data_config(config)
  annotation_files = tuple(posetrack.split_annotation_files(config.root, config.split))
  videos = tuple(posetrack.read_video_file(config.format, path, config.root)
                 for path in annotation_files)
  if config.boxes == "detections":
    videos = detections.read_detections(config.detections, videos, config.min_box_score,
                                        annotation_files=annotation_files)
  num_boxes = sum(len(frame.persons) for video in videos for frame in video.frames)
  logging.info("evaluating %d videos of split %r, %d %s boxes", len(videos), config.split,
               num_boxes, config.boxes)
  return EvaluationSplit(videos=videos, annotation_files=annotation_files)
