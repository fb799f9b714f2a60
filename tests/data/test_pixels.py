import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posewarper_jax.data import pixels


def test_normalize_is_the_imagenet_normalisation():
  values = np.arange(256, dtype=np.uint8)[:, None].repeat(3, axis=1)  # (256, 3)
  want = (values / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
  for got in (pixels.normalize(values), jax.jit(pixels.normalize)(jnp.asarray(values))):
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)


def test_to_uint8_inverts_normalize():
  values = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
  np.testing.assert_array_equal(pixels.to_uint8(pixels.normalize(values)), values)


def test_model_input_normalises_uint8_and_passes_floats():
  crops = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
  np.testing.assert_array_equal(pixels.model_input(crops), pixels.normalize(crops))
  normalised = jnp.ones((2, 4, 4, 3), jnp.bfloat16)
  assert pixels.model_input(normalised) is normalised
  with pytest.raises(ValueError, match="frames of dtype int32: expected uint8 RGB crops"):
    pixels.model_input(crops.astype(np.int32))
