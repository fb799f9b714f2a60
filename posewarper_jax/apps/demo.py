"""The paper's story end to end on generated sparsely labeled videos (`make demo`).

  python -m posewarper_jax.apps.demo --out demo_out [--preset full|tiny]

1. Synthetic videos (data/synthetic.py), densely annotated, with fast motion (speed 2.5: copying
   the nearest labeled pose scores about 34 mAP, so propagation has real work to do); the
   training labels are thinned to the propagation protocol's frames (SPEC 7a step 4: the 4th
   frame, then every 7th, and the last), about 1 frame in 6.
2. Stage 1 (the single-frame HRNet) on those sparse labels, starting from the shipped HRNet
   pretrained on separately generated stills (configs/synthetic.py PRETRAINED_CHECKPOINT, the
   role of COCO in the paper, SPEC 5.3); stage 2 (PoseWarper on the frozen stage-1 backbone);
   both with configs/synthetic.py.
3. Propagation on the validation videos (SPEC 7a): PoseWarper against Farneback optical flow
   and HRNet pseudo-labeling, scored with the PoseTrack mAP against the dense ground truth.
4. Temporal aggregation (SPEC 7b) against the single-frame model, with ground-truth boxes.
5. Pseudo-labels (SPEC 7c): the sparse training labels propagated to every training frame,
   then the single-frame HRNet trained again on them from the same pretrained weights for the
   same number of epochs as stage 1 (SPEC 7c steps 1 and 4: 10 epochs each, so about 7 times
   the steps), against stage 1 (sparse labels alone).
6. demo_out/REPORT.md (tables in the paper's format, figures) and demo_out/results.json
   ({method: {"predictions", "ground_truth", "Total"}}, folders relative to demo_out).

Every number in the report is computed here from the prediction files it names; nothing is
tuned on the validation videos.
"""

# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

import dataclasses
import datetime
import json
import os
import pathlib
import time
from typing import Sequence

from absl import app
from absl import flags
import jax
import ml_collections

from configs import synthetic as synthetic_config
from posewarper_jax import machine, models
from posewarper_jax.apps import flow_propagation
from posewarper_jax.apps import propagation
from posewarper_jax.apps import pseudo_labels
from posewarper_jax.apps import scoring
from posewarper_jax.data import datasets
from posewarper_jax.data import frame_pairs
from posewarper_jax.data import pixels
from posewarper_jax.data import posetrack
from posewarper_jax.data import records
from posewarper_jax.data import sparse_labels
from posewarper_jax.data import synthetic
from posewarper_jax.eval import evaluation
from posewarper_jax.train import loop
from posewarper_jax.viz import curves
from posewarper_jax.viz import offsets as offsets_viz
from posewarper_jax.viz import overlays

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# The paper's Table 1 and SOTA-table columns (SPEC 9).
COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total")
# The orderings the paper reports, as (better, worse, claim).
ORDERINGS = (
    ("propagation_posewarper", "propagation_farneback",
     "PoseWarper propagation above Farneback propagation (SPEC 7a)"),
    ("propagation_farneback", "propagation_pseudolabel",
     "Farneback propagation above HRNet pseudo-labeling (SPEC 7a)"),
    ("aggregate", "single", "aggregation at least as good as the single frame (SPEC 7b)"),
    ("retrain_pseudolabel", "retrain_baseline",
     "retraining on pseudo-labels at least as good as the sparse labels alone (SPEC 7c)"),
)


@dataclasses.dataclass(frozen=True)
class Preset:
  """Sizes of one demo run."""
  train_videos: int
  val_videos: int
  frames: int
  frame_size: tuple[int, int]  # (width, height) of the generated videos.
  speed: float  # synthetic.generate's motion per frame (1: walking pace at 25 fps).
  stage1_epochs: int  # Stage 1 and retraining, each over its own labels (SPEC 7c: 10).
  stage2_steps: int
  pretrained: str  # Initial HRNet of stage 1 and retraining ("": random initialisation).
  model_overrides: dict  # Fields of configs/synthetic.py's config set on top of it.


