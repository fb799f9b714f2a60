import argparse

import pytest

from posewarper_jax.data import build_tfds
from posewarper_jax.data import cli_paths
from posewarper_jax.data import sparse_labels
from posewarper_jax.viz import pairs as pairs_viz


def test_existing(tmp_path):
  assert cli_paths.existing(str(tmp_path)) == str(tmp_path)
  with pytest.raises(argparse.ArgumentTypeError, match=f"^{tmp_path / 'none'} does not exist$"):
    cli_paths.existing(str(tmp_path / "none"))


@pytest.mark.parametrize("main, flag, other_args", [
    (sparse_labels.main, "--annotations", ["--images", ".", "--out", "out", "--every-k", "2"]),
    (sparse_labels.main, "--images", ["--annotations", ".", "--out", "out", "--every-k", "2"]),
    (build_tfds.main, "--manual_dir", ["--config", "posetrack18"]),
    (pairs_viz.main, "--annotations", ["--images", ".", "--out", "out"]),
    (pairs_viz.main, "--images", ["--annotations", ".", "--out", "out"]),
])
def test_missing_input_is_one_line(tmp_path, capsys, main, flag, other_args):
  missing = str(tmp_path / "missing")
  with pytest.raises(SystemExit) as exit_info:
    main([flag, missing, *other_args])
  assert exit_info.value.code == 2
  error = capsys.readouterr().err
  assert "Traceback" not in error
  assert error.splitlines()[-1].endswith(f"error: argument {flag}: {missing} does not exist")


@pytest.mark.parametrize("error", [FileNotFoundError("data/x.json: no such file"),
                                   ValueError("data/x.json: bbox[2] (width) is negative: -5")])
def test_one_line_errors(error):
  with pytest.raises(SystemExit) as exit_info:
    with cli_paths.one_line_errors():
      raise error
  assert exit_info.value.code == f"error: {error}"  # sys.exit prints it and exits with 1.


def test_one_line_errors_leave_other_errors_alone():
  with pytest.raises(KeyError):
    with cli_paths.one_line_errors():
      raise KeyError("a bug")


def test_numbers_parses_exactly_count_values():
  parse = cli_paths.numbers(2, int)
  assert parse("288,384") == (288, 384)
  for text in ("288", "288,384,1", "a,b"):
    with pytest.raises(argparse.ArgumentTypeError, match=f"'{text}': expected 2"):
      parse(text)
