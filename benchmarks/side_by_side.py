"""Side by side with the official PyTorch code: the rows of PERFORMANCE.md's table in one process.

Needs torch and torchvision (requirements-bench.txt, never a dependency of the package) and a
checkout of the official code (github.com/facebookresearch/PoseWarper) given as --official. Its
lib/models/pose_hrnet.py (HRNet, and PoseWarper training) and pose_hrnet_PoseAgg.py (temporal
aggregation) are imported as they are, with PERFORMANCE.md's two changes for CPUs: the
CUDA-only `deform_conv.DeformConv` is replaced by torchvision's `deform_conv2d` (same
arguments and offset layout) and `.cuda()` returns its module or tensor unchanged. The official
configs are built from the published HRNet W32/W48 settings, with PoseWarper's flags set as its
experiment files set them for each job.

Rows, each as a user runs it by default:
  * hrnet_w32 / hrnet_w48: HRNet forward, W32 256x192 batch 8 / W48 384x288 batch 4. Ours:
    inference/heatmaps.py's jitted heatmap function ("single", BatchNorms folded as predict folds
    them); official: the model in eval mode under torch.no_grad().
  * stage2_step: a stage-2 training step, W48 384x288, 4 pairs, Adam (learning rate 1e-4,
    frozen backbone). Ours: train/step.py's donated step (benchmarks/train_step.py); official:
    forward, JointsMSELoss with target weights, zero_grad, backward, Adam step over
    model.parameters() (the frozen ones get no gradient), as in lib/core/function.py. The row
    runs in a process of its own with train.py's malloc settings (host_memory: freed memory
    kept), both sides alike; the other rows run with evaluate.py's.
  * aggregation: temporal pose aggregation (SPEC 7b), W48 384x288, 2 boxes x 5 frames. Ours:
    predict's "aggregate" heatmap function (folded, with the reference frame's offsets
    computed beforehand as predict computes them); official: PoseAgg in eval mode.
The deformable convolution against torchvision alone is benchmarks/deform_conv.py.

Both sides get the same weights (ours random as benchmarks/model.py, exported with
models.convert.to_pytorch and loaded strictly into the official module) and the same random
inputs, and the table prints how far the results are apart: the heatmaps' largest difference
relative to their largest magnitude, or for the step the first step's loss (the target is zero,
so the loss is the mean square of the warped heatmaps). Each side runs --rounds blocks of a
warm-up call and --repeats timed calls, the blocks alternating between the sides
(model.time_side_by_side says why blocks); official / ours > 1 means ours is faster. torch
runs on as many threads as the process may use, like XLA.

  python benchmarks/side_by_side.py --official PATH/TO/PoseWarper [--only ROW ...]
                                    [--repeats 5] [--rounds 2] [--small]
"""

import argparse
import dataclasses
import importlib.util
import multiprocessing
import os
import pathlib
import sys
import types
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # `make bench` runs scripts
# pylint: disable=g-import-not-at-top
from posewarper_jax import host_memory

if __name__ == "__main__":
  host_memory.restart_with_huge_pages()  # first: it re-executes the command line

# torch before TensorFlow (which the library's data modules import): the other order crashes
# in torch's import of triton.
try:
  import torch
  import torchvision
  from torchvision.ops import deform_conv2d
except ImportError as error:
  raise SystemExit("benchmarks/side_by_side.py needs torch and torchvision: "
                   f".venv/bin/pip install -r requirements-bench.txt ({error})") from error
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import model as model_bench
from benchmarks import train_step as train_step_bench
from configs import common
from posewarper_jax import machine, models, sharding, xla_cpu
from posewarper_jax.data import targets
from posewarper_jax.inference import heatmaps
from posewarper_jax.models import convert, fold_batch_norm, hrnet, posewarper


@dataclasses.dataclass(frozen=True)
class Row:
  name: str
  work: str
  arch: str
  height: int
  width: int
  batch: int
  items: str


ROWS = (
    Row("hrnet_w32", "HRNet-W32 forward", "w32", 256, 192, 8, "images"),
    Row("hrnet_w48", "HRNet-W48 forward", "w48", 384, 288, 4, "images"),
    Row("stage2_step", "stage-2 step, Adam", "w48", 384, 288, 4, "pairs"),
    Row("aggregation", "aggregation, 5 frames", "w48", 384, 288, 2, "boxes"),
)
# --small: the same code paths at a size that runs in seconds (not the table's numbers).
SMALL = dict(height=128, width=96, batch=2)


class _Node(dict):
  """The official code reads its yacs config both as cfg.MODEL and cfg['MODEL']."""
  __getattr__ = dict.__getitem__