PRESETS = {
    # `make demo`: about 12 minutes on 2 CPU cores.
    "full": Preset(train_videos=24, val_videos=8, frames=30, frame_size=(320, 240), speed=2.5,
                   stage1_epochs=10, stage2_steps=200,
                   pretrained=str(REPO_ROOT / synthetic_config.PRETRAINED_CHECKPOINT),
                   model_overrides={}),
    # The tests: every stage on a handful of frames with the smallest model (the one of
    # tests/train/conftest.py, whose compiled programs it shares).
    "tiny": Preset(train_videos=2, val_videos=2, frames=10, frame_size=(160, 120), speed=2.5,
                   stage1_epochs=4, stage2_steps=4, pretrained="", model_overrides={
                       "input.image_size": (32, 64), "model.width": 4,
                       "model.stage_modules": (1, 1, 1), "model.num_blocks": 1,
                       "model.stem_width": 8, "model.layer1_blocks": 1,
                       "model.head.num_offset_blocks": 2, "model.head.offset_channels": 8,
                       "model.head.dilations": (1, 3), "train.batch_size": 8,
                       "train.adam_eps": 1e-2, "eval.batch_size": 4}),
}


class Progress:
  """Numbered stage lines with the elapsed time, on stdout."""

  def __init__(self, num_stages: int):
    self.start = time.perf_counter()
    self.num_stages = num_stages
    self.stage = 0

  def elapsed(self) -> float:
    return time.perf_counter() - self.start

  def __call__(self, message: str) -> None:
    self.stage += 1
    minutes, seconds = divmod(int(self.elapsed()), 60)
    print(f"[demo {self.stage}/{self.num_stages} {minutes:02d}:{seconds:02d}] {message}",
          flush=True)


