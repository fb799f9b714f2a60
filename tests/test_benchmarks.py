"""The benchmark scripts import: `make bench` runs every one of them, and a script whose imports
broke would stop it. (The suite never times anything; this only loads the scripts.)"""

import importlib
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# side_by_side imports torch, which must come before TensorFlow: it gets a fresh interpreter.
SCRIPTS = sorted(path.stem for path in (REPO / "benchmarks").glob("*.py")
                 if path.stem != "side_by_side")
# Imports what it is given with TensorFlow and OpenCV unimportable, as on an accelerator
# machine that has only JAX's stack.
WITHOUT_TF_OR_CV2 = """
import importlib, importlib.abc, sys
class Unimportable(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path, target=None):
    if name.partition(".")[0] in ("tensorflow", "tensorflow_datasets", "cv2"):
      raise ImportError(f"{name} was imported")
sys.meta_path.insert(0, Unimportable())
for name in sys.argv[1:]:
  importlib.import_module(name)
"""


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


def test_gpu_benchmarks_import_without_tensorflow_or_opencv():
  """run_gpu.sh's scripts run on machines with JAX and no TensorFlow or OpenCV."""
  scripts = re.findall(r"benchmarks/(\w+)\.py", (REPO / "benchmarks" / "run_gpu.sh").read_text())
  assert {"model", "train_step", "deform_conv"} <= set(scripts)
  modules = [f"benchmarks.{name}" for name in scripts]
  result = subprocess.run([sys.executable, "-c", WITHOUT_TF_OR_CV2, *modules], cwd=REPO,
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr
  # The check itself works.
  for blocked in ("tensorflow", "cv2"):
    result = subprocess.run([sys.executable, "-c", WITHOUT_TF_OR_CV2, blocked], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert f"{blocked} was imported" in result.stderr
