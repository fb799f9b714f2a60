"""posewarper_jax.models: HRNet, PoseWarper, building from a config, checkpoints, weight import."""

from posewarper_jax.models.build import build
from posewarper_jax.models.checkpoint import load, save
from posewarper_jax.models.hrnet import HRNet, hrnet
from posewarper_jax.models.posewarper import PoseWarper, posewarper

__all__ = ["HRNet", "PoseWarper", "build", "hrnet", "load", "posewarper", "save"]
