"""The training loop shared by stage 1, stage 2 and retraining: `train_and_evaluate`.

The kind of run follows from the config alone (configs/common.py): an "hrnet" model trains on
single frames (stage 1 and retraining on pseudo-labels, SPEC 5.3, 7c), a "posewarper" model on
frame pairs with the optimizer masked to its head (stage 2, SPEC 5.4).

One process per host; the step is jitted over a mesh of all devices of all processes, each
process feeds its own shard of the data, and the global batch is config.train.batch_size.
Faults: a run started again on its workdir resumes from the latest checkpoint and computes
what an uninterrupted run computes; SIGTERM saves and returns; a non-finite loss or gradient
stops the run with TrainingDivergedError before anything after it is saved.
"""

import dataclasses
import math
import pathlib
import signal
import tempfile
from typing import Any, Optional

from absl import logging
import flax.linen as nn
import jax
import ml_collections
import numpy as np
import optax
from jax.experimental import multihost_utils

from posewarper_jax import models
from posewarper_jax import sharding
from posewarper_jax.data import datasets
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import records
from posewarper_jax.eval import evaluation
from posewarper_jax.inference import predict
from posewarper_jax.models import PoseWarper
from posewarper_jax.models import checkpoint as checkpoint_lib
from posewarper_jax.train import checkpoints as checkpoints_lib
from posewarper_jax.train import optimizer as optimizer_lib
from posewarper_jax.train import state as state_lib
from posewarper_jax.train import step as step_lib
from posewarper_jax.train.metric_writer import MetricWriter, quiet_library_logs

EVAL_DIR = "eval"  # workdir/eval/step_<N>/: predictions and results.json of each evaluation.


class TrainingDivergedError(FloatingPointError):
  """A step produced a non-finite loss or gradient norm."""


