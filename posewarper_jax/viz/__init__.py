"""posewarper_jax.viz."""
