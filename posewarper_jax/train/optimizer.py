"""Adam with step decays and a trainable-parameter mask (SPEC 5.2, 5.4), from `config.train`."""

from typing import Any

import flax.traverse_util
import jax
import ml_collections
import optax

TRAINABLE = ("all", "head")
# The backbone's subtree in a PoseWarper's params (models/posewarper.py).
BACKBONE = "backbone"


def learning_rate_schedule(config: ml_collections.ConfigDict,
                           steps_per_epoch: int) -> optax.Schedule:
  """MultiStepLR (SPEC 5.2): learning_rate times lr_decay_factor at every decay epoch.

  With decay_one_epoch_early (the original's scheduler stepped at the start of each epoch)
  the decay listed for epoch m takes effect at the start of epoch m - 1.
  """
  shift = 1 if config.decay_one_epoch_early else 0
  boundaries = {}
  for epoch in config.lr_decay_epochs:
    step = max(epoch - shift, 0) * steps_per_epoch
    boundaries[step] = boundaries.get(step, 1.0) * config.lr_decay_factor
  return optax.piecewise_constant_schedule(config.learning_rate, boundaries)


def trainable_labels(params: Any, trainable: str) -> Any:
  """A tree like `params` labelling each leaf "train" or "freeze".

  "all": every parameter; "head": every parameter outside a PoseWarper's backbone (SPEC 5.4:
  offset_feats, offsets, deform_convs).
  """
  if trainable not in TRAINABLE:
    raise ValueError(f"config.train.trainable={trainable!r}: expected one of {TRAINABLE}")
  if trainable == "head" and BACKBONE not in params:
    raise ValueError("config.train.trainable='head' needs a PoseWarper (config.model.kind="
                     "'posewarper'); this model has no backbone/head split")
  flat = flax.traverse_util.flatten_dict(params)
  labels = {path: "freeze" if trainable == "head" and path[0] == BACKBONE else "train"
            for path in flat}
  return flax.traverse_util.unflatten_dict(labels)


def make_optimizer(config: ml_collections.ConfigDict, params: Any) -> optax.GradientTransformation:
  """Adam's update direction (PyTorch defaults, no weight decay) for the trainable parameters;
  the frozen ones get zero updates and no optimizer state. The learning rate is not part of
  it: `apply_updates` takes it per step, so a compiled step serves every schedule."""
  adam = optax.scale_by_adam(b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)
  return optax.multi_transform({"train": adam, "freeze": optax.set_to_zero()},
                               trainable_labels(params, config.trainable))


def apply_updates(optimizer: optax.GradientTransformation, grads: Any, opt_state: Any,
                  params: Any, learning_rate: jax.Array) -> tuple[Any, Any]:
  """One Adam step: params - learning_rate * m_hat / (sqrt(v_hat) + eps) -> (params, opt_state)."""
  directions, opt_state = optimizer.update(grads, opt_state, params)
  updates = jax.tree.map(lambda d: -learning_rate * d, directions)
  return optax.apply_updates(params, updates), opt_state
