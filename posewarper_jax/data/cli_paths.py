"""Inputs of the command-line tools: a missing or malformed one is a one-line error naming it,
not a traceback."""

import argparse
import contextlib
import sys
from typing import Callable, Iterator

from posewarper_jax.data import file_io


def existing(path: str) -> str:
  """argparse `type=` of an input path (local or tf.io.gfile URL) that must exist.

  argparse then reports a missing path as "<tool>: error: argument --flag: PATH does not
  exist" after the usage line and exits with status 2, instead of a traceback later on.
  """
  if not file_io.exists(path):
    raise argparse.ArgumentTypeError(f"{path} does not exist")
  return path


def numbers(count: int, kind: type) -> Callable[[str], tuple]:
  """argparse `type=` of `count` comma-separated numbers of type `kind`, e.g. "288,384"."""

  def parse(text: str) -> tuple:
    try:
      values = tuple(kind(v) for v in text.split(","))
    except ValueError:
      values = ()
    if len(values) != count:
      raise argparse.ArgumentTypeError(f"{text!r}: expected {count} comma-separated "
                                       f"{kind.__name__} values")
    return values

  return parse


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
  """Inside it, a missing input (FileNotFoundError) or a malformed one (ValueError) ends the
  program with "error: <message>" on stderr and exit status 1, without a traceback.

  Wrap only the reading and checking of the inputs: a failure of the work itself keeps its
  traceback.
  """
  try:
    yield
  except (FileNotFoundError, ValueError) as error:
    sys.exit(f"error: {error}")
