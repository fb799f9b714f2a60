"""Checks of the JPEG files the input pipelines read, before TensorFlow decodes them.

The pipelines decode JPEGs inside the tf.data graph, where a bad file fails with a bare
TensorFlow error ("jpeg::Uncompress failed") that names no path. `ImageCheck` reads each image
the pipelines will use once, when the element list is built: the header (size, frame type) and
the end-of-image marker, which a truncated file lacks. A file that is not a JPEG (an HTML page
saved as .jpg), a truncated JPEG and one TensorFlow cannot decode to RGB raise ValueError naming
the image, its frame and the annotation file that listed it; with `skip_corrupt` they are
counted (SKIP_CORRUPT_IMAGE) and treated as missing instead. A size that differs from the one
the annotation file declares is always an error, with both sizes.
"""

import collections
from typing import NamedTuple, Optional, Sequence

from absl import logging

from posewarper_jax.data import file_io
from posewarper_jax.data import records

SKIP_CORRUPT_IMAGE = "corrupt_image"  # Key of the `skipped` counter: images read as missing.

_SOI, _EOI, _SOS = b"\xff\xd8", b"\xff\xd9", 0xDA
# Start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_SOF_MARKERS = frozenset([0xC2, 0xC6, 0xCA, 0xCE])
# Markers without a length field: TEM and the restart markers.
_STANDALONE_MARKERS = frozenset([0x01, *range(0xD0, 0xD8)])
# What tf.io.decode_jpeg(channels=3) decodes: 8-bit samples, grey or three components.
_DECODABLE_COMPONENTS = (1, 3)


class JpegHeader(NamedTuple):
  """What the markers before a JPEG's image data say."""
  width: int
  height: int
  # Coded in several scans over the whole image (SOF2, SOF6, SOF10, SOF14): libjpeg then
  # decodes every scan whatever window or DCT ratio is asked for (a sequential file stops
  # after the window's last row).
  progressive: bool


def jpeg_header(data: bytes) -> JpegHeader:
  """The header of the JPEG `data`; ValueError saying what is wrong (without a path).

  Reads the markers up to the image data and checks that an end-of-image marker follows it
  (scan data cannot contain one, so a truncated file has none).
  """
  if data[:2] != _SOI:
    raise ValueError(f"not a JPEG image: it starts with {data[:16]!r}")
  position, header = 2, None
  while True:
    if position + 4 > len(data):
      raise ValueError(f"truncated JPEG: {len(data)} bytes end inside the header")
    if data[position] != 0xFF:
      raise ValueError(f"corrupt JPEG: no marker at byte {position} of the header")
    marker = data[position + 1]
    if marker == 0xFF or marker in _STANDALONE_MARKERS:  # A fill byte or a marker alone.
      position += 1 if marker == 0xFF else 2
      continue
    if marker == _SOS:
      break
    end = position + 2 + int.from_bytes(data[position + 2:position + 4], "big")
    if end > len(data):
      raise ValueError(f"truncated JPEG: {len(data)} bytes end inside the header")
    if marker in _SOF_MARKERS:
      if end < position + 10:
        raise ValueError("corrupt JPEG: frame header too short")
      bits, components = data[position + 4], data[position + 9]
      if bits != 8 or components not in _DECODABLE_COMPONENTS:
        raise ValueError(f"JPEG of {components} components with {bits}-bit samples; expected "
                         f"8-bit samples with {' or '.join(map(str, _DECODABLE_COMPONENTS))} "
                         "components")
      header = JpegHeader(width=int.from_bytes(data[position + 7:position + 9], "big"),
                          height=int.from_bytes(data[position + 5:position + 7], "big"),
                          progressive=marker in _PROGRESSIVE_SOF_MARKERS)
    position = end
  if header is None:
    raise ValueError("corrupt JPEG: no frame header before the image data")
  if data.rfind(_EOI) < position:
    raise ValueError(f"truncated JPEG: {len(data)} bytes, no end-of-image marker after the "
                     "image data")
  return header


def jpeg_size(data: bytes) -> tuple[int, int]:
  """(width, height) of the JPEG `data` (`jpeg_header`, with its checks and errors)."""
  header = jpeg_header(data)
  return header.width, header.height


def read_jpeg_size(path: file_io.Path, source: object) -> tuple[int, int]:
  """(width, height) of the JPEG file `path`, for an annotation file `source` that gives none."""
  what = f"{source}: no width and height given, and image {path} (read for them)"
  if not file_io.exists(path):
    raise FileNotFoundError(f"{what} does not exist")
  try:
    return jpeg_size(file_io.read_bytes(path))
  except ValueError as error:
    raise ValueError(f"{what}: {error}") from None


class ImageCheck:
  """Which images the pipelines can read: the `exists` of neighbours.resolve.

  Each path is checked once (`jpeg_size`, and the size the frame declares). Missing files and,
  with `skip_corrupt`, corrupt ones read as absent (neighbours then fall back to frame t).

  videos: the videos whose frames are checked (declared sizes, names for messages).
  annotation_files: per video, the file that listed it, named in messages.
  skipped: if given, SKIP_CORRUPT_IMAGE counts are added to it.
  """

  def __init__(self, videos: Sequence[records.Video],
               annotation_files: Optional[Sequence[file_io.Path]] = None, *,
               skip_corrupt: bool = False, skipped: Optional[collections.Counter] = None):
    if annotation_files is not None and len(annotation_files) != len(videos):
      raise ValueError(f"{len(videos)} videos but {len(annotation_files)} annotation files")
    self._frames = {}  # path -> (frame, "FILE: video V, frame N")
    for v, video in enumerate(videos):
      listed = "" if annotation_files is None else f"{annotation_files[v]}: "
      for frame in video.frames:
        self._frames[frame.path] = (frame, f"{listed}video {video.name}, frame {frame.frame_id}")
    self._skip_corrupt = skip_corrupt
    self._skipped = skipped
    self._known: dict[str, bool] = {}

  def __call__(self, path: str) -> bool:
    """True when `path` is a readable JPEG of its frame's size; False when missing or skipped."""
    if path not in self._known:
      self._known[path] = bool(path) and file_io.exists(path) and self._readable(path)
    return self._known[path]

  def require(self, path: str) -> bool:
    """As calling it, but a missing image is a FileNotFoundError (a frame t, not a neighbour)."""
    readable = self(path)
    if not readable and path and not file_io.exists(path):
      raise FileNotFoundError(f"{self._frames[path][1]}: image {path} does not exist")
    return readable

  def _readable(self, path: str) -> bool:
    frame, where = self._frames[path]
    try:
      width, height = jpeg_size(file_io.read_bytes(path))
    except ValueError as error:
      if not self._skip_corrupt:
        raise ValueError(f"{where}: image {path}: {error}") from None
      logging.warning("%s: image %s read as missing: %s", where, path, error)
      if self._skipped is not None:
        self._skipped[SKIP_CORRUPT_IMAGE] += 1
      return False
    if (width, height) != (frame.width, frame.height):
      raise ValueError(f"{where}: image {path} is {width}x{height} pixels, but width x height "
                       f"are declared as {frame.width}x{frame.height}")
    return True
