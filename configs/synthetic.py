"""The project's synthetic sparsely labeled videos (data.synthetic), ground-truth boxes.

Small crops (128 x 96) for a tiny model on CPU; generate the data with
  python -m posewarper_jax.data.synthetic --out data/synthetic
"""

from configs import common


def get_config(variant: str = "stage2"):
  config = common.base_config(variant)
  config.data.root = "data/synthetic"
  config.data.format = "posetrack18"
  config.data.boxes = "gt"
  config.input.image_size = (96, 128)  # (width, height): multiples of 32 for HRNet.
  config.eval.batch_size = 8
  return config
