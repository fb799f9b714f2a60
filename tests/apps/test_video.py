"""The video application: labels propagated by the identity warper, boxes aggregated, the overlay
video, the input config of a checkpoint, and one-line errors for bad inputs."""

import json

import cv2
import numpy as np
import pytest

from posewarper_jax import models
from posewarper_jax.apps import video as video_app
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.data import synthetic
from posewarper_jax.data import transforms
from tests.apps.conftest import BATCH_SIZE, IMAGE_SIZE

NUM_FRAMES, FRAME_SIZE, FPS = 12, (160, 120), 10.0
LABELED = (3, 9)  # Frames 0-6 take frame 3 (6 ties and goes to the first), 7-11 frame 9.
HEATMAP_STRIDE = 4
NAME = "clip"


@pytest.fixture(scope="module")
def scene():
  """(BGR frames, ground-truth persons per frame) of a synthetic scene."""
  video_scene = synthetic.video_scene(5, "val", 0, NUM_FRAMES, FRAME_SIZE, max_people=2)
  rendered = [synthetic.render_frame(video_scene, t) for t in range(NUM_FRAMES)]
  return [image for image, _, _ in rendered], [persons for _, persons, _ in rendered]


@pytest.fixture(scope="module")
def video_file(scene, tmp_path_factory):
  path = tmp_path_factory.mktemp("input") / f"{NAME}.mp4"
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, FRAME_SIZE)
  for image in scene[0]:
    writer.write(image)
  writer.release()
  return str(path)


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
  """The identity-init PoseWarper of tests/apps/conftest.py."""
  return str(models.save(tmp_path_factory.mktemp("checkpoint"), *tiny_model))


@pytest.fixture(scope="module")
def hrnet_checkpoint(tiny_model, tmp_path_factory):
  """The backbone of that PoseWarper as an HRNet checkpoint."""
  model, variables = tiny_model
  backbone = {key: variables[key]["backbone"] for key in ("params", "batch_stats")}
  return str(models.save(tmp_path_factory.mktemp("hrnet"), model.backbone, backbone))


def _labels_file(path, persons, positions) -> str:
  """Writes a PoseTrack18 file listing only `positions` (ids unrelated to the frame index)."""
  frames = tuple(records.Frame(path=f"{NAME}/{p:06d}.jpg", frame_id=p, image_id=500 + p,
                               width=FRAME_SIZE[0], height=FRAME_SIZE[1], is_labeled=True,
                               persons=persons[p])
                 for p in positions)
  posetrack.write_posetrack18_video(records.Video(NAME, frames), path)
  return str(path)


def _run(video_file, checkpoint, out, *source) -> records.Video:
  video_app.main(["--video", video_file, "--checkpoint", checkpoint, "--out", str(out),
                  "--image_size", ",".join(map(str, IMAGE_SIZE)),
                  "--batch_size", str(BATCH_SIZE), *source])
  return posetrack.read_posetrack18_video(out / f"{NAME}.json", out)


@pytest.fixture(scope="module")
def labels_run(scene, video_file, checkpoint, tmp_path_factory):
  out = tmp_path_factory.mktemp("labels_out")
  labels = _labels_file(tmp_path_factory.mktemp("labels") / "labels.json", scene[1],
                        LABELED)
  return out, _run(video_file, checkpoint, out, "--labels", labels)


@pytest.fixture(scope="module", params=["checkpoint", "hrnet_checkpoint"])
def boxes_run(request, scene, video_file, tmp_path_factory):
  """Every ground-truth box scored 0.9, plus a box scored 0.1 on every frame (dropped); the
  PoseWarper aggregates, the HRNet runs alone."""
  boxes = []
  for t, persons in enumerate(scene[1]):
    boxes += [{"image_id": t, "category_id": 1, "bbox": posetrack.unclean_box(person.box),
               "score": 0.9} for person in persons]
    boxes.append({"image_id": t, "category_id": 1, "bbox": [5, 5, 40, 80], "score": 0.1})
  path = tmp_path_factory.mktemp("boxes") / "boxes.json"
  path.write_text(json.dumps(boxes))
  out = tmp_path_factory.mktemp("boxes_out")
  return out, _run(video_file, request.getfixturevalue(request.param), out, "--boxes", str(path))


def _half_heatmap_pixel(person: records.Person) -> float:
  return 0.5 * HEATMAP_STRIDE * person.scale[0] * transforms.PIXEL_STD / IMAGE_SIZE[0]


