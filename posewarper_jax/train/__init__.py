"""posewarper_jax.train: train state, loss, optimizer, step, checkpoints, metrics and the loop."""
