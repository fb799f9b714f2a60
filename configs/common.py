"""The sections every config shares: data, input, eval (defaults reproduce the original)."""

import ml_collections

from posewarper_jax.data import frame_pairs
from posewarper_jax.eval import evaluation
from posewarper_jax.eval import inference

VARIANTS = ("stage1", "stage2")


def base_config(variant: str) -> ml_collections.ConfigDict:
  """variant "stage1": the single-frame HRNet (eval mode "single"); "stage2": PoseWarper
  (eval mode "aggregate", SPEC 7b)."""
  if variant not in VARIANTS:
    raise ValueError(f"config variant {variant!r}: expected one of {VARIANTS}")
  config = ml_collections.ConfigDict()
  config.variant = variant
  config.data = evaluation.default_data_config()
  config.input = frame_pairs.default_pair_config()
  config.eval = inference.default_eval_config()
  config.eval.mode = "single" if variant == "stage1" else "aggregate"
  return config


def posetrack_config(variant: str, dataset: str) -> ml_collections.ConfigDict:
  """PoseTrack val under data/<dataset> with the authors' precomputed detection boxes (SPEC 6.1).

  dataset: "posetrack18" (official JSON ground truth) or "posetrack17" (annolist ground truth,
  predictions also written as annolist).
  """
  config = base_config(variant)
  config.data.root = f"data/{dataset}"
  config.data.format = dataset
  config.data.boxes = "detections"
  config.data.detections = f"data/{dataset}/{dataset}_precomputed_boxes/val_boxes.json"
  config.eval.write_annolist = dataset == "posetrack17"
  return config
