"""Tests for posewarper_jax.eval.posetrack_map against hand-computed APs and the real sample."""

import fractions
import json
import math
import pathlib

import numpy as np
import pytest

from posewarper_jax.data import keypoints
from posewarper_jax.eval import posetrack_map as pm

# Head box 30 x 40: diagonal 50, head size 0.6 * 50 = 30, so a joint matches up to 15 px away.
HEAD_BOX = [100, 100, 30, 40]
MATCH_RADIUS = 15.0
SEQUENCE = "000001_mpii_test"


def _pose(offset: float = 0.0, skip: tuple[str, ...] = ()) -> dict[str, tuple[float, float]]:
  """All 15 evaluated joints on a 20 px grid, shifted by `offset` px in x."""
  return {name: (200.0 + offset + 20 * (i % 4), 300.0 + 20 * (i // 4))
          for i, name in enumerate(keypoints.EVAL_JOINT_NAMES) if name not in skip}


def _person(joints: dict[str, tuple[float, float]], score=None, track_id=0,
            head_box=HEAD_BOX) -> dict:
  """A PoseTrack18 annotation; `score` is a scalar (every joint) or None (no scores)."""
  values = []
  for name in keypoints.JOINT_NAMES:
    values += [*joints[name], 1] if name in joints else [0, 0, 0]
  person = {"track_id": track_id, "category_id": 1, "keypoints": values}
  if head_box is not None:
    person["bbox_head"] = list(head_box)
  if score is not None:
    person["scores"] = [score] * keypoints.NUM_JOINTS
  return person


def _sequence(frames: list[list[dict]], ignore_regions=None, sequence=SEQUENCE) -> dict:
  """PoseTrack18 JSON; frames[i] lists the annotations of frame i (image_id/id filled in)."""
  images, annotations = [], []
  for i, persons in enumerate(frames):
    image = {"id": 1000 + i, "file_name": f"images/val/{sequence}/{i:06d}.jpg"}
    if ignore_regions and ignore_regions[i]:
      image["ignore_regions_x"] = [[x for x, _ in poly] for poly in ignore_regions[i]]
      image["ignore_regions_y"] = [[y for _, y in poly] for poly in ignore_regions[i]]
    images.append(image)
    for p in persons:
      annotations.append({**p, "image_id": 1000 + i, "id": len(annotations)})
  return {"images": images, "annotations": annotations,
          "categories": [{"name": "person", "keypoints": list(keypoints.JOINT_NAMES)}]}


def _write(directory: pathlib.Path, name: str, data: dict) -> None:
  directory.mkdir(parents=True, exist_ok=True)
  (directory / name).write_text(json.dumps(data))


def _evaluate(tmp_path, gt: dict, pred: dict) -> dict:
  """Writes one sequence of GT and predictions and returns posetrack_map's per-joint APs."""
  _write(tmp_path / "gt", f"{SEQUENCE}.json", gt)
  _write(tmp_path / "pred", f"{SEQUENCE}.json", pred)
  return pm.posetrack_map(str(tmp_path / "gt"), str(tmp_path / "pred"))["per_joint"]


def _all_equal(per_joint: dict, value: float, except_for=()) -> bool:
  return all(ap == pytest.approx(value) for name, ap in per_joint.items() if name not in except_for)


def _to_annolist(data: dict) -> dict:
  """PoseTrack18 JSON -> PoseTrack17 annolist JSON (what poseval's converter produces)."""
  names = data["categories"][0]["keypoints"]
  annolist = []
  for image in data["images"]:
    frame = {"image": [{"name": image["file_name"]}], "annorect": []}
    if image.get("ignore_regions_x"):
      frame["ignore_regions"] = [
          {"point": [{"x": [x], "y": [y]} for x, y in zip(xs, ys)]}
          for xs, ys in zip(image["ignore_regions_x"], image["ignore_regions_y"])]
    for ann in data["annotations"]:
      if ann["image_id"] != image["id"]:
        continue
      points = []
      for k, name in enumerate(names):
        x, y, v = ann["keypoints"][3 * k:3 * k + 3]
        if name in pm.POSEVAL_JOINT_NAMES and not (x == 0 and y == 0 and v == 0):
          point = {"id": [pm.POSEVAL_JOINT_NAMES.index(name)], "x": [x], "y": [y]}
          if ann.get("scores"):
            point["score"] = [ann["scores"][k]]
          points.append(point)
      x, y, w, h = ann["bbox_head"]
      frame["annorect"].append({"track_id": [ann["track_id"]], "x1": [x], "y1": [y],
                                "x2": [x + w], "y2": [y + h], "annopoints": [{"point": points}]})
    annolist.append(frame)
  return {"annolist": annolist}


# ---------------------------------------------------------------------------------------------
# The real PoseTrack18 sample.


def _sample_predictions(posetrack18_sample, out_dir: pathlib.Path, annolist: bool,
                        move_left_wrist: bool = False) -> None:
  """GT files with scores [1] * 17 per person, optionally converted or with moved left wrists."""
  wrist = keypoints.JOINT_INDEX["left_wrist"]
  for gt_file in sorted((posetrack18_sample / "annotations" / "val").glob("*.json")):
    data = json.loads(gt_file.read_text())
    for ann in data["annotations"]:
      ann["scores"] = [1.0] * keypoints.NUM_JOINTS
      x, y, v = ann["keypoints"][3 * wrist:3 * wrist + 3]
      if move_left_wrist and not (x == 0 and y == 0 and v == 0):
        _, _, w, h = ann["bbox_head"]
        ann["keypoints"][3 * wrist] = x + 2 * 0.6 * math.hypot(w, h)  # Two head sizes right.
    _write(out_dir, gt_file.name, _to_annolist(data) if annolist else data)


@pytest.mark.parametrize("pred_format", ["posetrack18", "annolist"])
def test_ground_truth_as_predictions_scores_100(posetrack18_sample, tmp_path, pred_format):
  _sample_predictions(posetrack18_sample, tmp_path, annolist=pred_format == "annolist")
  results = pm.posetrack_map(str(posetrack18_sample / "annotations" / "val"), str(tmp_path))
  assert _all_equal(results["per_joint"], 100.0)
  assert _all_equal(results["table"], 100.0)
  assert list(results["per_joint"]) == list(keypoints.EVAL_JOINT_NAMES)


def test_annolist_ground_truth_with_posetrack18_predictions(posetrack18_sample, tmp_path):
  for gt_file in sorted((posetrack18_sample / "annotations" / "val").glob("*.json")):
    _write(tmp_path / "gt", gt_file.name, _to_annolist(json.loads(gt_file.read_text())))
  _sample_predictions(posetrack18_sample, tmp_path / "pred", annolist=False)
  results = pm.posetrack_map(str(tmp_path / "gt"), str(tmp_path / "pred"))
  assert _all_equal(results["table"], 100.0)


def test_left_wrists_two_head_sizes_away_score_0(posetrack18_sample, tmp_path):
  _sample_predictions(posetrack18_sample, tmp_path, annolist=False, move_left_wrist=True)
  results = pm.posetrack_map(str(posetrack18_sample / "annotations" / "val"), str(tmp_path))
  assert results["per_joint"]["left_wrist"] == 0.0
  assert _all_equal(results["per_joint"], 100.0, except_for=("left_wrist",))
  assert results["table"]["Wrist"] == pytest.approx(50.0)
  assert results["table"]["Total"] == pytest.approx(1400.0 / 15)


def test_command_line_prints_the_table(posetrack18_sample, tmp_path, capsys):
  _sample_predictions(posetrack18_sample, tmp_path, annolist=False)
  assert pm.main([str(posetrack18_sample / "annotations" / "val"), str(tmp_path)]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[1].split() == ["Head", "|", "Shoulder", "|", "Elbow", "|", "Wrist", "|", "Hip",
                              "|", "Knee", "|", "Ankle", "|", "Total"]
  assert [float(v) for v in lines[2].split("|")] == [100.0] * 8
  assert any(line.split() == ["head_bottom", "100.0"] for line in lines)


# ---------------------------------------------------------------------------------------------
# Hand-computed cases, one rule each.


def test_a_missed_person_halves_recall(tmp_path):
  gt = _sequence([[_person(_pose(0)), _person(_pose(500), track_id=1)]])
  pred = _sequence([[_person(_pose(0), score=0.9)]])
  # One TP out of nGT = 2: precision 1 up to recall 0.5.
  assert _all_equal(_evaluate(tmp_path, gt, pred), 50.0)


@pytest.mark.parametrize("fp_score, expected", [(0.5, 100.0), (0.95, 50.0)])
def test_a_false_positive_counts_only_above_the_true_positive(tmp_path, fp_score, expected):
  gt = _sequence([[_person(_pose(0))]])
  pred = _sequence([[_person(_pose(0), score=0.9),
                     _person(_pose(800), score=fp_score, track_id=1)]])
  # Sorted FP then TP: precision (0, 1/2) at recall (0, 1) -> AP 50.
  assert _all_equal(_evaluate(tmp_path, gt, pred), expected)


def test_ignore_region_removes_a_gt_and_a_prediction(tmp_path):
  region = [(900, 200), (1600, 200), (1600, 600), (900, 600)]  # Holds every joint of _pose(800).
  gt_persons = [_person(_pose(0)), _person(_pose(800), track_id=1)]
  pred_persons = [_person(_pose(0), score=0.5), _person(_pose(900), score=0.9, track_id=1)]
  with_region = _evaluate(tmp_path / "a", _sequence([gt_persons], [[region]]),
                          _sequence([pred_persons]))
  assert _all_equal(with_region, 100.0)
  # Without it: FP (0.9) before TP (0.5), recall 1/2 -> precision 1/2 on [0, 1/2].
  without = _evaluate(tmp_path / "b", _sequence([gt_persons]), _sequence([pred_persons]))
  assert _all_equal(without, 25.0)


def test_ignore_region_removes_single_joints(tmp_path):
  nose = _pose(0)["nose"]
  region = [(nose[0] - 5, nose[1] - 5), (nose[0] + 5, nose[1] - 5), (nose[0], nose[1] + 5)]
  gt = _sequence([[_person(_pose(0))]], [[region]])
  # The predicted nose is outside the region and far away: without the GT nose it is a FP.
  pred_pose = _pose(0)
  pred_pose["nose"] = (nose[0] + 100, nose[1])
  per_joint = _evaluate(tmp_path, gt, _sequence([[_person(pred_pose, score=0.9)]]))
  assert math.isnan(per_joint["nose"])  # Predictions but nGT = 0.
  assert _all_equal(per_joint, 100.0, except_for=("nose",))


@pytest.mark.parametrize("dy, expected", [(12.0, 100.0), (12.001, 0.0)])
def test_match_threshold_is_inclusive(tmp_path, dy, expected):
  pred_pose = _pose(0)
  x, y = pred_pose["left_wrist"]
  pred_pose["left_wrist"] = (x + 9.0, y + dy)  # (9, 12): exactly 15 px = 0.5 head sizes.
  assert math.hypot(9.0, 12.0) == MATCH_RADIUS
  per_joint = _evaluate(tmp_path, _sequence([[_person(_pose(0))]]),
                        _sequence([[_person(pred_pose, score=0.9)]]))
  assert per_joint["left_wrist"] == expected
  assert _all_equal(per_joint, 100.0, except_for=("left_wrist",))


def test_unassigned_duplicate_is_all_false_positives(tmp_path):
  # Both predictions match the GT perfectly; the tie goes to the lower index (score 0.5), so
  # the duplicate with score 0.9 stays unassigned and all its joints are FPs ranked first.
  pred = _sequence([[_person(_pose(0), score=0.5), _person(_pose(0), score=0.9, track_id=1)]])
  assert _all_equal(_evaluate(tmp_path, _sequence([[_person(_pose(0))]]), pred), 50.0)


def test_gt_takes_the_prediction_with_the_highest_pckh(tmp_path):
  half_wrong = {name: (x + (100.0 if i % 2 else 0.0), y)
                for i, (name, (x, y)) in enumerate(_pose(0).items())}
  pred = _sequence([[_person(half_wrong, score=0.9), _person(_pose(0), score=0.5, track_id=1)]])
  per_joint = _evaluate(tmp_path, _sequence([[_person(_pose(0))]]), pred)
  # The exact prediction (PCKh 1) is assigned; every joint of the other one is a FP above it.
  assert _all_equal(per_joint, 50.0)


def test_each_prediction_keeps_only_its_best_gt(tmp_path):
  # Prediction 0 matches GT 1 best (all joints) and GT 0 partly; GT 0 must not take it.
  gt_0 = _pose(0)
  gt_1 = {name: (x + (0.0 if i < 5 else 50.0), y) for i, (name, (x, y)) in enumerate(gt_0.items())}
  gt = _sequence([[_person(gt_0), _person(gt_1, track_id=1)]])
  per_joint = _evaluate(tmp_path, gt, _sequence([[_person(gt_1, score=0.9)]]))
  assert _all_equal(per_joint, 50.0)  # One GT of two found; no joint goes to GT 0.


def test_joint_predicted_where_gt_has_none_is_a_false_positive(tmp_path):
  gt = _sequence([[_person(_pose(0)), _person(_pose(500, skip=("left_wrist",)), track_id=1)]])
  pred = _sequence([[_person(_pose(0), score=0.5), _person(_pose(500), score=0.9, track_id=1)]])
  per_joint = _evaluate(tmp_path, gt, pred)
  assert per_joint["left_wrist"] == pytest.approx(50.0)  # FP at 0.9, then TP at 0.5 (nGT = 1).
  assert _all_equal(per_joint, 100.0, except_for=("left_wrist",))


def test_nan_with_predictions_but_no_gt_and_zero_without_predictions(tmp_path):
  gt = _sequence([[_person(_pose(0, skip=("left_wrist",)))]])
  pred = _sequence([[_person(_pose(0, skip=("right_wrist",)), score=0.9)]])
  results_per_joint = _evaluate(tmp_path, gt, pred)
  assert math.isnan(results_per_joint["left_wrist"])
  assert results_per_joint["right_wrist"] == 0.0
  table = pm.summary_table(results_per_joint)
  assert math.isnan(table["Wrist"])
  assert table["Total"] == pytest.approx(1300.0 / 14)  # NaN ignored: 13 x 100 + 0 over 14.
  # No predictions at all: AP 0 even where nGT = 0.
  empty = _evaluate(tmp_path / "empty", gt, _sequence([[]]))
  assert _all_equal(empty, 0.0)


def test_pooling_across_videos(tmp_path):
  _write(tmp_path / "gt", "000001_mpii_test.json", _sequence([[_person(_pose(0))]]))
  _write(tmp_path / "pred", "000001_mpii_test.json", _sequence([[_person(_pose(0), score=0.9)]]))
  second = "000002_bonn_test"
  _write(tmp_path / "gt", f"{second}.json", _sequence([[_person(_pose(0))]], sequence=second))
  _write(tmp_path / "pred", f"{second}.json",
         _sequence([[_person(_pose(800), score=0.95)]], sequence=second))
  # Pooled: FP 0.95, TP 0.9, nGT 2 -> precision 1/2 on recall [0, 1/2] = 25 (per-video mean: 50).
  results = pm.posetrack_map(str(tmp_path / "gt"), str(tmp_path / "pred"))
  assert _all_equal(results["per_joint"], 25.0)


def test_frames_without_gt_persons_are_dropped_with_their_predictions(tmp_path):
  gt = _sequence([[_person(_pose(0))], []])
  pred = _sequence([[_person(_pose(0), score=0.5)], [_person(_pose(0), score=0.9)]])
  assert _all_equal(_evaluate(tmp_path, gt, pred), 100.0)


def test_keypoint_triples_count_whatever_their_visibility(tmp_path):
  wrist = keypoints.JOINT_INDEX["left_wrist"]
  gt_person = _person(_pose(0))
  gt_person["keypoints"][3 * wrist + 2] = 0  # (x, y, 0) with x, y != 0 is still annotated.
  pred_person = _person(_pose(0), score=0.9)
  pred_person["keypoints"][3 * wrist + 2] = 0
  assert _all_equal(_evaluate(tmp_path, _sequence([[gt_person]]), _sequence([[pred_person]])),
                    100.0)


def test_missing_scores_fall_back_to_minus_9999(tmp_path):
  gt = _sequence([[_person(_pose(0)), _person(_pose(500), track_id=1)]])
  # An exact prediction without scores ranks below a false positive with score -100.
  pred = _sequence([[_person(_pose(0)), _person(_pose(1000), score=-100.0, track_id=1)]])
  assert _all_equal(_evaluate(tmp_path, gt, pred), 25.0)


# ---------------------------------------------------------------------------------------------
# The AP step.


def test_precision_recall_with_tied_scores():
  precision, recall = pm.precision_recall([0.7, 0.7, 0.7], [True, True, True], num_gt=4)
  np.testing.assert_array_equal(precision, [1.0, 1.0, 1.0])
  np.testing.assert_array_equal(recall, [0.25, 0.5, 0.75])
  assert pm.joint_average_precision([0.7, 0.7, 0.7], [True, True, True], 4) == 75.0
  # A tie between a TP and a later-pooled FP: the FP ranks first (argsort stable, reversed).
  precision, recall = pm.precision_recall([0.5, 0.5], [True, False], num_gt=1)
  np.testing.assert_array_equal(precision, [0.0, 0.5])
  np.testing.assert_array_equal(recall, [0.0, 1.0])
  assert pm.joint_average_precision([0.5, 0.5], [True, False], 1) == 50.0


def _brute_force_ap(scores, labels, num_gt) -> fractions.Fraction:
  """Exact VOC all-point AP: integral over recall of the best precision at any higher recall."""
  ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
  points, hits = [], 0
  for k, i in enumerate(ranked, start=1):
    hits += labels[i]
    points.append((fractions.Fraction(hits, num_gt), fractions.Fraction(hits, k)))
  area, previous_recall = fractions.Fraction(0), fractions.Fraction(0)
  for recall, _ in points:
    if recall > previous_recall:
      area += (recall - previous_recall) * max(p for r, p in points if r >= recall)
      previous_recall = recall
  return area


def test_voc_ap_matches_brute_force():
  rng = np.random.default_rng(0)
  for trial in range(200):
    size = int(rng.integers(1, 12))
    scores = rng.permutation(size).tolist()  # Distinct scores: the ranking is unambiguous.
    labels = (rng.random(size) < 0.5).tolist()
    num_gt = sum(labels) + int(rng.integers(0 if sum(labels) else 1, 4))
    expected = float(_brute_force_ap(scores, labels, num_gt)) * 100
    assert pm.joint_average_precision(scores, labels, num_gt) == pytest.approx(expected), trial


# ---------------------------------------------------------------------------------------------
# Point in polygon.


def test_points_in_polygon_is_strict_and_even_odd():
  square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]])
  points = [[2, 2], [5, 2], [4, 2], [0, 0], [2, 4], [3.999, 3.999], [-1, -1]]
  np.testing.assert_array_equal(pm.points_in_polygon(points, square),
                                [True, False, False, False, False, True, False])
  ell = np.array([[0, 0], [4, 0], [4, 1], [1, 1], [1, 4], [0, 4]])  # Concave: an L.
  np.testing.assert_array_equal(pm.points_in_polygon([[0.5, 3], [3, 0.5], [3, 3], [1, 2]], ell),
                                [True, True, False, False])
  assert not pm.points_in_polygon([[0, 0]], np.array([[1, 1], [2, 2]])).any()


