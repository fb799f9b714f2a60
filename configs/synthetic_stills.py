"""The synthetic counterpart of COCO: the single-frame HRNet of configs/synthetic.py trained on
densely labeled stills, 200 separately generated clips of 8 frames (seed 1, fast motion so
that the frames differ), that no demo or test video shares. Its exported weights
(configs/synthetic.py PRETRAINED_CHECKPOINT) start stage 1 and retraining, as the COCO HRNet
does for PoseTrack (SPEC 5.3, 7c step 4). `make pretrained` rebuilds them (about 9 minutes on
2 CPU cores):
  python -m posewarper_jax.data.synthetic --out data/synthetic_stills --num-videos 200 \\
      --frames 8 --seed 1 --speed 2.5 --splits train
  python train.py --config configs/synthetic_stills.py --workdir runs/synthetic_stills
  python -m posewarper_jax.models.checkpoint export runs/synthetic_stills \\
      checkpoints/synthetic_stills_hrnet
"""

from configs import synthetic


def get_config(arg=None):
  config = synthetic.get_config(arg or "stage1")
  if config.variant != "stage1":
    raise ValueError(f"configs/synthetic_stills.py trains the single-frame HRNet (stage1), got "
                     f"variant {config.variant!r}")
  config.data.root = "data/synthetic_stills"
  config.train.init_from = ""
  config.train.num_steps = 1500
  # Decays after about 60% and 85% of the 1500 steps (~300 steps per epoch).
  config.train.lr_decay_epochs = (3, 5)
  config.train.decay_one_epoch_early = False
  config.train.checkpoint_every_steps = 500
  config.train.log_every_steps = 50
  config.train.eval_at_end = False
  return config
