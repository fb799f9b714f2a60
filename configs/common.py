"""Sections every config file shares; the defaults reproduce the original (docs/SPEC.md).

A config file's `get_config(arg)` builds the whole ConfigDict from these builders and sets what
its dataset and run need. `arg` is "<variant>[,key=value,...]": the variant picks the kind of
run and the optional items pick a sparse-label subset of the training labels (SPEC 5.3):

  stage1    the single-frame HRNet (SPEC 5.3), evaluated as "single"
  stage2    PoseWarper on the frozen stage-1 backbone (SPEC 5.4), evaluated as "aggregate"
  retrain   the single-frame HRNet on labels + propagated pseudo-labels (SPEC 7c)
  every_k=K keep every K-th labeled frame of each training video (start=S: the first kept one)
  per_video=N keep N random labeled frames per training video
  num_videos=V keep V random training videos

e.g. `--config configs/posetrack17.py:stage1,per_video=5,num_videos=250` (SPEC 7a's setting).
Only ml_collections is imported here, so loading a config is cheap.
"""

from typing import Optional

import ml_collections

VARIANTS = ("stage1", "stage2", "retrain")
SPARSE_KEYS = ("every_k", "start", "per_video", "num_videos")


def parse_arg(arg: Optional[str], default_variant: str) -> tuple[str, dict[str, int]]:
  """'stage1,per_video=5' -> ("stage1", {"per_video": 5}); raises ValueError naming bad items."""
  items = [item.strip() for item in (arg or default_variant).split(",") if item.strip()]
  variant, sparse = items[0], {}
  if variant not in VARIANTS:
    raise ValueError(f"config variant {variant!r}: expected one of {VARIANTS}")
  for item in items[1:]:
    key, sep, value = item.partition("=")
    if not sep or key not in SPARSE_KEYS or not value.strip().lstrip("-").isdigit():
      raise ValueError(f"config argument {item!r}: expected key=integer with key one of "
                       f"{SPARSE_KEYS}")
    sparse[key] = int(value)
  return variant, sparse


def data_config() -> ml_collections.ConfigDict:
  """Where the videos come from, which labels train, and the evaluation boxes (SPEC 3.1, 6.1)."""
  config = ml_collections.ConfigDict()
  config.root = ""  # Dataset root: images/<split>/<seq>/*.jpg, annotations/<split>/<seq>.json.
  config.format = "posetrack18"  # "posetrack18" (official JSON) | "posetrack17" (annolist).
  # "json": read the per-video annotation files under root; "tfds": the prepared
  # posetrack_frames dataset (python -m posewarper_jax.data.build_tfds), images still under root.
  config.source = "json"
  config.tfds_name = "posetrack_frames/posetrack18"  # With source "tfds": name/builder config.
  config.tfds_data_dir = ""  # With source "tfds": TFDS data dir ("" = TFDS's default).
  config.train_split = "train"
  # Training labels from another folder of per-video PoseTrack18 JSON files, read instead of
  # train_split whatever the source (the same videos' images under root), e.g. labels plus
  # propagated pseudo-labels for "retrain" (SPEC 7c).
  config.train_labels_dir = ""
  # Sparse-label subset of the training labels (SPEC 5.3): 0 = off; num_videos first, then
  # every_k or per_video (not both). Set them through the config argument
  # ("stage1,per_video=5") or directly.
  config.labels = ml_collections.ConfigDict()
  config.labels.every_k = 0  # Keep every k-th labeled frame per video.
  config.labels.start = 0  # With every_k: index of the first kept labeled frame.
  config.labels.per_video = 0  # Keep N random labeled frames per video.
  config.labels.num_videos = 0  # Keep V random videos.
  config.labels.seed = 0  # Draws of per_video and num_videos.
  config.split = "val"  # The evaluation split.
  config.boxes = "detections"  # "gt" | "detections" (the paper's tables use detections).
  config.detections = ""  # COCO-results boxes, e.g. posetrack18_precomputed_boxes/val_boxes.json.
  config.min_box_score = 0.2  # TEST.IMAGE_THRE, SPEC 3.1.
  return config


