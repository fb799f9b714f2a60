"""PoseTrack18 val with the authors' precomputed detection boxes (SPEC 6.1, 9).

  python evaluate.py --config configs/posetrack18.py:stage2 --checkpoint CKPT --output_dir OUT \
      --config.data.root /data/posetrack18
"""

from configs import common


def get_config(variant: str = "stage2"):
  return common.posetrack_config(variant, "posetrack18")
