"""Small copies of the PoseTrack18 sample, each given one defect by the bad-input tests."""

import json
import pathlib
import shutil

VIDEO = "009473_mpii_test"  # One frame listed (000000.jpg, 1920x1080, 2 persons) of 101.
WIDTH, HEIGHT = 1920, 1080


def copy_video(sample: pathlib.Path, root: pathlib.Path,
               name: str = VIDEO) -> tuple[pathlib.Path, dict]:
  """Copies video `name` of the sample (annotation file and its one image) under `root`.

  Returns the copied annotation file and its JSON, to be changed and written back.
  """
  (root / "images" / "val" / name).mkdir(parents=True)
  shutil.copy(sample / "images" / "val" / name / "000000.jpg", image_path(root, name))
  path = root / "annotations" / "val" / f"{name}.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  shutil.copy(sample / "annotations" / "val" / f"{name}.json", path)
  return path, json.loads(path.read_text())


def image_path(root: pathlib.Path, name: str = VIDEO, frame: int = 0) -> pathlib.Path:
  return root / "images" / "val" / name / f"{frame:06d}.jpg"


def write_json(path: pathlib.Path, data) -> pathlib.Path:
  path.write_text(json.dumps(data))
  return path


def truncate(path: pathlib.Path) -> None:
  """Keeps the first half of the file (a JPEG cut off inside its image data)."""
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


HTML = b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"
