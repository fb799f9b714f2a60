"""posewarper_jax.eval."""
