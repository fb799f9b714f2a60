"""posewarper_jax.apps: the paper's applications: pose propagation, its baselines, pseudo-labels."""
