"""posewarper_jax.models."""
