"""The PoseTrack per-joint AP of poseval `--evalPoseEstimation` (SPEC 6 point 6 and appendix).

Reads a directory of ground-truth files and a directory of prediction files (one JSON per
sequence, paired by basename), in PoseTrack18 (`images`/`annotations`/`categories`) or PoseTrack17
(`annolist`) format, in any mix. Frames are paired by file name (sequence folder and frame file,
e.g. `003418_mpii_test/000000.jpg`, whatever the folders above), and image ids must agree where
both files have them. The reading rules are poseval's, which differ on purpose from the
training readers in posewarper_jax.data (e.g. a keypoint triple counts unless it is exactly
(0, 0, 0), whatever its visibility flag).

Joints are handled internally in poseval's PoseTrack17 id order (`POSEVAL_JOINT_NAMES`) and
reported under the names of keypoints.EVAL_JOINT_NAMES.

Deliberate differences from poseval, none of which changes a number on valid input:
- Bad input raises ValueError naming the file, frame and person instead of an assertion or crash.
- Frames are paired by file name, not by position: a prediction file may list the ground
  truth's frames in another order; a frame missing on either side is an error (poseval asserts
  equal counts and pairs by position).
- Ignore regions use an even-odd point-in-polygon test; a point on a polygon's boundary (edge or
  vertex) is not inside, as in shapely's `Polygon.contains`. A polygon with fewer than 3 vertices
  contains nothing (poseval cannot build it).
- Tied scores are ordered by `np.argsort(scores, kind="stable")[::-1]` (the later-pooled joint
  first). poseval uses the default `argsort()[::-1]`, whose tie order numpy does not guarantee;
  it gives this same order on small arrays sorted by insertion sort.
- Prediction track ids are not checked for uniqueness (PoseWarper's copy of poseval does not).
- Numeric fields may be given bare or as one-element lists (`"x": 3` or `"x": [3]`).
"""

import dataclasses
import json
import math
import os
import pathlib
import re
import reprlib
import sys
from typing import Any, Optional, Sequence

import numpy as np

from posewarper_jax.data import keypoints

# SPEC appendix 3: poseval's joint ids (PoseTrack17 `point.id`); 12 is what poseval calls "neck".
POSEVAL_JOINT_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "head_bottom", "nose", "head_top",
)
NUM_EVAL_JOINTS = len(POSEVAL_JOINT_NAMES)
# SPEC appendix 8: headSize = 0.6 * head box diagonal; a joint matches at distance <= 0.5 headSize.
HEAD_SIZE_FACTOR = 0.6
MATCH_THRESHOLD = 0.5
# SPEC appendix 4: the score of a predicted joint that comes without one.
MISSING_SCORE = -9999.0
# SPEC appendix 1: PoseTrack18 `file_name` is .../<digits>_<mpii|bonn|mpiinew>[_...]/<frame>.jpg.
# Deliberate difference: any word after the digits is accepted (poseval accepts only the three
# PoseTrack source tags), so that the project's own videos (<digits>_synthetic_...) can be
# scored; every name poseval accepts is read the same way.
_SEQUENCE_DIR = re.compile(r"^\d+_\w+$")
_MAX_FRAME_INDEX = 10000


