"""PoseTrack annotation files <-> `records.Video` (SPEC sections 2, 3.1 and 10.4).

Readers:
- `read_posetrack18_video` / `read_posetrack18`: official per-video PoseTrack18 JSON.
- `read_coco_style`: the merged COCO-style files of the PoseWarper release and of mmpose (same
  per-image and per-annotation fields, many videos in one file).
- `read_posetrack17_annolist`: official per-video PoseTrack17 `annolist` JSON.
Writers (for label selections and for predictions): `write_posetrack18_video`,
`write_posetrack17_annolist_video`.

Every reader returns DENSE videos: one `Frame` per frame of the video in time order, named by the
rule of SPEC 3.1 (`FrameNaming`), even when the file lists only some frames; frames not listed are
unlabeled and have no persons. Persons get the box cleaning and centre/scale of SPEC 3.1. Persons
whose keypoints are all zero and persons whose box has zero area (or lies off the image) are
skipped as the original loader does; each skip is logged and counted in the optional `skipped`
counter (keys `SKIP_*`).

Malformed input raises ValueError naming the file, the field and the value: among others a box
of negative width or height, and an image path that is absolute or leaves the image root
(path_containment). An image read for its size must be a sound JPEG (image_check).
"""

import collections
import dataclasses
import json
import os
import posixpath
import re
from typing import Any, Optional, Sequence

from absl import logging
import numpy as np

from posewarper_jax.data import file_io
from posewarper_jax.data import image_check
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import path_containment
from posewarper_jax.data import records
from posewarper_jax.data import transforms

# SPEC 2: input crops are 288 wide and 384 high.
DEFAULT_ASPECT_RATIO = 288 / 384

# Keys of the `skipped` counter.
SKIP_NO_KEYPOINTS = "no_keypoints"  # All 51 keypoint values are zero (SPEC 3.1).
SKIP_EMPTY_BOX = "empty_box"  # transforms.clean_box found no area (SPEC 3.1).

# PoseTrack17 / poseval joint ids 0..14 (poseval `Joint`), as names of our order (SPEC 2). poseval
# calls head_bottom "neck". PoseTrack17 has no ears: they stay [0, 0, 0] when reading and are not
# written.
POSETRACK17_JOINT_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "head_bottom", "nose", "head_top",
)
POSETRACK17_TO_JOINT = tuple(keypoints_lib.JOINT_INDEX[n] for n in POSETRACK17_JOINT_NAMES)

# PoseTrack17 files carry no person box; readers build one around the labeled joints and the head
# rectangle, grown by this fraction of its size on every side (inferred: the original trained on
# converted COCO-style files whose boxes are not reproducible from code).
JOINT_BOX_MARGIN = 0.15

# Annotation ids of the PoseTrack18 scheme: image_id * 100 + person index.
_ANNOTATION_ID_FACTOR = 100


@dataclasses.dataclass(frozen=True)
class FrameNaming:
  """How frame files are named (SPEC 3.1): `first` is the number of the first frame."""
  digits: int
  first: int

  def file_name(self, number: int) -> str:
    return f"{number:0{self.digits}d}.jpg"


POSETRACK18_NAMING = FrameNaming(digits=6, first=0)
POSETRACK17_NAMING = FrameNaming(digits=8, first=1)
_NAMING_BY_DIGITS = {n.digits: n for n in (POSETRACK18_NAMING, POSETRACK17_NAMING)}


# ----------------------------------------------------------------------------- validation helpers


def load_json(path: file_io.Path) -> Any:
  """Parses a JSON file; a parse error becomes a ValueError naming the file."""
  try:
    return json.loads(file_io.read_text(path))
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{path}: malformed JSON: {e}") from e


def field(record: Any, key: str, source: Any, where: str) -> Any:
  """record[key], or ValueError "source: where has no field 'key'"."""
  if not isinstance(record, dict):
    raise ValueError(f"{source}: {where} is not an object: {_short(record)}")
  if key not in record:
    raise ValueError(f"{source}: {where} has no field '{key}'")
  return record[key]


def number(value: Any, source: Any, where: str) -> float:
  """A JSON number (not a bool, string or null) as float, else ValueError."""
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
    raise ValueError(f"{source}: {where} is not a finite number: {_short(value)}")
  return float(value)


def integer(value: Any, source: Any, where: str) -> int:
  """A JSON integer (floats with integral values accepted), else ValueError."""
  value_float = number(value, source, where)
  if value_float != int(value_float):
    raise ValueError(f"{source}: {where} is not an integer: {_short(value)}")
  return int(value_float)


