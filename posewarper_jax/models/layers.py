"""Convolution, batch-norm and residual blocks shared by HRNet and the PoseWarper head (SPEC 2, 4.2).

Every convolution pads explicitly and symmetrically (`kernel // 2 * dilation` on each side) as
the PyTorch original does, never 'SAME', so that stride-2 layers sample the same pixels and
imported weights give the same outputs. Arrays are NHWC; kernels are HWIO.

Dtypes: a model's `dtype` is its computation dtype. Parameters, BatchNorm statistics and the
models' outputs are float32 for float32 and bfloat16 models and float64 for float64 ones
(`wide_dtype`), so a float64 model computes in float64 end to end (with x64 enabled).

Every BatchNorm follows a convolution (`conv_bn`). With `batch_norm_folded` the pair is one
convolution with a bias that already holds the BatchNorm's inference-mode affine map
(models/fold.py computes it); such a model runs only with train=False.
"""

from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from posewarper_jax.ops.conv import conv2d

# SPEC 2: BN momentum 0.1 in PyTorch convention, i.e. 0.9 in Flax convention; PyTorch's eps.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
# SPEC 2 (`init_weights`): every Conv2d is initialised Normal(0, 0.001) with zero bias.
CONV_INIT_STD = 1e-3
# SPEC 2: Bottleneck blocks widen their planes by 4.
BOTTLENECK_EXPANSION = 4

Dtype = Any
conv_kernel_init = nn.initializers.normal(stddev=CONV_INIT_STD)


def wide_dtype(dtype: Dtype) -> jnp.dtype:
  """Parameters, BatchNorm statistics and outputs of a model computing in `dtype`: float64 for
  float64, float32 otherwise (bfloat16 computes with float32 parameters)."""
  return jnp.promote_types(dtype, jnp.float32)


def batch_norm_name(conv_name: str) -> str:
  """The name of the BatchNorm that follows convolution `conv_name` in `conv_bn`: "conv" becomes
  "bn" (conv1 -> bn1, downsample_conv -> downsample_bn, fuse0_1_conv -> fuse0_1_bn), the
  names of the original's modules."""
  if conv_name.count("conv") != 1:
    raise ValueError(f"batch_norm_name: a convolution followed by BatchNorm needs exactly one "
                     f"'conv' in its name, got {conv_name!r}")
  return conv_name.replace("conv", "bn")


def check_inference(train: bool, batch_norm_folded: bool, module: str) -> None:
  """Raises ValueError when a model whose BatchNorm is folded is called with train=True."""
  if train and batch_norm_folded:
    raise ValueError(f"{module}: batch_norm_folded=True (BatchNorm folded into the convolutions "
                     f"by models/fold.py) supports only train=False; train the unfolded model")


