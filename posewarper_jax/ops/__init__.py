"""posewarper_jax.ops."""