def numbers(values: Any, source: Any, where: str, count: Optional[int] = None) -> np.ndarray:
  """A JSON list of `count` numbers as (count,) float64, else ValueError."""
  if not isinstance(values, list):
    raise ValueError(f"{source}: {where} is not a list: {_short(values)}")
  if count is not None and len(values) != count:
    raise ValueError(f"{source}: {where} has {len(values)} values, expected {count}: "
                     f"{_short(values)}")
  return np.array([number(v, source, f"{where}[{i}]") for i, v in enumerate(values)], np.float64)


def box(values: Any, source: Any, where: str) -> np.ndarray:
  """A JSON [x, y, w, h] box as (4,) float64; a negative width or height is a ValueError."""
  parsed = numbers(values, source, where, count=4)
  for i, name in ((2, "width"), (3, "height")):
    if parsed[i] < 0:
      raise ValueError(f"{source}: {where}[{i}] ({name}) is negative: {_short(values[i])}")
  return parsed


def _short(value: Any) -> str:
  text = repr(value)
  return text if len(text) <= 80 else text[:77] + "..."


def _unwrap(value: Any) -> Any:
  """PoseTrack17 files wrap scalars in one-element lists (`"track_id": [3]`)."""
  if isinstance(value, list) and len(value) == 1:
    return value[0]
  return value


# ----------------------------------------------------------------------------- persons


def person_from_box(keypoints: np.ndarray, box: Sequence[float], width: int, height: int,
                    aspect_ratio: float = DEFAULT_ASPECT_RATIO,
                    **fields: Any) -> Optional[records.Person]:
  """A Person with the cleaned box and its centre/scale (SPEC 3.1), or None for an empty box.

  keypoints: (17, 3) (x, y, visibility); visibility is clipped to [0, 1].
  fields: the other `records.Person` fields (head_box, track_id, score, joint_scores).
  """
  cleaned = transforms.clean_box(box, width, height)
  if cleaned is None:
    return None
  center, scale = transforms.box_to_center_scale(cleaned, aspect_ratio)
  keypoints = np.array(keypoints, np.float32).reshape(keypoints_lib.NUM_JOINTS, 3)
  keypoints[:, 2] = np.clip(keypoints[:, 2], 0.0, 1.0)
  return records.Person(keypoints=keypoints, box=cleaned, center=center, scale=scale, **fields)


def box_around_joints(points: np.ndarray, margin: float = JOINT_BOX_MARGIN) -> np.ndarray:
  """[x, y, w, h] float64 of the tight box around points (N, 2), grown by `margin` per side."""
  points = np.asarray(points, np.float64).reshape(-1, 2)
  if not len(points):
    raise ValueError("box_around_joints needs at least one point")
  low, high = points.min(axis=0), points.max(axis=0)
  size = high - low
  low = low - margin * size
  return np.concatenate([low, size * (1.0 + 2.0 * margin)])


def unclean_box(box: np.ndarray) -> list[float]:
  """The [x, y, w + 1, h + 1] box that `transforms.clean_box` maps back to a cleaned `box`."""
  x, y, w, h = (float(v) for v in box)
  return [x, y, w + 1.0, h + 1.0]


# ----------------------------------------------------------------------------- frames and videos


def _frame_number(file_name: str, source: Any, where: str) -> tuple[str, int, int]:
  """file_name -> (folder, number, digits), e.g. ('images/val/x', 7, 6) for .../000007.jpg."""
  stem = posixpath.splitext(posixpath.basename(file_name))[0]
  if not stem.isdigit():
    raise ValueError(f"{source}: {where} '{file_name}' is not named by a frame number")
  return posixpath.dirname(file_name), int(stem), len(stem)


def _pick_naming(digits: int, naming: Optional[FrameNaming], source: Any,
                 where: str) -> FrameNaming:
  if naming is not None:
    return naming
  if digits not in _NAMING_BY_DIGITS:
    raise ValueError(f"{source}: {where} has {digits}-digit frame names; expected 6 "
                     "(PoseTrack18) or 8 (PoseTrack17), or pass `naming`")
  return _NAMING_BY_DIGITS[digits]


def _sequence_number(name: str) -> int:
  match = re.match(r"\d+", name)
  return int(match.group()) if match else 0


@dataclasses.dataclass
class _ListedFrame:
  """What a file says about one frame, before the video is made dense."""
  number: int
  image_id: Optional[int]
  is_labeled: bool
  persons: list
  ignore_regions: tuple
  size: Optional[tuple[int, int]]


