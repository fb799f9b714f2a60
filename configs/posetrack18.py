"""PoseTrack18 (SPEC 5, 9): stage1, stage2 and retrain, evaluated on val with the authors' boxes.

  python train.py --config configs/posetrack18.py:stage1 --workdir runs/posetrack18_stage1
  python train.py --config configs/posetrack18.py:stage2 --workdir runs/posetrack18_stage2
  python evaluate.py --config configs/posetrack18.py:stage2 --checkpoint runs/posetrack18_stage2 ...

Sparse labels: `:stage1,per_video=5,num_videos=250` etc. (configs/common.py).
"""

from configs import common


def get_config(arg=None):
  return common.posetrack_config(arg, "posetrack18", stage1_epochs=10)  # SPEC 5.3.