# ---------------------------------------------------------------------------------------------
# Bad files.


def test_missing_prediction_file(tmp_path):
  _write(tmp_path / "gt", f"{SEQUENCE}.json", _sequence([[_person(_pose(0))]]))
  (tmp_path / "pred").mkdir()
  with pytest.raises(ValueError, match=f"{SEQUENCE}.json.*does not exist"):
    pm.posetrack_map(str(tmp_path / "gt"), str(tmp_path / "pred"))


def test_frames_are_paired_by_name_whatever_their_order(tmp_path):
  gt = _sequence([[_person(_pose(0))], [_person(_pose(300))], []])
  pred = _sequence([[_person(_pose(0), score=1.0)], [_person(_pose(300), score=1.0)], []])
  pred["images"].reverse()  # Ids and file names still pair the frames.
  assert _all_equal(_evaluate(tmp_path, gt, pred), 100.0)


def test_frame_missing_from_the_predictions(tmp_path):
  gt = _sequence([[_person(_pose(0))], []])
  with pytest.raises(ValueError) as error:
    _evaluate(tmp_path, gt, _sequence([[_person(_pose(0), score=1.0)]]))
  assert str(error.value) == (
      f"{tmp_path / 'pred' / (SEQUENCE + '.json')}: no frame {SEQUENCE}/000001.jpg, which the "
      f"ground truth lists ({tmp_path / 'gt' / (SEQUENCE + '.json')}, frame 1 "
      f"(images/val/{SEQUENCE}/000001.jpg))")


