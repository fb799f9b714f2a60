"""Data parallelism: one `Mesh` axis "data" over the devices, batches split along it.

`jax.jit` with `NamedSharding`s replaces pmap: parameters are replicated, every array whose
leading axis is the batch is split over "data", and XLA inserts the cross-device reductions
(e.g. BatchNorm statistics of the global batch) by itself.
"""

import os
from typing import Any, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def data_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A 1-D mesh named DATA_AXIS over `devices` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (parameters, batch statistics)."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """The leading (batch) axis is split over DATA_AXIS."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  """Raises ValueError unless the global batch divides evenly over the mesh."""
  if batch_size < 1 or batch_size % mesh.size:
    raise ValueError(f"batch_size={batch_size} must be a positive multiple of the "
                     f"{mesh.size} devices of the '{DATA_AXIS}' axis")


def pad_batch(tree: Any, size: int) -> tuple[Any, int]:
  """Pads every leaf's leading axis to `size` by repeating its last row -> (tree, rows before).

  Keeps one compiled shape for a final partial batch; callers drop the padded rows. A full
  batch is returned as it is (no copy).
  """
  leaves = jax.tree.leaves(tree)
  rows = int(np.shape(leaves[0])[0])
  if rows > size:
    raise ValueError(f"pad_batch: batch of {rows} rows is larger than size {size}")
  if rows == size:
    return tree, rows

  def pad(leaf):
    leaf = np.asarray(leaf)
    if leaf.shape[0] != rows:
      raise ValueError(f"pad_batch: leaves have different batch sizes {leaf.shape[0]} != {rows}")
    return np.concatenate([leaf, np.repeat(leaf[-1:], size - rows, axis=0)], axis=0)

  return jax.tree.map(pad, tree), rows


def global_batch(local_batch: Any, mesh: Mesh) -> Any:
  """This process's rows of a batch (leaves (B / process_count, ...)) -> global jax.Arrays
  (B, ...) split along DATA_AXIS; every process passes its own rows, in process order."""
  batch_sharding = batch_sharded(mesh)
  return jax.tree.map(
      lambda rows: jax.make_array_from_process_local_data(batch_sharding, np.asarray(rows)),
      local_batch)


def local_copy(tree: Any) -> Any:
  """Fully replicated global arrays -> this process's copy on one local device (no transfer)."""
  return jax.tree.map(lambda array: array.addressable_data(0), tree)


def initialize_distributed(coordinator_address: str = "", num_processes: int = 0,
                           process_id: int = -1) -> None:
  """Joins the processes of a multi-host run (jax.distributed) before any JAX computation.

  Explicit arguments (a coordinator 'host:port', the process count and this process's id) are
  passed on; with none, jax.distributed auto-detects Cloud TPU and SLURM clusters. On a single
  machine without them nothing happens.
  """
  if coordinator_address or num_processes or process_id >= 0:
    if not (coordinator_address and num_processes > 0 and process_id >= 0):
      raise ValueError(f"multi-process runs need all of coordinator_address "
                       f"({coordinator_address!r}), num_processes ({num_processes}) and "
                       f"process_id ({process_id})")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  elif _in_cluster():
    jax.distributed.initialize()


def _in_cluster() -> bool:
  """True on a multi-task SLURM job or a multi-host Cloud TPU slice."""
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    return True
  return "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")
