"""Convolution, batch-norm and residual blocks shared by HRNet and the PoseWarper head (SPEC 2, 4.2).

Every convolution pads explicitly and symmetrically (`kernel // 2 * dilation` on each side) as
the PyTorch original does, never 'SAME', so that stride-2 layers sample the same pixels and
imported weights give the same outputs. Arrays are NHWC; kernels are HWIO.
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


class Conv(nn.Module):
  """Square convolution with explicit symmetric padding; parameters as flax.linen.Conv's.

  Runs ops.conv2d, whose kernel gradient avoids XLA:CPU's slow one (see ops/conv.py).

  Attributes:
    features: output channels.
    kernel_size, stride, dilation: square kernel, stride and dilation.
    use_bias: add a learned bias.
    kernel_init: kernel initialiser, kernel shape (k, k, C_in, features).
    dtype: computation dtype; parameters are float32.
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
                        jnp.float32)
    pad = self.dilation * (k // 2)
    y = conv2d(x.astype(self.dtype), kernel.astype(self.dtype), stride=(self.stride,) * 2,
               padding=((pad, pad), (pad, pad)), dilation=(self.dilation,) * 2)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros_init(), (self.features,),
                         jnp.float32).astype(self.dtype)
    return y


def conv(features: int, kernel: int, *, dtype: Dtype, name: Optional[str] = None,
         stride: int = 1, dilation: int = 1, use_bias: bool = False,
         kernel_init: Callable = conv_kernel_init) -> Conv:
  """A square convolution padded by `dilation * (kernel // 2)` on each side, float32 params."""
  return Conv(features, kernel, stride=stride, dilation=dilation, use_bias=use_bias,
              kernel_init=kernel_init, dtype=dtype, name=name)


def batch_norm(train: bool, *, name: str, dtype: Dtype) -> nn.BatchNorm:
  """BatchNorm as the original: batch statistics (and running-stat updates) iff `train`.

  One known difference: PyTorch updates running_var with the unbiased batch variance
  (factor n / (n - 1), n = B * H * W), Flax with the biased one. With n >= 1,000 in this model
  the running statistics differ by less than 0.1 percent of the update.
  """
  return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                      dtype=dtype, param_dtype=jnp.float32, name=name)


class BasicBlock(nn.Module):
  """ResNet/HRNet BasicBlock: 3x3 conv-BN-ReLU, 3x3 conv-BN, shortcut, add, ReLU.

  The shortcut is a 1x1 conv + BN ("downsample") when the stride or channel count changes.

  Attributes:
    features: output channels.
    stride: stride of the first 3x3 conv and of the projection.
    dtype: computation dtype (parameters stay float32).
  """
  features: int
  stride: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: (B, H, W, C) -> (B, H / stride, W / stride, features)."""
    y = conv(self.features, 3, stride=self.stride, name="conv1", dtype=self.dtype)(x)
    y = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(y))
    y = conv(self.features, 3, name="conv2", dtype=self.dtype)(y)
    y = batch_norm(train, name="bn2", dtype=self.dtype)(y)
    return nn.relu(y + _shortcut(x, self.features, self.stride, train, self.dtype))


class Bottleneck(nn.Module):
  """ResNet Bottleneck (HRNet layer1): 1x1, 3x3 (stride), 1x1 x4 widening, shortcut, ReLU.

  Attributes:
    planes: inner channels; the output has `BOTTLENECK_EXPANSION * planes` channels.
    stride: stride of the 3x3 conv and of the projection.
    dtype: computation dtype (parameters stay float32).
  """
  planes: int
  stride: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: (B, H, W, C) -> (B, H / stride, W / stride, 4 * planes)."""
    features = BOTTLENECK_EXPANSION * self.planes
    y = conv(self.planes, 1, name="conv1", dtype=self.dtype)(x)
    y = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(y))
    y = conv(self.planes, 3, stride=self.stride, name="conv2", dtype=self.dtype)(y)
    y = nn.relu(batch_norm(train, name="bn2", dtype=self.dtype)(y))
    y = conv(features, 1, name="conv3", dtype=self.dtype)(y)
    y = batch_norm(train, name="bn3", dtype=self.dtype)(y)
    return nn.relu(y + _shortcut(x, features, self.stride, train, self.dtype))


def _shortcut(x: jax.Array, features: int, stride: int, train: bool, dtype: Dtype) -> jax.Array:
  """Identity, or a 1x1 conv + BN projection when the shape changes (must run inside compact)."""
  if stride == 1 and x.shape[-1] == features:
    return x
  x = conv(features, 1, stride=stride, name="downsample_conv", dtype=dtype)(x)
  return batch_norm(train, name="downsample_bn", dtype=dtype)(x)
