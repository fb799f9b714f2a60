"""Model configs as JSON and variables as orbax checkpoints: `save` and `load`.

A checkpoint directory holds `model.json` (the class and fields of the model, enough to build
it again) and `variables/` (an orbax StandardCheckpointer tree {"params", "batch_stats"}).
"""

import dataclasses
import json
import pathlib
from typing import Any, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from posewarper_jax.models.hrnet import HRNet
from posewarper_jax.models.posewarper import PoseWarper

CONFIG_FILE = "model.json"
VARIABLES_DIR = "variables"
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


def example_images(model: nn.Module) -> jax.Array:
  """The smallest valid image batch (1, m, m, 3) for `model` (parameter shapes do not depend on it)."""
  backbone = model.backbone if isinstance(model, PoseWarper) else model
  size = backbone.min_input_multiple
  return jnp.zeros((1, size, size, 3), jnp.float32)


def abstract_variables(model: nn.Module) -> dict[str, Any]:
  """Shapes and dtypes of the model's {"params", "batch_stats"}, without computing anything."""
  images = example_images(model)
  inputs = (images, images) if isinstance(model, PoseWarper) else (images,)
  return jax.eval_shape(model.init, jax.random.key(0), *inputs)


def save(directory: PathLike, model: nn.Module, variables: dict[str, Any]) -> pathlib.Path:
  """Writes `model.json` and the orbax checkpoint of `variables` into a new `directory`."""
  directory = pathlib.Path(directory).absolute()
  directory.mkdir(parents=True, exist_ok=True)
  (directory / CONFIG_FILE).write_text(json.dumps(model_config(model), indent=2) + "\n")
  tree = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(directory / VARIABLES_DIR, tree)
  return directory


def load(directory: PathLike) -> tuple[nn.Module, dict[str, Any]]:
  """Reads a directory written by `save` (or the converter CLI) -> (model, variables)."""
  directory = pathlib.Path(directory).absolute()
  config_path = directory / CONFIG_FILE
  if not config_path.is_file():
    raise FileNotFoundError(f"models.load: no {CONFIG_FILE} in {directory}")
  model = model_from_config(json.loads(config_path.read_text()))
  with ocp.StandardCheckpointer() as checkpointer:
    variables = checkpointer.restore(directory / VARIABLES_DIR, abstract_variables(model))
  return model, dict(variables)