def _dense_video(name: str, folder: str, root: path_containment.Root, naming: FrameNaming,
                 num_frames: int, listed: dict[int, _ListedFrame], source: Any, min_frames: int,
                 check_images: bool) -> records.Video:
  """Builds all `num_frames` frames; frames not in `listed` are unlabeled and empty.

  Image ids of frames not listed continue the listed ids (PoseTrack18 numbers the frames of a
  video consecutively); without any listed id they are seq * 10^4 + frame number.
  """
  if num_frames < min_frames:
    raise ValueError(f"{source}: video {name} has {num_frames} frame(s), this reader requires "
                     f"at least {min_frames}")
  last = naming.first + num_frames - 1
  for number_, frame in listed.items():
    if not naming.first <= number_ <= last:
      raise ValueError(f"{source}: frame {naming.file_name(number_)} of {name} lies outside "
                       f"frames {naming.first}..{last} (nframes {num_frames})")
  paths = {n: root.join(posixpath.join(folder, naming.file_name(n)), source,
                       f"video {name}, frame {n}")
           for n in range(naming.first, last + 1)}
  sizes = {frame.size for frame in listed.values() if frame.size is not None}
  if len(sizes) > 1:
    raise ValueError(f"{source}: video {name} has frames of different sizes {sorted(sizes)}")
  size = sizes.pop() if sizes else image_check.read_jpeg_size(paths[min(listed)], source)
  with_id = [f for f in listed.values() if f.image_id is not None]
  id_base = (with_id[0].image_id - with_id[0].number if with_id
             else _sequence_number(name) * 10_000)
  frames = []
  for number_ in range(naming.first, last + 1):
    frame = listed.get(number_)
    image_id = id_base + number_ if frame is None or frame.image_id is None else frame.image_id
    if frame is not None and frame.is_labeled and check_images and not file_io.exists(
        paths[number_]):
      raise ValueError(f"{source}: labeled frame {number_} of {name}: image {paths[number_]} "
                       "does not exist")
    frames.append(records.Frame(
        path=paths[number_], frame_id=number_, image_id=image_id, width=size[0], height=size[1],
        is_labeled=bool(frame and frame.is_labeled),
        persons=tuple(frame.persons) if frame else (),
        ignore_regions=frame.ignore_regions if frame else ()))
  return records.Video(name=name, frames=tuple(frames))


def _log_skips(source: Any, counts: collections.Counter,
               skipped: Optional[collections.Counter]) -> None:
  if counts:
    logging.info("%s: skipped persons %s", source, dict(counts))
  if skipped is not None:
    skipped.update(counts)


# ----------------------------------------------------------------------------- PoseTrack18 / COCO


def _with_area(polygons: list[np.ndarray]) -> tuple[np.ndarray, ...]:
  """Drops ignore polygons of fewer than 3 points (some files hold empty ones; no area)."""
  return tuple(p for p in polygons if len(p) >= 3)


def _ignore_regions_18(image: dict, source: Any, where: str) -> tuple[np.ndarray, ...]:
  xs = image.get("ignore_regions_x", [])
  ys = image.get("ignore_regions_y", [])
  if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
    raise ValueError(f"{source}: {where}.ignore_regions_x/y are not two lists of equal length")
  polygons = []
  for i, (x, y) in enumerate(zip(xs, ys)):
    x = numbers(x, source, f"{where}.ignore_regions_x[{i}]")
    y = numbers(y, source, f"{where}.ignore_regions_y[{i}]", count=len(x))
    polygons.append(np.stack([x, y], axis=1))
  return _with_area(polygons)


def _person_18(annotation: dict, size: tuple[int, int], aspect_ratio: float, source: Any,
               where: str, counts: collections.Counter) -> Optional[records.Person]:
  """One annotation -> Person, or None (counted) for the skips of SPEC 3.1."""
  keypoints = numbers(field(annotation, "keypoints", source, where), source,
                      f"{where}.keypoints", count=3 * keypoints_lib.NUM_JOINTS)
  person_box = box(field(annotation, "bbox", source, where), source, f"{where}.bbox")
  head = annotation.get("bbox_head")
  head_box = None if head is None else numbers(head, source, f"{where}.bbox_head", count=4)
  scores = annotation.get("scores", [])
  if isinstance(scores, list) and not scores:
    joint_scores = None
  else:
    joint_scores = numbers(scores, source, f"{where}.scores",
                           count=keypoints_lib.NUM_JOINTS).astype(np.float32)
  if not keypoints.any():
    counts[SKIP_NO_KEYPOINTS] += 1
    return None
  person = person_from_box(
      keypoints, person_box, size[0], size[1], aspect_ratio, head_box=head_box,
      track_id=integer(annotation.get("track_id", -1), source, f"{where}.track_id"),
      score=number(annotation.get("score", 1.0), source, f"{where}.score"),
      joint_scores=joint_scores)
  if person is None:
    counts[SKIP_EMPTY_BOX] += 1
  return person


