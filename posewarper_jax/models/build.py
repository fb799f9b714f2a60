"""Builds the model a config's `model` section describes (configs/common.py `model_config`)."""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from posewarper_jax.models.hrnet import HRNet
from posewarper_jax.models.posewarper import PoseWarper

KINDS = ("hrnet", "posewarper")
DTYPES = ("float32", "bfloat16", "float64")


def build(config: ml_collections.ConfigDict) -> nn.Module:
  """config.model -> an HRNet, or a PoseWarper on that HRNet (kind "posewarper")."""
  if config.kind not in KINDS:
    raise ValueError(f"config.model.kind={config.kind!r}: expected one of {KINDS}")
  if config.dtype not in DTYPES:
    raise ValueError(f"config.model.dtype={config.dtype!r}: expected one of {DTYPES}")
  dtype = jnp.dtype(config.dtype)
  backbone = HRNet(width=config.width, num_joints=config.num_joints,
                   stage_modules=tuple(config.stage_modules), num_blocks=config.num_blocks,
                   stem_width=config.stem_width, layer1_blocks=config.layer1_blocks,
                   dtype=dtype, remat=config.remat)
  if config.kind == "hrnet":
    return backbone
  head = config.head
  return PoseWarper(backbone=backbone, num_offset_blocks=head.num_offset_blocks,
                    offset_channels=head.offset_channels, dilations=tuple(head.dilations),
                    aggregation_weights=tuple(head.aggregation_weights),
                    freeze_backbone=head.freeze_backbone,
                    backbone_batch_stats=head.backbone_batch_stats, dtype=dtype)