def official_config(model: Any, *, warping_train: bool = False,
                    warping_test: bool = False) -> _Node:
  """The official cfg for an HRNet (or a PoseWarper's backbone) of ours; the warping flags as
  the experiment files set them (training: FREEZE_WEIGHTS with USE_WARPING_TRAIN)."""
  backbone = model.backbone if hasattr(model, "backbone") else model
  stages = {}
  for branches, modules in zip((2, 3, 4), backbone.stage_modules):
    stages[f"STAGE{branches}"] = _Node(
        NUM_MODULES=modules, NUM_BRANCHES=branches, BLOCK="BASIC",
        NUM_BLOCKS=[backbone.num_blocks] * branches,
        NUM_CHANNELS=[backbone.width * 2**b for b in range(branches)], FUSE_METHOD="SUM")
  extra = _Node(FINAL_CONV_KERNEL=1, PRETRAINED_LAYERS=["*"], **stages)
  return _Node(MODEL=_Node(
      EXTRA=extra, NUM_JOINTS=backbone.num_joints, INIT_WEIGHTS=True, PRETRAINED="",
      USE_WARPING_TRAIN=warping_train, USE_WARPING_TEST=warping_test,
      FREEZE_WEIGHTS=warping_train, USE_GT_INPUT_TRAIN=False, USE_GT_INPUT_TEST=False,
      WARPING_REVERSE=False, CYCLE_CONSISTENCY_FINETUNE=False))