def test_prediction_frame_not_in_the_ground_truth(tmp_path):
  pred = _sequence([[_person(_pose(0), score=1.0)], []])
  with pytest.raises(ValueError, match=rf"pred/{SEQUENCE}\.json, frame 1 \(images/val/{SEQUENCE}/"
                     rf"000001\.jpg\): frame {SEQUENCE}/000001\.jpg is not in the ground truth "
                     rf".*gt/{SEQUENCE}\.json$"):
    _evaluate(tmp_path, _sequence([[_person(_pose(0))]]), pred)


def test_image_ids_must_agree(tmp_path):
  pred = _sequence([[_person(_pose(0), score=1.0)]])
  pred["images"][0]["id"] = 7
  with pytest.raises(ValueError, match=rf"pred/{SEQUENCE}\.json, frame 0 \(images/val/{SEQUENCE}/"
                     r"000000\.jpg\): image id 7, but the ground truth says 1000 \(.*gt/"):
    _evaluate(tmp_path, _sequence([[_person(_pose(0))]]), pred)


def test_frame_listed_twice(tmp_path):
  pred = _sequence([[_person(_pose(0), score=1.0)], []])
  pred["images"][1]["file_name"] = pred["images"][0]["file_name"]
  with pytest.raises(ValueError, match=rf"pred/{SEQUENCE}\.json, frame 1 \(images/val/{SEQUENCE}/"
                     rf"000000\.jpg\): frame {SEQUENCE}/000000\.jpg is listed twice"):
    _evaluate(tmp_path, _sequence([[_person(_pose(0))]]), pred)


