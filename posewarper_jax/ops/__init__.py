"""posewarper_jax.ops: custom array operations."""

from posewarper_jax.ops.conv import conv2d
from posewarper_jax.ops.deform_conv import DeformConv, deform_conv2d, identity_kernel_init

__all__ = ["DeformConv", "conv2d", "deform_conv2d", "identity_kernel_init"]
