"""The deformable convolution against torchvision's `deform_conv2d`, where torch is installed.

torchvision's op is the PyTorch world's reference DCN (v1, and v2 with a mask) and the CPU
stand-in for the official PoseWarper's CUDA op; it is a benchmark extra
(requirements-bench.txt), not a dependency, so without it these tests are skipped. Every case
of test_deform_conv.py is compared in float64: the output (samples on integers and borders
included) and, with every sample off the integer grid, the gradients with respect to every
input. The comparison runs in a fresh interpreter, because torchvision must be imported
before TensorFlow, which other test modules of the same worker may have loaded.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

from tests.ops.test_deform_conv import CASES

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                                reason="torchvision is not installed (requirements-bench.txt)")

REPO = pathlib.Path(__file__).resolve().parents[2]
COMPARE = """
import json, sys
import torch, torchvision  # before anything imports TensorFlow
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from posewarper_jax.ops import deform_conv2d
from tests.ops.test_deform_conv import CASES, make_inputs

NCHW, OIHW = (0, 3, 1, 2), (3, 2, 0, 1)
AXES = {"x": NCHW, "offset": NCHW, "mask": NCHW, "weight": OIHW, "bias": (0,)}


def torchvision_vjp(case, inputs, cotangent):
  tensors = {name: torch.tensor(np.transpose(np.asarray(value), AXES[name]), requires_grad=True)
             for name, value in inputs.items()}
  out = torchvision.ops.deform_conv2d(
      tensors["x"], tensors["offset"], tensors["weight"], tensors.get("bias"),
      stride=case.stride, padding=case.padding, dilation=case.dilation, mask=tensors.get("mask"))
  (out * torch.tensor(cotangent.transpose(NCHW))).sum().backward()
  back = lambda tensor, axes: np.transpose(tensor.detach().numpy(), np.argsort(axes))
  return back(out, NCHW), {name: back(t.grad, AXES[name]) for name, t in tensors.items()}


def relative(a, b):
  return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


results = {}
for case in CASES:
  inputs = {k: v for k, v in make_inputs(case, seed=3, dtype=jnp.float64).items()
            if v is not None}
  cotangent = np.random.default_rng(4).normal(size=(case.batch, *case.out_hw, case.out_channels))
  # Jitted: op by op, the cases took four times as long.
  forward = jax.jit(lambda values: deform_conv2d(**values, **case.kwargs))
  ours = lambda values: jnp.sum(forward(values) * cotangent)
  # The output on make_inputs' offsets, which put samples exactly on integers and borders.
  results[case.name] = {"output": relative(forward(inputs),
                                           torchvision_vjp(case, inputs, cotangent)[0])}
  # Gradients with every sample off the integer grid, where bilinear interpolation is
  # differentiable (at integers each implementation picks its own one-sided derivative).
  shifted = dict(inputs, offset=inputs["offset"] + 0.3137)
  grads = jax.jit(jax.grad(ours))(shifted)
  theirs = torchvision_vjp(case, shifted, cotangent)[1]
  results[case.name].update({name: relative(grads[name], theirs[name]) for name in shifted})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def differences():
  """{case: {output or input name: max |ours - torchvision| / max |torchvision|}}."""
  run = subprocess.run([sys.executable, "-c", COMPARE], cwd=REPO, capture_output=True,
                       text=True, timeout=600, check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_output_and_gradients_match_torchvision_in_float64(differences, case):
  assert set(differences[case.name]) >= {"output", "x", "offset", "weight"}
  for name, difference in differences[case.name].items():
    assert difference < 1e-10, (case.name, name, difference)
