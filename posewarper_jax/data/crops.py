"""JPEG decoding and affine cropping inside the tf.data graph (SPEC sections 2 and 3.3).

The crop of a frame is `cv2.warpAffine(image, matrix, output_size, INTER_LINEAR, BORDER_CONSTANT 0)`
in the original, a uint8 image that is then normalised. Two backends compute it
(config.input.warp_backend):
- "cv2" (the default) calls cv2 itself through tf.numpy_function: the original's pixels. Each
  frame is warped as RGBA, for which OpenCV's vectorised kernel is about twice as fast as for
  RGB (`_warp_cv2_numpy`).
- "tf" samples the same bilinear, constant-0-border map in float32 with TF ops and XLA (within
  about 1/255 of cv2's rounded uint8 pixels); the pipeline then stays a pure TF graph (no
  Python calls: usable with tf.data service).

`warp_frames` and `warp_boxes` give uint8 crops (what the pipelines hand the models, which
normalise them on the device: pixels.model_input), `warp_and_normalize` ImageNet-normalised
float32 ones.

The "tf" backend costs two gathers per crop whatever the number of stacked frames: the image,
still in its own dtype (uint8 pixels), is laid out as a table of horizontally adjacent pixel
pairs (`_pair_table`, a few contiguous copies), and each output pixel gathers the pair on the
row above and the one below its sample point. The sample points and the interpolation are
XLA-compiled (`jit_compile`): their shapes depend only on the crop size, so they compile once,
and XLA fuses the per-pixel float maths (plain TF ops would write every intermediate of the
crop to memory and broadcast slowly). Frames cropped with one affine (frames A and B of a pair)
share the gathers of one: they are packed into the bytes of wider integers instead of stacking
channels, and their unpacking (and normalisation or rounding) is fused into the XLA
interpolation.

Only the part of the JPEG that the crop can read is decoded (`decode_window`,
`tf.io.decode_and_crop_jpeg`); its pixels are identical to a full decode, so this changes
nothing but the cost.

Reduced-scale decoding (a deliberate, switchable difference from the original): libjpeg can
decode a JPEG at 1/2, 1/4 or 1/8 of its size in the DCT domain, which is cheaper.
`decode_ratio_for` picks the largest ratio r in (1, 2, 4, 8) with r * zoom <= 1, where zoom is
the crop's output pixels per image pixel (sqrt |det| of the affine's linear part): the decoded
image then still has at least one pixel per output pixel. Decoded pixel u covers image pixels
[r u, r u + r), so the affine is composed with x = r u + (r - 1) / 2 (`reduced_scale_matrix`).
The result is a slightly smoother (box-filtered) crop; with the switch off the image is decoded
at full resolution exactly as in the original.
"""

import functools
from typing import Sequence

import cv2
import numpy as np
import tensorflow as tf

from posewarper_jax.data import pixels as pixels_lib
from posewarper_jax.data import transforms

# The scale factors libjpeg's DCT-domain decoder supports (`tf.io.decode_jpeg(ratio=...)`).
DECODE_RATIOS = (1, 2, 4, 8)


def check_crop_size(image_size: Sequence[int], heatmap_stride: int) -> None:
  """ValueError unless the crop (width, height) is a positive multiple of the heatmap stride.

  The target heatmaps are image_size / heatmap_stride (SPEC 2); the message names both config
  fields (config.input) and their values.
  """
  if isinstance(heatmap_stride, bool) or not isinstance(heatmap_stride, int) or heatmap_stride < 1:
    raise ValueError(f"config.heatmap_stride={heatmap_stride!r}: expected a positive integer")
  if len(image_size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1
                                 or s % heatmap_stride for s in image_size):
    raise ValueError(f"config.image_size={tuple(image_size)!r}: expected (width, height), each a "
                     f"positive multiple of config.heatmap_stride={heatmap_stride}")


