"""Offset plots (SPEC 8): the learned deformable-kernel offsets of one joint at one dilation.

  python -m posewarper_jax.viz.offsets --checkpoint DIR --frame_a A.jpg --frame_b B.jpg \
      --box x,y,w,h --joint left_wrist --dilation_index 0 --out offsets.png [--pixel y,x]

crops both frames with the box as inference does (the box's centre and scale, rotation 0,
crops.crop_jpeg), runs the PoseWarper as in training (`PoseWarper.__call__`: offsets from
D = H_A - H_B, sampling H_B) and writes one PNG: frame A, frame B, the centre-tap offsets of
the joint as colour-coded flow over B (hue: direction, brightness: length) and the nine
sampling points of the kernel at a pixel (default: the joint's heatmap maximum in A).

Offsets live on frame A's heatmap grid and point into frame B's heatmaps; they are (dy, dx) in
heatmap pixels. Kernel point k = 3 i + j of joint g at output pixel (y, x) and dilation d
samples (y - d + i d + dy, x - d + j d + dx), with dy, dx the offset channels 2 (9 g + k) and
2 (9 g + k) + 1 (SPEC 4.4).
"""

import argparse
import dataclasses
import functools
from typing import Optional, Sequence, Union

import cv2
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow as tf

from configs import common
from posewarper_jax import models
from posewarper_jax.data import cli_paths
from posewarper_jax.data import crops
from posewarper_jax.data import file_io
from posewarper_jax.data import image_check
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import pixels
from posewarper_jax.data import posetrack
from posewarper_jax.models import PoseWarper
from posewarper_jax.models.posewarper import DEFORM_KERNEL
from posewarper_jax.viz import overlays

# SPEC 4.4: taps of the 3x3 kernel in row-major order; the centre tap is the identity at init.
NUM_TAPS = DEFORM_KERNEL ** 2
CENTRE_TAP = NUM_TAPS // 2
_FLOW_BLEND = 0.6  # Weight of the flow colours over frame B.
_POINT_COLOUR = (255, 255, 255)  # RGB of the kernel's sampling points,
_CENTRE_COLOUR = (255, 255, 0)  # of the centre tap's point,
_PIXEL_COLOUR = (255, 0, 255)  # and of the output pixel.
_CAPTION_HEIGHT = 20

Joint = Union[int, str]


def joint_index(joint: Joint) -> int:
  """A joint name of keypoints.JOINT_NAMES or an index -> the index."""
  if isinstance(joint, str) and joint in keypoints_lib.JOINT_INDEX:
    return keypoints_lib.JOINT_INDEX[joint]
  if isinstance(joint, (int, np.integer)) and 0 <= joint < keypoints_lib.NUM_JOINTS:
    return int(joint)
  raise ValueError(f"joint {joint!r}: expected one of {keypoints_lib.JOINT_NAMES} or an index "
                   f"0..{keypoints_lib.NUM_JOINTS - 1}")


