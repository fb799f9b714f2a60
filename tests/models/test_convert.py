"""Checkpoint import/export: round trips, clear errors, CLI + orbax, and a float64 NumPy reference."""

import json
import pickle
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from configs import synthetic as synthetic_config
from configs import synthetic_stills as synthetic_stills_config
from posewarper_jax import models
from posewarper_jax.models import checkpoint, convert
from tests.conftest import REPO_ROOT
from tests.models import official_layout

BN_EPSILON = 1e-5


def _assert_same_tree(a, b):
  flat_a, flat_b = traverse_util.flatten_dict(a), traverse_util.flatten_dict(b)
  assert flat_a.keys() == flat_b.keys()
  for key in flat_a:
    np.testing.assert_array_equal(np.asarray(flat_a[key]), np.asarray(flat_b[key]), err_msg=key)


def _source_state(source, tiny_hrnet_state, tiny_posewarper_state):
  if source == "hrnet":
    return tiny_hrnet_state
  if source == "posewarper":
    return tiny_posewarper_state
  return official_layout.to_mmpose(tiny_posewarper_state)


@pytest.mark.parametrize("source", convert.SOURCES)
def test_round_trip_for_every_source(source, tiny_hrnet, tiny_posewarper, tiny_hrnet_state,
                                     tiny_posewarper_state):
  model = tiny_hrnet if source == "hrnet" else tiny_posewarper
  state = _source_state(source, tiny_hrnet_state, tiny_posewarper_state)
  variables = convert.from_pytorch(state, model, source)
  exported = convert.to_pytorch(variables, model, source)
  assert exported.keys() == state.keys()
  for key, value in state.items():
    if key.endswith(convert.BN_COUNTER):
      continue
    assert exported[key].dtype == np.float32
    np.testing.assert_array_equal(exported[key], value, err_msg=key)
  _assert_same_tree(convert.from_pytorch(exported, model, source), variables)


def test_round_trip_gives_identical_outputs(tiny_posewarper, tiny_posewarper_state, images):
  """Flax -> official names -> mmpose names -> Flax: the same network, bit for bit."""
  variables = convert.from_pytorch(tiny_posewarper_state, tiny_posewarper, "posewarper")
  mmpose = convert.to_pytorch(variables, tiny_posewarper, "mmpose_posewarper")
  again = convert.from_pytorch(mmpose, tiny_posewarper, "mmpose_posewarper")
  run = jax.jit(tiny_posewarper.apply)
  np.testing.assert_array_equal(run(again, images, images[::-1]),
                                run(variables, images, images[::-1]))


def test_corrupted_state_dict_lists_every_problem(tiny_hrnet, tiny_hrnet_state):
  state = dict(tiny_hrnet_state)
  del state["stage2.0.fuse_layers.0.1.0.weight"]
  del state["bn1.running_var"]
  state["stage5.0.branches.0.0.conv1.weight"] = np.zeros((4, 4, 3, 3), np.float32)
  state["final_layer.weight"] = np.zeros((16, 4, 1, 1), np.float32)
  with pytest.raises(ValueError) as error:
    convert.from_pytorch(state, tiny_hrnet, "hrnet", origin="coco_w4.pth")
  message = str(error.value)
  assert "coco_w4.pth" in message
  for text in ("2 missing", "stage2.0.fuse_layers.0.1.0.weight", "bn1.running_var",
               "1 unexpected", "stage5.0.branches.0.0.conv1.weight",
               "1 misshapen", "final_layer.weight: expected (17, 4, 1, 1), got (16, 4, 1, 1)"):
    assert text in message


