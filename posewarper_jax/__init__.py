"""posewarper_jax: PoseWarper (Bertasius et al., NeurIPS 2019) in JAX/Flax."""
