"""Builds the posetrack_frames TFDS dataset (tfds_posetrack.py) from the command line.

  python -m posewarper_jax.data.build_tfds --config posetrack18 --manual_dir DIR [--data_dir D]

A separate module because TFDS cannot locate a builder class defined in `__main__`.
"""

import argparse
from typing import Optional, Sequence

import tensorflow_datasets as tfds

from posewarper_jax.data import cli_paths
from posewarper_jax.data import tfds_posetrack


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True,
                      choices=[c.name for c in tfds_posetrack.PosetrackFrames.BUILDER_CONFIGS])
  parser.add_argument("--manual_dir", required=True, type=cli_paths.existing,
                      help="folder holding <config>/images and <config>/annotations")
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data dir (default: ~/tensorflow_datasets)")
  args = parser.parse_args(argv)
  builder = tfds_posetrack.PosetrackFrames(config=args.config, data_dir=args.data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=args.manual_dir))
  print(builder.info)


if __name__ == "__main__":
  main()
