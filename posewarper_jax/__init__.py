"""posewarper_jax: PoseWarper (Bertasius et al., NeurIPS 2019) in JAX/Flax."""

from posewarper_jax import xla_cpu

xla_cpu.configure()  # before JAX starts its backend (XLA:CPU's convolution, xla_cpu.py)
