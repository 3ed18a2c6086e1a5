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

Within a point, the ``jit`` backend can also split the work of a large model over two more mesh
axes, ``data`` and ``fsdp`` (``PointMapper(..., data=D, fsdp=F)``: the mesh is
``[devices / (D F), D, F]`` over ``(points, data, fsdp)``). The per-point function marks its
batch with :func:`shard_batch` (rows split over ``data``; gradients of replicated parameters are
averaged by the compiler) and its parameters and optimizer state with :func:`shard_params`
(each array split along its largest dimension over ``fsdp``, gathered where used); outside such a
mesh both are the identity, so the same function runs on one device. The program is
``jit(vmap(f, spmd_axis_name="points"))`` traced under the (abstract) mesh, with the layouts left
to these constraints (no hand-written collectives).

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
DATA = "data"
FSDP = "fsdp"


def _context_axis(name: str) -> int:
  """The size of mesh axis ``name`` in the current mesh context (1 if absent)."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty or name not in mesh.axis_names:
    return 1
  return int(dict(mesh.shape)[name])


def shard_batch(tree: PyTree, *, axis: int = 0) -> PyTree:
  """Splits each array's ``axis`` (its rows) over the mesh's ``data`` axis.

  The identity outside a mesh with a ``data`` axis of size > 1, and for arrays whose ``axis``
  does not divide evenly (they stay replicated). Traceable; use inside the per-point function.
  """
  size = _context_axis(DATA)
  if size == 1:
    return tree

  def constrain(x):
    if x.ndim <= axis or x.shape[axis] % size:
      return x
    spec = [None] * x.ndim
    spec[axis] = DATA
    return jax.lax.with_sharding_constraint(x, P(*spec))

  return jax.tree.map(constrain, tree)


def param_spec(shape: tuple[int, ...], size: int) -> P:
  """The FSDP layout of an array: its largest dimension divisible by ``size`` over ``fsdp``."""
  order = sorted(range(len(shape)), key=lambda d: (-shape[d], d))
  for d in order:
    if shape[d] % size == 0 and shape[d] >= size:
      spec = [None] * len(shape)
      spec[d] = FSDP
      return P(*spec)
  return P()


def shard_params(tree: PyTree) -> PyTree:
  """Splits each array along its largest (evenly divisible) dimension over the ``fsdp`` axis.

  The identity outside a mesh with an ``fsdp`` axis of size > 1; arrays with no divisible
  dimension (scalars, counters) stay replicated. Traceable; use inside the per-point function
  on parameters and optimizer state (their layout then carries over between steps).
  """
  size = _context_axis(FSDP)
  if size == 1:
    return tree

  def constrain(x):
    if not hasattr(x, "shape") or is_key(x):
      return x
    spec = param_spec(tuple(x.shape), size)
    return x if spec == P() else jax.lax.with_sharding_constraint(x, spec)

  return jax.tree.map(constrain, tree)


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
    num_devices: devices to use; ``-1`` means all (all local devices for ``"pmap"``), but never
      more than the points fill (``num_points * data * fsdp``), so no device runs only padding.
    data: size of the ``data`` mesh axis (rows of a point's batch), ``"jit"`` backend only.
    fsdp: size of the ``fsdp`` mesh axis (a point's parameters), ``"jit"`` backend only.

  Raises:
    ValueError: on an unknown backend, an impossible device count, or ``"pmap"`` across
      processes.
  """

  def __init__(
    self, backend: str, num_points: int, num_devices: int = -1, *, data: int = 1, fsdp: int = 1
  ):
    if backend not in BACKENDS:
      raise ValueError(f"Unknown mesh backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if backend == "pmap" and jax.process_count() > 1:
      raise ValueError("The pmap backend runs on one host; use 'jit' or 'shard_map' across hosts.")
    data, fsdp = int(data), int(fsdp)
    if data < 1 or fsdp < 1:
      raise ValueError(f"mesh.data and mesh.fsdp must be >= 1, got {data} and {fsdp}.")
    devices = jax.local_devices() if backend == "pmap" else jax.devices()
    if backend == "none":
      num_devices = 1
    elif num_devices == -1:  # All devices, but none that would only compute padded copies.
      num_devices = min(len(devices), max(1, int(num_points)) * data * fsdp)
    if not 1 <= num_devices <= len(devices):
      raise ValueError(
        f"config.mesh.devices={num_devices}: {len(devices)} device(s) available (-1 = all)."
      )
    if data * fsdp > 1 and backend != "jit":
      raise ValueError(f"mesh.data / mesh.fsdp need the 'jit' backend, not {backend!r}.")
    if num_devices % (data * fsdp):
      raise ValueError(
        f"{num_devices} device(s) do not split into mesh.data={data} x mesh.fsdp={fsdp}."
      )
    self.backend = backend
    self.num_points = int(num_points)
    self.num_devices = int(num_devices)
    self.data, self.fsdp = data, fsdp
    self.point_devices = self.num_devices // (data * fsdp)  # size of the points axis
    self.padded = math.ceil(self.num_points / self.point_devices) * self.point_devices
    self.devices = devices[: self.num_devices]
    self.mesh = None
    if backend in ("jit", "shard_map"):
      shape, names = (self.num_devices,), (AXIS,)
      if data * fsdp > 1:
        shape, names = (self.point_devices, data, fsdp), (AXIS, DATA, FSDP)
      self.mesh = jax.make_mesh(
        shape,
        names,
        axis_types=(jax.sharding.AxisType.Auto,) * len(shape),
        devices=self.devices,
      )
      self.sharding = NamedSharding(self.mesh, P(AXIS))
      self.replicated = NamedSharding(self.mesh, P())

  @property
  def per_device(self) -> int:
    """Points per device (after padding)."""
    return self.padded // self.num_devices

  @property
  def within_point(self) -> bool:
    """Whether a point's own work is split over ``data`` / ``fsdp`` mesh axes."""
    return self.data * self.fsdp > 1

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
    if self.within_point:  # layouts from shard_batch / shard_params inside fn, under the mesh
      mesh, vmapped = self.mesh.abstract_mesh, jax.vmap(fn, in_axes=in_axes, spmd_axis_name=AXIS)

      def in_mesh(*args):
        with jax.sharding.use_abstract_mesh(mesh):
          return vmapped(*args)

      return jax.jit(in_mesh)
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