@dataclasses.dataclass
class _Person:
  """One person as poseval sees it.

  points: (P, 4) float64 rows (joint id, x, y, score) in file order; a joint id may repeat and
    the first row wins, as in poseval's `getPointGTbyID`.
  head_size: 0.6 * head box diagonal, None when the person has no head box.
  where: "file ..., frame ..., person ..." for error messages.
  """
  points: np.ndarray
  head_size: Optional[float]
  where: str

  def joints(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> coords (15, 2), present (15,) bool, scores (15,), first row per joint id."""
    coords = np.zeros((NUM_EVAL_JOINTS, 2))
    present = np.zeros(NUM_EVAL_JOINTS, bool)
    scores = np.full(NUM_EVAL_JOINTS, np.nan)
    for joint_id, x, y, score in self.points[::-1]:
      if joint_id in range(NUM_EVAL_JOINTS):
        j = int(joint_id)
        coords[j], present[j], scores[j] = (x, y), True, score
    return coords, present, scores


@dataclasses.dataclass
class _Frame:
  """persons: after poseval's `removeRectsWithoutPoints`; num_rects: the count before it.

  ignore_regions: polygons, each (V, 2) float64 (x, y).
  name: the pairing key, sequence folder and frame file ("003418_mpii_test/000000.jpg").
  image_id: the PoseTrack18 image id, None in annolist files.
  where: "file ..., frame ..." for error messages.
  """
  persons: list[_Person]
  num_rects: int
  ignore_regions: list[np.ndarray]
  name: str
  image_id: Optional[int]
  where: str


# ---------------------------------------------------------------------------------------------
# Reading.


def _scalar(value: Any, what: str) -> float:
  """A JSON number (NaN included), bare or wrapped in a one-element list."""
  if isinstance(value, list):
    if len(value) != 1:
      raise ValueError(f"{what}: expected a number or a one-element list, got {value!r}")
    value = value[0]
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ValueError(f"{what}: expected a number, got {value!r}")
  return float(value)


def _count_and_value(value: Any) -> str:
  """'16 numbers: [0.5, ...]' for a list, else the value itself, for error messages."""
  if isinstance(value, list):
    return f"{len(value)} numbers: {reprlib.repr(value)}"
  return reprlib.repr(value)


def _pairing_name(file_name: str) -> str:
  """The sequence folder and frame file of an image path, which frames are paired by."""
  return "/".join(file_name.split("/")[-2:])


def _head_size(x1: float, y1: float, x2: float, y2: float) -> float:
  """poseval's `getHeadSize`."""
  return HEAD_SIZE_FACTOR * float(np.linalg.norm(np.subtract([x2, y2], [x1, y1])))


def _polygon(xs: Sequence[Any], ys: Sequence[Any], what: str) -> np.ndarray:
  if len(xs) != len(ys):
    raise ValueError(f"{what}: {len(xs)} x values but {len(ys)} y values")
  return np.array([[_scalar(x, what), _scalar(y, what)] for x, y in zip(xs, ys)],
                  np.float64).reshape(-1, 2)


def _read_posetrack18(data: dict, path: str) -> list[_Frame]:
  """PoseTrack18 JSON -> frames of the file's first video (poseval's converter)."""
  try:
    names = data["categories"][0]["keypoints"]
  except (KeyError, IndexError, TypeError):
    raise ValueError(f"{path}: PoseTrack18 file without categories[0].keypoints") from None
  missing = [n for n in POSEVAL_JOINT_NAMES if n not in names]
  if missing:
    raise ValueError(f"{path}: categories[0].keypoints lacks {missing}")
  slots = [(k, POSEVAL_JOINT_NAMES.index(n)) for k, n in enumerate(names)
           if n in POSEVAL_JOINT_NAMES]
  by_image: dict[Any, list[dict]] = {}
  for ann in data.get("annotations", []):
    by_image.setdefault(ann.get("image_id"), []).append(ann)

  frames, first_video = [], None
  for image in data.get("images", []):
    file_name = str(image.get("file_name", ""))
    sequence = os.path.basename(os.path.dirname(file_name))
    stem = os.path.basename(file_name).split(".")[0]
    if (not _SEQUENCE_DIR.match(sequence) or not stem.isdigit()
        or int(stem) >= _MAX_FRAME_INDEX):
      raise ValueError(f"{path}: image file_name {file_name!r} is not "
                       "<digits>_<name>/<frame < 10000>.jpg")
    video = sequence.split("_")[0]
    first_video = video if first_video is None else first_video
    if video != first_video:  # poseval evaluates only the first video of a file.
      continue
    where = f"{path}, frame {len(frames)} ({file_name})"
    image_id = image.get("id")
    if image_id is not None and (isinstance(image_id, bool) or not isinstance(image_id, int)):
      raise ValueError(f"{where}: image id is not an integer: {image_id!r}")
    regions = []
    if "ignore_regions_x" in image and "ignore_regions_y" in image:
      regions = [_polygon(xs, ys, f"{where}: ignore region")
                 for xs, ys in zip(image["ignore_regions_x"], image["ignore_regions_y"])]
    persons = []
    for p, ann in enumerate(by_image.get(image.get("id"), [])):
      persons.append(_read_posetrack18_person(ann, names, slots, f"{where}, person {p}"))
    frames.append(_Frame(persons, len(persons), regions, _pairing_name(file_name), image_id,
                         where))
  return frames


def _read_posetrack18_person(ann: dict, names: Sequence[str], slots: Sequence[tuple[int, int]],
                             where: str) -> _Person:
  if "track_id" not in ann:
    raise ValueError(f"{where}: no track_id")
  values = ann.get("keypoints")
  if not isinstance(values, list) or len(values) != 3 * len(names):
    raise ValueError(f"{where}: keypoints must be a list of {3 * len(names)} numbers, "
                     f"got {_count_and_value(values)}")
  triples = np.array([_scalar(v, f"{where}: keypoints") for v in values]).reshape(-1, 3)
  scores = ann.get("scores") or None  # A missing or empty list gives every joint MISSING_SCORE.
  if scores is not None and (not isinstance(scores, list) or len(scores) != len(names)):
    raise ValueError(f"{where}: scores must be a list of {len(names)} numbers, "
                     f"got {_count_and_value(scores)}")
  rows = []
  for k, joint_id in slots:
    x, y, v = triples[k]
    if x == 0 and y == 0 and v == 0:
      continue
    score = MISSING_SCORE if scores is None else _scalar(scores[k], f"{where}: scores[{k}]")
    rows.append((joint_id, x, y, score))
  head_size = None
  if ann.get("bbox_head") is not None:
    box = ann["bbox_head"]
    if not isinstance(box, list) or len(box) != 4:
      raise ValueError(f"{where}: bbox_head must be [x, y, w, h], got {box!r}")
    x, y, w, h = (_scalar(b, f"{where}: bbox_head") for b in box)
    head_size = _head_size(x, y, x + w, y + h)
  return _Person(np.array(rows, np.float64).reshape(-1, 4), head_size, where)


def _read_annolist(data: dict, path: str) -> list[_Frame]:
  """PoseTrack17 `annolist` JSON -> frames, as poseval uses them (no conversion)."""
  frames = []
  for f, frame in enumerate(data["annolist"]):
    where = f"{path}, frame {f}"
    if not isinstance(frame, dict) or not isinstance(frame.get("annorect"), list):
      raise ValueError(f"{where}: no annorect list")
    image = frame.get("image")
    image = image[0] if isinstance(image, list) and len(image) == 1 else image
    name = image.get("name") if isinstance(image, dict) else None
    if not isinstance(name, str):
      raise ValueError(f"{where}: image must be {{name: <file name>}}, got {image!r}")
    where = f"{where} ({name})"
    regions = []
    for region in frame.get("ignore_regions") or []:
      points = region.get("point") if isinstance(region, dict) else None
      if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ValueError(f"{where}: ignore region {region!r} is not {{point: [{{x, y}}, ...]}}")
      regions.append(_polygon([p.get("x") for p in points], [p.get("y") for p in points],
                              f"{where}: ignore region"))
    persons = []
    for r, rect in enumerate(frame["annorect"]):
      person = _read_annorect(rect, f"{where}, person {r}")
      if person is not None:
        persons.append(person)
    frames.append(_Frame(persons, len(frame["annorect"]), regions, _pairing_name(name), None,
                         where))
  return frames


def _read_annorect(rect: Any, where: str) -> Optional[_Person]:
  """One annorect, or None where poseval's `removeRectsWithoutPoints` drops it."""
  if not isinstance(rect, dict):
    raise ValueError(f"{where}: annorect entry is not an object")
  annopoints = rect.get("annopoints")
  if (not isinstance(annopoints, list) or not annopoints or not isinstance(annopoints[0], dict)
      or "point" not in annopoints[0]):
    return None
  rows = []
  for point in annopoints[0]["point"] or []:
    if not isinstance(point, dict) or any(k not in point for k in ("id", "x", "y")):
      raise ValueError(f"{where}: point {point!r} needs id, x and y")
    score = _scalar(point["score"], f"{where}: score") if "score" in point else MISSING_SCORE
    rows.append((_scalar(point["id"], f"{where}: id"), _scalar(point["x"], f"{where}: x"),
                 _scalar(point["y"], f"{where}: y"), score))
  head_size = None
  if all(k in rect for k in ("x1", "y1", "x2", "y2")):
    head_size = _head_size(*(_scalar(rect[k], f"{where}: {k}") for k in ("x1", "y1", "x2", "y2")))
  return _Person(np.array(rows, np.float64).reshape(-1, 4), head_size, where)


def _read_sequence(path: str) -> list[_Frame]:
  try:
    with open(path) as f:
      data = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from None
  if isinstance(data, dict) and isinstance(data.get("annolist"), list):
    return _read_annolist(data, path)
  if isinstance(data, dict) and isinstance(data.get("images"), list):
    return _read_posetrack18(data, path)
  raise ValueError(f"{path}: neither PoseTrack17 (annolist) nor PoseTrack18 (images) format")


def _by_name(frames: list[_Frame], path: pathlib.Path) -> dict[str, _Frame]:
  by_name = {}
  for frame in frames:
    if frame.name in by_name:
      raise ValueError(f"{frame.where}: frame {frame.name} is listed twice in {path}")
    by_name[frame.name] = frame
  return by_name


def _pair_frames(gt_file: pathlib.Path, pred_file: pathlib.Path) -> list[tuple[_Frame, _Frame]]:
  """(GT frame, prediction frame) of one sequence, paired by name; ids must agree."""
  gt_frames = _by_name(_read_sequence(str(gt_file)), gt_file)
  pred_frames = _by_name(_read_sequence(str(pred_file)), pred_file)
  pairs = []
  for name, gt in gt_frames.items():
    pred = pred_frames.pop(name, None)
    if pred is None:
      raise ValueError(f"{pred_file}: no frame {name}, which the ground truth lists ({gt.where})")
    if None not in (gt.image_id, pred.image_id) and gt.image_id != pred.image_id:
      raise ValueError(f"{pred.where}: image id {pred.image_id}, but the ground truth says "
                       f"{gt.image_id} ({gt.where})")
    pairs.append((gt, pred))
  if pred_frames:
    extra = next(iter(pred_frames.values()))
    raise ValueError(f"{extra.where}: frame {extra.name} is not in the ground truth {gt_file}")
  return pairs


def _read_pairs(gt_dir: str, pred_dir: str) -> list[tuple[_Frame, _Frame]]:
  """(GT frame, prediction frame) pairs of all sequences, files paired by basename."""
  for directory, what in ((gt_dir, "ground-truth"), (pred_dir, "prediction")):
    if not os.path.isdir(directory):
      raise FileNotFoundError(f"{directory}: {what} folder does not exist")
  gt_files = sorted(pathlib.Path(gt_dir).glob("*.json"))
  if not gt_files:
    raise ValueError(f"{gt_dir}: no ground-truth *.json files")
  pairs = []
  for gt_file in gt_files:
    pred_file = pathlib.Path(pred_dir) / gt_file.name
    if not pred_file.is_file():
      raise ValueError(f"{pred_file}: prediction file for {gt_file} does not exist")
    pairs += _pair_frames(gt_file, pred_file)
  return pairs


# ---------------------------------------------------------------------------------------------
# Ignore regions.


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
  """Even-odd test: points (M, 2), polygon (V, 2) -> (M,) bool, True strictly inside.

  Points on an edge or a vertex are outside. Polygons with V < 3 contain nothing.
  """
  points = np.asarray(points, np.float64).reshape(-1, 2)
  polygon = np.asarray(polygon, np.float64).reshape(-1, 2)
  if len(polygon) < 3 or len(points) == 0:
    return np.zeros(len(points), bool)
  x, y = points[:, :1], points[:, 1:]
  x1, y1 = polygon[:, 0], polygon[:, 1]
  x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
  straddles = (y1 > y) != (y2 > y)
  with np.errstate(divide="ignore", invalid="ignore"):
    x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
  inside = np.sum(straddles & (x < x_cross), axis=1) % 2 == 1
  on_line = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) == 0
  in_span = ((np.minimum(x1, x2) <= x) & (x <= np.maximum(x1, x2))
             & (np.minimum(y1, y2) <= y) & (y <= np.maximum(y1, y2)))
  return inside & ~np.any(on_line & in_span, axis=1)