class Conv(nn.Module):
  """Square convolution with explicit symmetric padding; parameters as flax.linen.Conv's.

  Runs ops.conv2d, whose kernel gradient avoids XLA:CPU's slow one (see ops/conv.py).

  Attributes:
    features: output channels.
    kernel_size, stride, dilation: square kernel, stride and dilation.
    use_bias: add a learned bias.
    kernel_init: kernel initialiser, kernel shape (k, k, C_in, features).
    dtype: computation dtype; parameters are `wide_dtype(dtype)`.
  """
  features: int
  kernel_size: int
  stride: int = 1
  dilation: int = 1
  use_bias: bool = False
  kernel_init: Callable = conv_kernel_init
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, H, W, C_in) -> (B, H_out, W_out, features)."""
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features),
                        wide_dtype(self.dtype))
    pad = self.dilation * (k // 2)
    y = conv2d(x.astype(self.dtype), kernel.astype(self.dtype), stride=(self.stride,) * 2,
               padding=((pad, pad), (pad, pad)), dilation=(self.dilation,) * 2)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros_init(), (self.features,),
                         wide_dtype(self.dtype)).astype(self.dtype)
    return y


def conv(features: int, kernel: int, *, dtype: Dtype, name: Optional[str] = None,
         stride: int = 1, dilation: int = 1, use_bias: bool = False,
         kernel_init: Callable = conv_kernel_init) -> Conv:
  """A square convolution padded by `dilation * (kernel // 2)` on each side."""
  return Conv(features, kernel, stride=stride, dilation=dilation, use_bias=use_bias,
              kernel_init=kernel_init, dtype=dtype, name=name)


def batch_norm(train: bool, *, name: str, dtype: Dtype) -> nn.BatchNorm:
  """BatchNorm as the original: batch statistics (and running-stat updates) iff `train`.

  One known difference: PyTorch updates running_var with the unbiased batch variance
  (factor n / (n - 1), n = B * H * W), Flax with the biased one. With n >= 1,000 in this model
  the running statistics differ by less than 0.1 percent of the update.

  Statistics and parameters are float32 (float32 and bfloat16 models, whose reductions run in
  float32) or float64 (float64 models, where everything runs in float64).
  """
  wide = wide_dtype(dtype)
  return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                      dtype=dtype, param_dtype=wide,
                      force_float32_reductions=wide != jnp.float64, name=name)


def conv_bn(x: jax.Array, features: int, kernel: int, train: bool, *, name: str, dtype: Dtype,
            batch_norm_folded: bool, stride: int = 1) -> jax.Array:
  """Convolution `name` then BatchNorm `batch_norm_name(name)` (must run inside compact).

  With batch_norm_folded, convolution `name` alone, with a bias: the BatchNorm folded into it
  (models/fold.py); train must then be False.
  """
  if batch_norm_folded:
    check_inference(train, batch_norm_folded, name)
    return conv(features, kernel, stride=stride, use_bias=True, name=name, dtype=dtype)(x)
  x = conv(features, kernel, stride=stride, name=name, dtype=dtype)(x)
  return batch_norm(train, name=batch_norm_name(name), dtype=dtype)(x)


@jax.custom_jvp
def add_relu(y: jax.Array, shortcut: jax.Array) -> jax.Array:
  """relu(y + shortcut), the end of a residual block or an HRNet fusion, same shapes.

  Computed as max(y, -shortcut) + shortcut, which gives the same values bit for bit (the sum is
  rounded once either way, and a sum that is not positive gives 0 either way). Written as relu of
  a sum, XLA:CPU duplicates the ReLU (an "effectively unary" op) into every consumer and with
  it the whole chain of earlier blocks' adds: the last fusion of HRNet-W48's first branch
  replayed 20 blocks. With two full operands in the last op the block output is stored once
  (W48 forward 2.3 -> 2.0 s on 2 cores). The derivative is ReLU's (custom JVP), so gradients
  are those of relu(y + shortcut) too.
  """
  return jnp.maximum(y, -shortcut) + shortcut


@add_relu.defjvp
def _add_relu_jvp(primals, tangents):
  output = add_relu(*primals)
  return output, jnp.where(output > 0, tangents[0] + tangents[1], 0)


class BasicBlock(nn.Module):
  """ResNet/HRNet BasicBlock: 3x3 conv-BN-ReLU, 3x3 conv-BN, shortcut, add, ReLU.

  The shortcut is a 1x1 conv + BN ("downsample") when the stride or channel count changes.

  Attributes:
    features: output channels.
    stride: stride of the first 3x3 conv and of the projection.
    dtype: computation dtype (parameters are `wide_dtype(dtype)`).
    batch_norm_folded: every BatchNorm is folded into its convolution (inference only).
  """
  features: int
  stride: int = 1
  dtype: Dtype = jnp.float32
  batch_norm_folded: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: (B, H, W, C) -> (B, H / stride, W / stride, features)."""
    options = dict(dtype=self.dtype, batch_norm_folded=self.batch_norm_folded)
    y = nn.relu(conv_bn(x, self.features, 3, train, stride=self.stride, name="conv1", **options))
    y = conv_bn(y, self.features, 3, train, name="conv2", **options)
    return add_relu(y, _shortcut(x, self.features, self.stride, train, **options))


class Bottleneck(nn.Module):
  """ResNet Bottleneck (HRNet layer1): 1x1, 3x3 (stride), 1x1 x4 widening, shortcut, ReLU.

  Attributes:
    planes: inner channels; the output has `BOTTLENECK_EXPANSION * planes` channels.
    stride: stride of the 3x3 conv and of the projection.
    dtype: computation dtype (parameters are `wide_dtype(dtype)`).
    batch_norm_folded: every BatchNorm is folded into its convolution (inference only).
  """
  planes: int
  stride: int = 1
  dtype: Dtype = jnp.float32
  batch_norm_folded: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: (B, H, W, C) -> (B, H / stride, W / stride, 4 * planes)."""
    features = BOTTLENECK_EXPANSION * self.planes
    options = dict(dtype=self.dtype, batch_norm_folded=self.batch_norm_folded)
    y = nn.relu(conv_bn(x, self.planes, 1, train, name="conv1", **options))
    y = nn.relu(conv_bn(y, self.planes, 3, train, stride=self.stride, name="conv2", **options))
    y = conv_bn(y, features, 1, train, name="conv3", **options)
    return add_relu(y, _shortcut(x, features, self.stride, train, **options))


def _shortcut(x: jax.Array, features: int, stride: int, train: bool, *, dtype: Dtype,
              batch_norm_folded: bool) -> jax.Array:
  """Identity, or a 1x1 conv + BN projection when the shape changes (must run inside compact)."""
  if stride == 1 and x.shape[-1] == features:
    return x
  return conv_bn(x, features, 1, train, stride=stride, name="downsample_conv", dtype=dtype,
                 batch_norm_folded=batch_norm_folded)
