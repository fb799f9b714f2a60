"""posewarper_jax.viz: training pairs, offset plots, pose overlays and loss curves as images."""
