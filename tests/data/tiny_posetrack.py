"""A tiny PoseTrack18-layout dataset for the input-pipeline tests.

Frame i of a video is a flat grey JPEG of level `frame_level(i)`, so a crop tells which frame
it came from. Layout under `root`: images/<split>/<video>/%06d.jpg and
annotations/<split>/<video>.json (written and read back with posetrack.py).
"""

import pathlib

import cv2
import numpy as np

from posewarper_jax.data import posetrack
from posewarper_jax.data import records

WIDTH, HEIGHT = 320, 240
# (video name, number of frames, {labeled position: number of persons}, missing positions)
VIDEOS = (
    ("000001_tiny", 5, {0: 2, 2: 1}, (4,)),
    ("000002_tiny", 3, {1: 1}, ()),
)


def frame_level(position: int) -> int:
  return 30 + 40 * position


def person_keypoints(rng: np.random.Generator, index: int) -> np.ndarray:
  """17 visible joints spread over a 60 x 80 box centred at (150 + 20 index, 120)."""
  keypoints = np.ones((17, 3), np.float32)
  keypoints[:, 0] = rng.uniform(-30, 30, 17) + 150 + 20 * index
  keypoints[:, 1] = rng.uniform(-40, 40, 17) + 120
  return keypoints


def write(root: pathlib.Path, split: str = "train",
          posetrack17: bool = False) -> tuple[records.Video, ...]:
  """Writes the dataset and returns it as read back by posetrack.py.

  posetrack17: PoseTrack17 layout instead (frames %08d.jpg from 1, annolist JSON).
  """
  rng = np.random.default_rng(0)
  annotation_dir = root / "annotations" / split
  annotation_dir.mkdir(parents=True, exist_ok=True)
  for video_number, (name, num_frames, labeled, missing) in enumerate(VIDEOS):
    folder = root / "images" / split / name
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for position in range(num_frames):
      frame_id = position + 1 if posetrack17 else position
      path = folder / (f"{frame_id:08d}.jpg" if posetrack17 else f"{frame_id:06d}.jpg")
      if position not in missing:
        image = np.full((HEIGHT, WIDTH, 3), frame_level(position), np.uint8)
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
      persons = []
      for index in range(labeled.get(position, 0)):
        keypoints = person_keypoints(rng, index)
        box = posetrack.box_around_joints(keypoints[:, :2], margin=0.0)
        persons.append(posetrack.person_from_box(
            keypoints, box, WIDTH, HEIGHT, head_box=np.array([140.0, 70.0, 20.0, 20.0]),
            track_id=index))
      frames.append(records.Frame(
          path=str(path), frame_id=frame_id, image_id=(video_number + 1) * 10_000 + position,
          width=WIDTH, height=HEIGHT, is_labeled=position in labeled, persons=tuple(persons)))
    video = records.Video(name, tuple(frames))
    json_path = annotation_dir / f"{name}.json"
    if posetrack17:
      posetrack.write_posetrack17_annolist_video(video, json_path, image_root=root)
    else:
      posetrack.write_posetrack18_video(video, json_path, image_root=root)
  if posetrack17:
    return tuple(posetrack.read_posetrack17_annolist(p, root)
                 for p in sorted(annotation_dir.glob("*.json")))
  return posetrack.read_posetrack18(annotation_dir, root)
