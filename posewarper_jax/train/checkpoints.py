"""Training checkpoints in a workdir (orbax CheckpointManager), read back by models.load.

  workdir/config.json            the run's resolved config
  workdir/checkpoints/<step>/    the latest `keep` steps: items "variables" ({"params",
                                 "batch_stats"}) and "optimizer" ({"step", "opt_state"})
  workdir/best/<step>/           the step with the best validation mAP: "variables"

Saves are asynchronous and atomic (orbax writes a temporary folder and renames it when the step
is complete), so an interrupted save never replaces the last good checkpoint.
"""

import json
import pathlib
from typing import Any, Optional

import jax
import ml_collections
import orbax.checkpoint as ocp

from posewarper_jax.models import checkpoint as checkpoint_lib
from posewarper_jax.train.state import TrainState

VARIABLES = checkpoint_lib.VARIABLES_DIR
OPTIMIZER = "optimizer"
MAP_METRIC = "mAP"


def write_run_config(workdir: pathlib.Path, config: ml_collections.ConfigDict) -> None:
  """Writes the resolved config as workdir/config.json (process 0 only)."""
  if jax.process_index() == 0:
    workdir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json.loads(config.to_json_best_effort()), indent=2, sort_keys=True)
    (workdir / checkpoint_lib.RUN_CONFIG_FILE).write_text(text + "\n")


class Checkpoints:
  """The latest steps (for resuming) and the best one (by validation mAP) of a training run."""

  def __init__(self, workdir: pathlib.Path, keep: int):
    if keep < 1:
      raise ValueError(f"config.train.keep_checkpoints={keep}: must be at least 1")
    workdir = pathlib.Path(workdir).absolute()
    self.latest = ocp.CheckpointManager(
        workdir / checkpoint_lib.CHECKPOINTS_DIR, item_names=(VARIABLES, OPTIMIZER),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
    self.best = ocp.CheckpointManager(
        workdir / checkpoint_lib.BEST_DIR, item_names=(VARIABLES,),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, best_fn=lambda metrics: metrics[MAP_METRIC], best_mode="max",
            keep_checkpoints_without_metrics=False, create=True))

  def latest_step(self) -> Optional[int]:
    return self.latest.latest_step()

  def save(self, state: TrainState) -> None:
    """Starts an asynchronous save of `state` at its step (a no-op if that step exists)."""
    step = int(state.step)
    if step in self.latest.all_steps():
      return
    self.latest.save(step, args=ocp.args.Composite(**{
        VARIABLES: ocp.args.StandardSave(state.variables),
        OPTIMIZER: ocp.args.StandardSave({"step": state.step, "opt_state": state.opt_state})}))

  def save_best(self, step: int, variables: dict[str, Any], mean_ap: float) -> bool:
    """Keeps `variables` under best/ if `mean_ap` beats the kept step; returns whether it did."""
    previous = self.best.best_step()
    best_map = None if previous is None else self._best_map(previous)
    self.best.save(step, args=ocp.args.Composite(**{VARIABLES: ocp.args.StandardSave(variables)}),
                   metrics={MAP_METRIC: float(mean_ap)})
    return best_map is None or mean_ap > best_map

  def _best_map(self, step: int) -> Optional[float]:
    metrics = self.best.metrics(step)
    return None if metrics is None else float(metrics[MAP_METRIC])

  def restore(self, abstract_state: TrainState) -> Optional[TrainState]:
    """The latest saved state, laid out like `abstract_state` (shapes, dtypes, shardings);
    None when no step has been saved."""
    step = self.latest.latest_step()
    if step is None:
      return None
    restored = self.latest.restore(step, args=ocp.args.Composite(**{
        VARIABLES: ocp.args.StandardRestore(abstract_state.variables),
        OPTIMIZER: ocp.args.StandardRestore(
            {"step": abstract_state.step, "opt_state": abstract_state.opt_state})}))
    variables, optimizer = restored[VARIABLES], restored[OPTIMIZER]
    return TrainState(step=optimizer["step"], params=variables["params"],
                      batch_stats=variables["batch_stats"], opt_state=optimizer["opt_state"])

  def wait(self) -> None:
    """Blocks until every started save is complete."""
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()