def _videos_from_coco(data: Any, source: Any, root: path_containment.Root, aspect_ratio: float,
                      naming: Optional[FrameNaming], min_frames: int, check_images: bool,
                      skipped: Optional[collections.Counter]) -> tuple[records.Video, ...]:
  """COCO-style dict (images + annotations of one or many videos) -> dense videos."""
  images = field(data, "images", source, "the top level")
  annotations = field(data, "annotations", source, "the top level")
  for key, value in (("images", images), ("annotations", annotations)):
    if not isinstance(value, list):
      raise ValueError(f"{source}: '{key}' is not a list: {_short(value)}")
  videos = {}  # folder -> (naming, nframes, {number: _ListedFrame})
  frame_by_id = {}
  for i, image in enumerate(images):
    where = f"images[{i}]"
    file_name = root.relative(field(image, "file_name", source, where), source,
                              f"{where}.file_name")
    folder, frame_number, digits = _frame_number(file_name, source, f"{where}.file_name")
    image_id = integer(field(image, "id", source, where), source, f"{where}.id")
    nframes = integer(field(image, "nframes", source, where), source, f"{where}.nframes")
    if nframes < 1:
      raise ValueError(f"{source}: {where}.nframes is {nframes}, expected at least 1")
    video_naming = _pick_naming(digits, naming, source, f"{where}.file_name")
    entry = videos.setdefault(folder, (video_naming, nframes, {}))
    if entry[1] != nframes:
      raise ValueError(f"{source}: {where}.nframes is {nframes} but another image of {folder} "
                       f"says {entry[1]}")
    if frame_number in entry[2]:
      raise ValueError(f"{source}: {where}.file_name '{file_name}' is listed twice")
    if image_id in frame_by_id:
      raise ValueError(f"{source}: {where}.id {image_id} is used by two images")
    size = None
    if "width" in image or "height" in image:
      size = (integer(field(image, "width", source, where), source, f"{where}.width"),
              integer(field(image, "height", source, where), source, f"{where}.height"))
    is_labeled = image.get("is_labeled", True)
    if not isinstance(is_labeled, (bool, int)):
      raise ValueError(f"{source}: {where}.is_labeled is not a bool: {_short(is_labeled)}")
    frame = _ListedFrame(number=frame_number, image_id=image_id, is_labeled=bool(is_labeled),
                         persons=[], ignore_regions=_ignore_regions_18(image, source, where),
                         size=size)
    entry[2][frame_number] = frame
    frame_by_id[image_id] = (folder, frame)
  counts = collections.Counter()
  for i, annotation in enumerate(annotations):
    where = f"annotations[{i}]"
    image_id = integer(field(annotation, "image_id", source, where), source, f"{where}.image_id")
    if image_id not in frame_by_id:
      raise ValueError(f"{source}: {where}.image_id {image_id} matches no image")
    folder, frame = frame_by_id[image_id]
    size = frame.size
    if size is None:
      folder_naming = videos[folder][0]
      size = image_check.read_jpeg_size(
          root.join(posixpath.join(folder, folder_naming.file_name(frame.number)), source,
                    f"{where}.image_id"), source)
      frame.size = size
    person = _person_18(annotation, size, aspect_ratio, source, where, counts)
    if person is not None:
      frame.persons.append(person)
  _log_skips(source, counts, skipped)
  return tuple(
      _dense_video(posixpath.basename(folder), folder, root, video_naming, nframes, listed,
                   source, min_frames, check_images)
      for folder, (video_naming, nframes, listed) in videos.items())


def read_posetrack18_video(json_path: file_io.Path, image_root: file_io.Path,
                           aspect_ratio: float = DEFAULT_ASPECT_RATIO, *, min_frames: int = 1,
                           check_images: bool = False,
                           skipped: Optional[collections.Counter] = None) -> records.Video:
  """Reads one official PoseTrack18 per-video JSON into a dense Video.

  Frame paths are `image_root/<folder of the listed file_names>/%06d.jpg`, 0..nframes-1.
  min_frames: raise for videos with fewer frames (e.g. 2 for temporal training, where a one-frame
    video gives no supporting frame); the default 1 accepts every video.
  check_images: raise if the image of a labeled frame does not exist (unlabeled frames are only
    supporting frames, which the original replaces by frame A when missing, SPEC 3.2).
  skipped: if given, the skip counts (SKIP_* keys) are added to it.
  """
  videos = _videos_from_coco(load_json(json_path), json_path, path_containment.Root(image_root),
                             aspect_ratio, POSETRACK18_NAMING, min_frames, check_images, skipped)
  if len(videos) != 1:
    raise ValueError(f"{json_path}: images come from {len(videos)} folders "
                     f"{[v.name for v in videos]}, expected one video")
  return videos[0]