def _remove_ignored(persons: list[_Person], regions: list[np.ndarray]) -> list[_Person]:
  """poseval's `removeIgnoredPointsRects`: drop points inside a region, then empty persons."""
  kept = []
  for person in persons:
    ignored = np.zeros(len(person.points), bool)
    for region in regions:
      ignored |= points_in_polygon(person.points[:, 1:3], region)
    if not ignored.all():
      kept.append(dataclasses.replace(person, points=person.points[~ignored]))
  return kept


# ---------------------------------------------------------------------------------------------
# Matching and AP.


def _frame_labels(gt: list[_Person], pred: list[_Person]
                  ) -> tuple[list[list[float]], list[list[bool]], np.ndarray]:
  """poseval's `assignGTmulti` for one frame.

  Returns per-joint lists of prediction scores and labels (15 lists each, in prediction order)
  and the number of annotated GT joints (15,).
  """
  scores = [[] for _ in range(NUM_EVAL_JOINTS)]
  labels = [[] for _ in range(NUM_EVAL_JOINTS)]
  gt_joints = [g.joints() for g in gt]
  pred_joints = [p.joints() for p in pred]
  has_gt = np.array([present for _, present, _ in gt_joints], bool).reshape(-1, NUM_EVAL_JOINTS)
  num_gt = has_gt.sum(axis=0)
  if not pred:
    return scores, labels, num_gt
  has_pred = np.array([present for _, present, _ in pred_joints], bool)
  pred_scores = np.array([s for _, _, s in pred_joints])
  match = np.zeros((len(pred), len(gt), NUM_EVAL_JOINTS), bool)
  pred_to_gt = np.full(len(gt), -1)
  if gt:
    for person in gt:
      if person.head_size is None:
        raise ValueError(f"{person.where}: ground-truth person without a head box "
                         "(bbox_head or x1/y1/x2/y2)")
    gt_coords = np.array([c for c, _, _ in gt_joints])
    pred_coords = np.array([c for c, _, _ in pred_joints])
    head_size = np.array([g.head_size for g in gt])
    diff = pred_coords[:, None] - gt_coords[None]
    with np.errstate(divide="ignore", invalid="ignore"):
      dist = np.sqrt(np.sum(diff * diff, axis=-1)) / head_size[None, :, None]
    both = has_pred[:, None] & has_gt[None]
    match = both & (dist <= MATCH_THRESHOLD)
    annotated = has_gt.sum(axis=1)
    pck = match.sum(axis=2) / np.maximum(annotated, 1)[None]
    # Each prediction keeps only its best GT; each GT takes its best remaining prediction.
    best_gt = np.argmax(pck, axis=1)
    pck = np.where(np.arange(len(gt))[None] == best_gt[:, None], pck, 0.0)
    pred_to_gt = np.argmax(pck, axis=0)
    pred_to_gt[np.max(pck, axis=0) == 0] = -1
  for p in range(len(pred)):
    assigned = np.flatnonzero(pred_to_gt == p)
    label = match[p, assigned[0]] if assigned.size else np.zeros(NUM_EVAL_JOINTS, bool)
    for j in np.flatnonzero(has_pred[p]):
      scores[j].append(float(pred_scores[p, j]))
      labels[j].append(bool(label[j]))
  return scores, labels, num_gt