def test_hrnet_checkpoint_into_posewarper_needs_explicit_head_init(tiny_posewarper,
                                                                   tiny_hrnet_state):
  with pytest.raises(ValueError, match="allow_missing_head") as error:
    convert.from_pytorch(tiny_hrnet_state, tiny_posewarper, "hrnet")
  assert "deform_conv1.weight" in str(error.value) and "offsets2.weight" in str(error.value)
  variables = convert.from_pytorch(tiny_hrnet_state, tiny_posewarper, "hrnet",
                                   allow_missing_head=True,
                                   head_rng=jax.random.key(0, impl="rbg"))
  np.testing.assert_array_equal(variables["params"]["backbone"]["conv1"]["kernel"],
                                tiny_hrnet_state["conv1.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(variables["params"]["offsets_0"]["kernel"], 0.0)
  # The same holds for an mmpose stage-1 checkpoint (backbone.* plus neck.trans_layer).
  mmpose_stage1 = official_layout.to_mmpose(tiny_hrnet_state)
  again = convert.from_pytorch(mmpose_stage1, tiny_posewarper, "mmpose_posewarper",
                               allow_missing_head=True, head_rng=jax.random.key(0, impl="rbg"))
  _assert_same_tree(again, variables)
  # A partial head is an error even with the flag.
  partial = {**tiny_hrnet_state, "offsets1.weight": np.zeros((306, 8, 3, 3), np.float32)}
  with pytest.raises(ValueError, match="deform_conv1.weight"):
    convert.from_pytorch(partial, tiny_posewarper, "hrnet", allow_missing_head=True)
  with pytest.raises(ValueError, match="source"):
    convert.from_pytorch(tiny_hrnet_state, tiny_posewarper.backbone, "posewarper")


def test_unwrap_state_dict():
  nested = {"state_dict": {"module.conv1.weight": 1, "module.bn1.weight": 2}, "epoch": 3}
  assert convert.unwrap_state_dict(nested) == {"conv1.weight": 1, "bn1.weight": 2}
  assert convert.unwrap_state_dict({"conv1.weight": 1}) == {"conv1.weight": 1}


def test_reading_pth_without_torch_is_a_clear_error(tmp_path):
  try:
    import torch  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    pytest.skip("torch is installed")
  except ImportError:
    pass
  (tmp_path / "model.pth").write_bytes(b"")
  with pytest.raises(ImportError, match="needs PyTorch.*npz"):
    convert.read_state_dict(tmp_path / "model.pth")
  with pytest.raises(ValueError, match="model.bin"):
    convert.read_state_dict(tmp_path / "model.bin")


class _FakeTorch(types.ModuleType):
  """Stands in for torch: `load` returns `loaded` (or raises it) and records its arguments."""

  class Tensor:
    pass

  def __init__(self, loaded):
    super().__init__("torch")
    self.loaded, self.calls = loaded, []

  def load(self, path, **kwargs):
    self.calls.append(kwargs)
    if isinstance(self.loaded, Exception):
      raise self.loaded
    return self.loaded


@pytest.mark.parametrize("loaded, message", [
    ([1, 2], r"model\.pth holds a list, not a state dict \{name: tensor\}$"),
    ({"state_dict": {"conv1.weight": "weights"}},
     r"model\.pth is not a state dict: entry 'conv1\.weight' is a str, not a tensor$"),
    ({"model": {}, "epoch": 3}, r"model\.pth is not a state dict: entry 'model' is a dict"),
    (pickle.UnpicklingError("Weights only load failed. Re-running ...\nmore"),
     r"model\.pth cannot be read as weights only \(torch\.load\(weights_only=True\)\): "
     r"Weights only load failed\. Re-running \.\.\.$"),
])
def test_pth_that_is_not_a_state_dict(tmp_path, monkeypatch, loaded, message):
  torch = _FakeTorch(loaded)
  monkeypatch.setitem(sys.modules, "torch", torch)
  path = tmp_path / "model.pth"
  path.write_bytes(b"not read by the fake")
  with pytest.raises(ValueError, match=f"^convert: {tmp_path}/{message}"):
    convert.read_state_dict(path)
  assert torch.calls == [{"map_location": "cpu", "weights_only": True}]


def test_npz_that_is_not_a_state_dict(tmp_path):
  with pytest.raises(FileNotFoundError, match=f"^convert: {tmp_path / 'none.npz'} does not exist$"):
    convert.read_state_dict(tmp_path / "none.npz")
  (tmp_path / "text.npz").write_text("conv1.weight = 1")
  with open(tmp_path / "array.npz", "wb") as f:
    np.save(f, np.zeros(3))  # One .npy array under an .npz name.
  for name, reason in (("text.npz", "This file contains pickled"),
                       ("array.npz", r"it holds a single array of shape \(3,\)")):
    with pytest.raises(ValueError, match=f"^convert: {tmp_path / name} is not a .npz archive of "
                       f"arrays: {reason}"):
      convert.read_state_dict(tmp_path / name)


def test_cli_names_a_missing_input_in_one_line(tmp_path, capsys):
  missing = tmp_path / "missing.pth"
  with pytest.raises(SystemExit) as exit_info:
    convert.main(["--source", "hrnet", "--arch", "w32", "--input", str(missing),
                  "--output", str(tmp_path / "out")])
  assert exit_info.value.code == 2
  assert capsys.readouterr().err.splitlines()[-1].endswith(
      f"error: argument --input: {missing} does not exist")


def test_save_and_load_posewarper(tmp_path, tiny_posewarper, tiny_posewarper_state):
  variables = convert.from_pytorch(tiny_posewarper_state, tiny_posewarper, "posewarper")
  model = tiny_posewarper.clone(dtype=jnp.bfloat16, dilations=(2, 5))
  checkpoint.save(tmp_path / "pw", model, variables)
  loaded_model, loaded = models.load(tmp_path / "pw")
  assert loaded_model == model
  _assert_same_tree(loaded, variables)
  with pytest.raises(FileNotFoundError, match="model.json"):
    models.load(tmp_path / "missing")


def test_export_writes_the_weights_of_a_run(tmp_path, tiny_hrnet, tiny_hrnet_state, capsys):
  variables = convert.from_pytorch(tiny_hrnet_state, tiny_hrnet, "hrnet")
  checkpoint.save(tmp_path / "run", tiny_hrnet, variables)
  checkpoint.main(["export", str(tmp_path / "run"), str(tmp_path / "exported")])
  assert "exported HRNet weights" in capsys.readouterr().out
  loaded_model, loaded = models.load(tmp_path / "exported")
  assert loaded_model == tiny_hrnet
  _assert_same_tree(loaded, variables)
  with pytest.raises(SystemExit):  # Never writes into an existing folder.
    checkpoint.main(["export", str(tmp_path / "run"), str(tmp_path / "exported")])
  assert "exists" in capsys.readouterr().err


def test_shipped_pretrained_hrnet_is_the_synthetic_configs_model():
  """configs/synthetic.py starts stage 1 and retraining from it."""
  config = synthetic_config.get_config("stage1")
  assert config.train.init_from == synthetic_config.PRETRAINED_CHECKPOINT
  model, variables = models.load(REPO_ROOT / synthetic_config.PRETRAINED_CHECKPOINT)
  expected = models.build(config.model)
  assert model == expected
  shapes = jax.tree.map(np.shape, checkpoint.abstract_variables(expected))
  assert jax.tree.map(np.shape, variables) == shapes
  assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(variables))


def test_stills_config_trains_the_single_frame_model_from_scratch():
  config = synthetic_stills_config.get_config()
  assert config.variant == "stage1" and config.model.kind == "hrnet"
  assert config.train.init_from == "" and config.data.root == "data/synthetic_stills"
  with pytest.raises(ValueError, match="stage2"):
    synthetic_stills_config.get_config("stage2")


# ---- Independent float64 NumPy reference (NCHW, OIHW) of the stem, one fuse layer, the head. ----


def _conv(x, weight, stride=1, bias=None):
  """x: (N, C, H, W), weight: (O, C, k, k); symmetric padding k // 2, as nn.Conv2d here."""
  k = weight.shape[-1]
  pad = k // 2
  x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  out_h = (x.shape[2] - k) // stride + 1
  out_w = (x.shape[3] - k) // stride + 1
  out = np.zeros((x.shape[0], weight.shape[0], out_h, out_w))
  for i in range(k):
    for j in range(k):
      patch = x[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
      out += np.einsum("nchw,oc->nohw", patch, weight[:, :, i, j])
  return out if bias is None else out + bias[None, :, None, None]


def _bn(x, state, key):
  shape = (1, -1, 1, 1)
  mean = state[f"{key}.running_mean"].reshape(shape)
  var = state[f"{key}.running_var"].reshape(shape)
  return ((x - mean) / np.sqrt(var + BN_EPSILON) * state[f"{key}.weight"].reshape(shape)
          + state[f"{key}.bias"].reshape(shape))


def _relu(x):
  return np.maximum(x, 0.0)


def _fuse(branches, state, prefix):
  """HighResolutionModule fuse layers (official `_make_fuse_layers` + forward)."""
  outputs = []
  for i in range(len(branches)):
    total = 0.0
    for j, x in enumerate(branches):
      key = f"{prefix}.fuse_layers.{i}.{j}"
      if j > i:
        y = _bn(_conv(x, state[f"{key}.0.weight"]), state, f"{key}.1")
        y = y.repeat(2 ** (j - i), axis=2).repeat(2 ** (j - i), axis=3)
      elif j < i:
        y = x
        for k in range(i - j):
          y = _bn(_conv(y, state[f"{key}.{k}.0.weight"], stride=2), state, f"{key}.{k}.1")
          if k < i - j - 1:
            y = _relu(y)
      else:
        y = x
      total = total + y
    outputs.append(_relu(total))
  return outputs


def _nchw(x):
  return np.asarray(x, np.float64).transpose(0, 3, 1, 2)


def test_cli_import_matches_numpy_reference(tmp_path, tiny_hrnet, tiny_hrnet_state, images):
  """npz -> CLI -> orbax -> models.load -> Flax layers, against float64 NumPy on the same dict."""
  npz = tmp_path / "hrnet.npz"
  np.savez(npz, **tiny_hrnet_state)
  config = tmp_path / "model.json"
  config.write_text(json.dumps(checkpoint.model_config(tiny_hrnet)))
  out_dir = convert.main(["--source", "hrnet", "--model-config", str(config), "--input", str(npz),
                          "--output", str(tmp_path / "ckpt")])
  model, variables = models.load(out_dir)
  assert model == tiny_hrnet
  _assert_same_tree(variables, convert.from_pytorch(tiny_hrnet_state, tiny_hrnet, "hrnet"))

  heatmaps, state = jax.jit(lambda v, x: model.apply(v, x, capture_intermediates=True))(
      variables, images)
  captured = state["intermediates"]
  sd = {k: v.astype(np.float64) for k, v in tiny_hrnet_state.items()}

  # Stem: conv(stride 2, pad 1)-BN-ReLU twice.
  x = _nchw(images)
  x = _relu(_bn(_conv(x, sd["conv1.weight"], stride=2), sd, "bn1"))
  x = _bn(_conv(x, sd["conv2.weight"], stride=2), sd, "bn2")
  flax_stem = _nchw(captured["bn2"]["__call__"][0])
  np.testing.assert_allclose(flax_stem, x, rtol=1e-4, atol=1e-4 * np.abs(x).max())

  # Stage 3's fuse layers: upsampling (by 2 and 4) and 1- and 2-link downsampling chains.
  stage = captured["stage3_0"]
  branches = [_nchw(stage[f"branch{b}_block0"]["__call__"][0]) for b in range(3)]
  expected = _fuse(branches, sd, "stage3.0")
  for b, (got, want) in enumerate(zip(stage["__call__"][0], expected)):
    np.testing.assert_allclose(_nchw(got), want, rtol=1e-4, atol=1e-4 * np.abs(want).max(),
                               err_msg=f"fused branch {b}")

  # Final 1x1 conv with bias on the single output of the last module.
  last = _nchw(captured["stage4_0"]["__call__"][0][0])
  want = _conv(last, sd["final_layer.weight"], bias=sd["final_layer.bias"])
  np.testing.assert_allclose(_nchw(heatmaps), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
