"""BatchNorm folding for inference: each BatchNorm becomes part of the convolution before it.

In inference mode a BatchNorm is the per-channel affine map y = (x - mean) * m + beta with
m = gamma / sqrt(var + eps) (eps = layers.BN_EPSILON, PyTorch's), and every BatchNorm of HRNet
and of PoseWarper's head follows a convolution (layers.conv_bn). The pair is then one
convolution with kernel K * m (per output channel) and bias beta - mean * m, which saves a pass
over every activation of the network.

  folded_model, folded_variables = fold_batch_norm(model, variables)
  heatmaps = folded_model.apply(folded_variables, images)  # train=False only

The folded model is the same class with `batch_norm_folded=True` (the PoseWarper's backbone
too): its convolutions that preceded a BatchNorm have a bias and the BatchNorm modules, and the
"batch_stats" collection, are gone. Folding runs in NumPy float64 on the host (no per-shape
compilations) and rounds once to the model's wide dtype (float32, float64 for a float64
model), so a float64 model stays exact to float64 rounding.
"""

from typing import Any, Union

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from posewarper_jax.models import layers
from posewarper_jax.models.hrnet import HRNet
from posewarper_jax.models.posewarper import PoseWarper

Model = Union[HRNet, PoseWarper]
Path = tuple[str, ...]


def fold_batch_norm(model: Model, variables: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
  """(HRNet | PoseWarper, {"params", "batch_stats", ...}) -> the BatchNorm-folded pair.

  Returns the model with `batch_norm_folded=True` (and its PoseWarper backbone) and its
  variables: "params" with every convolution that preceded a BatchNorm given the folded kernel
  and a bias, the BatchNorm parameters removed, no "batch_stats"; other collections unchanged.
  The folded model supports only train=False (it raises ValueError otherwise). A model that
  is already folded is returned as given, with its variables.

  Raises:
    ValueError: for a model of another class or one only partly folded (a PoseWarper whose
      head and backbone disagree), or variables with a BatchNorm that no convolution precedes
      or that lack a BatchNorm's parameters.
  """
  if not isinstance(model, (HRNet, PoseWarper)):
    raise ValueError(f"fold_batch_norm: expected an HRNet or a PoseWarper, got "
                     f"{type(model).__name__}")
  backbone = model.backbone if isinstance(model, PoseWarper) else model
  if model.batch_norm_folded and backbone.batch_norm_folded:
    return model, variables
  if model.batch_norm_folded or backbone.batch_norm_folded:
    raise ValueError(f"fold_batch_norm: the PoseWarper's head has batch_norm_folded="
                     f"{model.batch_norm_folded} but its backbone {backbone.batch_norm_folded}")
  if "params" not in variables or "batch_stats" not in variables:
    raise ValueError(f"fold_batch_norm: variables need 'params' and 'batch_stats', got "
                     f"{sorted(variables)}")

  params = traverse_util.flatten_dict(variables["params"])
  stats = traverse_util.flatten_dict(variables["batch_stats"])
  norms = sorted({path[:-1] for path in stats})
  convs = {path[:-1] for path in params if path[-1] == "kernel"}
  for norm in norms:
    conv = _preceding_conv(norm, convs)
    bias = params.pop(conv + ("bias",), None)
    kernel, norm_bias = _fold(params[conv + ("kernel",)], bias, stats, params, norm,
                              _wide_dtype(model, norm))
    params[conv + ("kernel",)] = kernel
    params[conv + ("bias",)] = norm_bias
    for leaf in ("scale", "bias"):
      params.pop(norm + (leaf,))

  if isinstance(model, PoseWarper):
    folded_model = model.clone(backbone=backbone.clone(batch_norm_folded=True),
                               batch_norm_folded=True)
  else:
    folded_model = model.clone(batch_norm_folded=True)
  folded_variables = {name: collection for name, collection in variables.items()
                      if name not in ("params", "batch_stats")}
  folded_variables["params"] = traverse_util.unflatten_dict(params)
  return folded_model, folded_variables


def _preceding_conv(norm: Path, convs: set[Path]) -> Path:
  """The convolution that conv_bn names for BatchNorm `norm` (same module, 'bn' -> 'conv')."""
  *scope, name = norm
  for conv in convs:
    if (tuple(conv[:-1]) == tuple(scope) and conv[-1].count("conv") == 1
        and layers.batch_norm_name(conv[-1]) == name):
      return conv
  raise ValueError(f"fold_batch_norm: no convolution precedes BatchNorm {'/'.join(norm)} "
                   f"(expected one named as layers.batch_norm_name maps to {name!r})")


def _fold(kernel: jax.Array, bias, stats: dict, params: dict, norm: Path,
          dtype) -> tuple[jax.Array, jax.Array]:
  """Kernel (kh, kw, C_in, C), bias (C,) | None, BatchNorm `norm` -> folded (kernel, bias)."""
  name = "/".join(norm)
  try:
    mean, var = stats[norm + ("mean",)], stats[norm + ("var",)]
    scale, beta = params[norm + ("scale",)], params[norm + ("bias",)]
  except KeyError as missing:
    raise ValueError(f"fold_batch_norm: BatchNorm {name} lacks {missing.args[0][-1]!r}") from None
  if not mean.shape == var.shape == scale.shape == beta.shape == kernel.shape[-1:]:
    raise ValueError(
        f"fold_batch_norm: BatchNorm {name} has mean {mean.shape}, var {var.shape}, scale "
        f"{scale.shape}, bias {beta.shape}, but its convolution's kernel is {kernel.shape}")
  exact = lambda a: np.asarray(a, np.float64)
  # Flax's inference-mode BatchNorm: (x - mean) * (scale / sqrt(var + eps)) + bias.
  multiplier = exact(scale) / np.sqrt(exact(var) + layers.BN_EPSILON)
  shift = -exact(mean) if bias is None else exact(bias) - exact(mean)
  return (jnp.asarray(exact(kernel) * multiplier, dtype),
          jnp.asarray(shift * multiplier + exact(beta), dtype))


def _wide_dtype(model: Model, norm: Path):
  """Folding dtype of BatchNorm `norm`: the wide dtype of the module (backbone or head) it is in."""
  if isinstance(model, PoseWarper) and norm[0] == "backbone":
    return layers.wide_dtype(model.backbone.dtype)
  return layers.wide_dtype(model.dtype)
