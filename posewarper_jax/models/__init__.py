"""posewarper_jax.models: HRNet, PoseWarper, and import of the official PyTorch checkpoints."""

from posewarper_jax.models.checkpoint import load, save
from posewarper_jax.models.hrnet import HRNet, hrnet
from posewarper_jax.models.posewarper import PoseWarper, posewarper

__all__ = ["HRNet", "PoseWarper", "hrnet", "load", "posewarper", "save"]