def read_posetrack18(annotation_dir: file_io.Path, image_root: file_io.Path,
                     aspect_ratio: float = DEFAULT_ASPECT_RATIO,
                     **kwargs: Any) -> tuple[records.Video, ...]:
  """Reads every *.json of `annotation_dir` (sorted by name) with `read_posetrack18_video`."""
  paths = file_io.glob(os.path.join(os.fspath(annotation_dir), "*.json"))
  if not paths:
    raise ValueError(f"{annotation_dir}: no *.json annotation files")
  return tuple(read_posetrack18_video(p, image_root, aspect_ratio, **kwargs) for p in paths)


def read_coco_style(json_path: file_io.Path, image_root: file_io.Path,
                    aspect_ratio: float = DEFAULT_ASPECT_RATIO, *,
                    naming: Optional[FrameNaming] = None, min_frames: int = 1,
                    check_images: bool = False,
                    skipped: Optional[collections.Counter] = None) -> tuple[records.Video, ...]:
  """Reads a merged COCO-style file (PoseWarper release, mmpose) into dense Videos.

  One Video per image folder, in order of first appearance. naming: frame naming; by default
  inferred per video from the digits of the listed names (6: PoseTrack18, 8: PoseTrack17).
  Other arguments as in `read_posetrack18_video`.
  """
  return _videos_from_coco(load_json(json_path), json_path, path_containment.Root(image_root),
                           aspect_ratio, naming, min_frames, check_images, skipped)


def _vid_id(video: records.Video) -> str:
  return video.name.split("_")[0]


def _number_list(values: np.ndarray) -> list:
  """float array -> JSON list, integral values as ints (like the official files)."""
  return [int(v) if float(v).is_integer() else float(v) for v in np.asarray(values).ravel()]


def _relative(path: str, image_root: Optional[file_io.Path]) -> str:
  return path if image_root is None else os.path.relpath(path, os.fspath(image_root))


def posetrack18_dict(video: records.Video, image_root: Optional[file_io.Path] = None) -> dict:
  """A Video as an official PoseTrack18 JSON object (see `write_posetrack18_video`)."""
  images, annotations = [], []
  for frame in video.frames:
    images.append({
        "file_name": _relative(frame.path, image_root), "id": frame.image_id,
        "frame_id": frame.image_id, "vid_id": _vid_id(video), "nframes": len(video.frames),
        "is_labeled": frame.is_labeled, "width": frame.width, "height": frame.height,
        "ignore_regions_x": [_number_list(p[:, 0]) for p in frame.ignore_regions],
        "ignore_regions_y": [_number_list(p[:, 1]) for p in frame.ignore_regions],
    })
    for k, person in enumerate(frame.persons):
      annotation = {
          "keypoints": [float(v) for v in person.keypoints.ravel()],
          "bbox": unclean_box(person.box),
          "track_id": person.track_id,
          "image_id": frame.image_id,
          "id": frame.image_id * _ANNOTATION_ID_FACTOR + k,
          "category_id": 1,
          "scores": ([] if person.joint_scores is None
                     else [float(s) for s in person.joint_scores]),
          "score": float(person.score),
      }
      if person.head_box is not None:
        annotation["bbox_head"] = _number_list(person.head_box)
      annotations.append(annotation)
  categories = [{"supercategory": "person", "id": 1, "name": "person",
                 "keypoints": list(keypoints_lib.JOINT_NAMES)}]
  return {"categories": categories, "images": images, "annotations": annotations}


def write_posetrack18_video(video: records.Video, json_path: file_io.Path,
                            image_root: Optional[file_io.Path] = None) -> None:
  """Writes a Video as official PoseTrack18 JSON; `read_posetrack18_video` gives it back.

  All frames are listed as images (with is_labeled and ignore regions); persons are annotations
  with keypoints, bbox, bbox_head, track_id, `scores` (joint scores or []) and `score` (the box
  score, an addition the evaluation ignores). bbox is written as [x, y, w + 1, h + 1], which
  box cleaning (SPEC 3.1) maps back to the stored cleaned box. file_name is relative to
  `image_root` when given, else the frame's full path.
  """
  file_io.write_text(json_path, json.dumps(posetrack18_dict(video, image_root)))


