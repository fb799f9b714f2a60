import cv2
import numpy as np
import pytest

from posewarper_jax.data import transforms


def _reference_affine(center, scale, rot, output_size, inv=False):
  """The original three-point construction (HRNet `get_affine_transform`), float64."""
  src_w = scale[0] * transforms.PIXEL_STD
  dst_w, dst_h = output_size
  rad = np.pi * rot / 180
  direction = lambda p: np.array([p[0] * np.cos(rad) - p[1] * np.sin(rad),
                                  p[0] * np.sin(rad) + p[1] * np.cos(rad)])
  third = lambda a, b: b + np.array([-(a - b)[1], (a - b)[0]])
  src = np.zeros((3, 2), np.float32)
  dst = np.zeros((3, 2), np.float32)
  src[0] = center
  src[1] = center + direction([0, src_w * -0.5])
  dst[0] = [dst_w * 0.5, dst_h * 0.5]
  dst[1] = dst[0] + np.array([0, dst_w * -0.5])
  src[2] = third(src[0], src[1])
  dst[2] = third(dst[0], dst[1])
  return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0, 90.0])
@pytest.mark.parametrize("inv", [False, True])
def test_affine_matches_three_point_construction(rot, inv):
  center, scale = np.array([812.5, 431.0]), np.array([1.7, 2.2667])
  got = transforms.affine_matrix(center, scale, rot, (288, 384), inverse=inv)
  want = _reference_affine(center, scale, rot, (288, 384), inv)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_affine_inverse_round_trip():
  rng = np.random.default_rng(0)
  points = rng.uniform(0, 1000, (10, 2))
  forward = transforms.affine_matrix((500, 300), (1.2, 1.6), 33.0, (72, 96))
  backward = transforms.affine_matrix((500, 300), (1.2, 1.6), 33.0, (72, 96), inverse=True)
  np.testing.assert_allclose(transforms.apply_affine(transforms.apply_affine(points, forward),
                                                     backward), points, atol=1e-9)


def test_box_to_center_scale_hand_computed():
  # 100 x 100 box, aspect 0.75: height grows to 133.33; scale = (100, 133.33) / 200 * 1.25.
  center, scale = transforms.box_to_center_scale([10, 20, 100, 100], 0.75)
  np.testing.assert_allclose(center, [60, 70])
  np.testing.assert_allclose(scale, [0.625, 100 / 0.75 / 200 * 1.25])
  # Tall box: width grows.
  _, scale = transforms.box_to_center_scale([0, 0, 30, 200], 0.75)
  np.testing.assert_allclose(scale, [150 / 200 * 1.25, 200 / 200 * 1.25])


def test_clean_box():
  np.testing.assert_allclose(transforms.clean_box([-5, 10, 50, 20], 100, 100), [0, 10, 49, 19])
  np.testing.assert_allclose(transforms.clean_box([90, 90, 50, 50], 100, 100), [90, 90, 9, 9])
  assert transforms.clean_box([10, 10, 0, 20], 100, 100) is None
  assert transforms.clean_box([120, 10, 5, 5], 100, 100) is None
