"""Loss curves from metrics.jsonl files."""

import json

import cv2
import numpy as np
import pytest

from posewarper_jax.viz import curves


def _workdir(tmp_path, name, losses):
  workdir = tmp_path / name
  workdir.mkdir()
  lines = [json.dumps({"step": i + 1, "loss": loss}) for i, loss in enumerate(losses)]
  lines.insert(1, json.dumps({"step": 2, "mAP": 12.5}))  # Evaluations carry no loss.
  (workdir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
  return workdir


def test_curves_read_and_plot_the_logged_losses(tmp_path):
  falling = _workdir(tmp_path, "falling", [0.1, 0.05, 0.02])
  assert curves.read_losses(falling) == ([1, 2, 3], [0.1, 0.05, 0.02])
  flat = _workdir(tmp_path, "flat", [0.1, 0.1, 0.1])
  first = cv2.imread(curves.plot_losses([falling], str(tmp_path / "a.png")))
  second = cv2.imread(curves.plot_losses([flat], str(tmp_path / "b.png")))
  assert first.shape == second.shape and not np.array_equal(first, second)


def test_malformed_line_is_named(tmp_path):
  workdir = tmp_path / "bad"
  workdir.mkdir()
  (workdir / "metrics.jsonl").write_text('{"step": 1, "loss": 0.1}\nnot json\n')
  with pytest.raises(ValueError, match=r"metrics.jsonl: line 2"):
    curves.read_losses(workdir)