def affine_matrix(center: tf.Tensor, scale: tf.Tensor, rotation: tf.Tensor,
                  output_size: Sequence[int]) -> tf.Tensor:
  """(..., 2, 3) float32 image -> crop maps; the TF twin of transforms.affine_matrix (forward).

  center, scale: (..., 2) pixels and PIXEL_STD units; rotation: (...) degrees;
  output_size: (width, height).
  """
  center = tf.cast(center, tf.float32)
  out_w, out_h = float(output_size[0]), float(output_size[1])
  zoom = out_w / (tf.cast(scale, tf.float32)[..., 0] * transforms.PIXEL_STD)
  theta = tf.cast(rotation, tf.float32) * (3.141592653589793 / 180.0)
  cos, sin = tf.cos(theta) * zoom, tf.sin(theta) * zoom
  tx = 0.5 * out_w - (cos * center[..., 0] + sin * center[..., 1])
  ty = 0.5 * out_h - (-sin * center[..., 0] + cos * center[..., 1])
  return tf.stack([tf.stack([cos, sin, tx], axis=-1), tf.stack([-sin, cos, ty], axis=-1)],
                  axis=-2)


def compose(outer: tf.Tensor, inner: tf.Tensor) -> tf.Tensor:
  """(..., 2, 3) matrices (broadcasting) -> the (..., 2, 3) matrix of `outer(inner(p))`."""
  linear = tf.matmul(outer[..., :2], inner[..., :2])
  translation = tf.linalg.matvec(outer[..., :2], inner[..., 2]) + outer[..., 2]
  return tf.concat([linear, translation[..., None]], axis=-1)


def invert(matrix: tf.Tensor) -> tf.Tensor:
  """(..., 2, 3) affine maps -> their (..., 2, 3) inverses."""
  linear_inv = tf.linalg.inv(matrix[..., :2])
  translation = -tf.linalg.matvec(linear_inv, matrix[..., 2])
  return tf.concat([linear_inv, translation[..., None]], axis=-1)


def horizontal_flip_matrix(image_width: tf.Tensor) -> tf.Tensor:
  """(2, 3) map x -> width - x - 1 (SPEC 3.3: the original's flip of image and joints)."""
  width = tf.cast(image_width, tf.float32)
  return tf.stack([tf.stack([-1.0, 0.0, width - 1.0]), tf.constant([0.0, 1.0, 0.0])])


