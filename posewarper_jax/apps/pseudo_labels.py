"""Training labels augmented with propagated poses (SPEC 7c step 3).

`augment_with_propagated` keeps the labeled frames of the sparse videos as they are and labels
every other frame that received propagated persons (apps.propagation on the training videos)
with them: keypoints (x, y, 1) where x > 0, y > 0 and the joint score > MIN_SCORE, else
(0, 0, 0); the source person's box, centre, scale and track id; no head box. Persons left
without a joint are dropped (the readers would skip them). The labels hold every predicted
channel as the model decodes it, head_bottom included, as the original's pseudo-GT takes the
keypoints of its prediction files (SPEC 7c step 2): the shoulder-midpoint neck (SPEC 6.5) is
a quirk of the evaluation files only, and as a label it would teach head_bottom at the
shoulders.

`write_pseudo_labels` writes one PoseTrack18 file per video; with config.data.train_labels_dir
set to that folder (the `retrain` variant, configs/common.py) datasets.training_videos trains
on them.

Unlike the original script, which adds one annotation per labeled instance and delta and so
can label a frame from two sources, a frame takes its nearest labeled frame only
(sparse_labels.propagation_sources), and only frames that exist are labeled.

Command line (propagates over data.train_split with a PoseWarper checkpoint and writes the
labels of the chosen labeled frames plus the propagated ones):
  python -m posewarper_jax.apps.pseudo_labels --config configs/synthetic.py:stage2 \
      --checkpoint DIR --out DIR [--every_k K]
"""

# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import dataclasses
import os
from typing import Optional, Sequence

from absl import app
from absl import flags
import ml_collections
import numpy as np

from posewarper_jax import models
from posewarper_jax.apps import propagation
from posewarper_jax.data import cli_paths
from posewarper_jax.data import datasets
from posewarper_jax.data import file_io
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.data import sparse_labels

# SPEC 7c step 3: a propagated joint becomes a label when its score exceeds 0.2.
MIN_SCORE = 0.2


def pseudo_label(person: records.Person, min_score: float = MIN_SCORE) -> records.Person:
  """A propagated person as a training label: its joints above `min_score` (see module)."""
  x, y = person.keypoints[:, 0], person.keypoints[:, 1]
  keep = (x > 0) & (y > 0) & (person.joint_scores > min_score)
  keypoints = np.where(keep[:, None], np.stack([x, y, np.ones_like(x)], axis=1), 0.0)
  return dataclasses.replace(person, keypoints=keypoints.astype(np.float32), head_box=None,
                             score=1.0, joint_scores=None)


def augment_with_propagated(sparse_videos: Sequence[records.Video],
                            propagated_videos: Sequence[records.Video], *,
                            min_score: float = MIN_SCORE) -> tuple[records.Video, ...]:
  """The sparse videos' labels plus the propagated persons of their other frames (see module).

  sparse_videos: the training labels (unlabeled frames have no persons); propagated_videos:
  the same videos, in the same order, from a propagation method (persons with joint_scores).
  """
  if len(sparse_videos) != len(propagated_videos):
    raise ValueError(f"{len(sparse_videos)} sparse videos but {len(propagated_videos)} "
                     f"propagated videos")
  augmented = []
  for sparse, propagated in zip(sparse_videos, propagated_videos):
    if sparse.name != propagated.name or len(sparse.frames) != len(propagated.frames):
      raise ValueError(f"propagated video {propagated.name} ({len(propagated.frames)} frames) "
                       f"does not match sparse video {sparse.name} ({len(sparse.frames)} frames)")
    frames = []
    for frame, propagated_frame in zip(sparse.frames, propagated.frames):
      if any(p.joint_scores is None for p in propagated_frame.persons):
        raise ValueError(f"propagated video {propagated.name}, frame {propagated_frame.frame_id}: "
                         f"a person without joint_scores")
      labels = [pseudo_label(p, min_score) for p in propagated_frame.persons]
      labels = tuple(p for p in labels if p.keypoints.any())
      if not frame.is_labeled and labels:
        frame = dataclasses.replace(frame, is_labeled=True, persons=labels)
      frames.append(frame)
    augmented.append(dataclasses.replace(sparse, frames=tuple(frames)))
  return tuple(augmented)


def propagated_labels(videos: Sequence[records.Video], labeled: Sequence[Sequence[int]],
                      model: models.PoseWarper, variables: dict,
                      input_config: ml_collections.ConfigDict, *, batch_size: int = 16,
                      fold_batch_norm: bool = True) -> tuple[records.Video, ...]:
  """The labels of the `labeled` positions of `videos` plus the poses the warper propagates
  from them to the other frames of each run (SPEC 7c steps 2-3; apps.propagation.propagate),
  with the predicted head_bottom (see the module docstring)."""
  propagated = propagation.propagate(videos, labeled, model, variables, input_config,
                                     batch_size=batch_size, neck="head_bottom",
                                     fold_batch_norm=fold_batch_norm)
  sparse = tuple(sparse_labels.keep_labels(video, positions)
                 for video, positions in zip(videos, labeled))
  return augment_with_propagated(sparse, propagated)


def write_pseudo_labels(videos: Sequence[records.Video], out_dir: file_io.Path,
                        image_root: file_io.Path) -> list[str]:
  """Writes out_dir/<video name>.json (PoseTrack18, file names relative to image_root) per
  video; returns the paths."""
  paths = []
  for video in videos:
    path = os.path.join(os.fspath(out_dir), f"{video.name}.json")
    posetrack.write_posetrack18_video(video, path, image_root=image_root)
    paths.append(path)
  return paths


def _main(argv: Sequence[str], config: ml_collections.ConfigDict, checkpoint: str, out: str,
          every_k: Optional[int]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with cli_paths.one_line_errors():
    videos = datasets.load_split(config.data, config.data.train_split)
    labeled = propagation.labeled_positions(videos, every_k)
    model, variables = models.load(checkpoint)
  augmented = propagated_labels(videos, labeled, model, variables, config.input,
                                batch_size=config.eval.batch_size,
                                fold_batch_norm=config.eval.fold_batch_norm)
  paths = write_pseudo_labels(augmented, out, config.data.root)
  labeled_frames = sum(len(v.labeled_positions) for v in augmented)
  print(f"wrote {len(paths)} videos with {labeled_frames} labeled frames to {out}")


def main() -> None:
  """The command line; its flags are defined here, so that importing the module defines none."""
  config, out, every_k = propagation.define_flags(
      "train_split", "Output folder of the per-video PoseTrack18 labels.")
  checkpoint = flags.DEFINE_string("checkpoint", None, "PoseWarper checkpoint directory.")
  flags.mark_flags_as_required(["config", "checkpoint", "out"])
  app.run(lambda argv: _main(argv, config.value, checkpoint.value, out.value, every_k.value))


if __name__ == "__main__":
  main()