def test_labels_are_propagated_to_every_frame(scene, labels_run):
  """At initialisation the warper copies the labeled frame's heatmaps: every frame gets the
  joints of its source labeled frame back."""
  out, predicted = labels_run
  assert [frame.frame_id for frame in predicted.frames] == list(range(NUM_FRAMES))
  for t, frame in enumerate(predicted.frames):
    assert frame.path == str(out / "frames" / NAME / f"{t:06d}.jpg")
    truth = scene[1][LABELED[0] if t <= 6 else LABELED[1]]
    assert len(frame.persons) == len(truth) > 0
    for person, label in zip(frame.persons, truth):
      visible = label.keypoints[:, 2] > 0
      error = np.abs(person.keypoints[visible, :2] - label.keypoints[visible, :2])
      assert error.max() <= _half_heatmap_pixel(person) + 1e-3
      assert person.track_id == label.track_id


def test_boxes_above_the_score_get_poses(scene, boxes_run):
  _, predicted = boxes_run
  assert len(predicted.frames) == NUM_FRAMES
  for frame, truth in zip(predicted.frames, scene[1]):
    assert len(frame.persons) == len(truth)
    for person, label in zip(frame.persons, truth):
      np.testing.assert_allclose(person.box, label.box, atol=1e-3)
      assert person.score == pytest.approx(0.9)
      assert person.joint_scores.shape == (17,)


def test_overlay_videos_have_every_frame(labels_run, boxes_run):
  for out, _ in (labels_run, boxes_run):
    capture = cv2.VideoCapture(str(out / f"{NAME}_poses.mp4"))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    images = []
    while (read := capture.read())[0]:
      images.append(read[1])
    capture.release()
    assert len(images) == NUM_FRAMES
    assert images[0].shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3)


def test_input_config_of_a_checkpoint(tmp_path, checkpoint):
  assert video_app.input_config(checkpoint).image_size == (288, 384)
  assert video_app.input_config(checkpoint, (64, 128)).image_size == (64, 128)
  workdir = tmp_path / "run"
  (workdir / "best").mkdir(parents=True)
  (workdir / "config.json").write_text(json.dumps({"input": {"image_size": [96, 128],
                                                             "sigma": 2.0}}))
  for directory in (workdir, workdir / "best"):
    config = video_app.input_config(str(directory))
    assert config.image_size == (96, 128) and config.sigma == 2.0


def _error_line(capsys, argv, status) -> str:
  with pytest.raises(SystemExit) as exit_info:
    video_app.main(argv)
  if status == 2:  # argparse: usage, then the error line.
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]
  message = str(exit_info.value.code)
  assert message.startswith("error: ") and "\n" not in message
  return message


@pytest.mark.parametrize("flag", ["--video", "--checkpoint", "--labels", "--boxes"])
def test_missing_paths(flag, video_file, checkpoint, tmp_path, capsys):
  """Only existence is checked here, so the video file stands in for the labels or boxes."""
  paths = {"--video": video_file, "--checkpoint": checkpoint,
           "--boxes" if flag == "--boxes" else "--labels": video_file,
           flag: str(tmp_path / "missing")}
  argv = [value for item in paths.items() for value in item] + ["--out", str(tmp_path)]
  line = _error_line(capsys, argv, 2)
  assert f"argument {flag}: {tmp_path / 'missing'} does not exist" in line


def test_bad_inputs(scene, video_file, checkpoint, hrnet_checkpoint, tmp_path, capsys):
  not_a_video = tmp_path / "notes.mp4"
  not_a_video.write_text("not a video")
  common = ["--checkpoint", checkpoint, "--out", str(tmp_path / "out")]
  labels = _labels_file(tmp_path / "labels.json", scene[1], LABELED)
  line = _error_line(capsys, ["--video", str(not_a_video), "--labels", labels, *common], 1)
  assert str(not_a_video) in line and "not a readable video" in line

  long_labels = _labels_file(tmp_path / "long.json", {3: scene[1][3], 40: ()}, (3, 40))
  line = _error_line(capsys, ["--video", video_file, "--labels", long_labels, *common], 1)
  assert (f"{long_labels}: images[1].file_name '{NAME}/000040.jpg' is frame 40, but the video "
          f"{NAME} has frames 0..11") in line

  sparse = _labels_file(tmp_path / "sparse.json", scene[1], (3,))
  line = _error_line(capsys, ["--video", video_file, "--labels", sparse, *common], 1)
  assert f"{sparse}: frames 7-11 of the video are more than 3 frames" in line

  line = _error_line(capsys, ["--video", video_file, "--labels", labels, "--checkpoint",
                              hrnet_checkpoint, "--out", str(tmp_path / "out")], 1)
  assert f"--labels needs a PoseWarper checkpoint; {hrnet_checkpoint} holds a HRNet" in line

  boxes = tmp_path / "boxes.json"
  boxes.write_text(json.dumps([{"image_id": 12, "category_id": 1, "bbox": [0, 0, 9, 9],
                                "score": 0.9}]))
  line = _error_line(capsys, ["--video", video_file, "--boxes", str(boxes), *common], 1)
  assert f"{boxes}: [0].image_id 12 matches no frame" in line