@pytest.mark.parametrize("field, value, message", [
    ("keypoints", [1.0] * 50, r"frame 0 .*person 1: keypoints must be a list of 51 numbers, "
     r"got 50 numbers: \[1\.0, 1\.0, 1\.0, 1\.0, 1\.0, 1\.0, \.\.\.\]$"),
    ("keypoints", "none", r"frame 0 .*person 1: keypoints must be a list of 51 numbers, "
     r"got 'none'$"),
    ("keypoints", ["a"] * 51, r"frame 0 .*person 1: keypoints: expected a number, got 'a'"),
    ("scores", [0.5] * 16, r"frame 0 .*person 1: scores must be a list of 17 numbers, got 16 "
     r"numbers: \[0\.5, 0\.5, 0\.5, 0\.5, 0\.5, 0\.5, \.\.\.\]$"),
    ("scores", [None] * 17, r"frame 0 .*person 1: scores\[0\]: expected a number, got None"),
])
def test_malformed_prediction_person(tmp_path, field, value, message):
  bad = _person(_pose(0), score=1.0, track_id=1)
  bad[field] = value
  with pytest.raises(ValueError, match=message):
    _evaluate(tmp_path, _sequence([[_person(_pose(0))]]),
              _sequence([[_person(_pose(0), score=1.0), bad]]))


