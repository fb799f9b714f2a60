"""Top-down pose HRNet (SPEC 2), NHWC, with the official module structure and initialisation.

Submodule names mirror the official PyTorch modules so that `convert.py` maps them by rule:
`conv1`, `bn1`, `layer1_0`, `transition1_1_0_conv`, `stage2_0/branch0_block3`,
`stage3_0/fuse2_0_1_conv`, `final_layer`, ...
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from posewarper_jax.models import layers

# SPEC 2: widths of the published backbones (channels of the highest-resolution branch).
ARCH_WIDTHS = {"w32": 32, "w48": 48}
# SPEC 2: PoseTrack uses 17 joints (COCO-like order).
NUM_JOINTS = 17
# SPEC 2: heatmaps have stride 4 (two stride-2 stem convs).
HEATMAP_STRIDE = 4

Dtype = Any


class HighResolutionModule(nn.Module):
  """One HRNet module: `num_blocks` BasicBlocks per branch, then fusion (SPEC 2).

  Fusion into branch i sums, over every branch j: the branch itself (j == i); 1x1 conv + BN and
  nearest upsampling by 2^(j-i) (j > i); a chain of i-j 3x3 stride-2 conv + BN links with ReLU
  on every link but the last (j < i). The sum then goes through a ReLU.

  Attributes:
    widths: channels of each branch, highest resolution first.
    num_blocks: BasicBlocks per branch.
    multi_scale_output: False returns only the fused highest-resolution branch (the last module
      of the last stage).
    dtype: computation dtype.
    batch_norm_folded: every BatchNorm is folded into its convolution (inference only).
  """
  widths: Sequence[int]
  num_blocks: int
  multi_scale_output: bool = True
  dtype: Dtype = jnp.float32
  batch_norm_folded: bool = False

  @nn.compact
  def __call__(self, features: Sequence[jax.Array], train: bool) -> list[jax.Array]:
    """features[b]: (B, H / 2^b, W / 2^b, widths[b]) -> the fused list (one entry if not multi-scale)."""
    branches = []
    for b, x in enumerate(features):
      for k in range(self.num_blocks):
        x = layers.BasicBlock(self.widths[b], dtype=self.dtype,
                              batch_norm_folded=self.batch_norm_folded,
                              name=f"branch{b}_block{k}")(x, train)
      branches.append(x)
    num_outputs = len(self.widths) if self.multi_scale_output else 1
    fused = []
    for i in range(num_outputs):
      terms = [self._fuse(branches[j], i, j, train) for j in range(len(self.widths))]
      fused.append(layers.add_relu(sum(terms[:-1]), terms[-1]))
    return fused

  def _fuse(self, x: jax.Array, i: int, j: int, train: bool) -> jax.Array:
    """Brings branch j's features to branch i's resolution and width."""
    if j == i:
      return x
    options = dict(dtype=self.dtype, batch_norm_folded=self.batch_norm_folded)
    if j > i:
      x = layers.conv_bn(x, self.widths[i], 1, train, name=f"fuse{i}_{j}_conv", **options)
      factor = 2 ** (j - i)
      return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)
    for k in range(i - j):
      last = k == i - j - 1
      width = self.widths[i] if last else self.widths[j]
      x = layers.conv_bn(x, width, 3, train, stride=2, name=f"fuse{i}_{j}_{k}_conv", **options)
      if not last:
        x = nn.relu(x)
    return x


class HRNet(nn.Module):
  """HRNet top-down pose estimator: images (B, H, W, 3) -> heatmaps (B, H/4, W/4, num_joints).

  Attributes:
    width: channels of the highest-resolution branch (32 for W32, 48 for W48); branch b has
      width * 2^b channels.
    num_joints: heatmap channels of the final 1x1 conv (with bias).
    stage_modules: HighResolutionModules in stages 2, 3, 4 (SPEC 2: 1, 4, 3); stage s has s
      branches.
    num_blocks: BasicBlocks per branch in every module (SPEC 2: 4).
    stem_width: channels of the two stride-2 stem convs (SPEC 2: 64).
    layer1_blocks: Bottlenecks in layer1 (SPEC 2: 4, with planes = stem_width).
    dtype: computation dtype: float32; bfloat16 with float32 parameters; or float64 (x64
      enabled) with float64 parameters. The heatmaps are returned in `layers.wide_dtype(dtype)`:
      float32, or float64 for float64.
    remat: rematerialise every Bottleneck and HighResolutionModule in the backward pass
      (nn.remat), trading compute for activation memory.
    batch_norm_folded: every BatchNorm is folded into the convolution before it, which gets a
      bias (models/fold.py builds this model and its variables from an unfolded one); the
      model then has no "batch_stats" and runs only with train=False.
  """
  width: int = 48
  num_joints: int = NUM_JOINTS
  stage_modules: Sequence[int] = (1, 4, 3)
  num_blocks: int = 4
  stem_width: int = 64
  layer1_blocks: int = 4
  dtype: Dtype = jnp.float32
  remat: bool = False
  batch_norm_folded: bool = False

  @property
  def min_input_multiple(self) -> int:
    """Input height and width must be multiples of this: the stride of the lowest branch."""
    return HEATMAP_STRIDE * 2 ** len(self.stage_modules)

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    """images: (B, H, W, 3), normalised -> raw heatmaps (B, H/4, W/4, num_joints), float32
    (float64 for a float64 model)."""
    self._check_input(images)
    layers.check_inference(train, self.batch_norm_folded, "HRNet")
    options = dict(dtype=self.dtype, batch_norm_folded=self.batch_norm_folded)
    module_cls = nn.remat(HighResolutionModule, static_argnums=(2,)) if self.remat else (
        HighResolutionModule)
    bottleneck_cls = nn.remat(layers.Bottleneck, static_argnums=(2,)) if self.remat else (
        layers.Bottleneck)

    x = images.astype(self.dtype)
    for n in (1, 2):
      x = nn.relu(layers.conv_bn(x, self.stem_width, 3, train, stride=2, name=f"conv{n}",
                                 **options))
    for k in range(self.layer1_blocks):
      x = bottleneck_cls(self.stem_width, name=f"layer1_{k}", **options)(x, train)

    features = [x]
    previous_widths = [layers.BOTTLENECK_EXPANSION * self.stem_width]
    for s, num_modules in enumerate(self.stage_modules):
      widths = [self.width * 2 ** b for b in range(s + 2)]
      features = self._transition(features, previous_widths, widths, s + 1, train)
      for m in range(num_modules):
        last = s == len(self.stage_modules) - 1 and m == num_modules - 1
        features = module_cls(widths, self.num_blocks, multi_scale_output=not last,
                              name=f"stage{s + 2}_{m}", **options)(features, train)
      previous_widths = widths

    heatmaps = layers.conv(self.num_joints, 1, use_bias=True, name="final_layer",
                           dtype=self.dtype)(features[0])
    return heatmaps.astype(layers.wide_dtype(self.dtype))

  def _transition(self, features: list[jax.Array], previous_widths: Sequence[int],
                  widths: Sequence[int], index: int, train: bool) -> list[jax.Array]:
    """Transition `index` (1-based as in the original): adapt widths, add one branch.

    An existing branch whose width changes gets a 3x3 conv + BN + ReLU. A new branch is a chain
    of 3x3 stride-2 conv + BN + ReLU links that reads the lowest-resolution existing branch,
    as the official code does.
    """
    outputs = []
    options = dict(dtype=self.dtype, batch_norm_folded=self.batch_norm_folded)
    for i, width in enumerate(widths):
      if i < len(previous_widths):
        x = features[i]
        if previous_widths[i] != width:
          x = nn.relu(layers.conv_bn(x, width, 3, train, name=f"transition{index}_{i}_conv",
                                     **options))
        outputs.append(x)
        continue
      x = features[-1]
      num_links = i + 1 - len(previous_widths)
      for k in range(num_links):
        link_width = width if k == num_links - 1 else previous_widths[-1]
        x = nn.relu(layers.conv_bn(x, link_width, 3, train, stride=2,
                                   name=f"transition{index}_{i}_{k}_conv", **options))
      outputs.append(x)
    return outputs

  def _check_input(self, images: jax.Array) -> None:
    """Raises ValueError unless images is (B, H, W, 3) with H, W multiples of the lowest stride."""
    multiple = self.min_input_multiple
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"HRNet: images must be (B, H, W, 3), got shape {images.shape}")
    if images.shape[1] % multiple or images.shape[2] % multiple:
      raise ValueError(
          f"HRNet: image height and width must be multiples of {multiple} so that the "
          f"{len(self.stage_modules) + 1} branches fuse exactly, got shape {images.shape}")


def hrnet(arch: str, **overrides) -> HRNet:
  """The published HRNet-W32 / HRNet-W48 ("w32" | "w48"); `overrides` set other fields."""
  if arch not in ARCH_WIDTHS:
    raise ValueError(f"hrnet: arch must be one of {sorted(ARCH_WIDTHS)}, got {arch!r}")
  return HRNet(width=ARCH_WIDTHS[arch], **overrides)