# ----------------------------------------------------------------------------- PoseTrack17


def _entry_name(entry: dict, source: Any, where: str) -> str:
  image = _unwrap(field(entry, "image", source, where))
  name = field(image, "name", source, f"{where}.image")
  if not isinstance(name, str):
    raise ValueError(f"{source}: {where}.image.name is not a string: {_short(name)}")
  return name


def _ignore_regions_17(entry: dict, source: Any, where: str) -> tuple[np.ndarray, ...]:
  regions = entry.get("ignore_regions", [])
  if not isinstance(regions, list):
    raise ValueError(f"{source}: {where}.ignore_regions is not a list: {_short(regions)}")
  polygons = []
  for i, region in enumerate(regions):
    points = field(region, "point", source, f"{where}.ignore_regions[{i}]")
    if not isinstance(points, list):
      raise ValueError(f"{source}: {where}.ignore_regions[{i}].point is not a list")
    polygon = [[number(_unwrap(field(p, axis, source, f"{where}.ignore_regions[{i}].point[{j}]")),
                       source, f"{where}.ignore_regions[{i}].point[{j}].{axis}")
                for axis in ("x", "y")] for j, p in enumerate(points)]
    polygons.append(np.array(polygon, np.float64).reshape(-1, 2))
  return _with_area(polygons)


def _person_17(rect: dict, size: tuple[int, int], aspect_ratio: float, box_margin: float,
               source: Any, where: str, counts: collections.Counter) -> Optional[records.Person]:
  """One annorect -> Person (box around joints and head), or None (counted)."""
  keypoints = np.zeros((keypoints_lib.NUM_JOINTS, 3), np.float64)
  joint_scores = np.zeros(keypoints_lib.NUM_JOINTS, np.float32)
  has_scores = False
  annopoints = _unwrap(rect.get("annopoints", []))
  points = [] if annopoints in ([], None) else field(annopoints, "point", source,
                                                     f"{where}.annopoints")
  if not isinstance(points, list):
    raise ValueError(f"{source}: {where}.annopoints.point is not a list: {_short(points)}")
  for j, point in enumerate(points):
    point_where = f"{where}.annopoints.point[{j}]"
    joint = integer(_unwrap(field(point, "id", source, point_where)), source, f"{point_where}.id")
    if not 0 <= joint < len(POSETRACK17_TO_JOINT):
      raise ValueError(f"{source}: {point_where}.id is {joint}, expected 0..14")
    # Every listed point is an annotated joint; `is_visible` (occlusion) is not a label mask, as
    # in PoseTrack18 where annotated joints all have visibility 1.
    keypoints[POSETRACK17_TO_JOINT[joint]] = [
        number(_unwrap(field(point, "x", source, point_where)), source, f"{point_where}.x"),
        number(_unwrap(field(point, "y", source, point_where)), source, f"{point_where}.y"), 1.0]
    if "score" in point:
      has_scores = True
      joint_scores[POSETRACK17_TO_JOINT[joint]] = number(_unwrap(point["score"]), source,
                                                         f"{point_where}.score")
  head_box = None
  if all(k in rect for k in ("x1", "y1", "x2", "y2")):
    x1, y1, x2, y2 = (number(_unwrap(rect[k]), source, f"{where}.{k}")
                      for k in ("x1", "y1", "x2", "y2"))
    head_box = np.array([x1, y1, x2 - x1, y2 - y1], np.float64)
  if not keypoints.any():
    counts[SKIP_NO_KEYPOINTS] += 1
    return None
  corners = keypoints[keypoints[:, 2] > 0, :2]
  if head_box is not None:
    corners = np.concatenate([corners, [head_box[:2], head_box[:2] + head_box[2:]]])
  person = person_from_box(
      keypoints, box_around_joints(corners, box_margin), size[0], size[1], aspect_ratio,
      head_box=head_box,
      track_id=integer(_unwrap(rect.get("track_id", -1)), source, f"{where}.track_id"),
      score=number(_unwrap(rect.get("score", 1.0)), source, f"{where}.score"),
      joint_scores=joint_scores if has_scores else None)
  if person is None:
    counts[SKIP_EMPTY_BOX] += 1
  return person


