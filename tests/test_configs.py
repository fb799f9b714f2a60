"""Every config file builds, for each variant, with consistent sections."""

import importlib

import pytest

from configs import common
from posewarper_jax.data import frame_pairs
from posewarper_jax.eval import evaluation
from posewarper_jax.eval import inference

CONFIG_MODULES = ("configs.posetrack17", "configs.posetrack18", "configs.synthetic")


@pytest.mark.parametrize("module_name", CONFIG_MODULES)
@pytest.mark.parametrize("variant,mode", [("stage1", "single"), ("stage2", "aggregate")])
def test_config_builds_and_validates(module_name, variant, mode):
  config = importlib.import_module(module_name).get_config(variant)
  assert config.eval.mode == mode
  inference.check_eval_config(config.eval)
  evaluation.check_data_config(config.data)
  frame_pairs.check_config(config.input)
  width, height = config.input.image_size
  assert width % 32 == 0 and height % 32 == 0  # HRNet's lowest branch has stride 32.


def test_posetrack17_writes_annolist_predictions():
  config = importlib.import_module("configs.posetrack17").get_config()
  assert config.data.format == "posetrack17" and config.eval.write_annolist


def test_unknown_variant_is_named():
  with pytest.raises(ValueError, match="'stage3'"):
    common.base_config("stage3")
