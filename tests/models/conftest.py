"""Tiny models shared by the model tests (compile time dominates on CPU)."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from posewarper_jax.models import HRNet, PoseWarper
from tests.models import official_layout

# Smallest HRNet that still has every structural feature: 4 branches, every transition,
# a multi-scale module in stages 2-3 and the single-output last module.
TINY_HRNET = dict(width=4, stage_modules=(1, 1, 1), num_blocks=1, stem_width=8, layer1_blocks=1)
TINY_HEAD = dict(num_offset_blocks=2, offset_channels=8, dilations=(1, 3))
# Crops must be multiples of 32 (the lowest branch has stride 32).
IMAGE_SHAPE = (2, 64, 32, 3)


def with_random_batch_norm(variables: dict, seed: int) -> dict:
  """The variables with every BatchNorm's mean, var, scale and bias drawn afresh."""
  rng = np.random.default_rng(seed)
  params = traverse_util.flatten_dict(variables["params"])
  stats = traverse_util.flatten_dict(variables["batch_stats"])
  for path in list(stats):
    shape = stats[path].shape
    stats[path] = jnp.asarray(rng.normal(0.0, 0.3, shape) if path[-1] == "mean"
                              else rng.uniform(0.2, 2.0, shape), jnp.float32)
    norm = path[:-1]
    params[norm + ("scale",)] = jnp.asarray(rng.uniform(0.5, 1.5, shape), jnp.float32)
    params[norm + ("bias",)] = jnp.asarray(rng.normal(0.0, 0.3, shape), jnp.float32)
  return {"params": traverse_util.unflatten_dict(params),
          "batch_stats": traverse_util.unflatten_dict(stats)}


@pytest.fixture(scope="session")
def tiny_hrnet() -> HRNet:
  return HRNet(**TINY_HRNET)


@pytest.fixture(scope="session")
def tiny_posewarper(tiny_hrnet) -> PoseWarper:
  return PoseWarper(backbone=tiny_hrnet, **TINY_HEAD)


@pytest.fixture(scope="session")
def tiny_hrnet_state() -> dict:
  """A random official-layout HRNet state dict for TINY_HRNET."""
  shapes = official_layout.hrnet_shapes(
      TINY_HRNET["width"], stage_modules=TINY_HRNET["stage_modules"],
      num_blocks=TINY_HRNET["num_blocks"], stem=TINY_HRNET["stem_width"],
      layer1_blocks=TINY_HRNET["layer1_blocks"])
  return official_layout.random_state_dict(shapes, seed=0)


@pytest.fixture(scope="session")
def tiny_posewarper_state(tiny_hrnet_state) -> dict:
  """A random official-layout PoseWarper state dict: TINY_HRNET plus TINY_HEAD."""
  head = official_layout.head_shapes(channels=TINY_HEAD["offset_channels"],
                                     num_blocks=TINY_HEAD["num_offset_blocks"],
                                     num_dilations=len(TINY_HEAD["dilations"]))
  return {**tiny_hrnet_state, **official_layout.random_state_dict(head, seed=1)}


@pytest.fixture(scope="session")
def images() -> jnp.ndarray:
  return jnp.asarray(np.random.default_rng(2).normal(size=IMAGE_SHAPE), jnp.float32)
