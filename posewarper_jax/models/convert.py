"""Import of the official PyTorch checkpoints (HRNet, PoseWarper, mmpose PoseWarper) and export.

A PyTorch state dict {key: array} maps to Flax variables {"params", "batch_stats"} by rule
(SPEC 12): conv weights go OIHW -> HWIO, BN weight/bias -> scale/bias, running_mean/var ->
batch_stats mean/var, num_batches_tracked is ignored. The offset convs keep their output
channel order, which is the order `posewarper_jax.ops.deform_conv2d` reads (SPEC 4.4). The
COCO 17-joint final layer loads as is into the PoseTrack layout (SPEC 2).

Sources:
  "hrnet": the official HRNet repo (conv1, layer1.0.conv1, stage2.0.branches.0.0.conv1,
    stage2.0.fuse_layers.0.1.0, transition1.0.0, final_layer, ...).
  "posewarper": official PoseWarper: the HRNet keys plus offset_feats.N.*, offsets1..5,
    deform_conv1..5.
  "mmpose_posewarper": mmpose 0.x: backbone.*, neck.offset_feats.*, neck.offset_layers.N,
    neck.deform_conv_layers.N, and HRNet's final layer at neck.trans_layer (SPEC 10.1).

CLI (writes a directory that `posewarper_jax.models.load` reads):
  python -m posewarper_jax.models.convert --source hrnet --arch w48 --input FILE --output DIR
"""

import argparse
import dataclasses
import json
import pathlib
import pickle
import re
import zipfile
from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import numpy as np
from flax import traverse_util

from posewarper_jax.data import cli_paths
from posewarper_jax.models import checkpoint
from posewarper_jax.models.hrnet import ARCH_WIDTHS, HRNet, hrnet
from posewarper_jax.models.posewarper import PoseWarper, posewarper

SOURCES = ("hrnet", "posewarper", "mmpose_posewarper")
BN_COUNTER = "num_batches_tracked"
HWIO_TO_OIHW = (3, 2, 0, 1)
OIHW_TO_HWIO = (2, 3, 1, 0)
# (collection, Flax leaf) -> PyTorch leaf.
_LEAF_NAMES = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


@dataclasses.dataclass(frozen=True)
class _Entry:
  """One array: where it lives in the Flax tree and under which PyTorch key."""
  flax_path: tuple[str, ...]  # (collection, *modules, leaf)
  torch_key: str
  torch_shape: tuple[int, ...]
  is_head: bool  # part of the PoseWarper warping head


def _block_key(path: Sequence[str]) -> str:
  """BasicBlock / Bottleneck submodule: conv1, bn2, downsample_conv -> downsample.0, ..."""
  (name,) = path
  return {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}.get(name, name)


def _conv_bn(kind: str) -> str:
  """Position inside the original nn.Sequential(conv, bn[, relu])."""
  return "0" if kind == "conv" else "1"


def _hrnet_key(path: Sequence[str]) -> str:
  """Flax HRNet module path -> official HRNet module key."""
  head, rest = path[0], path[1:]
  if head in ("conv1", "bn1", "conv2", "bn2", "final_layer") and not rest:
    return head
  if m := re.fullmatch(r"layer1_(\d+)", head):
    return f"layer1.{m[1]}.{_block_key(rest)}"
  if m := re.fullmatch(r"transition(\d+)_(\d+)_(conv|bn)", head):
    return f"transition{m[1]}.{m[2]}.{_conv_bn(m[3])}"
  if m := re.fullmatch(r"transition(\d+)_(\d+)_(\d+)_(conv|bn)", head):
    return f"transition{m[1]}.{m[2]}.{m[3]}.{_conv_bn(m[4])}"
  if m := re.fullmatch(r"stage(\d+)_(\d+)", head):
    return f"stage{m[1]}.{m[2]}.{_hr_module_key(rest)}"
  raise ValueError(f"convert: no PyTorch name for HRNet module {'/'.join(path)}")