def import_official(root: pathlib.Path) -> tuple[types.ModuleType, types.ModuleType]:
  """(pose_hrnet, pose_hrnet_PoseAgg) from root/lib/models, with the CPU changes above."""

  class DeformConv(torch.nn.Module):
    """The official DeformConv's constructor and forward(x, offset) on torchvision's op."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, deformable_groups=1, bias=False):
      super().__init__()
      del deformable_groups  # torchvision reads the offset groups off the offsets' channels
      if bias:
        raise ValueError("the official PoseWarper's deformable convolutions have no bias")
      kernel = torch.nn.modules.utils._pair(kernel_size)  # pylint: disable=protected-access
      self.weight = torch.nn.Parameter(torch.zeros(out_channels, in_channels // groups, *kernel))
      self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x, offset):
      return deform_conv2d(x, offset, self.weight, stride=self.stride, padding=self.padding,
                           dilation=self.dilation)

  sys.modules["deform_conv"] = types.SimpleNamespace(DeformConv=DeformConv)
  torch.nn.Module.cuda = lambda self, *args, **kwargs: self
  torch.Tensor.cuda = lambda self, *args, **kwargs: self
  modules = []
  for name in ("pose_hrnet", "pose_hrnet_PoseAgg"):
    path = root / "lib" / "models" / f"{name}.py"
    if not path.is_file():
      raise FileNotFoundError(f"--official {root}: no {path} (expected a checkout of "
                              "facebookresearch/PoseWarper)")
    spec = importlib.util.spec_from_file_location(f"official_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    modules.append(module)
  return tuple(modules)


def load_ours(official_model, variables, model, source: str) -> None:
  """Loads our variables into the official module, strictly (every key, every shape)."""
  state = convert.to_pytorch(variables, model, source)
  official_model.load_state_dict({key: torch.from_numpy(np.array(value))
                                  for key, value in state.items()}, strict=True)


def nchw(frames: np.ndarray):
  """(B, T, H, W, 3) frames -> the official input (B, 3T, H, W), frames along channels."""
  batch, count, height, width, _ = frames.shape
  return torch.from_numpy(np.ascontiguousarray(
      frames.transpose(0, 1, 4, 2, 3).reshape(batch, 3 * count, height, width)))


def forward_pair(row: Row, official_modules, repeats: int, rounds: int):
  """HRNet or aggregation forward: (our seconds, official seconds, relative difference)."""
  pose_hrnet, pose_agg = official_modules
  aggregate = row.name == "aggregation"
  model = posewarper(row.arch) if aggregate else hrnet(row.arch)
  variables = model_bench.random_variables(model)
  if aggregate:
    official = pose_agg.get_pose_net(official_config(model, warping_test=True), is_train=False)
  else:
    official = pose_hrnet.get_pose_net(official_config(model), is_train=False)
  load_ours(official, variables, model, "posewarper" if aggregate else "hrnet")
  official.eval()

  mode = "aggregate" if aggregate else "single"
  frames = np.random.default_rng(1).normal(
      size=(row.batch, len(heatmaps.FRAME_OFFSETS[mode]), row.height, row.width, 3)
  ).astype(np.float32)
  folded_model, folded = fold_batch_norm(model, variables)
  mesh = sharding.data_mesh(jax.local_devices())
  forward = heatmaps.heatmap_function(folded_model, mode, mesh)
  folded = heatmaps.inference_variables(folded_model, folded, mode, (row.height, row.width), mesh)
  frames_jax = jnp.asarray(frames)
  official_input = nchw(frames)  # FRAME_OFFSETS orders the frames as the official channels do

  def ours():
    return jax.block_until_ready(forward(folded, frames_jax))

  def theirs():
    with torch.no_grad():
      return official(official_input)

  seconds = model_bench.time_side_by_side((ours, theirs), repeats, rounds)
  difference = model_bench.relative_difference(ours(), theirs().numpy().transpose(0, 2, 3, 1))
  return (*seconds, difference)


def official_joints_mse(output, target, target_weight):
  """The official JointsMSELoss with target weights: per joint 0.5 * mean((w * (pred - gt))^2),
  averaged over joints. output, target (B, K, h, w); target_weight (B, K, 1)."""
  batch, joints = output.shape[:2]
  heatmaps_pred = output.reshape(batch, joints, -1)
  heatmaps_gt = target.reshape(batch, joints, -1)
  return 0.5 * ((heatmaps_pred - heatmaps_gt) * target_weight).pow(2).mean(dim=(0, 2)).mean()


def step_pair(row: Row, official_modules, repeats: int, rounds: int):
  """Stage-2 training step: (our seconds, official seconds, relative difference of the loss)."""
  pose_hrnet, _ = official_modules
  config = common.base_config("stage2")
  model = models.build(config.model)
  variables = model_bench.random_variables(model)
  inputs = train_step_bench.random_batch(model, row.batch, row.height, row.width,
                                         config.model.num_joints)
  run, _ = train_step_bench.compiled_step(config, model, variables, inputs,
                                          sharding.data_mesh())
  # The official side gets the heatmaps our step encodes from the joints.
  target, target_weight = map(np.array, targets.joint_targets(  # writable copies for torch
      inputs["joints"], inputs["frame_a"], config.input.heatmap_stride, config.input.sigma))

  official = pose_hrnet.get_pose_net(official_config(model, warping_train=True), is_train=True)
  load_ours(official, variables, model, "posewarper")
  official.train()
  optimizer = torch.optim.Adam(official.parameters(), lr=config.train.learning_rate)
  official_input = nchw(np.stack([inputs["frame_a"], inputs["frame_b"]], axis=1))
  target = torch.from_numpy(target.transpose(0, 3, 1, 2).copy())
  target_weight = torch.from_numpy(target_weight[:, :, None])

  def ours():
    return float(run()[1]["loss"])

  def theirs():
    loss = official_joints_mse(official(official_input), target, target_weight)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())

  first_losses = ours(), theirs()  # also the warm-up: both start from the same weights
  seconds = model_bench.time_side_by_side((ours, theirs), repeats, rounds)
  return (*seconds, abs(first_losses[0] - first_losses[1]) / abs(first_losses[1]))


def _step_row(row: Row, official_root: pathlib.Path, repeats: int, rounds: int):
  torch.set_num_threads(machine.available_cores())
  return step_pair(row, import_official(official_root), repeats, rounds)


def step_pair_in_training_process(row: Row, official_root: pathlib.Path, repeats: int,
                                  rounds: int):
  """step_pair in a fresh interpreter whose malloc is set up as train.py's (glibc reads its
  tunables at process start)."""
  environment = host_memory.huge_page_environment(os.environ, keep_freed_memory=True)
  saved = dict(os.environ)
  os.environ.update(environment or {})
  try:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
      return pool.apply(_step_row, (row, official_root, repeats, rounds))
  finally:
    os.environ.clear()
    os.environ.update(saved)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--official", type=pathlib.Path, required=True,
                      help="checkout of github.com/facebookresearch/PoseWarper")
  parser.add_argument("--only", nargs="+", choices=[row.name for row in ROWS],
                      default=[row.name for row in ROWS])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--rounds", type=int, default=2,
                      help="blocks of --repeats calls per side, alternating between the sides")
  parser.add_argument("--small", action="store_true",
                      help=f"quick check at {SMALL} (not the table's sizes)")
  args = parser.parse_args()
  torch.set_num_threads(machine.available_cores())
  official_modules = import_official(args.official)
  print(f"jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), torchvision {torchvision.__version__}; "
        f"CPU {machine.cpu_description()}; {xla_cpu.describe()}; {args.rounds} blocks of "
        f"{args.repeats} calls per side")
  print(f"{'work':<24} {'size':<16} {'ours s':>8} {'official s':>10} {'official/ours':>13} "
        f"{'ours rate':>15} {'rel diff':>9}")
  for row in ROWS:
    if row.name not in args.only:
      continue
    if args.small:
      row = dataclasses.replace(row, **SMALL)
    if row.name == "stage2_step":
      ours, official, difference = step_pair_in_training_process(row, args.official,
                                                                 args.repeats, args.rounds)
    else:
      ours, official, difference = forward_pair(row, official_modules, args.repeats, args.rounds)
    size = f"{row.height}x{row.width} b{row.batch}"
    rate = f"{row.batch / ours:.3f} {row.items}/s"
    print(f"{row.work:<24} {size:<16} {ours:8.3f} {official:10.3f} {official / ours:13.2f} "
          f"{rate:>15} {difference:9.1e}", flush=True)


if __name__ == "__main__":
  main()
