"""Throughput of the stage-2 pair pipeline (frame_pairs.py) from 1920x1080 JPEG frames.

Writes a few synthetic 1920x1080 frames (smooth colour fields, edges and pixel noise, JPEG
quality 90: a little larger, so slower to decode, than real PoseTrack frames) into a temporary
folder, with persons whose boxes span 150-700 px in height like PoseTrack's, then runs the full
training pipeline (decode A and B, half-body/scale/rotation/flip, two 384x288 uint8 crops and
A's joints in crop pixels, as the step takes them; the step encodes the targets on the device)
single process for --seconds after a warm-up: with reduced-scale decoding ("auto") and without
("full"), each with cv2.warpAffine (the default) and with the TF-op crop (config.warp_backend).
CPU ms per pair (all threads) is printed beside the wall-clock rate: it is less sensitive to
other load on the machine. Also prints the cost of decoding one whole frame at each DCT ratio.
Goals: 100 pairs/s or more on 2 cores (PERFORMANCE.md), and 200 with the default settings.

--images reads existing JPEG frames instead (e.g. the PoseTrack18 sample's
../shared/data/posetrack18_sample/images/val/*/000000.jpg, 83-145 KB at 1920x1080), cycled over
--frames, with the same random persons: decoding cost follows the compressed size, so real
frames show what a PoseTrack run gets.
"""

import argparse
import pathlib
import sys
import tempfile
import time
from typing import Sequence

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import cv2
import numpy as np
import tensorflow as tf

from configs import common
from posewarper_jax.data import crops
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import image_check
from posewarper_jax.data import posetrack
from posewarper_jax.data import records

FRAME_SIZE = (1920, 1080)  # PoseTrack's usual (width, height).
JPEG_QUALITY = 90
# Grey levels; gives about 200 KB per frame (the PoseTrack18 sample's frames: 85-150 KB).
PIXEL_NOISE = 1.0


def synthetic_frame(rng: np.random.Generator) -> np.ndarray:
  """(1080, 1920, 3) uint8: blurred colour field + rectangles + pixel noise."""
  width, height = FRAME_SIZE
  low = rng.uniform(0, 255, (height // 60, width // 60, 3)).astype(np.float32)
  image = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
  for _ in range(40):
    x, y = rng.integers(0, width), rng.integers(0, height)
    w, h = rng.integers(20, 300, 2)
    cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)),
                  tuple(float(c) for c in rng.uniform(0, 255, 3)), -1)
  image += rng.normal(0, PIXEL_NOISE, image.shape).astype(np.float32)
  return np.clip(image, 0, 255).astype(np.uint8)


def write_video(root: pathlib.Path, num_frames: int, persons_per_frame: int,
                rng: np.random.Generator,
                images: Sequence[pathlib.Path] = ()) -> records.Video:
  """One video of labeled frames with random persons: synthetic frames written into `root`,
  or the JPEG files `images` (all of FRAME_SIZE), cycled."""
  width, height = FRAME_SIZE
  frames = []
  for position in range(num_frames):
    if images:
      path = images[position % len(images)]
    else:
      path = root / f"{position:06d}.jpg"
      cv2.imwrite(str(path), synthetic_frame(rng), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    persons = []
    for _ in range(persons_per_frame):
      box_h = rng.uniform(150, 700)
      box = [rng.uniform(0, width - 0.4 * box_h), rng.uniform(0, height - box_h),
             0.4 * box_h, box_h]
      keypoints = np.ones((17, 3), np.float32)
      keypoints[:, 0] = box[0] + rng.uniform(0, box[2], 17)
      keypoints[:, 1] = box[1] + rng.uniform(0, box[3], 17)
      persons.append(posetrack.person_from_box(keypoints, box, width, height))
    frames.append(records.Frame(path=str(path), frame_id=position, image_id=position,
                                width=width, height=height, is_labeled=True,
                                persons=tuple(persons)))
  return records.Video(name="000001_benchmark", frames=tuple(frames))


def decode_cost(path: pathlib.Path, repeats: int) -> dict[int, float]:
  """Milliseconds per decode of one frame at each DCT ratio (median of `repeats`)."""
  contents = tf.constant(path.read_bytes())
  costs = {}
  for ratio in crops.DECODE_RATIOS:
    decode = tf.function(lambda c, r=ratio: tf.io.decode_jpeg(c, channels=3, ratio=r))
    decode(contents)
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      decode(contents).numpy()
      times.append(time.perf_counter() - start)
    costs[ratio] = 1e3 * float(np.median(times))
  return costs


def pairs_per_second(videos, decode_ratio: str, warp_backend: str, batch: int,
                     seconds: float) -> float:
  """Measured pairs/s (wall) of the training pipeline; also prints CPU ms per pair."""
  config = common.input_config()
  config.decode_ratio = decode_ratio
  config.warp_backend = warp_backend
  dataset = frame_pairs.make_pair_dataset(videos, config, seed=0, batch_size=batch)
  iterator = iter(dataset)
  example = next(iterator)
  for _ in range(2):  # Warm-up: fill the prefetch buffer and the autotuner.
    next(iterator)
  shapes = {key: tuple(value.shape) for key, value in example.items()
            if key in ("frame_a", "frame_b", "joints")}
  count, start, cpu_start = 0, time.perf_counter(), time.process_time()
  while time.perf_counter() - start < seconds:
    next(iterator)["frame_a"].numpy()
    count += batch
  rate = count / (time.perf_counter() - start)
  cpu_ms = 1e3 * (time.process_time() - cpu_start) / count
  print(f"decode_ratio={decode_ratio:5s} warp_backend={warp_backend:4s} {rate:7.1f} pairs/s  "
        f"{cpu_ms:5.1f} CPU ms/pair  shapes {shapes}")
  return rate


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per mode")
  parser.add_argument("--batch", type=int, default=16, help="per-host batch size")
  parser.add_argument("--frames", type=int, default=8,
                      help="frames of the video: synthetic ones written, or --images cycled")
  parser.add_argument("--decode-repeats", type=int, default=20)
  parser.add_argument("--images", type=pathlib.Path, nargs="+", default=(),
                      help=f"JPEG frames of {FRAME_SIZE[0]}x{FRAME_SIZE[1]} to read instead of "
                           "synthetic ones")
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as folder:
    video = write_video(pathlib.Path(folder), args.frames, persons_per_frame=3, rng=rng,
                        images=args.images)
    headers = {f.path: image_check.jpeg_header(pathlib.Path(f.path).read_bytes())
               for f in video.frames}
    for path, header in headers.items():
      if (header.width, header.height) != FRAME_SIZE:
        raise ValueError(f"--images {path}: {header.width}x{header.height}, expected "
                         f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}")
    size_kb = np.mean([pathlib.Path(f.path).stat().st_size for f in video.frames]) / 1024
    source = "given" if args.images else "synthetic"
    progressive = sum(headers[f.path].progressive for f in video.frames)
    print(f"{args.frames} {source} frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]}, JPEG {size_kb:.0f} KB "
          f"each, {progressive} progressive; {args.frames * 3} instances; tf {tf.__version__}")
    costs = decode_cost(pathlib.Path(video.frames[0].path), args.decode_repeats)
    print("decode per frame: " + ", ".join(f"1/{r}: {ms:.1f} ms" for r, ms in costs.items()))
    for decode_ratio, warp_backend in (("auto", "cv2"), ("full", "cv2"), ("auto", "tf"),
                                       ("full", "tf")):
      pairs_per_second((video,), decode_ratio, warp_backend, args.batch, args.seconds)


if __name__ == "__main__":
  main()
