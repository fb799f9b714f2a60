"""Model configs as JSON and variables as orbax checkpoints: `save` and `load`.

An exported checkpoint directory holds `model.json` (the class and fields of the model, enough
to build it again) and `variables/` (an orbax StandardCheckpointer tree {"params",
"batch_stats"}). `load` also reads a training workdir (train/checkpoints.py): `config.json`
(the run's resolved config, whose `model` section builds the model) and `checkpoints/<step>/`
(orbax CheckpointManager steps whose `variables` item is the same tree), or one of its step
folders (`checkpoints/`, `best/`).

Command line: the latest (or best) weights of a training run as an exported checkpoint, without
the optimiser state, e.g. to start other runs from (config train.init_from):
  python -m posewarper_jax.models.checkpoint export RUN_DIR[/best] OUT_DIR
"""

import argparse
import dataclasses
import json
import pathlib
from typing import Any, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp

from posewarper_jax.models.build import build
from posewarper_jax.models.hrnet import HRNet
from posewarper_jax.models.posewarper import PoseWarper

CONFIG_FILE = "model.json"
VARIABLES_DIR = "variables"
# A training workdir: the resolved config, and CheckpointManager folders of steps whose item
# VARIABLES_DIR holds {"params", "batch_stats"}.
RUN_CONFIG_FILE = "config.json"
CHECKPOINTS_DIR = "checkpoints"  # The latest steps (train.keep_checkpoints of them).
BEST_DIR = "best"  # The step with the best validation mAP.
MODEL_CLASSES = {"HRNet": HRNet, "PoseWarper": PoseWarper}
_DTYPE_FIELDS = ("dtype",)

PathLike = Union[str, pathlib.Path]


def model_config(model: nn.Module) -> dict[str, Any]:
  """A JSON-ready {"class": ..., "fields": {...}} description of an HRNet or PoseWarper."""
  name = type(model).__name__
  if name not in MODEL_CLASSES:
    raise ValueError(f"model_config: unsupported model class {name}; expected one of "
                     f"{sorted(MODEL_CLASSES)}")
  fields = {}
  for field in dataclasses.fields(model):
    if field.name in ("parent", "name"):
      continue
    value = getattr(model, field.name)
    if isinstance(value, nn.Module):
      value = model_config(value)
    elif field.name in _DTYPE_FIELDS:
      value = jnp.dtype(value).name
    elif isinstance(value, tuple):
      value = list(value)
    fields[field.name] = value
  return {"class": name, "fields": fields}


def model_from_config(config: dict[str, Any]) -> nn.Module:
  """Inverse of `model_config`."""
  if config.get("class") not in MODEL_CLASSES:
    raise ValueError(f"model_from_config: field 'class' must be one of {sorted(MODEL_CLASSES)}, "
                     f"got {config.get('class')!r}")
  fields = {}
  for key, value in config["fields"].items():
    if isinstance(value, dict):
      value = model_from_config(value)
    elif key in _DTYPE_FIELDS:
      value = jnp.dtype(value)
    elif isinstance(value, list):
      value = tuple(value)
    fields[key] = value
  return MODEL_CLASSES[config["class"]](**fields)


def example_inputs(model: nn.Module) -> tuple[jax.Array, ...]:
  """The smallest valid image batch (1, m, m, 3) for `model`, once per input (HRNet: one frame,
  PoseWarper: two); parameter shapes do not depend on it."""
  backbone = model.backbone if isinstance(model, PoseWarper) else model
  size = backbone.min_input_multiple
  images = jnp.zeros((1, size, size, 3), jnp.float32)
  return (images, images) if isinstance(model, PoseWarper) else (images,)


def abstract_variables(model: nn.Module) -> dict[str, Any]:
  """Shapes and dtypes of the model's {"params", "batch_stats"}, placed on this process's first
  device, without computing anything. Restoring with them reads a checkpoint whatever devices
  it was saved from (e.g. a run on 8 devices or several hosts)."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), *example_inputs(model))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device), shapes)


def save(directory: PathLike, model: nn.Module, variables: dict[str, Any]) -> pathlib.Path:
  """Writes `model.json` and the orbax checkpoint of `variables` into a new `directory`."""
  directory = pathlib.Path(directory).absolute()
  directory.mkdir(parents=True, exist_ok=True)
  (directory / CONFIG_FILE).write_text(json.dumps(model_config(model), indent=2) + "\n")
  tree = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(directory / VARIABLES_DIR, tree)
  return directory


def _training_steps(directory: pathlib.Path) -> Optional[tuple[pathlib.Path, pathlib.Path]]:
  """(run config, folder of steps) when `directory` is a workdir or one of its step folders."""
  if (directory / RUN_CONFIG_FILE).is_file():
    return directory / RUN_CONFIG_FILE, directory / CHECKPOINTS_DIR
  if (directory.parent / RUN_CONFIG_FILE).is_file():
    return directory.parent / RUN_CONFIG_FILE, directory
  return None


def _latest_variables(steps_dir: pathlib.Path, abstract: dict[str, Any]) -> dict[str, Any]:
  """The variables item of the latest step under `steps_dir`."""
  options = ocp.CheckpointManagerOptions(read_only=True, create=False)
  with ocp.CheckpointManager(steps_dir, options=options, item_names=(VARIABLES_DIR,)) as manager:
    step = manager.latest_step()
    if step is None:
      raise FileNotFoundError(f"models.load: {steps_dir} holds no finished checkpoint step")
    restored = manager.restore(step, args=ocp.args.Composite(
        **{VARIABLES_DIR: ocp.args.StandardRestore(abstract)}))
  return dict(restored[VARIABLES_DIR])


def load(directory: PathLike) -> tuple[nn.Module, dict[str, Any]]:
  """An exported checkpoint, a training workdir (its latest step) or a workdir's step folder
  (`best/`: the best step) -> (model, variables {"params", "batch_stats"})."""
  directory = pathlib.Path(directory).absolute()
  config_path = directory / CONFIG_FILE
  if config_path.is_file():
    model = model_from_config(json.loads(config_path.read_text()))
    with ocp.StandardCheckpointer() as checkpointer:
      variables = checkpointer.restore(directory / VARIABLES_DIR, abstract_variables(model))
    return model, dict(variables)
  training = _training_steps(directory)
  if training is None:
    raise FileNotFoundError(
        f"models.load: {directory} is neither an exported checkpoint (no {CONFIG_FILE}) nor a "
        f"training workdir (no {RUN_CONFIG_FILE} in it or its parent)")
  run_config, steps_dir = training
  model = build(ml_collections.ConfigDict(json.loads(run_config.read_text())["model"]))
  return model, _latest_variables(steps_dir, abstract_variables(model))


def main(argv: Optional[Sequence[str]] = None) -> pathlib.Path:
  parser = argparse.ArgumentParser(description="Exports the weights of a training run.")
  commands = parser.add_subparsers(dest="command", required=True)
  export = commands.add_parser("export", help="RUN_DIR (or RUN_DIR/best) -> OUT_DIR")
  export.add_argument("run_dir")
  export.add_argument("out_dir")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out_dir)
  if out.exists():
    parser.error(f"{out} exists; export writes a new folder")
  model, variables = load(args.run_dir)
  path = save(out, model, variables)
  print(f"exported {type(model).__name__} weights of {args.run_dir} to {path}")
  return path


if __name__ == "__main__":
  main()