def input_config() -> ml_collections.ConfigDict:
  """Crops, augmentation and targets of the training input (values: SPEC 2, 3.2-3.4, 10.2)."""
  config = ml_collections.ConfigDict()
  config.image_size = (288, 384)  # Crop (width, height), SPEC 2.
  config.heatmap_stride = 4  # Crop pixels per heatmap pixel (72 x 96 maps), SPEC 2.
  config.sigma = 3.0  # Gaussian sigma in heatmap pixels, SPEC 3.4.
  config.delta_range = 2  # Stage 2: T, delta uniform over {-T..T} (0 included), SPEC 3.2.
  config.delta_mode = "per_epoch"  # "per_epoch" (official) | "fixed" (mmpose), SPEC 10.2.
  config.scale_factor = 0.35  # s *= clip(1 + 0.35 N(0,1), 0.65, 1.35), SPEC 3.3.
  config.rotation_factor = 45.0  # r = clip(45 N(0,1), -90, 90) degrees, SPEC 3.3.
  config.rotation_prob = 0.6  # Probability of a non-zero rotation, SPEC 3.3.
  config.flip = True  # Horizontal flip augmentation, SPEC 3.3.
  config.flip_prob = 0.5
  config.half_body_prob = 0.3  # SPEC 3.3.
  config.num_joints_half_body = 8  # Half-body only with more visible joints than this.
  config.half_body_scale = 1.5  # Half-body box scale multiplier (instead of 1.25), SPEC 3.3.
  config.upper_body_quirk = True  # Upper body when randn() < 0.5 (p ~0.69) as the original.
  config.box_shift = False  # mmpose's random centre shift (SPEC 10.2 point 3); off = official.
  config.box_shift_factor = 0.16
  config.box_shift_prob = 0.3
  # "auto": decode each JPEG at the largest DCT ratio (2/4/8) that keeps at least the crop's
  # resolution (data/crops.py); "full": full-resolution decode exactly like the original.
  config.decode_ratio = "auto"
  # Bilinear crop: "cv2" (the original's cv2.warpAffine through tf.numpy_function: its uint8
  # pixels; calls Python, faster) | "tf" (float32 TF ops and XLA, rounded to uint8 for training;
  # the pipeline stays a pure TF graph, e.g. for tf.data service). data/crops.py.
  config.warp_backend = "cv2"
  # A corrupt JPEG (not a JPEG, truncated, undecodable) among the images the pipelines read:
  # False: an error naming it and its annotation file; True: counted as
  # image_check.SKIP_CORRUPT_IMAGE and read as missing (a supporting frame falls back to frame t,
  # a frame t loses its boxes, a training frame A its instances).
  config.skip_corrupt_images = False
  return config


def model_config(kind: str) -> ml_collections.ConfigDict:
  """HRNet-W48 (SPEC 2) alone ("hrnet") or with the PoseWarper head ("posewarper", SPEC 4)."""
  config = ml_collections.ConfigDict()
  config.kind = kind  # "hrnet" | "posewarper".
  config.width = 48  # HRNet-W48: channels of the highest-resolution branch (W32: 32).
  config.num_joints = 17  # SPEC 2.
  config.stage_modules = (1, 4, 3)  # HighResolutionModules in stages 2, 3, 4 (SPEC 2).
  config.num_blocks = 4  # BasicBlocks per branch (SPEC 2).
  config.stem_width = 64  # Channels of the two stride-2 stem convs (SPEC 2).
  config.layer1_blocks = 4  # Bottlenecks in layer1 (SPEC 2).
  # Computation dtype: "float32" | "bfloat16" (float32 parameters) | "float64" (needs jax x64
  # enabled; float64 parameters).
  config.dtype = "float32"
  config.remat = False  # Recompute HRNet blocks in the backward pass (activation memory).
  config.head = ml_collections.ConfigDict()  # The warping head (kind "posewarper" only).
  config.head.num_offset_blocks = 20  # SPEC 4.2.
  config.head.offset_channels = 128  # SPEC 4.2.
  config.head.dilations = (3, 6, 12, 18, 24)  # SPEC 4.3.
  config.head.aggregation_weights = (0.1, 0.25, 0.3, 0.25, 0.1)  # Frames t-2..t+2, SPEC 7b.
  config.head.freeze_backbone = True  # No gradient into HRNet (SPEC 5.4).
  # Frozen backbone BatchNorm in training: "batch" (official: batch statistics, running
  # statistics keep updating, SPEC 5.4) | "running" (mmpose: inference mode, SPEC 10.2).
  config.head.backbone_batch_stats = "batch"
  return config


def train_config(variant: str) -> ml_collections.ConfigDict:
  """Optimiser, schedule, checkpoints and logging (SPEC 5.2-5.4)."""
  config = ml_collections.ConfigDict()
  config.batch_size = 64 if variant == "stage2" else 128  # Global: pairs or images (SPEC 5.3-4).
  config.num_epochs = 19 if variant == "stage2" else 10  # SPEC 5.3 (stage 1), 5.4 (helpers: 19).
  config.num_steps = -1  # Optimiser steps; -1: num_epochs epochs of the training instances.
  config.learning_rate = 1e-4  # Adam, no weight decay (SPEC 5.2).
  config.adam_b1 = 0.9
  config.adam_b2 = 0.999
  config.adam_eps = 1e-8
  config.lr_decay_epochs = (10, 15) if variant == "stage2" else (5, 7)  # MultiStepLR, SPEC 5.2.
  config.lr_decay_factor = 0.1
  # The original steps its scheduler at the start of each epoch, so every decay comes one epoch
  # before its milestone (SPEC 5.2). False: decay exactly at the milestones.
  config.decay_one_epoch_early = True
  # Parameters the optimiser updates: "all" | "head" (PoseWarper's warping head, SPEC 5.4).
  config.trainable = "head" if variant == "stage2" else "all"
  # Initial weights: "" (random, SPEC 2/4.6 initialisers), an exported checkpoint directory
  # (models.save or the PyTorch converter) or a training workdir (its latest checkpoint).
  # Parameters are matched by path; a PoseWarper takes an HRNet checkpoint as its backbone.
  config.init_from = ""
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3  # Most recent checkpoints kept under workdir/checkpoints.
  config.eval_every_steps = 0  # PoseTrack mAP on data.split every N steps (0: only at the end).
  config.eval_at_end = True
  config.log_every_steps = 50
  return config


