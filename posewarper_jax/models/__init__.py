"""posewarper_jax.models: HRNet, PoseWarper, building from a config, checkpoints, weight import,
BatchNorm folding for inference."""

from posewarper_jax.models.build import build
from posewarper_jax.models.checkpoint import load, save
from posewarper_jax.models.fold import fold_batch_norm
from posewarper_jax.models.hrnet import HRNet, hrnet
from posewarper_jax.models.posewarper import (REFERENCE_FIELDS, PoseWarper, posewarper,
                                              with_reference_fields)

__all__ = ["REFERENCE_FIELDS", "HRNet", "PoseWarper", "build", "fold_batch_norm", "hrnet", "load",
           "posewarper", "save", "with_reference_fields"]
