"""The original PyTorch state-dict layout, enumerated independently of the Flax models.

Written from the constructors of the official `pose_hrnet.py` (HRNet, `_make_transition_layer`,
`HighResolutionModule._make_fuse_layers`, `_make_one_branch`) and PoseWarper's head (SPEC 2, 4),
so that the models' key names, shapes and parameter counts are checked against something they
were not derived from.
"""

import numpy as np

BN_LEAVES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
PARAMETER_LEAVES = ("weight", "bias")


def _conv(shapes, key, out_ch, in_ch, kernel, bias=False):
  shapes[f"{key}.weight"] = (out_ch, in_ch, kernel, kernel)
  if bias:
    shapes[f"{key}.bias"] = (out_ch,)


def _bn(shapes, key, channels):
  for leaf in BN_LEAVES:
    shapes[f"{key}.{leaf}"] = () if leaf == "num_batches_tracked" else (channels,)


def _basic_block(shapes, key, in_ch, out_ch):
  _conv(shapes, f"{key}.conv1", out_ch, in_ch, 3)
  _bn(shapes, f"{key}.bn1", out_ch)
  _conv(shapes, f"{key}.conv2", out_ch, out_ch, 3)
  _bn(shapes, f"{key}.bn2", out_ch)
  if in_ch != out_ch:
    _conv(shapes, f"{key}.downsample.0", out_ch, in_ch, 1)
    _bn(shapes, f"{key}.downsample.1", out_ch)


def hrnet_shapes(width, num_joints=17, stage_modules=(1, 4, 3), num_blocks=4, stem=64,
                 layer1_blocks=4):
  """{key: shape} of the official HRNet (`pose_hrnet.PoseHighResolutionNet`)."""
  shapes = {}
  _conv(shapes, "conv1", stem, 3, 3)
  _bn(shapes, "bn1", stem)
  _conv(shapes, "conv2", stem, stem, 3)
  _bn(shapes, "bn2", stem)
  inplanes = stem
  for b in range(layer1_blocks):
    key = f"layer1.{b}"
    _conv(shapes, f"{key}.conv1", stem, inplanes, 1)
    _bn(shapes, f"{key}.bn1", stem)
    _conv(shapes, f"{key}.conv2", stem, stem, 3)
    _bn(shapes, f"{key}.bn2", stem)
    _conv(shapes, f"{key}.conv3", 4 * stem, stem, 1)
    _bn(shapes, f"{key}.bn3", 4 * stem)
    if inplanes != 4 * stem:
      _conv(shapes, f"{key}.downsample.0", 4 * stem, inplanes, 1)
      _bn(shapes, f"{key}.downsample.1", 4 * stem)
    inplanes = 4 * stem
  previous = [inplanes]
  for s, num_modules in enumerate(stage_modules):
    stage = s + 2
    current = [width * 2 ** b for b in range(stage)]
    for i, channels in enumerate(current):  # _make_transition_layer
      if i < len(previous):
        if channels != previous[i]:
          _conv(shapes, f"transition{stage - 1}.{i}.0", channels, previous[i], 3)
          _bn(shapes, f"transition{stage - 1}.{i}.1", channels)
      else:
        for j in range(i + 1 - len(previous)):
          in_ch = previous[-1]
          out_ch = channels if j == i - len(previous) else in_ch
          _conv(shapes, f"transition{stage - 1}.{i}.{j}.0", out_ch, in_ch, 3)
          _bn(shapes, f"transition{stage - 1}.{i}.{j}.1", out_ch)
    for m in range(num_modules):
      multi_scale = not (s == len(stage_modules) - 1 and m == num_modules - 1)
      for b, channels in enumerate(current):
        for k in range(num_blocks):
          _basic_block(shapes, f"stage{stage}.{m}.branches.{b}.{k}", channels, channels)
      for i in range(len(current) if multi_scale else 1):
        for j in range(len(current)):
          key = f"stage{stage}.{m}.fuse_layers.{i}.{j}"
          if j > i:
            _conv(shapes, f"{key}.0", current[i], current[j], 1)
            _bn(shapes, f"{key}.1", current[i])
          elif j < i:
            for k in range(i - j):
              out_ch = current[i] if k == i - j - 1 else current[j]
              _conv(shapes, f"{key}.{k}.0", out_ch, current[j], 3)
              _bn(shapes, f"{key}.{k}.1", out_ch)
    previous = current
  _conv(shapes, "final_layer", num_joints, width, 1, bias=True)
  return shapes


def head_shapes(num_joints=17, channels=128, num_blocks=20, num_dilations=5):
  """{key: shape} of the official PoseWarper head (`offset_feats`, `offsets*`, `deform_conv*`)."""
  shapes = {}
  for b in range(num_blocks):
    _basic_block(shapes, f"offset_feats.{b}", num_joints if b == 0 else channels, channels)
  for d in range(1, num_dilations + 1):
    _conv(shapes, f"offsets{d}", 2 * num_joints * 9, channels, 3)
    _conv(shapes, f"deform_conv{d}", num_joints, num_joints, 3)
  return shapes


def to_mmpose(shapes):
  """Official PoseWarper keys -> mmpose 0.x keys (SPEC 10.1, 12)."""
  renamed = {}
  for key, shape in shapes.items():
    if key.startswith("final_layer."):
      key = "neck.trans_layer." + key[len("final_layer."):]
    elif key.startswith("offset_feats."):
      key = "neck." + key
    elif key.startswith("offsets"):
      key = f"neck.offset_layers.{int(key[len('offsets')]) - 1}.weight"
    elif key.startswith("deform_conv"):
      key = f"neck.deform_conv_layers.{int(key[len('deform_conv')]) - 1}.weight"
    else:
      key = "backbone." + key
    renamed[key] = shape
  return renamed


def parameter_count(shapes):
  """What PyTorch's sum(p.numel() for p in model.parameters()) gives (no BN buffers)."""
  count = 0
  for key, shape in shapes.items():
    leaf = key.rsplit(".", 1)[1]
    if leaf in PARAMETER_LEAVES:
      count += int(np.prod(shape))
  return count


def without_counters(shapes):
  return {k: v for k, v in shapes.items() if not k.endswith(".num_batches_tracked")}


def random_state_dict(shapes, seed):
  """Random values in the PyTorch layout: fan-in-scaled weights, plausible BN statistics."""
  rng = np.random.default_rng(seed)
  state = {}
  for key, shape in shapes.items():
    leaf = key.rsplit(".", 1)[1]
    if leaf == "num_batches_tracked":
      state[key] = np.array(7, np.int64)
    elif len(shape) == 4:
      fan_in = shape[1] * shape[2] * shape[3]
      state[key] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape).astype(np.float32)
    elif leaf in ("running_var",) or (leaf == "weight" and len(shape) == 1):
      state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    else:
      state[key] = rng.normal(0.0, 0.1, shape).astype(np.float32)
  return state
