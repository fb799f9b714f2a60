import jax
import numpy as np
import pytest

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


def _random_joints(seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(45, 2) float32 joints in, partly out and fully out of the crop; (45,) visibility."""
  rng = np.random.default_rng(seed)
  joints = np.concatenate([
      rng.uniform(-60, 350, (40, 2)),
      [[-30.0, 100.0], [-44.0, 100.0], [320.0, 420.0], [1.9, -1.9], [287.0, 383.0]]])
  visibility = (rng.uniform(size=len(joints)) < 0.8).astype(np.float32)
  return joints.astype(np.float32), visibility


def test_matches_loop_reference():
  joints, visibility = _random_joints(0)
  got_maps, got_weight = targets.gaussian_heatmaps(joints, visibility, IMAGE_SIZE)
  want_maps, want_weight = _reference(joints, visibility, IMAGE_SIZE)
  assert got_maps.shape == (96, 72, len(joints)) and got_maps.dtype == np.float32
  np.testing.assert_allclose(np.asarray(got_maps), want_maps, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(got_weight), want_weight)
  assert 0 < want_weight.sum() < visibility.sum()  # Some windows fall fully outside.


def test_leading_axes_under_jit_match_each_example():
  """A (2, 3) batch of joint sets, jitted as in the train step, equals each set on its own."""
  examples = [_random_joints(seed) for seed in range(6)]
  joints = np.stack([j for j, _ in examples]).reshape(2, 3, -1, 2)
  visibility = np.stack([v for _, v in examples]).reshape(2, 3, -1)
  encode = jax.jit(lambda j, v: targets.gaussian_heatmaps(j, v, IMAGE_SIZE, 4, 2.0))
  maps, weight = map(np.asarray, encode(joints, visibility))
  assert maps.shape == (2, 3, 96, 72, joints.shape[2]) and weight.shape == visibility.shape
  for i in range(2):
    for j in range(3):
      want_maps, want_weight = _reference(joints[i, j], visibility[i, j], IMAGE_SIZE, sigma=2)
      np.testing.assert_allclose(maps[i, j], want_maps, atol=1e-6)
      np.testing.assert_array_equal(weight[i, j], want_weight)


def test_joint_targets_read_visibility_and_crop_size():
  joints, visibility = _random_joints(1)
  frames = np.zeros((1, 384, 288, 3), np.uint8)  # (H, W) = IMAGE_SIZE reversed.
  maps, weight = targets.joint_targets(np.concatenate([joints, visibility[:, None]], -1)[None],
                                       frames, 4, 3.0)
  want_maps, want_weight = _reference(joints, visibility, IMAGE_SIZE)
  np.testing.assert_allclose(np.asarray(maps)[0], want_maps, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(weight)[0], want_weight)


def test_hand_computed_values():
  maps, weight = targets.gaussian_heatmaps([[41.0, 38.0]], [1.0], IMAGE_SIZE)
  maps = np.asarray(maps)[..., 0]
  # mu = (int(10.75), int(10.0)) = (10, 10).
  assert maps[10, 10] == 1.0
  np.testing.assert_allclose(maps[10, 11], np.exp(-1 / 18), rtol=1e-6)
  np.testing.assert_allclose(maps[13, 7], np.exp(-18 / 18), rtol=1e-6)
  assert maps[10, 20] == 0 and maps[19, 19] > 0 and maps[20, 19] == 0
  assert np.asarray(weight)[0] == 1.0


def test_invisible_joint_has_no_gaussian():
  maps, weight = targets.gaussian_heatmaps([[100.0, 100.0]], [0.0], IMAGE_SIZE)
  assert np.asarray(weight)[0] == 0 and not np.asarray(maps).any()


@pytest.mark.parametrize("sigma, size", [(2.5, (288, 384)), (3, (290, 384))])
def test_bad_arguments_raise(sigma, size):
  with pytest.raises(ValueError, match="sigma|stride"):
    targets.gaussian_heatmaps(np.zeros([1, 2]), np.ones([1]), size, sigma=sigma)