def _hr_module_key(path: Sequence[str]) -> str:
  head, rest = path[0], path[1:]
  if m := re.fullmatch(r"branch(\d+)_block(\d+)", head):
    return f"branches.{m[1]}.{m[2]}.{_block_key(rest)}"
  if m := re.fullmatch(r"fuse(\d+)_(\d+)_(conv|bn)", head):
    return f"fuse_layers.{m[1]}.{m[2]}.{_conv_bn(m[3])}"
  if m := re.fullmatch(r"fuse(\d+)_(\d+)_(\d+)_(conv|bn)", head):
    return f"fuse_layers.{m[1]}.{m[2]}.{m[3]}.{_conv_bn(m[4])}"
  raise ValueError(f"convert: no PyTorch name for HRNet module part {'/'.join(path)}")


def _head_key(path: Sequence[str], mmpose: bool) -> str:
  """Flax warping-head module path -> official or mmpose key."""
  head, rest = path[0], path[1:]
  neck = "neck." if mmpose else ""
  if m := re.fullmatch(r"offset_feats_(\d+)", head):
    return f"{neck}offset_feats.{m[1]}.{_block_key(rest)}"
  if m := re.fullmatch(r"offsets_(\d+)", head):
    return f"neck.offset_layers.{m[1]}" if mmpose else f"offsets{int(m[1]) + 1}"
  if m := re.fullmatch(r"deform_convs_(\d+)", head):
    return f"neck.deform_conv_layers.{m[1]}" if mmpose else f"deform_conv{int(m[1]) + 1}"
  raise ValueError(f"convert: no PyTorch name for PoseWarper head module {'/'.join(path)}")


def _module_key(path: Sequence[str], model: nn.Module, source: str) -> tuple[str, bool]:
  """Flax module path -> (PyTorch module key, is_head) for `source`."""
  if isinstance(model, HRNet):
    return _hrnet_key(path), False
  if path[0] != "backbone":
    return _head_key(path, mmpose=source == "mmpose_posewarper"), True
  key = _hrnet_key(path[1:])
  if source == "mmpose_posewarper":
    key = "neck.trans_layer" if key == "final_layer" else f"backbone.{key}"
  return key, False


def _check_source(model: nn.Module, source: str) -> None:
  if source not in SOURCES:
    raise ValueError(f"convert: source must be one of {SOURCES}, got {source!r}")
  if isinstance(model, HRNet):
    if source != "hrnet":
      raise ValueError(f"convert: an HRNet model takes source 'hrnet', got {source!r}")
  elif not isinstance(model, PoseWarper):
    raise ValueError(f"convert: model must be HRNet or PoseWarper, got {type(model).__name__}")


def _entries(model: nn.Module, source: str) -> list[_Entry]:
  """Every array of the model with its PyTorch key and shape, in a fixed order."""
  entries = []
  flat = traverse_util.flatten_dict(checkpoint.abstract_variables(model))
  for path, leaf in sorted(flat.items()):
    collection, modules, name = path[0], path[1:-1], path[-1]
    if (collection, name) not in _LEAF_NAMES:
      raise ValueError(f"convert: unexpected Flax variable {'/'.join(path)}")
    module_key, is_head = _module_key(modules, model, source)
    shape = tuple(leaf.shape)
    if name == "kernel":
      shape = tuple(shape[i] for i in HWIO_TO_OIHW)
    entries.append(_Entry(path, f"{module_key}.{_LEAF_NAMES[collection, name]}", shape, is_head))
  return entries


def pytorch_shapes(model: nn.Module, source: str) -> dict[str, tuple[int, ...]]:
  """{PyTorch key: shape} of every parameter and running statistic (no num_batches_tracked)."""
  _check_source(model, source)
  return {e.torch_key: e.torch_shape for e in _entries(model, source)}


