"""RGB pixels as the models take them: ImageNet-normalised float32 (SPEC 2).

The tf.data pipelines (training pairs, evaluation boxes, propagation) ship their crops as uint8,
a quarter of the bytes of normalised float32 crops to batch and copy to the accelerators, and
the jitted functions that take them (the train step, the heatmap and propagation functions)
normalise them on the device with `model_input`. The original normalises on the host after its
uint8 cv2 crop, with the same arithmetic.
"""

import jax.numpy as jnp
import numpy as np

# SPEC 2: RGB pixels scaled to [0, 1], then normalised with the ImageNet statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(pixels):
  """(..., 3) RGB in [0, 255], a NumPy or JAX array of any real dtype -> float32 normalised."""
  scaled = pixels.astype(np.float32) / np.float32(255.0)
  return (scaled - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)


def model_input(frames):
  """Frames (..., 3) for a model: uint8 RGB crops are normalised (`normalize`), floating ones
  are taken as normalised already and returned unchanged; other dtypes raise ValueError."""
  if frames.dtype == np.uint8:
    return normalize(frames)
  if jnp.issubdtype(frames.dtype, jnp.floating):
    return frames
  raise ValueError(f"frames of dtype {frames.dtype}: expected uint8 RGB crops or floating "
                   "ImageNet-normalised ones")


def to_uint8(normalised: np.ndarray) -> np.ndarray:
  """`normalize`'s inverse for display: (..., 3) ImageNet-normalised -> uint8 RGB (rounded)."""
  values = normalised * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN)
  return np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