@dataclasses.dataclass(frozen=True)
class OffsetPrediction:
  """The warping head's output for one pair of crops (A, B).

  heatmaps_a: (h, w, K) backbone heatmaps of frame A.
  fields: (D, h, w, K, 9, 2) per dilation, joint and kernel tap the offset (dy, dx), in
    heatmap pixels.
  dilations: (D,) the dilation of each field.
  """
  heatmaps_a: np.ndarray
  fields: np.ndarray
  dilations: tuple[int, ...]

  def _check(self, joint: Joint, dilation_index: int) -> int:
    """Joint index after checking both arguments."""
    if not 0 <= dilation_index < len(self.dilations):
      raise ValueError(f"dilation_index={dilation_index}: expected 0..{len(self.dilations) - 1} "
                       f"(dilations {self.dilations})")
    return joint_index(joint)

  def centre_offsets(self, joint: Joint, dilation_index: int) -> np.ndarray:
    """(h, w, 2) centre-tap (dy, dx) of the joint at the dilation (SPEC 8)."""
    return self.fields[dilation_index, :, :, self._check(joint, dilation_index), CENTRE_TAP]

  def sampling_points(self, joint: Joint, dilation_index: int,
                      pixel: Sequence[int]) -> np.ndarray:
    """(9, 2) heatmap positions (y, x) the kernel samples at output pixel (y, x), tap order."""
    k = self._check(joint, dilation_index)
    height, width = self.heatmaps_a.shape[:2]
    y, x = (int(v) for v in pixel)
    if not (0 <= y < height and 0 <= x < width):
      raise ValueError(f"pixel {tuple(pixel)}: outside the {height} x {width} heatmap grid")
    dilation = self.dilations[dilation_index]
    taps = np.stack(np.divmod(np.arange(NUM_TAPS), DEFORM_KERNEL), axis=-1)  # (9, 2) (i, j)
    grid = np.array([y, x]) + (taps - DEFORM_KERNEL // 2) * dilation
    return grid + self.fields[dilation_index, y, x, k]

  def peak(self, joint: Joint) -> tuple[int, int]:
    """(y, x) of the maximum of the joint's heatmap in frame A."""
    heatmap = self.heatmaps_a[..., joint_index(joint)]
    return tuple(int(v) for v in np.unravel_index(np.argmax(heatmap), heatmap.shape))


@functools.lru_cache(maxsize=8)
def _offsets_function(model: PoseWarper):
  """jit of (variables, frame_a, frame_b) -> (H_A (h, w, K), fields (D, h, w, K, 9, 2))."""

  def forward(variables, frame_a, frame_b):
    # As PoseWarper.__call__: one backbone pass over [A; B], offsets from D = H_A - H_B.
    both = model.apply(variables, jnp.stack([frame_a, frame_b]), method=PoseWarper.heatmaps)
    heatmaps_a, heatmaps_b = jnp.split(both, 2, axis=0)
    fields = model.apply(variables, heatmaps_a - heatmaps_b, method=PoseWarper.offset_fields)
    shape = heatmaps_a.shape[1:] + (NUM_TAPS, 2)
    return heatmaps_a[0], jnp.stack([field[0].reshape(shape) for field in fields])

  return jax.jit(forward)


def predict_offsets(model: nn.Module, variables: dict, frame_a: np.ndarray,
                    frame_b: np.ndarray) -> OffsetPrediction:
  """Crops (H, W, 3), ImageNet-normalised as crops.crop_jpeg gives them -> OffsetPrediction."""
  if not isinstance(model, PoseWarper):
    raise ValueError(f"offsets need a PoseWarper model, got {type(model).__name__}")
  if np.shape(frame_a) != np.shape(frame_b) or np.ndim(frame_a) != 3:
    raise ValueError(f"frame_a {np.shape(frame_a)} and frame_b {np.shape(frame_b)} must both be "
                     f"(H, W, 3)")
  heatmaps_a, fields = _offsets_function(model)(variables, jnp.asarray(frame_a, jnp.float32),
                                                jnp.asarray(frame_b, jnp.float32))
  return OffsetPrediction(np.asarray(heatmaps_a), np.asarray(fields), tuple(model.dilations))


def offset_field(model: nn.Module, variables: dict, frame_a: np.ndarray, frame_b: np.ndarray, *,
                 joint: Joint, dilation_index: int) -> np.ndarray:
  """(h, w, 2) centre-tap offsets (dy, dx) of `joint` at dilations[dilation_index] (SPEC 8)."""
  return predict_offsets(model, variables, frame_a, frame_b).centre_offsets(joint,
                                                                            dilation_index)


def sampling_points(model: nn.Module, variables: dict, frame_a: np.ndarray, frame_b: np.ndarray,
                    *, joint: Joint, dilation_index: int, pixel: Sequence[int]) -> np.ndarray:
  """(9, 2) heatmap positions (y, x) the deformable kernel samples at heatmap `pixel` (y, x)."""
  return predict_offsets(model, variables, frame_a, frame_b).sampling_points(
      joint, dilation_index, pixel)


def flow_image(offsets: np.ndarray, max_magnitude: Optional[float] = None) -> np.ndarray:
  """offsets (h, w, 2) (dy, dx) -> (h, w, 3) uint8 RGB.

  HSV coding: hue = direction (0 pointing right, turning towards +y, i.e. down), full
  saturation, value = length / max_magnitude (default: the largest length; zero offsets are
  black).
  """
  offsets = np.asarray(offsets, np.float32)
  if offsets.ndim != 3 or offsets.shape[-1] != 2:
    raise ValueError(f"offsets must be (h, w, 2), got shape {offsets.shape}")
  if max_magnitude is not None and not max_magnitude > 0:
    raise ValueError(f"max_magnitude={max_magnitude}: must be positive")
  magnitude, angle = cv2.cartToPolar(np.ascontiguousarray(offsets[..., 1]),
                                     np.ascontiguousarray(offsets[..., 0]), angleInDegrees=True)
  peak = float(magnitude.max()) if max_magnitude is None else float(max_magnitude)
  hsv = np.zeros(offsets.shape[:2] + (3,), np.uint8)
  hsv[..., 0] = np.round(angle / 2).astype(np.int64) % 180  # OpenCV's 8-bit hue is 0..179.
  hsv[..., 1] = 255
  if peak > 0:
    hsv[..., 2] = np.round(np.clip(magnitude / peak, 0, 1) * 255)
  return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _stride(image_shape: Sequence[int], grid_shape: Sequence[int]) -> int:
  """Crop pixels per heatmap pixel, the same integer along both axes."""
  height, width = image_shape[:2]
  grid_h, grid_w = grid_shape[:2]
  if height % grid_h or width % grid_w or height // grid_h != width // grid_w:
    raise ValueError(f"image {tuple(image_shape)} is not an integer multiple (the same along both "
                     f"axes) of the heatmap grid {tuple(grid_shape)}")
  return height // grid_h


def _draw_kernel(image: np.ndarray, stride: int, points: Optional[np.ndarray],
                 pixel: Optional[Sequence[int]]) -> np.ndarray:
  """Draws heatmap-grid points (9, 2) (y, x) and the pixel (y, x) onto a copy of the crop."""
  image = image.copy()
  radius = max(1, stride // 2)
  to_crop = lambda y, x: (int(round(x * stride)), int(round(y * stride)))
  if points is not None:
    for tap, (y, x) in enumerate(np.asarray(points)):
      colour = _CENTRE_COLOUR if tap == CENTRE_TAP else _POINT_COLOUR
      cv2.circle(image, to_crop(y, x), radius, colour, -1, cv2.LINE_AA)
  if pixel is not None:
    cv2.drawMarker(image, to_crop(*pixel), _PIXEL_COLOUR, cv2.MARKER_CROSS, 4 * radius,
                   max(1, radius // 2))
  return image


def draw_offsets(frame_b: np.ndarray, offsets: np.ndarray, points: Optional[np.ndarray] = None,
                 pixel: Optional[Sequence[int]] = None) -> np.ndarray:
  """`flow_image` of offsets (h, w, 2) resized onto frame B's crop (H, W, 3) uint8 and blended.

  points: (9, 2) sampling points and pixel: (y, x), both in heatmap pixels (scaled by the
  stride H / h), drawn when given. Returns (H, W, 3) uint8.
  """
  if frame_b.dtype != np.uint8 or frame_b.ndim != 3 or frame_b.shape[-1] != 3:
    raise ValueError(f"frame_b must be (H, W, 3) uint8, got {frame_b.dtype} {frame_b.shape}")
  stride = _stride(frame_b.shape, np.shape(offsets))
  height, width = frame_b.shape[:2]
  flow = cv2.resize(flow_image(offsets), (width, height), interpolation=cv2.INTER_LINEAR)
  blended = cv2.addWeighted(frame_b, 1 - _FLOW_BLEND, flow, _FLOW_BLEND, 0)
  return _draw_kernel(blended, stride, points, pixel)


def render_offset_figure(frame_a: np.ndarray, frame_b: np.ndarray, offsets: np.ndarray,
                         points: np.ndarray, pixel: Sequence[int], *, joint: Joint,
                         dilation: int) -> np.ndarray:
  """Frames A and B (H, W, 3) uint8 RGB, offsets (h, w, 2), points (9, 2), pixel (y, x)
  -> (20 + H, 4 W, 3) uint8: A with the pixel, B, the flow over B, B with the kernel points."""
  stride = _stride(frame_b.shape, np.shape(offsets))
  panel = np.concatenate([_draw_kernel(frame_a, stride, None, pixel), frame_b,
                          draw_offsets(frame_b, offsets),
                          _draw_kernel(frame_b, stride, points, pixel)], axis=1)
  caption = np.zeros((_CAPTION_HEIGHT, panel.shape[1], 3), np.uint8)
  longest = float(np.max(np.linalg.norm(offsets, axis=-1)))
  text = (f"{keypoints_lib.JOINT_NAMES[joint_index(joint)]}  dilation {dilation}  pixel y,x "
          f"{tuple(int(v) for v in pixel)}  max |offset| {longest:.2f} heatmap px")
  cv2.putText(caption, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
  key = _colour_key(_CAPTION_HEIGHT)
  caption[:, -key.shape[1]:] = key
  return np.concatenate([caption, panel], axis=0)


def _colour_key(size: int) -> np.ndarray:
  """(size, size, 3) uint8 disc of `flow_image` colours: each point's direction from the centre."""
  centre = (size - 1) / 2
  yy, xx = np.mgrid[0:size, 0:size] - centre
  offsets = np.stack([yy, xx], axis=-1) * (np.hypot(yy, xx) <= centre)[..., None]
  return flow_image(offsets)


def write_offset_figure(path: file_io.Path, frame_a: np.ndarray, frame_b: np.ndarray,
                        offsets: np.ndarray, points: np.ndarray, pixel: Sequence[int], *,
                        joint: Joint, dilation: int) -> str:
  """Writes `render_offset_figure` as a PNG; returns the path."""
  return overlays.write_png(path, render_offset_figure(frame_a, frame_b, offsets, points, pixel,
                                                       joint=joint, dilation=dilation))


def crop_frames(paths: Sequence[file_io.Path], box: Sequence[float],
                config: ml_collections.ConfigDict) -> np.ndarray:
  """JPEGs cropped with one [x, y, w, h] box as inference crops a box's frames.

  The box is cleaned against the first image and turned into a centre and scale of the crop's
  aspect ratio (posetrack.person_from_box, as detections are read); every frame is cropped
  with that affine (rotation 0). config: the `input` section (image_size, decode_ratio,
  warp_backend). Returns (N, H, W, 3) float32 ImageNet-normalised crops.
  """
  contents = [file_io.read_bytes(path) for path in paths]
  try:
    width, height = image_check.jpeg_size(contents[0])
  except ValueError as error:
    raise ValueError(f"{paths[0]}: {error}") from None
  image_size = tuple(config.image_size)
  person = posetrack.person_from_box(np.zeros((keypoints_lib.NUM_JOINTS, 3)), box, width,
                                     height, image_size[0] / image_size[1])
  if person is None:
    raise ValueError(f"box {tuple(box)}: no area left inside the {width} x {height} image "
                     f"{paths[0]}")
  matrix = crops.affine_matrix(person.center, person.scale, 0.0, image_size)
  return np.stack([
      crops.crop_jpeg(tf.constant(data), matrix, image_size,
                      reduced_decode=config.decode_ratio == "auto",
                      backend=config.warp_backend).numpy()
      for data in contents])


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description="Writes a PNG of a PoseWarper checkpoint's "
                                               "offsets for one joint and dilation.")
  parser.add_argument("--checkpoint", required=True, type=cli_paths.existing,
                      help="PoseWarper checkpoint or training workdir (models.load)")
  parser.add_argument("--frame_a", required=True, type=cli_paths.existing,
                      help="JPEG of frame A (whose heatmaps the warp predicts)")
  parser.add_argument("--frame_b", required=True, type=cli_paths.existing,
                      help="JPEG of frame B (whose heatmaps are sampled)")
  parser.add_argument("--box", required=True, type=cli_paths.numbers(4, float),
                      help="person box x,y,w,h in frame A's pixels, used for both crops")
  parser.add_argument("--joint", required=True, choices=keypoints_lib.JOINT_NAMES)
  parser.add_argument("--dilation_index", type=int, default=0,
                      help="index into the model's dilations")
  parser.add_argument("--pixel", type=cli_paths.numbers(2, int),
                      help="heatmap pixel y,x of the kernel (default: the joint's peak in A)")
  parser.add_argument("--image_size", type=cli_paths.numbers(2, int),
                      default=tuple(common.input_config().image_size),
                      help="crop width,height the model was trained on")
  parser.add_argument("--out", required=True, help="output PNG")
  args = parser.parse_args(argv)
  config = common.input_config()
  config.image_size = args.image_size
  with cli_paths.one_line_errors():
    frames = crop_frames([args.frame_a, args.frame_b], args.box, config)
    model, variables = models.load(args.checkpoint)
    if not isinstance(model, PoseWarper):
      raise ValueError(f"--checkpoint {args.checkpoint}: a {type(model).__name__} checkpoint; "
                       f"offsets need a PoseWarper")
    prediction = predict_offsets(model, variables, frames[0], frames[1])
    pixel = args.pixel or prediction.peak(args.joint)
    offsets = prediction.centre_offsets(args.joint, args.dilation_index)
    points = prediction.sampling_points(args.joint, args.dilation_index, pixel)
  path = write_offset_figure(args.out, pixels.to_uint8(frames[0]), pixels.to_uint8(frames[1]),
                             offsets, points, pixel, joint=args.joint,
                             dilation=prediction.dilations[args.dilation_index])
  print(path)

if __name__ == "__main__":
  main()
