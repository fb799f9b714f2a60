"""posewarper_jax.inference: batched pose prediction over person boxes and heatmap decoding."""
