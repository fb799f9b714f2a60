"""posewarper_jax.data."""
