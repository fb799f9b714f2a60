"""Every config file builds, for each variant, with consistent sections."""

import importlib

import pytest

from configs import common
from posewarper_jax.data import datasets
from posewarper_jax.data import frame_pairs
from posewarper_jax.inference import predict

CONFIG_MODULES = ("configs.posetrack17", "configs.posetrack18", "configs.synthetic")


@pytest.mark.parametrize("module_name", CONFIG_MODULES)
@pytest.mark.parametrize("variant,mode,kind", [("stage1", "single", "hrnet"),
                                               ("stage2", "aggregate", "posewarper"),
                                               ("retrain", "single", "hrnet")])
def test_config_builds_and_validates(module_name, variant, mode, kind):
  config = importlib.import_module(module_name).get_config(variant)
  assert config.variant == variant and config.eval.mode == mode and config.model.kind == kind
  predict.check_eval_config(config.eval)
  datasets.check_data_config(config.data)
  frame_pairs.check_config(config.input)
  assert config.input.skip_corrupt_images is False  # A corrupt image is an error by default.
  assert config.eval.fold_batch_norm is True  # Inference folds BatchNorm by default.
  width, height = config.input.image_size
  assert width % 32 == 0 and height % 32 == 0  # HRNet's lowest branch has stride 32.
  assert config.train.trainable == ("head" if variant == "stage2" else "all")
  assert bool(config.data.train_labels_dir) == (variant == "retrain")


@pytest.mark.parametrize("module_name", ("configs.posetrack17", "configs.posetrack18"))
def test_paper_schedules(module_name):
  """SPEC 5.3-5.4: stage 2 runs 19 epochs at batch 64 with decays at 10 and 15; sparse-label
  stage-1 runs use batch 64 for 10 epochs."""
  module = importlib.import_module(module_name)
  stage2 = module.get_config("stage2")
  assert (stage2.train.batch_size, stage2.train.num_epochs) == (64, 19)
  assert tuple(stage2.train.lr_decay_epochs) == (10, 15) and stage2.train.learning_rate == 1e-4
  sparse = module.get_config("stage1,per_video=5,num_videos=250")
  assert (sparse.data.labels.per_video, sparse.data.labels.num_videos) == (5, 250)
  assert (sparse.train.batch_size, sparse.train.num_epochs) == (64, 10)
  assert module.get_config("stage1").train.batch_size == 128


def test_posetrack17_writes_annolist_predictions():
  config = importlib.import_module("configs.posetrack17").get_config()
  assert config.data.format == "posetrack17" and config.eval.write_annolist


@pytest.mark.parametrize("arg,message", [("stage3", "'stage3'"),
                                         ("stage1,every=7", "'every=7'"),
                                         ("stage1,per_video=five", "'per_video=five'")])
def test_bad_config_arguments_are_named(arg, message):
  with pytest.raises(ValueError, match=message):
    common.base_config(arg)
