"""Box and crop geometry shared by training, inference and decoding (SPEC sections 3.1, 3.3, 6.3).

Coordinates are pixels, (x, y). A crop is described by a centre, a scale in units of
`PIXEL_STD` pixels (width, height), and a rotation in degrees, exactly as in the original
HRNet/PoseWarper code, so that crops and decoded joints agree with it to the pixel.
"""

from typing import Optional, Sequence

import numpy as np

# SPEC 3.1: boxes are measured in units of 200 px and padded by 1.25.
PIXEL_STD = 200.0
BOX_PADDING = 1.25


def clean_box(box: Sequence[float], image_width: int, image_height: int) -> Optional[np.ndarray]:
  """Clips an [x, y, w, h] box to the image as the original loader does (SPEC 3.1).

  Returns the cleaned [x1, y1, x2 - x1, y2 - y1] as float64, or None when the box is empty.
  """
  x, y, w, h = (float(v) for v in box)
  x1, y1 = max(0.0, x), max(0.0, y)
  x2 = min(image_width - 1.0, x1 + max(0.0, w - 1.0))
  y2 = min(image_height - 1.0, y1 + max(0.0, h - 1.0))
  if w * h <= 0 or x2 < x1 or y2 < y1:
    return None
  return np.array([x1, y1, x2 - x1, y2 - y1], np.float64)


def box_to_center_scale(box: Sequence[float], aspect_ratio: float,
                        padding: float = BOX_PADDING) -> tuple[np.ndarray, np.ndarray]:
  """[x, y, w, h] -> (centre (2,), scale (2,)); the box grows to `aspect_ratio` = w / h first."""
  x, y, w, h = (float(v) for v in box)
  center = np.array([x + 0.5 * w, y + 0.5 * h], np.float64)
  if w > aspect_ratio * h:
    h = w / aspect_ratio
  elif w < aspect_ratio * h:
    w = h * aspect_ratio
  scale = np.array([w, h], np.float64) / PIXEL_STD * padding
  return center, scale


def affine_matrix(center: Sequence[float], scale: Sequence[float], rotation: float,
                  output_size: Sequence[int], inverse: bool = False) -> np.ndarray:
  """The (2, 3) float64 matrix mapping image pixels to a crop of `output_size` = (width, height).

  Closed form of the original `get_affine_transform` (three-point `cv2.getAffineTransform`):
  a similarity that rotates by -rotation degrees about `center`, scales `scale[0] * PIXEL_STD`
  image pixels onto `output_size[0]` crop pixels, and puts `center` at the crop centre.
  """
  center = np.asarray(center, np.float64)
  out_w, out_h = float(output_size[0]), float(output_size[1])
  zoom = out_w / (float(scale[0]) * PIXEL_STD)
  theta = np.deg2rad(rotation)
  cos, sin = np.cos(theta), np.sin(theta)
  linear = zoom * np.array([[cos, sin], [-sin, cos]])
  if inverse:
    linear = np.linalg.inv(linear)
    translation = center - linear @ np.array([0.5 * out_w, 0.5 * out_h])
  else:
    translation = np.array([0.5 * out_w, 0.5 * out_h]) - linear @ center
  return np.concatenate([linear, translation[:, None]], axis=1)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
  """points (..., 2) -> matrix @ [x, y, 1] (..., 2)."""
  points = np.asarray(points, np.float64)
  return points @ matrix[:, :2].T + matrix[:, 2]