class _Preemption:
  """Set by SIGTERM; in multi-process runs every process learns of any process's signal."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def agreed(self) -> bool:
    if jax.process_count() == 1:
      return self.requested
    flags = multihost_utils.process_allgather(np.int32(self.requested))
    return bool(np.any(flags))

  def restore(self) -> None:
    signal.signal(signal.SIGTERM, self._previous)


def steps_per_epoch(num_instances: int, batch_size: int) -> int:
  """Optimizer steps of one pass over the instances (the original keeps the last partial batch)."""
  return max(1, math.ceil(num_instances / batch_size))


def _check_config(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> None:
  datasets.check_data_config(config.data)
  frame_pairs.check_config(config.input)
  predict.check_eval_config(config.eval)
  train = config.train
  sharding.check_batch_size(train.batch_size, mesh)
  if train.batch_size % jax.process_count():
    raise ValueError(f"config.train.batch_size={train.batch_size} must divide over the "
                     f"{jax.process_count()} processes")
  for name in ("checkpoint_every_steps", "log_every_steps"):
    if train[name] < 1:
      raise ValueError(f"config.train.{name}={train[name]}: must be at least 1")
  if train.eval_every_steps < 0:
    raise ValueError(f"config.train.eval_every_steps={train.eval_every_steps}: must be >= 0")


def _replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """Host values that are equal on every process -> global arrays replicated over `mesh`."""
  replicated = sharding.replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_callback(np.shape(x), replicated,
                                             lambda index: np.asarray(x)[index]), tree)


def _abstract_state(abstract_variables, optimizer, mesh) -> state_lib.TrainState:
  abstract = state_lib.abstract_state(abstract_variables, optimizer)
  replicated = sharding.replicated(mesh)
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated),
                      abstract)


def _check_finite(history: list[tuple[int, dict[str, float]]], latest_checkpoint) -> None:
  for step, metrics in history:
    for name in ("loss", "grad_norm"):
      if not np.isfinite(metrics[name]):
        raise TrainingDivergedError(
            f"step {step}: {name} is {metrics[name]}; stopping. The last good checkpoint is "
            f"step {latest_checkpoint()} (nothing after step {step - 1} was saved)")


def evaluate_variables(config: ml_collections.ConfigDict, model, variables, workdir: pathlib.Path,
                       step: int, split: datasets.EvaluationSplit) -> dict[str, Any]:
  """PoseTrack mAP on `split` from in-memory `variables` (replicated global arrays).

  Every process predicts every box on its local devices; process 0 writes workdir/eval/step_N/.
  """
  local = sharding.local_copy(variables)
  if jax.process_index() == 0:
    return evaluation.evaluate_model(config, model, local, workdir / EVAL_DIR / f"step_{step}",
                                     split=split, source=f"{workdir} step {step}")
  with tempfile.TemporaryDirectory() as scratch:
    return evaluation.evaluate_model(config, model, local, scratch, split=split)


@dataclasses.dataclass
class Run:
  """A training run with its inputs read and checked and its state restored or created."""
  config: ml_collections.ConfigDict
  workdir: pathlib.Path
  mesh: jax.sharding.Mesh
  model: nn.Module
  videos: tuple[records.Video, ...]
  steps_per_epoch: int
  num_steps: int
  schedule: optax.Schedule
  optimizer: optax.GradientTransformation
  checkpoints: checkpoints_lib.Checkpoints
  state: state_lib.TrainState


def prepare(config: ml_collections.ConfigDict, workdir: str) -> Run:
  """Checks the config, reads the training videos, builds the model and optimizer, writes the
  resolved config, and restores the latest checkpoint of `workdir` or creates step 0 (from
  config.train.init_from if set). Bad input raises ValueError / FileNotFoundError here, before
  any training."""
  workdir = pathlib.Path(workdir).absolute()
  quiet_library_logs()
  mesh = sharding.data_mesh()
  _check_config(config, mesh)
  train = config.train
  model = models.build(config.model)
  videos = datasets.training_videos(config.data)
  per_epoch = steps_per_epoch(frame_pairs.num_instances(videos, config.input), train.batch_size)
  num_steps = train.num_steps if train.num_steps >= 0 else train.num_epochs * per_epoch
  schedule = optimizer_lib.learning_rate_schedule(train, per_epoch)
  abstract_variables = checkpoint_lib.abstract_variables(model)
  optimizer = optimizer_lib.make_optimizer(train, abstract_variables["params"])
  checkpoints_lib.write_run_config(workdir, config)
  checkpoints = checkpoints_lib.Checkpoints(workdir, train.keep_checkpoints)
  state = checkpoints.restore(_abstract_state(abstract_variables, optimizer, mesh))
  if state is None:
    state = _replicate(state_lib.initial_state(model, optimizer, seed=config.seed,
                                               init_from=train.init_from), mesh)
  return Run(config=config, workdir=workdir, mesh=mesh, model=model, videos=videos,
             steps_per_epoch=per_epoch, num_steps=num_steps, schedule=schedule,
             optimizer=optimizer, checkpoints=checkpoints, state=state)


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> tuple[state_lib.TrainState, Optional[dict[str, Any]]]:
  """`train(prepare(config, workdir))`."""
  return train(prepare(config, workdir))


def train(run: Run) -> tuple[state_lib.TrainState, Optional[dict[str, Any]]]:
  """Trains from run.state to run.num_steps, saving, logging and evaluating as configured.

  Returns the final state and the last evaluation's results (None if none ran). Returns early,
  after saving, when SIGTERM arrives.
  """
  config, train, workdir, mesh, model = (run.config, run.config.train, run.workdir, run.mesh,
                                         run.model)
  num_steps, checkpoints, state = run.num_steps, run.checkpoints, run.state
  start = int(state.step)
  logging.info("%s: %d steps (%d per epoch) at global batch %d on %d devices, %d processes; "
               "starting at step %d", type(model).__name__, num_steps, run.steps_per_epoch,
               train.batch_size, mesh.size, jax.process_count(), start)

  train_step = step_lib.compile_train_step(
      step_lib.make_train_step(model, run.optimizer, heatmap_stride=config.input.heatmap_stride,
                               sigma=config.input.sigma), mesh)
  keys = step_lib.input_keys(model)
  dataset = frame_pairs.make_pair_dataset(
      run.videos, config.input, seed=config.seed,
      batch_size=train.batch_size // jax.process_count(), process_index=jax.process_index(),
      process_count=jax.process_count(), training=True, start_step=start,
      single_frame=not isinstance(model, PoseWarper))
  batches = dataset.as_numpy_iterator()
  writer = MetricWriter(workdir, num_steps, train.batch_size)
  preemption = _Preemption()
  pending: list[tuple[int, dict[str, jax.Array]]] = []
  results, split = None, None

  def flush() -> None:
    """Fetches the buffered metrics, stops on a non-finite one, logs their mean."""
    if not pending:
      return
    history = [(step, {k: float(v) for k, v in jax.device_get(m).items()}) for step, m in pending]
    pending.clear()
    _check_finite(history, lambda: (checkpoints.wait(), checkpoints.latest_step())[1])
    last_step = history[-1][0]
    scalars = {name: float(np.mean([m[name] for _, m in history]))
               for name in ("loss", "grad_norm")}
    scalars["learning_rate"] = history[-1][1]["learning_rate"]
    scalars.update(writer.throughput(last_step))
    writer.write(last_step, scalars)
    writer.console(last_step, scalars)

  try:
    writer.throughput(start)
    for step in range(start + 1, num_steps + 1):
      local = next(batches)
      learning_rate = _replicate(np.float32(run.schedule(step - 1)), mesh)
      state, metrics = train_step(state, sharding.global_batch({k: local[k] for k in keys}, mesh),
                                  learning_rate)
      pending.append((step, metrics))
      last = step == num_steps
      if step % train.log_every_steps == 0 or last:
        flush()
      if preemption.agreed():
        flush()
        checkpoints.save(state)
        checkpoints.wait()
        logging.info("SIGTERM: saved step %d, exiting", step)
        return state, results
      if step % train.checkpoint_every_steps == 0 or last:
        flush()
        checkpoints.save(state)
      if (train.eval_every_steps and step % train.eval_every_steps == 0) or (
          last and train.eval_at_end):
        flush()
        if split is None:
          split = datasets.evaluation_split(config.data)
        results = evaluate_variables(config, model, state.variables, workdir, step, split)
        mean_ap = results["table"]["Total"]
        writer.write(step, {"mAP": mean_ap})
        logging.info("step %d: mAP %.2f", step, mean_ap)
        if np.isfinite(mean_ap):
          checkpoints.save_best(step, state.variables, mean_ap)
    flush()
    checkpoints.wait()
    logging.info("finished at step %d; parameter checksum %.12e", int(state.step),
                 state_lib.parameter_checksum(sharding.local_copy(state.params)))
    return state, results
  finally:
    preemption.restore()
    writer.close()
    checkpoints.close()
