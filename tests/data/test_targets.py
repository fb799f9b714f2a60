import numpy as np
import pytest
import tensorflow as tf

from posewarper_jax.data import targets

IMAGE_SIZE = (288, 384)


def _reference(joints, visibility, image_size, stride=4, sigma=3):
  """SPEC 3.4 written as loops, float64."""
  map_w, map_h = image_size[0] // stride, image_size[1] // stride
  radius = 3 * sigma
  heatmaps = np.zeros((map_h, map_w, len(joints)))
  weight = np.asarray(visibility, np.float64).copy()
  for k, (x, y) in enumerate(joints):
    mu_x, mu_y = int(x / stride + 0.5), int(y / stride + 0.5)
    ul = (mu_x - radius, mu_y - radius)
    br = (mu_x + radius + 1, mu_y + radius + 1)
    if ul[0] >= map_w or ul[1] >= map_h or br[0] < 0 or br[1] < 0:
      weight[k] = 0
      continue
    if weight[k] <= 0.5:
      continue
    for py in range(max(0, ul[1]), min(map_h, br[1])):
      for px in range(max(0, ul[0]), min(map_w, br[0])):
        heatmaps[py, px, k] = np.exp(-((px - mu_x)**2 + (py - mu_y)**2) / (2 * sigma**2))
  return heatmaps, weight


def test_matches_loop_reference():
  rng = np.random.default_rng(0)
  joints = np.concatenate([
      rng.uniform(-60, 350, (40, 2)),  # In, partly out, and fully out of the crop.
      [[-30.0, 100.0], [-44.0, 100.0], [320.0, 420.0], [1.9, -1.9], [287.0, 383.0]]])
  visibility = (rng.uniform(size=len(joints)) < 0.8).astype(np.float32)
  got_maps, got_weight = targets.gaussian_heatmaps(
      joints.astype(np.float32), visibility, IMAGE_SIZE)
  want_maps, want_weight = _reference(joints.astype(np.float32), visibility, IMAGE_SIZE)
  assert got_maps.shape == (96, 72, len(joints))
  np.testing.assert_allclose(got_maps.numpy(), want_maps, atol=1e-6)
  np.testing.assert_array_equal(got_weight.numpy(), want_weight)
  assert 0 < want_weight.sum() < visibility.sum()  # Some windows fall fully outside.


def test_hand_computed_values():
  maps, weight = targets.gaussian_heatmaps([[41.0, 38.0]], [1.0], IMAGE_SIZE)
  maps = maps.numpy()[..., 0]
  # mu = (int(10.75), int(10.0)) = (10, 10).
  assert maps[10, 10] == 1.0
  np.testing.assert_allclose(maps[10, 11], np.exp(-1 / 18), rtol=1e-6)
  np.testing.assert_allclose(maps[13, 7], np.exp(-18 / 18), rtol=1e-6)
  assert maps[10, 20] == 0 and maps[19, 19] > 0 and maps[20, 19] == 0
  assert weight.numpy()[0] == 1.0


def test_invisible_joint_has_no_gaussian():
  maps, weight = targets.gaussian_heatmaps([[100.0, 100.0]], [0.0], IMAGE_SIZE)
  assert weight.numpy()[0] == 0 and not maps.numpy().any()


@pytest.mark.parametrize("sigma, size", [(2.5, (288, 384)), (3, (290, 384))])
def test_bad_arguments_raise(sigma, size):
  with pytest.raises(ValueError, match="sigma|stride"):
    targets.gaussian_heatmaps(tf.zeros([1, 2]), tf.ones([1]), size, sigma=sigma)