def unwrap_state_dict(checkpoint_dict: Mapping[str, Any]) -> dict[str, Any]:
  """Unwraps {"state_dict": {...}} and strips DataParallel's "module." key prefix."""
  state = checkpoint_dict
  if "state_dict" in state and isinstance(state["state_dict"], Mapping):
    state = state["state_dict"]
  return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def from_pytorch(state_dict: Mapping[str, Any], model: nn.Module, source: str, *,
                 allow_missing_head: bool = False, head_rng: Optional[jax.Array] = None,
                 origin: str = "state dict") -> dict[str, Any]:
  """PyTorch state dict -> Flax variables {"params", "batch_stats"} (numpy arrays) of `model`.

  Args:
    state_dict: {PyTorch key: array}, already unwrapped (see `unwrap_state_dict`).
    model: an HRNet (source "hrnet") or a PoseWarper (any source).
    source: one of SOURCES.
    allow_missing_head: for a PoseWarper, accept a state dict without any warping-head key (a
      single-frame checkpoint: source "hrnet", or an mmpose stage-1 checkpoint) and keep the
      head at its initialisation (SPEC 4.6), as the original's strict=False load does. Without
      it, absent head keys are an error. A partial head is always an error.
    head_rng: key for that initialisation (default: key 0).
    origin: what the state dict was read from, for error messages.

  Raises:
    ValueError: listing every missing, unexpected and misshapen key at once.
  """
  _check_source(model, source)
  state = {k: np.asarray(v) for k, v in state_dict.items()}
  # A single-frame HRNet checkpoint has no head; its head keys are named as the official ones.
  entries = _entries(model, "posewarper" if isinstance(model, PoseWarper) and source == "hrnet"
                     else source)
  expected = {e.torch_key for e in entries}
  counters = {e.torch_key.rsplit(".", 1)[0] + "." + BN_COUNTER
              for e in entries if e.flax_path[0] == "batch_stats"}
  head_absent = isinstance(model, PoseWarper) and not any(
      e.is_head and e.torch_key in state for e in entries)
  init_head = head_absent and allow_missing_head
  missing, misshapen = [], []
  for e in entries:
    if e.torch_key not in state:
      if not (init_head and e.is_head):
        hint = " (warping head: pass allow_missing_head=True to keep its initialisation)"
        missing.append(e.torch_key + (hint if head_absent else ""))
    elif state[e.torch_key].shape != e.torch_shape:
      misshapen.append(f"{e.torch_key}: expected {e.torch_shape}, got {state[e.torch_key].shape}")
  unexpected = sorted(k for k in state if k not in expected and k not in counters)
  if missing or unexpected or misshapen:
    lines = [f"convert: {origin} does not match a {type(model).__name__} for source {source!r}:"]
    for title, keys in (("missing", missing), ("unexpected", unexpected),
                        ("misshapen", misshapen)):
      if keys:
        lines.append(f"  {len(keys)} {title} key(s):")
        lines.extend(f"    {k}" for k in keys)
    raise ValueError("\n".join(lines))

  flat = {}
  for e in entries:
    if e.torch_key in state:
      value = state[e.torch_key].astype(np.float32)
      flat[e.flax_path] = value.transpose(OIHW_TO_HWIO) if e.flax_path[-1] == "kernel" else value
  if init_head:
    flat.update(_initial_head(model, head_rng))
  return traverse_util.unflatten_dict(flat)


def _initial_head(model: PoseWarper, rng: Optional[jax.Array]) -> dict[tuple[str, ...], np.ndarray]:
  """The warping head's initial variables (SPEC 4.6), flattened; the backbone is not built."""
  heatmaps = np.zeros((1, 8, 8, model.backbone.num_joints), np.float32)
  rng = jax.random.key(0) if rng is None else rng
  variables = jax.jit(lambda r: model.init(r, heatmaps, heatmaps, method=PoseWarper.warp))(rng)
  return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(variables).items()}


def to_pytorch(variables: Mapping[str, Any], model: nn.Module,
               source: str) -> dict[str, np.ndarray]:
  """Flax variables -> PyTorch state dict with the original names of `source` (float32).

  Every BatchNorm also gets num_batches_tracked = 0 so that the dict loads strictly.
  """
  _check_source(model, source)
  if isinstance(model, PoseWarper) and source == "hrnet":
    raise ValueError("convert.to_pytorch: a PoseWarper exports as 'posewarper' or "
                     "'mmpose_posewarper', not 'hrnet'")
  flat = traverse_util.flatten_dict(dict(variables))
  state = {}
  for e in _entries(model, source):
    value = np.asarray(flat[e.flax_path], np.float32)
    state[e.torch_key] = value.transpose(HWIO_TO_OIHW) if e.flax_path[-1] == "kernel" else value
    if e.flax_path[-1] == "mean":
      state[e.torch_key.rsplit(".", 1)[0] + "." + BN_COUNTER] = np.zeros((), np.int64)
  return state