def read_posetrack17_annolist(json_path: file_io.Path, image_root: file_io.Path,
                              aspect_ratio: float = DEFAULT_ASPECT_RATIO, *,
                              num_frames: Optional[int] = None,
                              image_size: Optional[tuple[int, int]] = None,
                              box_margin: float = JOINT_BOX_MARGIN, min_frames: int = 1,
                              check_images: bool = False,
                              skipped: Optional[collections.Counter] = None) -> records.Video:
  """Reads one official PoseTrack17 per-video `annolist` JSON into a dense Video.

  Joints: PoseTrack17 ids -> our order by POSETRACK17_TO_JOINT; ears stay [0, 0, 0]. Every
  listed point gets visibility 1 (its `is_visible` flag marks occlusion, not a missing label).
  Frames are `%08d.jpg` from 1 (SPEC 3.1) up to `num_frames` (default: the highest listed frame).
  The file has neither person boxes nor image sizes: boxes surround the joints and head rectangle
  (`box_around_joints`, margin `box_margin`), and the size is `image_size` (width, height) or
  read from the first listed image. The head rectangle x1/y1/x2/y2 becomes `head_box`; point
  `score`s become joint_scores and annorect `score` the box score (prediction files).
  Image ids (absent in the format) are seq * 10^4 + frame number. Other arguments as in
  `read_posetrack18_video`.
  """
  data = load_json(json_path)
  annolist = field(data, "annolist", json_path, "the top level")
  if not isinstance(annolist, list) or not annolist:
    raise ValueError(f"{json_path}: 'annolist' is not a non-empty list: {_short(annolist)}")
  folders, listed = set(), {}
  counts = collections.Counter()
  root = path_containment.Root(image_root)
  for i, entry in enumerate(annolist):
    where = f"annolist[{i}]"
    name = root.relative(_entry_name(entry, json_path, where), json_path, f"{where}.image.name")
    folder, frame_number, _ = _frame_number(name, json_path, f"{where}.image.name")
    folders.add(folder)
    if frame_number in listed:
      raise ValueError(f"{json_path}: {where}.image.name '{name}' is listed twice")
    if image_size is None:
      image_size = image_check.read_jpeg_size(root.join(name, json_path, f"{where}.image.name"),
                                              json_path)
    is_labeled = _unwrap(entry.get("is_labeled", 1))
    if not isinstance(is_labeled, (bool, int)):
      raise ValueError(f"{json_path}: {where}.is_labeled is not 0/1: {_short(is_labeled)}")
    rects = entry.get("annorect", [])
    if not isinstance(rects, list):
      raise ValueError(f"{json_path}: {where}.annorect is not a list: {_short(rects)}")
    persons = [_person_17(rect, image_size, aspect_ratio, box_margin, json_path,
                          f"{where}.annorect[{j}]", counts) for j, rect in enumerate(rects)]
    listed[frame_number] = _ListedFrame(
        number=frame_number, image_id=None, is_labeled=bool(is_labeled),
        persons=[p for p in persons if p is not None],
        ignore_regions=_ignore_regions_17(entry, json_path, where), size=tuple(image_size))
  if len(folders) != 1:
    raise ValueError(f"{json_path}: image names come from {len(folders)} folders "
                     f"{sorted(folders)}, expected one video")
  folder = folders.pop()
  if num_frames is None:
    num_frames = max(listed) - POSETRACK17_NAMING.first + 1
  _log_skips(json_path, counts, skipped)
  return _dense_video(posixpath.basename(folder), folder, root, POSETRACK17_NAMING,
                      num_frames, listed, json_path, min_frames, check_images)


def posetrack17_annolist_dict(video: records.Video,
                              image_root: Optional[file_io.Path] = None) -> dict:
  """A Video as a PoseTrack17 annolist JSON object (see `write_posetrack17_annolist_video`)."""
  annolist = []
  for frame in video.frames:
    rects = []
    for person in frame.persons:
      points = []
      for pt17_id, joint in enumerate(POSETRACK17_TO_JOINT):
        x, y, visibility = (float(v) for v in person.keypoints[joint])
        if visibility <= 0:
          continue
        point = {"id": [pt17_id], "x": [x], "y": [y], "is_visible": [1]}
        if person.joint_scores is not None:
          point["score"] = [float(person.joint_scores[joint])]
        points.append(point)
      rect = {"track_id": [person.track_id], "score": [float(person.score)],
              "annopoints": [{"point": points}]}
      if person.head_box is not None:
        x, y, w, h = (float(v) for v in person.head_box)
        rect.update(x1=[x], y1=[y], x2=[x + w], y2=[y + h])
      rects.append(rect)
    annolist.append({
        "image": [{"name": _relative(frame.path, image_root)}],
        "imgnum": [frame.frame_id],
        "is_labeled": [int(frame.is_labeled)],
        "ignore_regions": [{"point": [{"x": [float(x)], "y": [float(y)]} for x, y in polygon]}
                           for polygon in frame.ignore_regions],
        "annorect": rects,
    })
  return {"annolist": annolist}


