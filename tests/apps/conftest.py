"""Synthetic videos, a tiny PoseWarper at its initialisation and its propagation, shared by the
application tests (compilation dominates on CPU)."""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from configs import synthetic as synthetic_config
from posewarper_jax.apps import propagation
from posewarper_jax.data import datasets
from posewarper_jax.data import synthetic
from posewarper_jax.models import HRNet, PoseWarper
from posewarper_jax.train import state as state_lib
from tests.models.conftest import TINY_HEAD, TINY_HRNET

NUM_VIDEOS, NUM_FRAMES = 2, 12
IMAGE_SIZE = (32, 64)  # Crop (width, height), a multiple of HRNet's stride 32.
BATCH_SIZE = 8


@pytest.fixture(scope="session")
def dataset_root(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("synthetic")
  synthetic.generate(root, num_videos=NUM_VIDEOS, frames_per_video=NUM_FRAMES,
                     image_size=(160, 120), seed=3, split="val", max_people=2)
  return root


@pytest.fixture(scope="session")
def config(dataset_root) -> ml_collections.ConfigDict:
  config = synthetic_config.get_config("stage2")
  config.data.root = str(dataset_root)
  config.data.split = "val"
  config.input.image_size = IMAGE_SIZE
  config.eval.batch_size = BATCH_SIZE
  return config


@pytest.fixture(scope="session")
def videos(config):
  """The dense ground truth: every frame labeled."""
  return datasets.load_split(config.data, "val")


@pytest.fixture(scope="session")
def tiny_model():
  """A tiny PoseWarper with a random backbone and the warper at its initialisation, which is
  the identity (zero offsets, centre-tap deformable kernels)."""
  model = PoseWarper(backbone=HRNet(**TINY_HRNET), **TINY_HEAD)
  width, height = IMAGE_SIZE
  images = jnp.zeros((1, height, width, 3))
  # The "rbg" generator compiles the initialisers several times faster than threefry.
  return model, state_lib.jit_init(model)(jax.random.key(0, impl="rbg"), images, images)


@pytest.fixture(scope="session")
def labeled(videos):
  return propagation.labeled_positions(videos)


@pytest.fixture(scope="session")
def propagated(videos, labeled, tiny_model, config):
  """propagation.propagate of the protocol's labels, neck = the propagated head_bottom.

  The persons of the other frames are removed first (their frames stay labeled, which decides
  the run): propagation must not read them.
  """
  model, variables = tiny_model
  only_labeled = tuple(
      dataclasses.replace(video, frames=tuple(
          frame if position in positions else dataclasses.replace(frame, persons=())
          for position, frame in enumerate(video.frames)))
      for video, positions in zip(videos, labeled))
  return propagation.propagate(only_labeled, labeled, model, variables, config.input,
                               batch_size=BATCH_SIZE, neck="head_bottom")
