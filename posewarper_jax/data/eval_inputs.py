"""Evaluation inputs: per box, the crops of frames t-2..t+2 under frame t's box (SPEC 6, 7b).

Every Person of every frame (ground truth, or detections from detections.read_detections) is
one box. All of a box's crops use the affine of that box's centre and scale with rotation 0
(the original's `JointsDataset_PoseAgg`); indices are clipped to the video and a missing file
falls back to frame t (neighbours.resolve). One tf.data element is one frame t: its T images
are read and decoded once, cropped for all of its boxes, then unbatched into boxes (so an image
is decoded once per frame that uses it, at most 5 times, never once per box). Decoding covers
only the window all of the frame's crops read and, with reduced-scale decoding
(config.decode_ratio "auto", see crops.py), uses the largest ratio that keeps every one of its
boxes at full crop resolution.

Every image that will be read is checked once before the dataset is built
(image_check.ImageCheck): a corrupt one raises ValueError naming it, its frame and annotation
file or, with `skip_corrupt_images`, is counted and read as missing (a frame t whose own image
is corrupt loses its boxes); a missing image of a frame t is a FileNotFoundError.
"""

import collections
import functools
from typing import Optional, Sequence

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from posewarper_jax.data import crops
from posewarper_jax.data import file_io
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import image_check
from posewarper_jax.data import neighbours
from posewarper_jax.data import records


def build_frame_entries(videos: Sequence[records.Video], offsets: Sequence[int],
                        images: image_check.ImageCheck) -> dict[str, object]:
  """One entry per frame with at least one Person whose image `images` accepts.

  Returns over F frames: paths (F, T) and frame_offsets (F, T) (effective offsets after
  clipping and fallback), video_index (F,), frame_position (F,), and ragged (F, (n), ...) per
  box: person_index, center (2,), scale (2,), score.
  """
  rows = {key: [] for key in ("paths", "frame_offsets", "video_index", "frame_position")}
  boxes = {key: [] for key in ("person_index", "center", "scale", "score")}
  lengths = []
  for video_index, video in enumerate(videos):
    for position, frame in enumerate(video.frames):
      if not frame.persons:
        continue
      if not images.require(frame.path):
        logging.warning("video %s, frame %d: %d boxes skipped with the image %s", video.name,
                        frame.frame_id, len(frame.persons), frame.path)
        continue
      paths, deltas = neighbours.resolve(video, position, offsets, images)
      rows["paths"].append(paths)
      rows["frame_offsets"].append(deltas)
      rows["video_index"].append(video_index)
      rows["frame_position"].append(position)
      lengths.append(len(frame.persons))
      for person_index, person in enumerate(frame.persons):
        boxes["person_index"].append(person_index)
        boxes["center"].append(person.center)
        boxes["scale"].append(person.scale)
        boxes["score"].append(person.score)
  if not lengths:
    raise ValueError("videos: no frame has a person box, nothing to evaluate")
  entries = {
      "paths": np.array(rows["paths"], object),
      "frame_offsets": np.array(rows["frame_offsets"], np.int32),
      "video_index": np.array(rows["video_index"], np.int32),
      "frame_position": np.array(rows["frame_position"], np.int32),
  }
  dtypes = {"person_index": np.int32, "center": np.float32, "scale": np.float32,
            "score": np.float32}
  for key, values in boxes.items():
    entries[key] = tf.RaggedTensor.from_row_lengths(np.array(values, dtypes[key]), lengths)
  return entries


def _crop_frame(entry: dict[str, tf.Tensor], *, image_size: tuple[int, int],
                reduced_decode: bool, backend: str) -> dict[str, tf.Tensor]:
  """One frame entry -> its n boxes, each with (T, H, W, 3) crops."""
  num_boxes = tf.shape(entry["center"])[0]
  matrices = crops.affine_matrix(entry["center"], entry["scale"], tf.zeros([num_boxes]),
                                 image_size)  # (n, 2, 3)
  contents = [tf.io.read_file(path) for path in tf.unstack(entry["paths"])]
  ratio, window, matrices = crops.plan_decode(tf.image.extract_jpeg_shape(contents[0]),
                                              matrices, image_size, reduced_decode)
  images = [crops.decode_jpeg(c, ratio, window) for c in contents]
  frames = crops.warp_boxes(images, matrices, image_size, backend)  # (n, T, H, W, 3)
  repeat = lambda value: tf.repeat(value[None], num_boxes, axis=0)
  return {
      "frames": frames,
      "frame_offsets": repeat(entry["frame_offsets"]),
      "video_index": repeat(entry["video_index"]),
      "frame_position": repeat(entry["frame_position"]),
      "person_index": entry["person_index"],
      "center": entry["center"],
      "scale": entry["scale"],
      "score": entry["score"],
  }


def make_eval_dataset(videos: Sequence[records.Video], config: ml_collections.ConfigDict, *,
                      batch_size: int, single_frame: bool = False, process_index: int = 0,
                      process_count: int = 1,
                      annotation_files: Optional[Sequence[file_io.Path]] = None,
                      skip_corrupt_images: bool = False,
                      skipped: Optional[collections.Counter] = None) -> tf.data.Dataset:
  """Batches of boxes in video/frame/person order, one pass; the last batch may be smaller.

  config: the `input` config section (image_size, decode_ratio, warp_backend are used).
  Frame entries go to process i % process_count. annotation_files (per video, named in errors),
  skip_corrupt_images and skipped (counts image_check.SKIP_CORRUPT_IMAGE): see the module
  docstring. Yields dicts of
    frames: (B, T, H, W, 3) uint8 RGB crops in neighbours.AGGREGATION_OFFSETS order (T = 5),
      or only frame t (T = 1) with `single_frame` (the heatmap functions normalise them);
    frame_offsets: (B, T) int32 effective offsets; video_index, frame_position, person_index:
      (B,) int32 locate the box in `videos`; center, scale: (B, 2) float32 crop parameters;
    score: (B,) float32 box score.
  """
  frame_pairs.check_config(config)
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} not in [0, process_count={process_count})")
  offsets = neighbours.SINGLE_FRAME_OFFSETS if single_frame else neighbours.AGGREGATION_OFFSETS
  images = image_check.ImageCheck(videos, annotation_files, skip_corrupt=skip_corrupt_images,
                                  skipped=skipped)
  entries = build_frame_entries(videos, offsets, images)
  crop = functools.partial(_crop_frame, image_size=tuple(config.image_size),
                           reduced_decode=config.decode_ratio == "auto",
                           backend=config.warp_backend)
  dataset = tf.data.Dataset.from_tensor_slices(entries).shard(process_count, process_index)
  dataset = dataset.map(tf.autograph.experimental.do_not_convert(crop),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return dataset.unbatch().batch(batch_size).prefetch(tf.data.AUTOTUNE)
