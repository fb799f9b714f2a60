"""PNG grids of what the stage-2 model is fed: crops of A and B, A's targets and joints.

  python -m posewarper_jax.viz.pairs --annotations DIR --images DIR --out DIR --num 8 --seed 0

reads PoseTrack18 annotations (posetrack.read_posetrack18), runs the augmented training pair
pipeline (frame_pairs.make_pair_dataset) and writes one PNG per pair: frame A, frame B, the
target heatmaps (max over joints) over A, and A's joints (left joints blue, right red, centre
green; only joints with weight 1).
"""

import argparse
import os
from typing import Any, Optional, Sequence

import cv2
import ml_collections
import numpy as np

from configs import common
from posewarper_jax.data import cli_paths
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import keypoints as keypoints_lib
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.data import targets

_HEATMAP_BLEND = 0.5
_LEFT, _RIGHT, _CENTRE = (60, 120, 255), (255, 60, 60), (60, 220, 60)  # RGB.


def _joint_colour(index: int) -> tuple[int, int, int]:
  name = keypoints_lib.JOINT_NAMES[index]
  return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE


def render_pair(sample: dict[str, Any], heatmap_stride: int, sigma: float) -> np.ndarray:
  """One pipeline sample (numpy, no batch axis) -> (H + 20, 4 W, 3) uint8 RGB panel; the targets
  are encoded from its joints as the train step encodes them."""
  frame_a, frame_b = sample["frame_a"], sample["frame_b"]  # uint8 RGB crops.
  height, width = frame_a.shape[:2]
  target, target_weight = map(np.asarray, targets.joint_targets(
      sample["joints"], frame_a, heatmap_stride, sigma))
  heat = cv2.resize(target.max(axis=-1), (width, height), interpolation=cv2.INTER_LINEAR)
  heat = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)[..., ::-1]
  overlay = cv2.addWeighted(frame_a, 1 - _HEATMAP_BLEND, heat, _HEATMAP_BLEND, 0)
  joints_panel = frame_a.copy()
  for k, (x, y, _) in enumerate(sample["joints"]):
    if target_weight[k] > 0:
      cv2.circle(joints_panel, (int(round(x)), int(round(y))), 3, _joint_colour(k), -1)
  panel = np.concatenate([frame_a, frame_b, overlay, joints_panel], axis=1)
  caption = np.zeros((20, panel.shape[1], 3), np.uint8)
  text = (f"delta {int(sample['delta']):+d}  rot {float(sample['rotation']):.0f}  "
          f"flip {int(sample['flip'])}  scale {float(sample['scale'][0]):.2f}")
  cv2.putText(caption, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
  return np.concatenate([caption, panel], axis=0)


def write_pair_grids(videos: Sequence[records.Video], out_dir: str, num: int, seed: int,
                     config: Optional[ml_collections.ConfigDict] = None) -> list[str]:
  """Writes `num` augmented training pairs as PNGs; returns their paths."""
  config = config or common.input_config()
  dataset = frame_pairs.make_pair_dataset(videos, config, seed=seed, batch_size=1)
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for i, batch in enumerate(dataset.take(num)):
    sample = {key: value.numpy()[0] for key, value in batch.items()}
    path = os.path.join(out_dir, f"pair_{i:03d}.png")
    if not cv2.imwrite(path, render_pair(sample, config.heatmap_stride, config.sigma)[..., ::-1]):
      raise ValueError(f"{path}: could not write the PNG")
    paths.append(path)
  return paths


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description="Writes PNGs of augmented training pairs.")
  parser.add_argument("--annotations", required=True, type=cli_paths.existing,
                      help="folder of PoseTrack18 *.json")
  parser.add_argument("--images", required=True, type=cli_paths.existing,
                      help="image root of the file_names")
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--num", type=int, default=8, help="number of pairs")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  videos = posetrack.read_posetrack18(args.annotations, args.images)
  for path in write_pair_grids(videos, args.out, args.num, args.seed):
    print(path)


if __name__ == "__main__":
  main()
