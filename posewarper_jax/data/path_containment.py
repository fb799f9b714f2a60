"""Paths read from dataset, detection and prediction files stay inside their root.

A path in such a file is relative to a root (the dataset root, where images lie). It must not be
absolute (`/etc/passwd`, `gs://other/x`), and after normalising `..` it must lie inside the root.
Local paths must also stay inside once symlinks are resolved (a link out of the root is
refused; the root itself may be a link). URLs (`gs://...`, read with tf.io.gfile) are checked
on the normalised path alone: object stores have no symlinks. Every refusal is a ValueError
naming the file, the field and the value, raised before anything is opened.
"""

import os
import posixpath
from typing import Any

from posewarper_jax.data import file_io


def relative_path(name: Any, source: Any, where: str) -> str:
  """`name` with `..` and `.` normalised away; ValueError if absolute or leaving its root."""
  if not isinstance(name, str):
    raise ValueError(f"{source}: {where} is not a string: {name!r}")
  if file_io.is_url(name) or posixpath.isabs(name):
    raise ValueError(f"{source}: {where} '{name}' is an absolute path; paths in this file must "
                     "be relative to the dataset root")
  normal = posixpath.normpath(name)
  if normal == ".." or normal.startswith("../"):
    raise ValueError(f"{source}: {where} '{name}' leaves the dataset root")
  return normal


def _inside(path: str, root: str) -> bool:
  return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Root:
  """A root that joins relative paths read from files, refusing any that leave it.

  Real paths of folders are resolved once per Root (keep one per file read, not for ever: a
  folder that later becomes a link is not seen).
  """

  def __init__(self, path: file_io.Path):
    self.path = os.fspath(path)
    self._is_url = file_io.is_url(self.path)
    self._real_root = None if self._is_url else os.path.realpath(self.path)
    self._real_folders: dict[str, str] = {}

  def relative(self, name: Any, source: Any, where: str) -> str:
    """`relative_path(name)`, after checking that root/name stays inside the root."""
    relative = relative_path(name, source, where)
    if self._is_url:
      return relative
    path = os.path.join(self.path, relative)
    folder, base = os.path.split(path)
    if folder not in self._real_folders:
      self._real_folders[folder] = os.path.realpath(folder)
    real = (os.path.realpath(path) if os.path.islink(path)
            else os.path.join(self._real_folders[folder], base))
    if not _inside(real, self._real_root):
      raise ValueError(f"{source}: {where} '{name}' resolves to {real} through a symlink, "
                       f"outside the dataset root {self._real_root}")
    return relative

  def join(self, name: Any, source: Any, where: str) -> str:
    """root/name for a `relative` name."""
    relative = self.relative(name, source, where)
    return (posixpath.join(self.path, relative) if self._is_url
            else os.path.join(self.path, relative))