def precision_recall(scores: Sequence[float], labels: Sequence[bool], num_gt: int
                     ) -> tuple[np.ndarray, np.ndarray]:
  """poseval's `computeRPC`: precision and recall (D,) after each detection by falling score.

  Ties: `np.argsort(scores, kind="stable")[::-1]` (see the module docstring).
  """
  scores = np.asarray(scores, np.float64)
  labels = np.asarray(labels, bool)
  order = np.argsort(scores, kind="stable")[::-1]
  true_positives = np.cumsum(labels[order]).astype(np.float64)
  precision = true_positives / np.arange(1, len(order) + 1)
  with np.errstate(divide="ignore", invalid="ignore"):
    recall = true_positives / num_gt
  return precision, recall


def voc_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
  """poseval's `VOCap`: all-point AP, precision made non-increasing (SPEC appendix 10)."""
  mrec = np.concatenate([[0.0], recall, [1.0]])
  mpre = np.concatenate([[0.0], precision, [0.0]])
  mpre = np.maximum.accumulate(mpre[::-1])[::-1]
  changed = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
  return float(np.sum((mrec[changed] - mrec[changed - 1]) * mpre[changed]))


def joint_average_precision(scores: Sequence[float], labels: Sequence[bool], num_gt: int) -> float:
  """AP in percent of one joint's pooled detections: 0 without detections, NaN when num_gt = 0."""
  if len(scores) == 0:
    return 0.0
  if num_gt == 0:
    return math.nan
  return 100.0 * voc_average_precision(*precision_recall(scores, labels, num_gt))


