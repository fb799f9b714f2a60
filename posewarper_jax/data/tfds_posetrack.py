"""PoseTrack17/18 (and the synthetic set) as a TFDS dataset of labeled frames.

Build from the command line:
  python -m posewarper_jax.data.build_tfds --config posetrack18 --manual_dir DIR \
      [--data_dir OUT]
or, where the `tfds` CLI's own dependencies are installed (tensorflow-datasets 4.9.10's CLI
imports apache_beam, which is not in requirements.txt):
  tfds build posetrack_frames --imports posewarper_jax.data.tfds_posetrack \
      --config posetrack18 --manual_dir DIR [--data_dir OUT]
or from Python:
  builder = tfds_posetrack.PosetrackFrames(config="posetrack18", data_dir=OUT)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=DIR))
  videos = tfds_posetrack.read_split(builder, "train", image_root=DIR + "/posetrack18")

One example per labeled frame, with its persons and the paths of frames t-T..t+T (T =
`neighbour_range`, 2: stage-2 pairs and the aggregation window). Images are stored as PATHS
relative to the config's folder under the manual dir, not as JPEG bytes: each frame serves as
frame A once and as a neighbour of up to 2T labeled frames, so storing bytes would copy the
labeled JPEG windows up to (2T + 1) = 5 times (measured on the PoseTrack18 sample: its 3
examples with 14 persons take 6.3 KB in all, one 1920x1080 frame 85-150 KB), and the pipelines read
the frames directly with tf.io.gfile (local disk or cloud storage, e.g. on a pod) from the
image root given to `read_split`. A neighbour whose image file is missing at build time is
stored as "" and falls back to frame t in the pipelines (SPEC 3.2). Ignore regions are not
stored (training and the pair pipeline do not use them).
"""

import collections
import dataclasses
import functools
import os
from typing import Any, Iterable, Optional

from etils import epath
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from posewarper_jax.data import file_io
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import path_containment
from posewarper_jax.data import posetrack
from posewarper_jax.data import records

SPLITS = ("train", "val")
# SPEC 3.2 (stage-2 delta range T = 2) and 7b (aggregation over t-2..t+2).
DEFAULT_NEIGHBOUR_RANGE = 2


@dataclasses.dataclass
class PosetrackConfig(tfds.core.BuilderConfig):
  """reader: "posetrack18" (official per-video JSON) or "posetrack17" (per-video annolist)."""
  reader: str = "posetrack18"
  neighbour_range: int = DEFAULT_NEIGHBOUR_RANGE


class PosetrackFrames(tfds.core.GeneratorBasedBuilder):
  """Labeled PoseTrack frames with persons and neighbour frame paths."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Labeled frames, persons, neighbour paths within +-2."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the data under the manual dir, one folder per config:
    posetrack18/images/{train,val}/<sequence>/%06d.jpg      (all frames, from posetrack.net)
    posetrack18/annotations/{train,val}/<sequence>.json      (official PoseTrack18 JSON)
    posetrack17/images/{train,val}/<sequence>/%08d.jpg      (frames renamed 1-based, SPEC 3.1)
    posetrack17/annotations/{train,val}/<sequence>.json      (official annolist JSON)
    synthetic/...                                            (same layout as posetrack18,
        written by `python -m posewarper_jax.data.synthetic --out <manual_dir>/synthetic`)
  Splits whose annotation folder is missing are skipped.
  """
  BUILDER_CONFIGS = [
      PosetrackConfig(name="posetrack18", description="PoseTrack18 (official JSON).",
                      reader="posetrack18"),
      PosetrackConfig(name="posetrack17", description="PoseTrack17 (annolist JSON).",
                      reader="posetrack17"),
      PosetrackConfig(name="synthetic", description="Synthetic videos, PoseTrack18 layout.",
                      reader="posetrack18"),
  ]

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # The default looks the module up through `importlib_resources`, which is not among the
    # pinned requirements; the source file is all TFDS needs (checksums beside it).
    return epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    window = 2 * self.builder_config.neighbour_range + 1
    # tf.train.Example stores floats as float32: float64 fields go as raw bytes (lossless).
    float64 = lambda n: tfds.features.Tensor(shape=(n,), dtype=np.float64,
                                             encoding=tfds.features.Encoding.BYTES)
    person = {
        "keypoints": tfds.features.Tensor(shape=(keypoints_lib.NUM_JOINTS, 3), dtype=np.float32),
        "box": float64(4),
        "center": float64(2),
        "scale": float64(2),
        "head_box": float64(4),
        "has_head_box": np.bool_,
        "track_id": np.int64,
        "score": np.float32,
    }
    features = tfds.features.FeaturesDict({
        "video_name": tfds.features.Text(),
        "frame_position": np.int32,
        "num_frames": np.int32,
        "frame_id": np.int32,
        "image_id": np.int64,
        "width": np.int32,
        "height": np.int32,
        "image_path": tfds.features.Text(),
        "neighbour_positions": tfds.features.Tensor(shape=(window,), dtype=np.int32),
        "neighbour_paths": tfds.features.Tensor(shape=(window,), dtype=np.str_),
        "persons": tfds.features.Sequence(person),
    })
    return self.dataset_info_from_configs(features=features, homepage="https://posetrack.net")

  def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
    root = os.path.join(os.fspath(dl_manager.manual_dir), self.builder_config.name)
    splits = [s for s in SPLITS if tf.io.gfile.isdir(os.path.join(root, "annotations", s))]
    if not splits:
      raise ValueError(f"{root}: no annotations/train or annotations/val folder; "
                       f"see MANUAL_DOWNLOAD_INSTRUCTIONS")
    return {split: self._generate_examples(root, split) for split in splits}

  def _generate_examples(self, root: str, split: str):
    config = self.builder_config
    for video in posetrack.read_split(config.reader, root, split):
      yield from examples_from_video(video, root, config.neighbour_range)


