"""One optimizer step for stage 1 / retraining (HRNet on single frames) and stage 2 (PoseWarper
on frame pairs), and its compilation over a data-parallel mesh."""

from typing import Any, Callable

import flax.linen as nn
import jax
import optax

from posewarper_jax import sharding
from posewarper_jax.data import pixels
from posewarper_jax.data import targets
from posewarper_jax.models import PoseWarper
from posewarper_jax.train import losses
from posewarper_jax.train import optimizer as optimizer_lib
from posewarper_jax.train.state import TrainState

Batch = dict[str, jax.Array]
StepFn = Callable[[TrainState, Batch, jax.Array], tuple[TrainState, dict[str, jax.Array]]]


# (B, K, 3) float32: frame A's joints in crop pixels (x, y) and their visibility, encoded as the
# target heatmaps on the device (targets.joint_targets).
JOINTS_KEY = "joints"


def frame_keys(model: nn.Module) -> tuple[str, ...]:
  """The model's input frames, each (B, H, W, 3): frame_a, and frame_b for a PoseWarper.

  uint8 RGB crops (the training pipeline's) are ImageNet-normalised on the device
  (pixels.model_input); floating ones are taken as normalised already.
  """
  return ("frame_a", "frame_b") if isinstance(model, PoseWarper) else ("frame_a",)


def input_keys(model: nn.Module) -> tuple[str, ...]:
  """Every batch entry a step reads."""
  return frame_keys(model) + (JOINTS_KEY,)


def predict_for_loss(model: nn.Module, variables: dict[str, Any], batch: Batch
                     ) -> tuple[jax.Array, dict[str, Any]]:
  """Training-mode heatmaps the loss compares with the target, and the new batch_stats.

  HRNet: heatmaps of frame A. PoseWarper: frame B's heatmaps warped onto frame A (SPEC 4.1).
  """
  frames = [pixels.model_input(batch[key]) for key in frame_keys(model)]
  heatmaps, updates = model.apply(variables, *frames, train=True, mutable=["batch_stats"])
  return heatmaps, updates["batch_stats"]


def loss_and_updates(model: nn.Module, params: Any, batch_stats: Any, batch: Batch,
                     target: jax.Array, target_weight: jax.Array) -> tuple[jax.Array, Any]:
  """(JointsMSE loss (SPEC 5.1), new batch_stats) of one batch."""
  heatmaps, new_batch_stats = predict_for_loss(
      model, {"params": params, "batch_stats": batch_stats}, batch)
  return losses.joints_mse(heatmaps, target, target_weight), new_batch_stats


def make_train_step(model: nn.Module, optimizer: optax.GradientTransformation, *,
                    heatmap_stride: int, sigma: float) -> StepFn:
  """(state, batch, learning_rate) -> (state after one Adam step, metrics {loss, grad_norm,
  learning_rate}).

  batch: `input_keys(model)`; the targets are encoded from its joints with the input config's
  heatmap_stride and sigma. The learning rate is an input (a float32 scalar), so one compiled
  step serves any schedule. loss and grad_norm are those of the parameters before the step.
  """
  def step(state: TrainState, batch: Batch, learning_rate: jax.Array):
    target, target_weight = targets.joint_targets(batch[JOINTS_KEY], batch["frame_a"],
                                                  heatmap_stride, sigma)
    grad_fn = jax.value_and_grad(
        lambda p: loss_and_updates(model, p, state.batch_stats, batch, target, target_weight),
        has_aux=True)
    (loss, batch_stats), grads = grad_fn(state.params)
    params, opt_state = optimizer_lib.apply_updates(optimizer, grads, state.opt_state,
                                                    state.params, learning_rate)
    new_state = TrainState(step=state.step + 1, params=params, batch_stats=batch_stats,
                           opt_state=opt_state)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads),
               "learning_rate": learning_rate}
    return new_state, metrics
  return step


def compile_train_step(step: StepFn, mesh: jax.sharding.Mesh) -> StepFn:
  """`step` jitted over `mesh`: state replicated and donated, batch split along the data axis."""
  replicated = sharding.replicated(mesh)
  return jax.jit(step, in_shardings=(replicated, sharding.batch_sharded(mesh), replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))