def summary_table(per_joint: dict[str, float]) -> dict[str, float]:
  """SPEC appendix 11: group means (NaN propagates) and Total = NaN-ignoring mean of 15 joints."""
  table = {group: float(np.mean([per_joint[n] for n in names]))
           for group, names in keypoints.EVAL_GROUPS.items()}
  values = np.array([per_joint[n] for n in keypoints.EVAL_JOINT_NAMES])
  finite = values[~np.isnan(values)]
  table["Total"] = float(finite.mean()) if finite.size else math.nan
  return table


def posetrack_map(gt_dir: str, pred_dir: str) -> dict[str, dict[str, float]]:
  """Per-joint AP and the summary table, in percent, as poseval `--evalPoseEstimation`.

  Returns {"per_joint": {name: AP} over keypoints.EVAL_JOINT_NAMES, "table": {"Head",
  "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"}}.
  Raises FileNotFoundError for a missing folder and ValueError for missing or malformed files
  (naming file, frame and person) and for frames that do not pair up.
  """
  scores = [[] for _ in range(NUM_EVAL_JOINTS)]
  labels = [[] for _ in range(NUM_EVAL_JOINTS)]
  num_gt = np.zeros(NUM_EVAL_JOINTS, np.int64)
  for gt_frame, pred_frame in _read_pairs(gt_dir, pred_dir):
    if gt_frame.num_rects == 0:  # SPEC appendix 6: frames without GT persons are dropped.
      continue
    gt, pred = gt_frame.persons, pred_frame.persons
    if gt_frame.ignore_regions:
      gt = _remove_ignored(gt, gt_frame.ignore_regions)
      pred = _remove_ignored(pred, gt_frame.ignore_regions)
    frame_scores, frame_labels, frame_num_gt = _frame_labels(gt, pred)
    for j in range(NUM_EVAL_JOINTS):
      scores[j] += frame_scores[j]
      labels[j] += frame_labels[j]
    num_gt += frame_num_gt
  per_joint_by_id = {name: joint_average_precision(scores[j], labels[j], int(num_gt[j]))
                     for j, name in enumerate(POSEVAL_JOINT_NAMES)}
  per_joint = {name: per_joint_by_id[name] for name in keypoints.EVAL_JOINT_NAMES}
  return {"per_joint": per_joint, "table": summary_table(per_joint)}


def format_results(results: dict[str, dict[str, float]]) -> str:
  """An aligned text table: the summary row, then the per-joint APs."""
  def row(cells: Sequence[str], width: int) -> str:
    return " | ".join(c.rjust(width) for c in cells)

  table = results["table"]
  lines = ["PoseTrack mAP (AP %, PCKh@0.5)", row(list(table), 8),
           row([f"{v:.1f}" for v in table.values()], 8), "", "Per joint:"]
  width = max(len(n) for n in results["per_joint"])
  lines += [f"  {name.ljust(width)}  {ap:6.1f}" for name, ap in results["per_joint"].items()]
  return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
  if len(argv) != 2:
    print("usage: python -m posewarper_jax.eval.posetrack_map GT_DIR PRED_DIR", file=sys.stderr)
    return 2
  try:
    results = posetrack_map(argv[0], argv[1])
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(format_results(results))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