def _key(video_name: str, position: int) -> str:
  """The key of the example of frame `position` of a video."""
  return f"{video_name}/{position:06d}"


def examples_from_video(video: records.Video, root: str, neighbour_range: int):
  """(key, example) per labeled frame; paths relative to `root`, "" for missing neighbours."""
  offsets = range(-neighbour_range, neighbour_range + 1)
  exists = functools.cache(file_io.exists)
  last = len(video.frames) - 1
  for position in video.labeled_positions:
    frame = video.frames[position]
    around = [int(np.clip(position + offset, 0, last)) for offset in offsets]
    paths = [os.path.relpath(video.frames[p].path, root) if exists(video.frames[p].path) else ""
             for p in around]
    persons = [{
        "keypoints": p.keypoints.astype(np.float32),
        "box": p.box, "center": p.center, "scale": p.scale,
        "head_box": np.zeros(4) if p.head_box is None else p.head_box,
        "has_head_box": p.head_box is not None,
        "track_id": p.track_id, "score": p.score,
    } for p in frame.persons]
    yield _key(video.name, position), {
        "video_name": video.name, "frame_position": position, "num_frames": len(video.frames),
        "frame_id": frame.frame_id, "image_id": frame.image_id,
        "width": frame.width, "height": frame.height,
        "image_path": os.path.relpath(frame.path, root),
        "neighbour_positions": np.array(around, np.int32),
        "neighbour_paths": np.array(paths, object),
        "persons": persons,
    }


def _text(value: Any) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def videos_from_examples(examples: Iterable[dict[str, Any]], image_root: str,
                         source: str = "TFDS examples") -> tuple[records.Video, ...]:
  """Numpy examples (tfds.as_numpy) -> Videos sorted by name, ready for the pipelines.

  Each video has all `num_frames` frames; labeled frames carry their persons and neighbour
  frames their paths (joined to `image_root`; a path that is absolute or leaves it is a
  ValueError naming `source`, the example and the value: path_containment). Frames outside every
  stored window, and missing neighbours, get path "" (treated as missing: frame t is used
  instead) and ids -1.
  """
  root = path_containment.Root(image_root)
  by_video = collections.defaultdict(list)
  for example in examples:
    by_video[_text(example["video_name"])].append(example)
  videos = []
  for name in sorted(by_video):
    items = by_video[name]
    num_frames = int(items[0]["num_frames"])
    width, height = int(items[0]["width"]), int(items[0]["height"])
    frames: list[Optional[records.Frame]] = [None] * num_frames
    paths = [""] * num_frames
    for item in items:
      where = f"example {_key(name, int(item['frame_position']))}"
      for k, (position, path) in enumerate(zip(item["neighbour_positions"],
                                               item["neighbour_paths"])):
        if _text(path):
          paths[position] = root.join(_text(path), source, f"{where}.neighbour_paths[{k}]")
    for item in items:
      people = item["persons"]
      persons = tuple(records.Person(
          keypoints=people["keypoints"][k], box=people["box"][k], center=people["center"][k],
          scale=people["scale"][k],
          head_box=people["head_box"][k] if people["has_head_box"][k] else None,
          track_id=int(people["track_id"][k]), score=float(people["score"][k]))
                      for k in range(len(people["keypoints"])))
      position = int(item["frame_position"])
      frames[position] = records.Frame(
          path=root.join(_text(item["image_path"]), source,
                         f"example {_key(name, position)}.image_path"),
          frame_id=int(item["frame_id"]), image_id=int(item["image_id"]), width=width,
          height=height, is_labeled=True, persons=persons)
    frames = [frame or records.Frame(path=paths[i], frame_id=-1, image_id=-1, width=width,
                                     height=height, is_labeled=False)
              for i, frame in enumerate(frames)]
    videos.append(records.Video(name=name, frames=tuple(frames)))
  return tuple(videos)


def read_split(builder: tfds.core.DatasetBuilder, split: str,
               image_root: str) -> tuple[records.Video, ...]:
  """A prepared split as Videos; image_root: the config's folder (local or cloud path)."""
  dataset = builder.as_dataset(split=split, shuffle_files=False)
  return videos_from_examples(tfds.as_numpy(dataset), image_root,
                              source=f"{builder.info.full_name} split {split!r}")