def test_gt_person_without_head_box(tmp_path):
  gt = _sequence([[_person(_pose(0)), _person(_pose(500), track_id=1, head_box=None)]])
  with pytest.raises(ValueError, match=r"frame 0 .*person 1: ground-truth person without a head"):
    _evaluate(tmp_path, gt, _sequence([[_person(_pose(0), score=1.0)]]))


def test_unparsable_file_name(tmp_path):
  gt = _sequence([[_person(_pose(0))]], sequence="not_a_sequence")
  with pytest.raises(ValueError, match="not_a_sequence/000000.jpg"):
    _evaluate(tmp_path, gt, gt)


def test_only_the_first_video_of_a_file_counts(tmp_path):
  gt = _sequence([[_person(_pose(0))]])
  other = _sequence([[_person(_pose(0))]], sequence="000002_bonn_test")
  gt["images"] += other["images"]  # Same image id, another video: poseval skips it.
  pred = _sequence([[_person(_pose(0), score=0.9)]])
  assert _all_equal(_evaluate(tmp_path, gt, pred), 100.0)


def test_malformed_annolist(tmp_path):
  pred = _to_annolist(_sequence([[_person(_pose(0), score=0.9)]]))
  pred["annolist"][0]["annorect"][0]["annopoints"][0]["point"][2]["score"] = ["high"]
  with pytest.raises(ValueError, match=r"frame 0 \(images/val/000001_mpii_test/000000\.jpg\), "
                     r"person 0: score: expected a number, got 'high'"):
    _evaluate(tmp_path, _sequence([[_person(_pose(0))]]), pred)


def test_command_line_reports_errors(tmp_path, capsys):
  _write(tmp_path / "gt", f"{SEQUENCE}.json", _sequence([[_person(_pose(0))]]))
  (tmp_path / "pred").mkdir()
  assert pm.main([str(tmp_path / "gt"), str(tmp_path / "pred")]) == 1
  assert "does not exist" in capsys.readouterr().err


def test_missing_folders(tmp_path, capsys):
  _write(tmp_path / "gt", f"{SEQUENCE}.json", _sequence([[_person(_pose(0))]]))
  with pytest.raises(FileNotFoundError, match=f"^{tmp_path / 'pred'}: prediction folder does not "
                     "exist$"):
    pm.posetrack_map(str(tmp_path / "gt"), str(tmp_path / "pred"))
  assert pm.main([str(tmp_path / "none"), str(tmp_path / "gt")]) == 1
  assert capsys.readouterr().err == (f"error: {tmp_path / 'none'}: ground-truth folder does not "
                                     "exist\n")
