"""Where training metrics go: TensorBoard summaries, a JSON-lines file and the console.

Process 0 writes; the other processes' writers do nothing. Library INFO lines of orbax stay off
the console unless `quiet_libraries=False`.
"""

import json
import logging as python_logging
import pathlib
import time
from typing import Mapping, Optional

from absl import logging
import jax
import tensorflow as tf

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
_QUIET_PACKAGES = ("/orbax/",)


class _LibraryInfoFilter(python_logging.Filter):
  """Drops records below WARNING that come from the packages in _QUIET_PACKAGES."""

  def filter(self, record: python_logging.LogRecord) -> bool:
    return record.levelno >= python_logging.WARNING or not any(
        package in record.pathname for package in _QUIET_PACKAGES)


def quiet_library_logs() -> None:
  """Keeps orbax's INFO lines (one per save and restore) off the console."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _LibraryInfoFilter) for f in handler.filters):
    handler.addFilter(_LibraryInfoFilter())


class MetricWriter:
  """Scalars per step into workdir/tensorboard and workdir/metrics.jsonl (one JSON object per
  line: {"step": ..., name: value, ...}), and a console line with step, loss, throughput, ETA."""

  def __init__(self, workdir: pathlib.Path, num_steps: int, examples_per_step: int):
    self.enabled = jax.process_index() == 0
    self.num_steps = num_steps
    self.examples_per_step = examples_per_step
    self._last: Optional[tuple[int, float]] = None
    if self.enabled:
      self._summary = tf.summary.create_file_writer(str(workdir / TENSORBOARD_DIR))
      self._jsonl = open(workdir / METRICS_FILE, "a", encoding="utf-8")

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    with self._summary.as_default(step=step):
      for name, value in scalars.items():
        tf.summary.scalar(name, value)
    self._summary.flush()
    self._jsonl.write(json.dumps({"step": step, **{k: float(v) for k, v in scalars.items()}})
                      + "\n")
    self._jsonl.flush()

  def throughput(self, step: int) -> dict[str, float]:
    """examples/s and steps/s since the previous call (empty on the first)."""
    now = time.perf_counter()
    rates = {}
    if self._last is not None and step > self._last[0]:
      steps_per_second = (step - self._last[0]) / (now - self._last[1])
      rates = {"steps_per_second": steps_per_second,
               "examples_per_second": steps_per_second * self.examples_per_step}
    self._last = (step, now)
    return rates

  def console(self, step: int, scalars: Mapping[str, float]) -> None:
    """One line: step, loss, learning rate, throughput, ETA."""
    if not self.enabled:
      return
    line = (f"step {step}/{self.num_steps}  loss {scalars['loss']:.6f}  "
            f"lr {scalars['learning_rate']:.2e}  grad_norm {scalars['grad_norm']:.3e}")
    if "steps_per_second" in scalars:
      eta = int((self.num_steps - step) / scalars["steps_per_second"])
      line += (f"  {scalars['examples_per_second']:.1f} examples/s  "
               f"ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}")
    logging.info("%s", line)

  def close(self) -> None:
    if self.enabled:
      self._summary.close()
      self._jsonl.close()