def eval_config(variant: str) -> ml_collections.ConfigDict:
  """Inference and decoding (SPEC 6); the options the original lacks are off."""
  config = ml_collections.ConfigDict()
  config.mode = "aggregate" if variant == "stage2" else "single"  # "single" | "aggregate" (7b).
  config.batch_size = 16  # Boxes per step, a multiple of the local device count.
  config.flip_test = False  # SPEC 6.2: the original tests without flipping.
  config.shift_heatmap = False  # With flip_test: the original's TEST.SHIFT_HEATMAP.
  config.post_process = True  # Quarter-pixel shift toward the larger neighbour (SPEC 6.3).
  # "shoulder_midpoint": the original's quirk for PoseTrack's neck (SPEC 6.5);
  # "head_bottom": the predicted channel (mmpose, about +1.5 mAP).
  config.neck = "shoulder_midpoint"
  # mmpose (SPEC 10.2 point 4): person score = mean of the joint scores above 0.2 x box score,
  # then OKS-NMS per frame; joint scores are then the raw heatmap maxima, as mmpose writes them.
  config.rescore_nms = False
  config.oks_threshold = 0.9
  config.rescore_visibility_threshold = 0.2
  config.write_annolist = False  # Also write the predictions as PoseTrack17 annolist files.
  # Each BatchNorm folded into the preceding convolution (models/fold.py); False: unfolded model.
  config.fold_batch_norm = True
  return config


def base_config(arg: Optional[str], default_variant: str = "stage2") -> ml_collections.ConfigDict:
  """The whole config for `arg` (see the module docstring), before dataset settings."""
  variant, sparse = parse_arg(arg, default_variant)
  config = ml_collections.ConfigDict()
  config.variant = variant
  config.seed = 0  # Parameter initialisation, data order and augmentation.
  config.data = data_config()
  config.data.labels.update(sparse)
  config.input = input_config()
  config.model = model_config("posewarper" if variant == "stage2" else "hrnet")
  config.train = train_config(variant)
  config.eval = eval_config(variant)
  return config


# SPEC 5.3: the converted COCO HRNet-W48 384x288 weights that stage 1 and retraining start from
# (python -m posewarper_jax.models.convert --source hrnet --arch w48 ...).
COCO_CHECKPOINT = "checkpoints/hrnet_w48_coco_384x288"


def posetrack_config(arg: Optional[str], dataset: str,
                     stage1_epochs: int) -> ml_collections.ConfigDict:
  """PoseTrack under data/<dataset> with the original's schedules, evaluated on val with the
  authors' detection boxes (SPEC 5.3, 5.4, 6.1, 7c).

  dataset: "posetrack18" (official JSON) or "posetrack17" (annolist ground truth; predictions
  are also written as annolist). stage1_epochs: epochs of the full-label stage-1 run.
  """
  config = base_config(arg)
  config.data.root = f"data/{dataset}"
  config.data.format = dataset
  config.data.tfds_name = f"posetrack_frames/{dataset}"
  config.data.detections = f"data/{dataset}/{dataset}_precomputed_boxes/val_boxes.json"
  config.eval.write_annolist = dataset == "posetrack17"
  sparse = any(config.data.labels[key] for key in ("every_k", "per_video", "num_videos"))
  if config.variant == "stage2":
    config.train.init_from = f"runs/{dataset}_stage1"  # The stage-1 workdir (SPEC 5.4).
  elif config.variant == "retrain":
    # SPEC 7c: labels plus propagated pseudo-labels, from COCO weights, 10 epochs at batch 64.
    config.train.init_from = COCO_CHECKPOINT
    config.data.train_labels_dir = f"data/{dataset}/pseudo_labels"
    config.train.batch_size = 64
    config.train.num_epochs = 10
  else:
    config.train.init_from = COCO_CHECKPOINT
    if sparse:  # SPEC 5.3: sparse-label runs use 8 per GPU x 8 GPUs for 10 epochs.
      config.train.batch_size = 64
      config.train.num_epochs = 10
    else:
      config.train.num_epochs = stage1_epochs
  return config