def apply_affine(points: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
  """points (..., 2) -> matrix @ [x, y, 1] (..., 2); matrix (..., 2, 3) broadcasts."""
  return tf.linalg.matvec(matrix[..., :2], points) + matrix[..., 2]


def decode_ratio_for(matrix: tf.Tensor) -> tf.Tensor:
  """(...) int32: largest r in DECODE_RATIOS with r * zoom <= 1 for image -> crop (..., 2, 3)."""
  zoom = tf.sqrt(tf.abs(tf.linalg.det(matrix[..., :2])))
  ratio = tf.fill(tf.shape(zoom), DECODE_RATIOS[0])
  for r in DECODE_RATIOS[1:]:
    ratio = tf.where(r * zoom <= 1.0, r, ratio)
  return ratio


def reduced_scale_matrix(ratio: tf.Tensor) -> tf.Tensor:
  """(2, 3) map from a 1/ratio-scale decoded pixel u to image pixel r u + (r - 1) / 2."""
  r = tf.cast(ratio, tf.float32)
  offset = 0.5 * (r - 1.0)
  return tf.stack([tf.stack([r, 0.0, offset]), tf.stack([0.0, r, offset])])


def translation_matrix(offset: tf.Tensor) -> tf.Tensor:
  """(2, 3) map p -> p + offset; offset: (2,) (x, y)."""
  offset = tf.cast(offset, tf.float32)
  return tf.stack([tf.stack([1.0, 0.0, offset[0]]), tf.stack([0.0, 1.0, offset[1]])])


def decode_window(matrix: tf.Tensor, image_height: tf.Tensor, image_width: tf.Tensor,
                  output_size: Sequence[int]) -> tf.Tensor:
  """[y, x, height, width] int32: the pixels bilinear sampling of the crops can read.

  matrix: (..., 2, 3) image -> crop maps (the union of their footprints is taken). The
  footprint is the bounding box of the crop corners mapped back, grown by one pixel for the
  bilinear neighbours and clipped to the image; at least 1 x 1 (a crop entirely off the image
  then reads only zeros, as with the whole image).
  """
  out_w, out_h = float(output_size[0] - 1), float(output_size[1] - 1)
  corners = tf.constant([[0.0, 0.0], [out_w, 0.0], [0.0, out_h], [out_w, out_h]])
  inverse = invert(tf.reshape(tf.cast(matrix, tf.float32), [-1, 2, 3]))  # (M, 2, 3)
  points = tf.reshape(apply_affine(corners[None], inverse[:, None]), [-1, 2])
  low = tf.cast(tf.floor(tf.reduce_min(points, axis=0)), tf.int32) - 1
  high = tf.cast(tf.math.ceil(tf.reduce_max(points, axis=0)), tf.int32) + 1
  size = tf.stack([image_width, image_height])
  low = tf.clip_by_value(low, 0, size - 1)
  high = tf.clip_by_value(high, 0, size - 1)
  extent = tf.maximum(high - low + 1, 1)
  return tf.stack([low[1], low[0], extent[1], extent[0]])


def decode_jpeg(contents: tf.Tensor, ratio: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
  """The [y, x, h, w] `window` of the JPEG decoded at 1/ratio scale -> (h, w, 3) uint8 RGB.

  ratio: one of DECODE_RATIOS; window: in the coordinates of the 1/ratio-scale image, whose
  size is ceil(H / ratio) x ceil(W / ratio). Pixels are identical to those of a full decode
  at that scale (libjpeg skips the rest).
  """
  index = tf.argmax(tf.cast(tf.equal(tf.constant(DECODE_RATIOS), ratio), tf.int32))
  branches = [(lambda r=r: tf.io.decode_and_crop_jpeg(contents, window, channels=3, ratio=r))
              for r in DECODE_RATIOS]
  return tf.switch_case(tf.cast(index, tf.int32), branches)


def _pair_table(image: tf.Tensor) -> tf.Tensor:
  """(H, W, C) image -> (P - 1, 2C) table of horizontally adjacent pixel pairs.

  The image is padded with zeros (1 row above and below, 2 columns left and right: Hp = H + 2,
  Wp = W + 4) and flattened to P = Hp * Wp pixels; row p // 2 + (p % 2) * (P // 2) of the table
  holds padded pixels p and p + 1. Rows [0, P // 2) are the pairs that start at even pixels,
  the rest those that start at odd pixels; both halves are reshapes of contiguous slices, so
  the table costs a few copies of the image instead of a per-pixel shuffle, and one gather
  reads both horizontal neighbours of a sample point.
  """
  padded = tf.pad(image, [[1, 1], [2, 2], [0, 0]])
  shape = tf.shape(padded)
  num_pixels = shape[0] * shape[1]
  channels = image.shape[-1] or shape[2]  # Static when known: the rows then have a static size.
  flat = tf.reshape(padded, [-1])
  even = tf.reshape(flat[:(num_pixels // 2) * 2 * channels], [-1, 2 * channels])
  odd = tf.reshape(flat[channels:channels + ((num_pixels - 1) // 2) * 2 * channels],
                   [-1, 2 * channels])
  return tf.concat([even, odd], axis=0)


@tf.function(jit_compile=True, autograph=False)
def _source_points(matrix: tf.Tensor, out_w: int, out_h: int) -> tf.Tensor:
  """(2, 3) image -> crop map -> (2, out_h, out_w) float32 image x, y read by each crop pixel."""
  inverse = invert(tf.cast(matrix, tf.float32))
  xs = tf.range(out_w, dtype=tf.float32)[None, :]
  ys = tf.range(out_h, dtype=tf.float32)[:, None]
  return tf.stack([inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2],
                   inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]])


@tf.function(jit_compile=True, autograph=False)
def _pair_rows(points: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
  """`_source_points` in a (height, width) image -> (2, out_h, out_w) int32 `_pair_table` rows.

  For each point: the pair whose left pixel is floor(point) on the row above the point, then
  on the row below. Points farther than one pixel outside the image read only zero padding.
  """
  corner = tf.floor(points)
  # Padded column x0 + 2 in [0, W + 2], rows y0 + 1 and y0 + 2 in [0, H + 1]: clipped points
  # fall on the zero padding exactly when their bilinear neighbours lie outside the image.
  column = tf.cast(tf.clip_by_value(corner[0], -2.0, tf.cast(width, tf.float32)), tf.int32) + 2
  row = tf.cast(tf.clip_by_value(corner[1], -2.0, tf.cast(height, tf.float32)), tf.int32)
  padded_width = width + 4
  half = (height + 2) * padded_width // 2

  def pair_row(padded_row):
    pixel = tf.clip_by_value(padded_row, 0, height + 1) * padded_width + column
    return pixel // 2 + (pixel % 2) * half

  return tf.stack([pair_row(row + 1), pair_row(row + 2)])


def _interpolate(pairs: tf.Tensor, points: tf.Tensor) -> tf.Tensor:
  """Gathered `_pair_rows` (2, h, w, 2C) at `_source_points` (2, h, w) -> (h, w, C) float32.

  The weights come from the same float32 points as the rows (a value computed twice could
  round differently and pick the neighbouring pixel).
  """
  fraction = points - tf.floor(points)
  fx, fy = fraction[0][..., None], fraction[1][..., None]
  left, right = tf.split(tf.cast(pairs, tf.float32), 2, axis=-1)
  rows = left * (1.0 - fx) + right * fx
  return rows[0] * (1.0 - fy) + rows[1] * fy


# Unsigned type that holds one byte per frame for `warp_and_normalize`'s packed frames.
_PACKED_DTYPES = {1: tf.uint8, 2: tf.uint16, 3: tf.uint32, 4: tf.uint32}


def _pack_frames(frames: Sequence[tf.Tensor]) -> tf.Tensor:
  """F <= 4 equal-shape uint8 frames -> one frame whose value bits 8f..8f+7 are frame f."""
  dtype = _PACKED_DTYPES[len(frames)]
  packed = tf.cast(frames[0], dtype)
  for index, frame in enumerate(frames[1:], start=1):
    packed = tf.bitwise.bitwise_or(
        packed, tf.bitwise.left_shift(tf.cast(frame, dtype), tf.constant(8 * index, dtype)))
  return packed


def _unpack_frame(packed: tf.Tensor, index: int) -> tf.Tensor:
  """Frame `index` (values 0..255, packed.dtype) of `_pack_frames`' result."""
  shifted = tf.bitwise.right_shift(packed, tf.constant(8 * index, packed.dtype))
  return tf.bitwise.bitwise_and(shifted, tf.constant(255, packed.dtype))


@tf.function(jit_compile=True, autograph=False)
def _interpolate_packed(pairs: tf.Tensor, points: tf.Tensor, num_frames: int,
                        normalized: bool) -> tuple[tf.Tensor, ...]:
  """`_interpolate` of each of the `_pack_frames` in `pairs`: ImageNet-normalised float32, or
  rounded to the nearest uint8 (normalized=False)."""
  interpolated = [_interpolate(_unpack_frame(pairs, index), points)
                  for index in range(num_frames)]
  if normalized:
    return tuple(normalize(crop) for crop in interpolated)
  return tuple(tf.cast(tf.round(crop), tf.uint8) for crop in interpolated)


_interpolate_compiled = tf.function(_interpolate, jit_compile=True, autograph=False)
_interpolate_rounded = tf.function(lambda pairs, points: tf.cast(
    tf.round(_interpolate(pairs, points)), tf.uint8), jit_compile=True, autograph=False)
_normalize_compiled = tf.function(lambda frames: tuple(normalize(f) for f in frames),
                                  jit_compile=True, autograph=False)


def _gather_pairs(table: tf.Tensor, image_shape: tf.Tensor, matrix: tf.Tensor,
                  output_size: Sequence[int]) -> tuple[tf.Tensor, tf.Tensor]:
  """The four bilinear neighbours of every crop pixel (two gathered pairs) and the points.

  table: `_pair_table` of an image of (height, width, ...) `image_shape`.
  """
  points = _source_points(matrix, int(output_size[0]), int(output_size[1]))
  return tf.gather(table, _pair_rows(points, image_shape[0], image_shape[1])), points


def warp(image: tf.Tensor, matrix: tf.Tensor, output_size: Sequence[int]) -> tf.Tensor:
  """Bilinear crop like cv2.warpAffine (INTER_LINEAR, BORDER_CONSTANT 0).

  image: (H, W, C) any real dtype (stack frames along C to crop them with one affine);
  matrix: (2, 3) image -> crop. Output pixel p samples the image at matrix^-1 p with integer
  pixel centres; pixels outside the image read as 0. Returns (out_h, out_w, C) float32 in the
  image's value range. The pixels stay in the image's dtype until the gather of their
  `_pair_table` rows; sample points and interpolation are XLA-compiled (fused, static shapes).
  """
  return _interpolate_compiled(*_gather_pairs(_pair_table(image), tf.shape(image), matrix,
                                             output_size))


def _warp_cv2_numpy(matrices: np.ndarray, *images: np.ndarray, out_w: int,
                    out_h: int) -> np.ndarray:
  """cv2.warpAffine of every (h, w, 3) uint8 image with every (n, 2, 3) map ->
  (n, T, out_h, out_w, 3) uint8.

  Each image is converted to RGBA once (a constant 4th channel, dropped again from the crops):
  OpenCV's vectorised bilinear kernel serves 4 channels about twice as fast as 3, with the same
  RGB pixels.
  """
  rgba = [cv2.cvtColor(image, cv2.COLOR_RGB2RGBA) for image in images]
  crops = np.empty((len(matrices), len(images), out_h, out_w, 3), np.uint8)
  for box, matrix in enumerate(matrices.astype(np.float64)):
    for frame, image in enumerate(rgba):
      warped = cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
      cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB, dst=crops[box, frame])
  return crops


def _warp_cv2_boxes(images: Sequence[tf.Tensor], matrices: tf.Tensor,
                    output_size: Sequence[int]) -> tf.Tensor:
  """`_warp_cv2_numpy` in the graph: T (h, w, 3) uint8 images, (n, 2, 3) maps ->
  (n, T, out_h, out_w, 3) uint8."""
  out_w, out_h = int(output_size[0]), int(output_size[1])
  warp = functools.partial(_warp_cv2_numpy, out_w=out_w, out_h=out_h)
  result = tf.numpy_function(warp, [tf.cast(matrices, tf.float32), *images], tf.uint8,
                             stateful=False)
  return tf.ensure_shape(result, [matrices.shape[0], len(images), out_h, out_w, 3])


# The values of config.input.warp_backend (see the module docstring).
WARP_BACKENDS = ("cv2", "tf")


def warp_boxes(images: Sequence[tf.Tensor], matrices: tf.Tensor, output_size: Sequence[int],
               backend: str = "cv2") -> tf.Tensor:
  """Every frame under every box's affine -> (n, T, out_h, out_w, 3) uint8 crops.

  images: T (h, w, 3) uint8 frames of one shape (a frame and its neighbours); matrices:
  (n, 2, 3) image -> crop maps, the same for all frames. What depends on the frames alone is
  done once for all boxes: "cv2" converts each frame to RGBA once, "tf" builds one pair table
  of the frames stacked along channels. Each crop is `warp_frames`' crop of that frame with
  that map (for "tf", up to a rounding tie that a differently compiled kernel breaks apart).
  """
  if backend == "cv2":
    return _warp_cv2_boxes(images, matrices, output_size)
  if backend != "tf":
    raise ValueError(f"backend={backend!r}: expected one of {WARP_BACKENDS}")
  stacked = tf.concat(list(images), axis=-1)  # (h, w, T * 3)
  table, shape = _pair_table(stacked), tf.shape(stacked)
  out_w, out_h = int(output_size[0]), int(output_size[1])
  crops = tf.map_fn(
      lambda matrix: _interpolate_rounded(*_gather_pairs(table, shape, matrix, output_size)),
      matrices, fn_output_signature=tf.TensorSpec([out_h, out_w, 3 * len(images)], tf.uint8))
  crops = tf.reshape(crops, [-1, out_h, out_w, len(images), 3])
  return tf.transpose(crops, [0, 3, 1, 2, 4])


def _warp_frames(frames: Sequence[tf.Tensor], matrix: tf.Tensor, output_size: Sequence[int],
                 backend: str, normalized: bool) -> tuple[tf.Tensor, ...]:
  """`warp_frames` (normalized=False) or `warp_and_normalize` (True)."""
  if not 1 <= len(frames) <= max(_PACKED_DTYPES):
    raise ValueError(f"{len(frames)} frames: expected 1 to {max(_PACKED_DTYPES)}")
  if backend == "tf":
    packed = _pack_frames(frames)
    pairs, points = _gather_pairs(_pair_table(packed), tf.shape(packed), matrix, output_size)
    return _interpolate_packed(pairs, points, len(frames), normalized)
  if backend == "cv2":
    uint8_crops = tuple(tf.unstack(_warp_cv2_boxes(frames, matrix[None], output_size)[0]))
    return _normalize_compiled(uint8_crops) if normalized else uint8_crops
  raise ValueError(f"backend={backend!r}: expected one of {WARP_BACKENDS}")


def warp_frames(frames: Sequence[tf.Tensor], matrix: tf.Tensor, output_size: Sequence[int],
                backend: str = "cv2") -> tuple[tf.Tensor, ...]:
  """Crops up to 4 frames with one affine -> one (out_h, out_w, 3) uint8 RGB crop per frame.

  frames: (H, W, 3) uint8 each, all of one shape; matrix: (2, 3) image -> crop; backend: one
  of WARP_BACKENDS. "cv2" gives the original's crop (cv2.warpAffine) exactly; "tf" rounds its
  float32 bilinear values to the nearest integer (cv2 interpolates at 1/32 pixel in fixed
  point, so the two differ by a level here and there). With "tf" the frames are packed into the
  bytes of one wider unsigned integer per channel (a few vectorised ops instead of interleaving
  channels), so their crops cost the gathers of a single `warp`.
  """
  return _warp_frames(frames, matrix, output_size, backend, normalized=False)


def warp_and_normalize(frames: Sequence[tf.Tensor], matrix: tf.Tensor,
                       output_size: Sequence[int], backend: str = "cv2") -> tuple[tf.Tensor, ...]:
  """`warp_frames`' crops ImageNet-normalised: (out_h, out_w, 3) float32 each.

  Equal, up to float rounding, to `normalize` of cv2.warpAffine's crop for "cv2" and of
  `warp`'s (unrounded) for "tf"; with "tf", unpacking, interpolation and normalisation are one
  XLA computation that never materialises the unnormalised crops.
  """
  return _warp_frames(frames, matrix, output_size, backend, normalized=True)


def normalize(pixels: tf.Tensor) -> tf.Tensor:
  """(..., 3) RGB in [0, 255] -> ImageNet-normalised float32 (SPEC 2; pixels.normalize in TF)."""
  pixels = tf.cast(pixels, tf.float32) / 255.0
  return (pixels - tf.constant(pixels_lib.IMAGENET_MEAN)) / tf.constant(pixels_lib.IMAGENET_STD)


def plan_decode(image_shape: tf.Tensor, matrix: tf.Tensor, output_size: Sequence[int],
                reduced_decode: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """How to decode an image for crops: (ratio, window [y, x, h, w], window -> crop matrix).

  image_shape: (3,) tf.image.extract_jpeg_shape; matrix: (..., 2, 3) full-resolution image ->
  crop maps, all served by one decode. With `reduced_decode` the ratio is the smallest of
  their `decode_ratio_for`; otherwise 1 (exactly the original's pixels).
  """
  ratio = tf.constant(1, tf.int32)
  if reduced_decode:
    ratio = tf.reduce_min(decode_ratio_for(matrix))
  matrix = compose(matrix, reduced_scale_matrix(ratio))
  height = (image_shape[0] + ratio - 1) // ratio  # libjpeg's scaled size: ceil(size / ratio).
  width = (image_shape[1] + ratio - 1) // ratio
  window = decode_window(matrix, height, width, output_size)
  return ratio, window, compose(matrix, translation_matrix(tf.stack([window[1], window[0]])))


def crop_jpeg(contents: tf.Tensor, matrix: tf.Tensor, output_size: Sequence[int],
              reduced_decode: bool, backend: str = "cv2") -> tf.Tensor:
  """JPEG bytes + (2, 3) image -> crop matrix -> (out_h, out_w, 3) ImageNet-normalised float32.

  backend: one of WARP_BACKENDS.
  """
  ratio, window, matrix = plan_decode(tf.image.extract_jpeg_shape(contents), matrix,
                                      output_size, reduced_decode)
  (crop,) = warp_and_normalize([decode_jpeg(contents, ratio, window)], matrix, output_size,
                               backend)
  return crop
