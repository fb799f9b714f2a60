"""The train state and its creation: initial variables, weights from a checkpoint, optimizer.

All randomness of a run is a function of (config.seed, step): parameter initialisation uses the
seed, and the input pipeline derives each element's order and augmentation from the seed and the
element's index. The state therefore needs no random key; resuming at a step reproduces the run.
"""

from typing import Any

import flax.linen as nn
import flax.struct
import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from posewarper_jax import models
from posewarper_jax.models import checkpoint as checkpoint_lib
from posewarper_jax.models import PoseWarper


class TrainState(flax.struct.PyTreeNode):
  """step: int32 scalar (optimizer steps taken); params, batch_stats: the model's variables;
  opt_state: the optimizer's state."""
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any

  @property
  def variables(self) -> dict[str, Any]:
    return {"params": self.params, "batch_stats": self.batch_stats}


def parameter_checksum(params: Any) -> float:
  """Sum of |p| over every parameter in float64: equal on every process of a healthy run."""
  return float(sum(np.abs(np.asarray(leaf, np.float64)).sum() for leaf in jax.tree.leaves(params)))


# XLA:CPU compiles an initialiser's hundreds of threefry draws at LLVM optimisation level 1 to
# the same bits as at the default level (tests/train/test_state.py), in a quarter of the time
# for the tests' tiny HRNet (4 against 17 s) and 11% less for HRNet-W48's PoseWarper (49
# against 55 s); the program runs once, in milliseconds. (Level 0 changes the bits.)
CPU_INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def jit_init(module: nn.Module):
  """`jax.jit(module.init)`, compiled at CPU_INIT_COMPILER_OPTIONS on CPUs."""
  options = CPU_INIT_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
  return jax.jit(module.init, compiler_options=options)


def initial_variables(model: nn.Module, seed: int) -> dict[str, Any]:
  """The model's initialisers (SPEC 2, 4.6) from `seed` -> {"params", "batch_stats"}."""
  variables = jit_init(model)(jax.random.key(seed), *checkpoint_lib.example_inputs(model))
  return {"params": variables["params"], "batch_stats": variables["batch_stats"]}


def _backbone_only(model: nn.Module, other: nn.Module) -> bool:
  """True when `model` is a PoseWarper and `other` an HRNet: they share only the backbone."""
  return isinstance(model, PoseWarper) and not isinstance(other, PoseWarper)


def transplant(target: nn.Module, variables: dict[str, Any], source: nn.Module,
               source_variables: dict[str, Any]) -> dict[str, Any]:
  """`variables` of `target` with every entry that `source_variables` holds replaced by it.

  Entries are matched by path. An HRNet checkpoint fills a PoseWarper's backbone (stage 2 from
  stage 1, SPEC 5.4; the head keeps its initialisation, SPEC 4.6); a PoseWarper checkpoint
  gives an HRNet its backbone. Raises ValueError listing the target entries missing from the
  source, the source entries the target lacks, and the shape mismatches.
  """
  backbone = ("backbone",)
  result, problems = {}, []
  for collection in ("params", "batch_stats"):
    wanted = flax.traverse_util.flatten_dict(variables[collection])
    given = flax.traverse_util.flatten_dict(source_variables[collection])
    if _backbone_only(source, target):  # Keep the source's backbone, at the top level.
      given = {path[1:]: value for path, value in given.items() if path[:1] == backbone}
    covered = wanted
    if _backbone_only(target, source):  # Only the target's backbone comes from the source.
      given = {backbone + path: value for path, value in given.items()}
      covered = {path: value for path, value in wanted.items() if path[:1] == backbone}
    missing = sorted("/".join(path) for path in covered if path not in given)
    unexpected = sorted("/".join(path) for path in given if path not in wanted)
    if missing:
      problems.append(f"{collection} missing from the checkpoint: {', '.join(missing)}")
    if unexpected:
      problems.append(f"{collection} not in the model: {', '.join(unexpected)}")
    merged = dict(wanted)
    for path, value in given.items():
      if path not in wanted:
        continue
      if jnp.shape(value) != jnp.shape(wanted[path]):
        problems.append(f"{collection}/{'/'.join(path)}: checkpoint shape {jnp.shape(value)}, "
                        f"model shape {jnp.shape(wanted[path])}")
      else:
        merged[path] = jnp.asarray(value, jnp.asarray(wanted[path]).dtype)
    result[collection] = flax.traverse_util.unflatten_dict(merged)
  if problems:
    raise ValueError(f"the checkpoint's {type(source).__name__} does not fit the configured "
                     f"{type(target).__name__}:\n  " + "\n  ".join(problems))
  return result


def initial_state(model: nn.Module, optimizer: optax.GradientTransformation, *, seed: int,
                  init_from: str = "") -> TrainState:
  """Step 0: initialisers from `seed`, then the weights of `init_from` (models.load) if set."""
  variables = initial_variables(model, seed)
  if init_from:
    source, source_variables = models.load(init_from)
    variables = transplant(model, variables, source, source_variables)
    logging.info("initial weights from %s (%s)", init_from, type(source).__name__)
  return _step_zero(variables, optimizer)


def abstract_state(abstract_variables: dict[str, Any],
                   optimizer: optax.GradientTransformation) -> TrainState:
  """Shapes and dtypes of `initial_state`'s result from those of the model's variables
  (models.checkpoint.abstract_variables), without computing anything."""
  return jax.eval_shape(lambda variables: _step_zero(variables, optimizer), abstract_variables)


def _step_zero(variables: dict[str, Any], optimizer: optax.GradientTransformation) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                    batch_stats=variables["batch_stats"],
                    opt_state=optimizer.init(variables["params"]))
