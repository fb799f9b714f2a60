"""PoseTrack17 (SPEC 5, 7, 9): stage1, stage2 and retrain, evaluated on val with the authors'
boxes; predictions are also written as annolist.

  python train.py --config configs/posetrack17.py:stage1 --workdir runs/posetrack17_stage1
  python train.py --config configs/posetrack17.py:stage2 --workdir runs/posetrack17_stage2

Sparse labels (SPEC 7a, 7c): `:stage1,per_video=5,num_videos=250`, `:stage2,per_video=1`, ...
"""

from configs import common


def get_config(arg=None):
  return common.posetrack_config(arg, "posetrack17", stage1_epochs=3)  # SPEC 5.3: full data.
