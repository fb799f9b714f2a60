"""posewarper_jax.train."""
