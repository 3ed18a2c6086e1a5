r"""Mapping a per-point function over the sweep's point axis, on one device or sharded over many.

Four interchangeable backends run the same ``vmap``\ped per-point function and give the same
results (up to float reassociation, tested on 8 CPU devices):

- ``"none"``: ``jit(vmap(f))`` on the default device;
- ``"jit"`` (default): ``jit(vmap(f))`` with the point axis sharded over a 1-D device mesh by a
  ``NamedSharding``; XLA partitions the program (there is no cross-point communication);
- ``"shard_map"``: ``jit(shard_map(vmap(f)))``, the same split written per device, the form to
  extend when a step needs an explicit collective;
- ``"pmap"``: ``pmap(vmap(f))`` over a ``[devices, N / devices]`` reshape (single host; in
  JAX >= 0.8 ``pmap`` is itself built on ``jit`` + ``shard_map``).

The point axis is padded to a multiple of the device count by repeating the last point (so padded
rows compute finite values) and the padding is dropped when results come back to the host. With
several processes (``jax.distributed.initialize``) the mesh spans every process's devices; each
process holds its shards and :meth:`PointMapper.to_host` gathers the full results on every process.
"""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxpref.types import HostArray, PyTree

BACKENDS = ("none", "jit", "shard_map", "pmap")
AXIS = "points"


def is_key(x: Any) -> bool:
  """Whether ``x`` is an array of typed PRNG keys (``jax.random.key``)."""
  return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _pad(x: HostArray, padded: int) -> HostArray:
  x = np.asarray(x)
  if x.shape[0] == padded:
    return x
  fill = np.repeat(x[-1:], padded - x.shape[0], axis=0)
  return np.concatenate([x, fill], axis=0)


class PointMapper:
  """Places point-indexed arrays on devices and runs vmapped functions over them.

  Args:
    backend: one of :data:`BACKENDS`.
    num_points: ``N``, the length of the point axis.
    num_devices: devices to use; ``-1`` means all (all local devices for ``"pmap"``).

  Raises:
    ValueError: on an unknown backend, an impossible device count, or ``"pmap"`` across
      processes.
  """

  def __init__(self, backend: str, num_points: int, num_devices: int = -1):
    if backend not in BACKENDS:
      raise ValueError(f"Unknown mesh backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if backend == "pmap" and jax.process_count() > 1:
      raise ValueError("The pmap backend runs on one host; use 'jit' or 'shard_map' across hosts.")
    devices = jax.local_devices() if backend == "pmap" else jax.devices()
    if backend == "none":
      num_devices = 1
    elif num_devices == -1:
      num_devices = len(devices)
    if not 1 <= num_devices <= len(devices):
      raise ValueError(
        f"config.mesh.devices={num_devices}: {len(devices)} device(s) available (-1 = all)."
      )
    self.backend = backend
    self.num_points = int(num_points)
    self.num_devices = int(num_devices)
    self.padded = math.ceil(self.num_points / self.num_devices) * self.num_devices
    self.devices = devices[: self.num_devices]
    self.mesh = None
    if backend in ("jit", "shard_map"):
      self.mesh = jax.make_mesh(
        (self.num_devices,),
        (AXIS,),
        axis_types=(jax.sharding.AxisType.Auto,),
        devices=self.devices,
      )
      self.sharding = NamedSharding(self.mesh, P(AXIS))
      self.replicated = NamedSharding(self.mesh, P())

  @property
  def per_device(self) -> int:
    """Points per device (after padding)."""
    return self.padded // self.num_devices

  def put(self, tree: PyTree) -> PyTree:
    """Pads host arrays ``[N, ...]`` and places them in the backend's layout."""

    def place(x):
      x = _pad(x, self.padded)
      if self.backend == "none":
        return jax.device_put(x, self.devices[0])
      if self.backend == "pmap":
        return x.reshape(self.num_devices, self.per_device, *x.shape[1:])
      return jax.make_array_from_callback(x.shape, self.sharding, lambda index: x[index])

    return jax.tree.map(place, tree)

  def map(self, fn: Callable[..., PyTree], num_broadcast: int = 0) -> Callable[..., PyTree]:
    """Compiles ``fn(point_args, *broadcast_args)`` over the point axis.

    Args:
      fn: a per-point function; its first argument is a pytree of per-point values.
      num_broadcast: how many trailing arguments are shared by every point (scalars).

    Returns:
      ``mapped(points, *broadcast)`` taking and returning arrays in this backend's layout.
    """
    in_axes = (0, *([None] * num_broadcast))
    batched = jax.vmap(fn, in_axes=in_axes)
    if self.backend == "none":
      return jax.jit(batched)
    if self.backend == "pmap":
      return jax.pmap(batched, in_axes=in_axes, devices=self.devices)
    if self.backend == "jit":
      return jax.jit(
        batched,
        in_shardings=(self.sharding, *([self.replicated] * num_broadcast)),
        out_shardings=self.sharding,
      )
    specs = (P(AXIS), *([P()] * num_broadcast))
    # No varying-axis type checks: library loops (optax L-BFGS's line search) start from
    # constants that the check would call unvarying while their updates vary per device.
    return jax.jit(
      jax.shard_map(batched, mesh=self.mesh, in_specs=specs, out_specs=P(AXIS), check_vma=False)
    )

  def broadcast(self, value: Any) -> Any:
    """A scalar argument shared by every point, placed for this backend."""
    value = np.asarray(value)
    if self.backend in ("jit", "shard_map") and jax.process_count() > 1:
      return jax.make_array_from_callback(value.shape, self.replicated, lambda index: value[index])
    return value

  def to_canonical(self, tree: PyTree) -> PyTree:
    """Device arrays with the point axis first (``[padded, ...]``), for checkpoints."""
    if self.backend != "pmap":
      return tree

    def merge(x):
      shape = (self.padded, *x.shape[2:])
      if isinstance(x, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(shape, x.dtype)
      return jnp.reshape(x, shape)

    return jax.tree.map(merge, tree)

  def from_canonical(self, tree: PyTree) -> PyTree:
    """Inverse of :meth:`to_canonical`."""
    if self.backend != "pmap":
      return tree
    return jax.tree.map(
      lambda x: jnp.reshape(x, (self.num_devices, self.per_device, *x.shape[1:])), tree
    )

  def canonical_sharding(self) -> jax.sharding.Sharding:
    """The sharding checkpoints are saved and restored with."""
    if self.backend in ("jit", "shard_map"):
      return self.sharding
    return jax.sharding.SingleDeviceSharding(self.devices[0])

  def to_host(self, tree: PyTree) -> PyTree:
    """NumPy copies ``[N, ...]`` with the padding dropped (PRNG keys as their raw data)."""

    def fetch(x):
      if is_key(x):
        x = jax.random.key_data(x)
      if self.backend == "pmap":
        x = np.asarray(x).reshape(self.padded, *x.shape[2:])
      elif jax.process_count() > 1 and not x.is_fully_addressable:
        x = multihost_utils.process_allgather(x, tiled=True)
      return np.asarray(x)[: self.num_points]

    return jax.tree.map(fetch, tree)