def read_state_dict(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Reads a .pth/.pt (needs torch) or .npz state dict {name: array}.

  .pth files are read with `torch.load(weights_only=True)` only, never by arbitrary unpickling; a
  checkpoint {"state_dict": {...}, ...} is unwrapped (`unwrap_state_dict`). A missing file is a
  FileNotFoundError; a file that is not a state dict is a ValueError saying what was found.
  """
  path = pathlib.Path(path)
  if path.suffix not in (".npz", ".pth", ".pt"):
    raise ValueError(f"convert: {path} must be a .pth, .pt or .npz file")
  if not path.is_file():
    raise FileNotFoundError(f"convert: {path} does not exist")
  if path.suffix == ".npz":
    try:
      archive = np.load(path, allow_pickle=False)
      if not isinstance(archive, Mapping):
        raise ValueError(f"it holds a single array of shape {archive.shape}")
      with archive:
        return unwrap_state_dict({k: archive[k] for k in archive.files})
    except (OSError, ValueError, zipfile.BadZipFile) as error:
      raise ValueError(f"convert: {path} is not a .npz archive of arrays: {error}") from None
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as error:
    raise ImportError(f"convert: reading {path} needs PyTorch, which is not installed; install "
                      f"torch or save the state dict as .npz of the same keys") from error
  try:
    loaded = torch.load(path, map_location="cpu", weights_only=True)
  except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise ValueError(f"convert: {path} cannot be read as weights only "
                     f"(torch.load(weights_only=True)): {reason}") from None
  if not isinstance(loaded, Mapping):
    raise ValueError(f"convert: {path} holds a {type(loaded).__name__}, not a state dict "
                     "{name: tensor}")
  state = unwrap_state_dict(loaded)
  for key, value in state.items():
    if not isinstance(value, torch.Tensor):
      raise ValueError(f"convert: {path} is not a state dict: entry {key!r} is a "
                       f"{type(value).__name__}, not a tensor")
  return {k: (v.detach().float() if v.is_floating_point() else v).numpy()
          for k, v in state.items()}


def main(argv: Optional[Sequence[str]] = None) -> pathlib.Path:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--source", choices=SOURCES, required=True)
  parser.add_argument("--arch", choices=tuple(ARCH_WIDTHS), default=None,
                      help="published HRNet width (or give --model-config)")
  parser.add_argument("--model-config", type=cli_paths.existing, default=None,
                      help="a model.json as written by models.save, for other model shapes")
  parser.add_argument("--input", type=cli_paths.existing, required=True, help=".pth or .npz")
  parser.add_argument("--output", type=pathlib.Path, required=True, help="checkpoint directory")
  parser.add_argument("--target", choices=("hrnet", "posewarper"), default=None,
                      help="model built from --arch (default: hrnet for source hrnet, else "
                           "posewarper)")
  parser.add_argument("--allow-missing-head", action="store_true",
                      help="hrnet source into a posewarper target: keep the head's init")
  args = parser.parse_args(argv)
  if (args.arch is None) == (args.model_config is None):
    parser.error("give exactly one of --arch and --model-config")
  if args.model_config is not None:
    model = checkpoint.model_from_config(json.loads(pathlib.Path(args.model_config).read_text()))
  elif (args.target or ("hrnet" if args.source == "hrnet" else "posewarper")) == "hrnet":
    model = hrnet(args.arch)
  else:
    model = posewarper(args.arch)
  variables = from_pytorch(read_state_dict(args.input), model, args.source,
                           allow_missing_head=args.allow_missing_head, origin=str(args.input))
  directory = checkpoint.save(args.output, model, variables)
  print(f"wrote {type(model).__name__} from {args.input} to {directory}")
  return directory


if __name__ == "__main__":
  main()