def run_config(variant: str, root: str, preset: Preset, train_labels_dir: str, *,
               num_steps: int = 0, num_epochs: int = 0) -> ml_collections.ConfigDict:
  """configs/synthetic.py's `variant` on the demo's data with the preset's sizes, trained for
  `num_steps` or `num_epochs` over the instances of `train_labels_dir` (one of the two);
  learning-rate decays at 60% and 85% of the run (the config's epochs assume longer runs)."""
  if bool(num_steps) == bool(num_epochs):
    raise ValueError(f"run_config: give num_steps or num_epochs, got {num_steps} and "
                     f"{num_epochs}")
  config = synthetic_config.get_config(variant)
  config.data.root = root
  config.data.train_labels_dir = train_labels_dir
  config.train.init_from = ""
  config.train.eval_at_end = False
  for field, value in preset.model_overrides.items():
    section, _, name = field.rpartition(".")
    target = config
    for part in section.split("."):
      target = target[part]
    target[name] = value
  num_instances = frame_pairs.num_instances(datasets.training_videos(config.data), config.input)
  steps_per_epoch = loop.steps_per_epoch(num_instances, config.train.batch_size)
  num_steps = num_steps or num_epochs * steps_per_epoch
  epochs = num_steps / steps_per_epoch
  config.train.num_steps = num_steps
  config.train.checkpoint_every_steps = num_steps
  config.train.log_every_steps = max(1, num_steps // 5)
  config.train.decay_one_epoch_early = False
  config.train.lr_decay_epochs = (max(1, round(0.6 * epochs)), max(1, round(0.85 * epochs)))
  return config


def train(config: ml_collections.ConfigDict, workdir: str, init_from: str = "") -> str:
  """Trains `config` in `workdir` (resuming if it holds a checkpoint); returns the workdir."""
  config.train.init_from = init_from
  loop.train_and_evaluate(config, workdir)
  return workdir


def _entry(results: dict, out_dir: str, predictions: str, ground_truth: str) -> dict:
  return {"predictions": os.path.relpath(predictions, out_dir),
          "ground_truth": os.path.relpath(ground_truth, out_dir),
          "Total": results["table"]["Total"], "table": results["table"]}


def write_sparse_labels(dense: Sequence[records.Video], labeled: Sequence[Sequence[int]],
                        out_dir: str, root: str) -> None:
  """Keeps the labels of the `labeled` positions only and writes them as PoseTrack18 files."""
  for video, positions in zip(dense, labeled):
    posetrack.write_posetrack18_video(sparse_labels.keep_labels(video, positions),
                                      os.path.join(out_dir, f"{video.name}.json"),
                                      image_root=root)


def offset_figure(stage2_dir: str, videos, labeled, input_config, out_path: str) -> str:
  """The learned offsets of one validation person's left wrist between a labeled frame A and
  frame A + 2 (SPEC 8)."""
  model, variables = models.load(stage2_dir)
  video, source = videos[0], labeled[0][0]
  target = min(source + 2, len(video.frames) - 1)
  person = video.frames[source].persons[0]
  frames = offsets_viz.crop_frames([video.frames[source].path, video.frames[target].path],
                                   person.box, input_config)
  prediction = offsets_viz.predict_offsets(model, variables, frames[0], frames[1])
  joint = "left_wrist"
  pixel = prediction.peak(joint)
  return offsets_viz.write_offset_figure(
      out_path, pixels.to_uint8(frames[0]), pixels.to_uint8(frames[1]),
      prediction.centre_offsets(joint, 0), prediction.sampling_points(joint, 0, pixel), pixel,
      joint=joint, dilation=prediction.dilations[0])


def _table(rows: Sequence[tuple[str, dict]]) -> str:
  lines = ["| Method | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
  for name, table in rows:
    lines.append(f"| {name} | " + " | ".join(f"{table[c]:.1f}" for c in COLUMNS) + " |")
  return "\n".join(lines)


def orderings(results: dict) -> list[dict]:
  """Each of the paper's orderings with both mAPs, the margin and whether it holds here."""
  checks = []
  for better, worse, claim in ORDERINGS:
    margin = results[better]["Total"] - results[worse]["Total"]
    strict = better.startswith("propagation")
    checks.append({"claim": claim, "better": better, "worse": worse, "margin": margin,
                   "holds": bool(margin > 0 if strict else margin >= 0)})
  return checks


def write_report(out_dir: str, results: dict, checks: list[dict], figures: dict,
                 preset_name: str, preset: Preset, seconds: float, neck: str) -> str:
  """demo_out/REPORT.md."""
  def rows(names):
    return [(label, results[key]["table"]) for key, label in names]

  def files(key):
    return f"`{results[key]['predictions']}` against `{results[key]['ground_truth']}`"

  cpu = machine.cpu_description()
  lines = [
      "# PoseWarper on synthetic sparsely labeled videos",
      "",
      f"Generated by `python -m posewarper_jax.apps.demo --preset {preset_name}` on "
      f"{datetime.date.today().isoformat()}, {cpu}, {jax.devices()[0].platform}, in "
      f"{seconds / 60:.1f} minutes. {preset.train_videos} training and {preset.val_videos} "
      f"validation videos of {preset.frames} frames; training labels on the propagation "
      f"protocol's frames only (SPEC 7a: about 1 in 6); stage 1 and retraining "
      f"{preset.stage1_epochs} epochs each (as in SPEC 7c) from {_initialisation(preset)}, "
      f"stage 2 {preset.stage2_steps} steps. PoseTrack mAP (AP %, PCKh@0.5) of the prediction "
      f"files named below each table; {_NECK_NOTES[neck]}.",
      "",
      "## Video pose propagation (the paper's Table 1)",
      "",
      _table(rows([("propagation_pseudolabel", "Pseudo-labeling w/ HRNet"),
                   ("propagation_farneback", "Optical flow (Farneback)"),
                   ("propagation_posewarper", "PoseWarper")])),
      "",
      "Validation runs, labels every 7th frame. Files: PoseWarper "
      f"{files('propagation_posewarper')}.",
      "",
      "## Temporal pose aggregation at inference",
      "",
      _table(rows([("single", "HRNet, single frame"),
                   ("aggregate", "PoseWarper, frames t-2..t+2")])),
      "",
      f"Ground-truth boxes of every validation frame. Files: {files('aggregate')}.",
      "",
      "## Data augmentation with propagated pseudo-labels",
      "",
      _table(rows([("retrain_baseline", "Sparse labels only"),
                   ("retrain_pseudolabel", "Sparse labels + propagated pseudo-labels")])),
      "",
      f"Single-frame HRNet, {preset.stage1_epochs} epochs over its training labels from the "
      "same initial weights (the paper's protocol; the augmented set is about 7 times larger, "
      "so its run has about 7 times the steps); \"sparse labels only\" is the stage-1 model "
      f"(also the \"single frame\" row above). Files: {files('retrain_pseudolabel')}.",
      "",
      "## Do the paper's orderings hold here?",
      "",
      "| Claim | mAP | margin | holds |",
      "|---|---|---|---|",
  ]
  for check in checks:
    values = (f"{results[check['better']]['Total']:.1f} vs "
              f"{results[check['worse']]['Total']:.1f}")
    lines.append(f"| {check['claim']} | {values} | {check['margin']:+.1f} | "
                 f"{'yes' if check['holds'] else 'NO'} |")
  lines += ["", "## Figures", ""]
  for caption, path in figures.items():
    lines += [f"**{caption}**", "", f"![{caption}]({os.path.relpath(path, out_dir)})", ""]
  path = os.path.join(out_dir, "REPORT.md")
  with open(path, "w", encoding="utf-8") as report:
    report.write("\n".join(lines) + "\n")
  return path


_NECK_NOTES = {
    "head_bottom": "PoseTrack's neck is the predicted head_bottom (configs/synthetic.py, "
                   "SPEC 6.5; the original writes the shoulder midpoint there)",
    "shoulder_midpoint": "PoseTrack's neck is the shoulder midpoint (the original's quirk, "
                         "SPEC 6.5)",
}


def _initialisation(preset: Preset) -> str:
  if not preset.pretrained:
    return "a random initialisation"
  return (f"`{os.path.relpath(preset.pretrained, REPO_ROOT)}` (an HRNet trained on separately "
          f"generated stills, configs/synthetic_stills.py: the role of COCO in the paper)")


def run_demo(out_dir: str, preset_name: str = "full") -> dict:
  """Runs the whole demo into `out_dir`; returns results.json's content."""
  preset = PRESETS[preset_name]
  out_dir = os.path.abspath(out_dir)
  root = os.path.join(out_dir, "data")
  runs = os.path.join(out_dir, "runs")
  if not jax.config.jax_compilation_cache_dir:  # Retraining reuses stage 1's compiled step.
    jax.config.update("jax_compilation_cache_dir", os.path.join(out_dir, "jax_cache"))
  progress = Progress(num_stages=12)

  progress(f"synthetic videos under {root}")
  if not os.path.isdir(os.path.join(root, "annotations", "val")):
    for split, count in (("train", preset.train_videos), ("val", preset.val_videos)):
      synthetic.generate(root, num_videos=count, frames_per_video=preset.frames,
                         image_size=preset.frame_size, split=split, speed=preset.speed)
  data_config = synthetic_config.get_config("stage1").data
  data_config.root = root
  dense_train = datasets.load_split(data_config, "train")
  train_labeled = propagation.labeled_positions(dense_train)
  sparse_dir = os.path.join(out_dir, "labels", "sparse")
  write_sparse_labels(dense_train, train_labeled, sparse_dir, root)

  stage1 = run_config("stage1", root, preset, sparse_dir, num_epochs=preset.stage1_epochs)
  progress(f"stage 1: single-frame HRNet on the sparse labels, {stage1.train.num_steps} steps "
           f"({preset.stage1_epochs} epochs) from {preset.pretrained or 'a random initialisation'}")
  stage1_dir = train(stage1, os.path.join(runs, "stage1"), init_from=preset.pretrained)
  progress(f"stage 2: PoseWarper on the frozen stage-1 backbone, {preset.stage2_steps} steps")
  stage2 = run_config("stage2", root, preset, sparse_dir, num_steps=preset.stage2_steps)
  stage2_dir = train(stage2, os.path.join(runs, "stage2"), init_from=stage1_dir)

  results = {}
  val = datasets.load_split(data_config, "val")
  val_labeled = propagation.labeled_positions(val)
  stage2_model, stage2_variables = models.load(stage2_dir)
  stage1_model, stage1_variables = models.load(stage1_dir)
  methods = {
      "propagation_posewarper": lambda: propagation.propagate(
          val, val_labeled, stage2_model, stage2_variables, stage2.input,
          batch_size=stage2.eval.batch_size, neck=stage2.eval.neck,
          fold_batch_norm=stage2.eval.fold_batch_norm),
      "propagation_farneback": lambda: flow_propagation.propagate(val, val_labeled,
                                                                  neck=stage2.eval.neck),
      "propagation_pseudolabel": lambda: propagation.pseudo_label_baseline(
          val, val_labeled, stage1_model, stage1_variables, stage1.input, stage1.eval),
  }
  for name, method in methods.items():
    progress(f"{name}: validation videos, labels every 7th frame")
    scored = scoring.score(method(), val, os.path.join(out_dir, name), image_root=root)
    results[name] = _entry(scored, out_dir, scored["predictions"], scored["ground_truth"])

  for name, config, workdir in (("single", stage1, stage1_dir), ("aggregate", stage2, stage2_dir)):
    progress(f"{name}: every validation person box, mode {config.eval.mode}")
    eval_dir = os.path.join(out_dir, "eval", name)
    scored = evaluation.evaluate(config, workdir, eval_dir)
    results[name] = _entry(scored, out_dir, os.path.join(eval_dir, evaluation.PREDICTIONS_DIR),
                           os.path.join(root, "annotations", "val"))
  results["retrain_baseline"] = dict(results["single"])

  progress("pseudo-labels: sparse training labels propagated to every training frame")
  pseudo_dir = os.path.join(out_dir, "labels", "pseudo")
  pseudo_labels.write_pseudo_labels(
      pseudo_labels.propagated_labels(dense_train, train_labeled, stage2_model, stage2_variables,
                                      stage2.input, batch_size=stage2.eval.batch_size,
                                      fold_batch_norm=stage2.eval.fold_batch_norm),
      pseudo_dir, root)
  retrain = run_config("retrain", root, preset, pseudo_dir, num_epochs=preset.stage1_epochs)
  progress(f"retraining the single-frame HRNet on labels + pseudo-labels, "
           f"{retrain.train.num_steps} steps ({preset.stage1_epochs} epochs)")
  retrain_dir = train(retrain, os.path.join(runs, "retrain"), init_from=preset.pretrained)
  eval_dir = os.path.join(out_dir, "eval", "retrain_pseudolabel")
  scored = evaluation.evaluate(retrain, retrain_dir, eval_dir)
  results["retrain_pseudolabel"] = _entry(
      scored, out_dir, os.path.join(eval_dir, evaluation.PREDICTIONS_DIR),
      os.path.join(root, "annotations", "val"))

  progress("figures and report")
  figures_dir = os.path.join(out_dir, "figures")
  os.makedirs(figures_dir, exist_ok=True)
  figures = {
      "Training losses": curves.plot_losses(
          [stage1_dir, stage2_dir, retrain_dir], os.path.join(figures_dir, "losses.png"),
          labels=["stage 1 (sparse labels)", "stage 2 (PoseWarper head)",
                  "retrain (+ pseudo-labels)"]),
      "Learned offsets (left wrist, first dilation) between frames t and t+2": offset_figure(
          stage2_dir, val, val_labeled, stage2.input, os.path.join(figures_dir, "offsets.png")),
  }
  first_video = sorted(os.listdir(os.path.join(out_dir, "propagation_posewarper",
                                               "predictions")))[0]
  overlay_paths = overlays.write_overlays(
      os.path.join(out_dir, "propagation_posewarper", "predictions", first_video), root,
      os.path.join(figures_dir, "overlays"), every=7,
      ground_truth_file=os.path.join(out_dir, "propagation_posewarper", "ground_truth",
                                     first_video))
  if overlay_paths:
    figures["PoseWarper propagation (colour) and ground truth (white)"] = overlay_paths[
        min(1, len(overlay_paths) - 1)]
  checks = orderings(results)
  summary = {name: {key: value for key, value in entry.items() if key != "table"}
             for name, entry in results.items()}
  with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as stream:
    json.dump(summary, stream, indent=2)
    stream.write("\n")
  report = write_report(out_dir, results, checks, figures, preset_name, preset,
                        progress.elapsed(), neck=stage2.eval.neck)
  progress(f"done: {report}")
  for check in checks:
    print(f"  {'holds' if check['holds'] else 'DOES NOT HOLD'}: {check['claim']} "
          f"({check['margin']:+.1f} mAP)", flush=True)
  return summary


def main() -> None:
  out = flags.DEFINE_string("out", "demo_out", "Output folder.")
  preset = flags.DEFINE_enum("preset", "full", list(PRESETS), "Demo sizes.")

  def run(argv: Sequence[str]) -> None:
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    run_demo(out.value, preset.value)

  app.run(run)


if __name__ == "__main__":
  main()
