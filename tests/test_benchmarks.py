"""The benchmark scripts import: `make bench` runs every one of them, and a script whose imports
broke would stop it. (The suite never times anything; this only loads the scripts.)"""

import importlib
import importlib.util
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# side_by_side imports torch, which must come before TensorFlow: it gets a fresh interpreter.
SCRIPTS = sorted(path.stem for path in (REPO / "benchmarks").glob("*.py")
                 if path.stem != "side_by_side")


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_imports(name):
  assert callable(importlib.import_module(f"benchmarks.{name}").main)


def test_side_by_side_imports_or_names_what_it_needs():
  result = subprocess.run([sys.executable, "-c", "import benchmarks.side_by_side"], cwd=REPO,
                          capture_output=True, text=True, check=False)
  if importlib.util.find_spec("torchvision") is None:
    assert result.returncode != 0
    assert "needs torch and torchvision" in result.stderr
  else:
    assert result.returncode == 0, result.stderr
