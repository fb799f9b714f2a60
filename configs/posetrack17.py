"""PoseTrack17 val (annolist ground truth) with the authors' precomputed detection boxes.

  python evaluate.py --config configs/posetrack17.py:stage2 --checkpoint CKPT --output_dir OUT \
      --config.data.root /data/posetrack17
"""

from configs import common


def get_config(variant: str = "stage2"):
  config = common.base_config(variant)
  config.data.root = "data/posetrack17"
  config.data.format = "posetrack17"
  config.data.boxes = "detections"
  config.data.detections = "data/posetrack17/posetrack17_precomputed_boxes/val_boxes.json"
  config.eval.write_annolist = True
  return config