def write_posetrack17_annolist_video(video: records.Video, json_path: file_io.Path,
                                     image_root: Optional[file_io.Path] = None) -> None:
  """Writes a Video as PoseTrack17 annolist JSON (15 joints; ears are dropped).

  Joints with visibility 0 are left out; joint_scores go to each point's `score`, the box score
  to the annorect `score`, head_box to x1/y1/x2/y2. Person boxes are not part of the format:
  reading back rebuilds them from joints and head rectangle.
  """
  file_io.write_text(json_path, json.dumps(posetrack17_annolist_dict(video, image_root)))


# ----------------------------------------------------------------------------- both formats


def _listed_images(data: Any, json_path: file_io.Path) -> list:
  """The `images` list of a PoseTrack18 or COCO-style file."""
  images = field(data, "images", json_path, "the top level")
  if not isinstance(images, list):
    raise ValueError(f"{json_path}: 'images' is not a list: {_short(images)}")
  return images


def listed_frame_ids(json_path: file_io.Path) -> tuple[int, ...]:
  """Frame numbers (records.Frame.frame_id) of the frames a per-video file lists, in file order.

  Works for PoseTrack18 JSON and PoseTrack17 annolist. Prediction files are written for exactly
  these frames in this order (eval.predictions), as poseval pairs frames by position.
  """
  data = load_json(json_path)
  if isinstance(data, dict) and "annolist" in data:
    entries = field(data, "annolist", json_path, "the top level")
    names = [(_entry_name(entry, json_path, f"annolist[{i}]"), f"annolist[{i}].image.name")
             for i, entry in enumerate(entries)]
  else:
    names = [(field(image, "file_name", json_path, f"images[{i}]"), f"images[{i}].file_name")
             for i, image in enumerate(_listed_images(data, json_path))]
  return tuple(_frame_number(str(name), json_path, where)[1] for name, where in names)


def listed_image_ids(json_path: file_io.Path) -> Optional[frozenset[int]]:
  """The image ids a PoseTrack18 or COCO-style file lists (such files list every frame), or
  None for a PoseTrack17 annolist (it lists only labeled frames and has no ids)."""
  data = load_json(json_path)
  if isinstance(data, dict) and "annolist" in data:
    return None
  return frozenset(integer(field(image, "id", json_path, f"images[{i}]"), json_path,
                           f"images[{i}].id")
                   for i, image in enumerate(_listed_images(data, json_path)))


READERS = ("posetrack18", "posetrack17")


def split_annotation_files(root: file_io.Path, split: str) -> list[str]:
  """The per-video files `root/annotations/<split>/*.json` of the dataset layout, sorted.

  A missing root or annotation folder is a FileNotFoundError naming it.
  """
  annotation_dir = os.path.join(os.fspath(root), "annotations", split)
  for folder, what in ((root, "dataset root"), (annotation_dir, f"annotation folder of {split}")):
    if not file_io.exists(folder):
      raise FileNotFoundError(f"{folder}: {what} does not exist")
  paths = file_io.glob(os.path.join(annotation_dir, "*.json"))
  if not paths:
    raise ValueError(f"{annotation_dir}: no *.json annotation files")
  return paths


def read_video_file(reader: str, json_path: file_io.Path, root: file_io.Path) -> records.Video:
  """One per-video file of the dataset layout (images under `root`) as a dense Video.

  reader: "posetrack18" (official JSON) or "posetrack17" (annolist, whose videos are extended
  to the number of images in the frame folder when unlabeled frames follow the last listed one).
  """
  if reader == "posetrack18":
    return read_posetrack18_video(json_path, root)
  if reader == "posetrack17":
    video = read_posetrack17_annolist(json_path, root)
    folder = os.path.dirname(video.frames[0].path)
    num_images = len(file_io.glob(os.path.join(folder, "*.jpg")))
    if num_images > len(video.frames):
      video = read_posetrack17_annolist(json_path, root, num_frames=num_images)
    return video
  raise ValueError(f"reader={reader!r}: expected one of {READERS}")


def read_split(reader: str, root: file_io.Path, split: str) -> tuple[records.Video, ...]:
  """Every video of `root/annotations/<split>/*.json` (sorted by file name), images under `root`."""
  return tuple(read_video_file(reader, path, root)
               for path in split_annotation_files(root, split))
