"""File access for the dataset readers and writers.

Local paths go through the standard library; URLs such as `gs://bucket/x.json` go through
`tf.io.gfile`, which is imported only when such a path is used (TensorFlow takes seconds to import).
"""

import glob as local_glob
import os
from typing import Union

Path = Union[str, os.PathLike]


def is_url(path: Path) -> bool:
  """True for URLs such as gs://bucket/x (read with tf.io.gfile), False for local paths."""
  return "://" in os.fspath(path)


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def read_bytes(path: Path) -> bytes:
  if is_url(path):
    with _gfile().GFile(os.fspath(path), "rb") as f:
      return f.read()
  with open(path, "rb") as f:
    return f.read()


def read_text(path: Path) -> str:
  return read_bytes(path).decode("utf-8")


def write_bytes(path: Path, data: bytes) -> None:
  """Writes `data`, creating the parent folder."""
  make_dirs(os.path.dirname(os.fspath(path)))
  if is_url(path):
    with _gfile().GFile(os.fspath(path), "wb") as f:
      f.write(data)
    return
  with open(path, "wb") as f:
    f.write(data)


def write_text(path: Path, text: str) -> None:
  write_bytes(path, text.encode("utf-8"))


def exists(path: Path) -> bool:
  return _gfile().exists(os.fspath(path)) if is_url(path) else os.path.exists(path)


def make_dirs(path: Path) -> None:
  if not os.fspath(path):
    return
  if is_url(path):
    _gfile().makedirs(os.fspath(path))
  else:
    os.makedirs(path, exist_ok=True)


def glob(pattern: Path) -> list[str]:
  """Sorted matches of `pattern`."""
  if is_url(pattern):
    return sorted(_gfile().glob(os.fspath(pattern)))
  return sorted(local_glob.glob(os.fspath(pattern)))
