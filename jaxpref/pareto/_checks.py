"""Input checks shared by the Pareto toolkit.

Every public function in :mod:`jaxpref.pareto` jits and vmaps, so values can only be checked when
they are concrete. The checks below run on concrete inputs (eager calls, or the host side of a
jitted program's arguments) and are skipped on tracers, where only shapes are checked.
"""

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.shapes import bucket_size
from jaxpref.types import Array, ArrayLike, HostArray

Sense = Literal["min", "max"]


def is_concrete(*xs: ArrayLike | None) -> bool:
  """True when no argument is a tracer (values can be inspected)."""
  return not any(isinstance(x, jax.core.Tracer) for x in xs)


def check_sense(sense: str) -> None:
  """Raises a ValueError unless ``sense`` is ``"min"`` or ``"max"``."""
  if sense not in ("min", "max"):
    raise ValueError(f'sense must be "min" or "max"; got {sense!r}.')


def to_min(F: ArrayLike, sense: str) -> Array:
  """Returns ``F`` in minimisation form (negated for ``sense="max"``)."""
  check_sense(sense)
  return -jnp.asarray(F) if sense == "max" else jnp.asarray(F)


def check_finite(x: HostArray, name: str, where: str = "") -> None:
  """Raises a ValueError naming the first non-finite entry of the host array ``x``."""
  bad = ~np.isfinite(x)
  if bad.any():
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    prefix = f"{where}: " if where else ""
    raise ValueError(f"{prefix}{name} must be finite; {name}{list(idx)} = {x[idx]}.")


def check_points(
  name: str, F: ArrayLike, *, ndim: int | None = 2, m: int | None = None, where: str = ""
) -> Array:
  """Checks shape (and finiteness when concrete) of an objective array; returns it as an array.

  Args:
    name: the argument name used in messages.
    F: the values; ``[..., n, m]`` points (``ndim=2`` means exactly ``[n, m]``).
    ndim: the required number of axes, or ``None`` for at least one.
    m: the required size of the last axis (number of objectives), or ``None``.
    where: the calling function, for messages.

  Returns:
    ``F`` as a floating JAX array.

  Raises:
    ValueError: on a wrong number of axes, a mismatched last axis, or (when concrete) NaN/inf.
  """
  if isinstance(F, jax.Array):  # a device array or a tracer
    if not jnp.issubdtype(F.dtype, jnp.floating):
      F = F.astype(jnp.result_type(float))
  else:  # host data: converted by numpy and device_put (jnp.asarray compiles one program per shape)
    host = np.asarray(F)
    if not np.issubdtype(host.dtype, np.floating):
      host = host.astype(jnp.result_type(float))
    F = jax.device_put(host)
  prefix = f"{where}: " if where else ""
  if ndim is not None and F.ndim != ndim:
    raise ValueError(f"{prefix}{name} must have {ndim} axes; got shape {F.shape}.")
  if F.ndim < 1:
    raise ValueError(f"{prefix}{name} must have at least one axis; got a scalar.")
  if m is not None and F.shape[-1] != m:
    raise ValueError(
      f"{prefix}{name} has {F.shape[-1]} objectives (last axis) but {m} were expected; "
      "the number of objectives must match."
    )
  if is_concrete(F):
    check_finite(np.asarray(F), name, where)
  return F


def check_valid(valid: ArrayLike | None, n: int, where: str) -> Array:
  """Returns the ``[n]`` boolean mask of real rows (all ``True`` when ``valid`` is ``None``)."""
  if valid is None:
    return jnp.ones((n,), dtype=bool)
  valid = jnp.asarray(valid)
  if valid.shape != (n,) or valid.dtype != jnp.bool_:
    raise ValueError(
      f"{where}: valid must be a boolean [n] = [{n}] mask; got {valid.dtype}{valid.shape}."
    )
  return valid


def check_simplex(name: str, w: ArrayLike, *, where: str = "", atol: float = 1e-6) -> Array:
  """Checks that the last axis of ``w`` lies on the probability simplex (when concrete).

  Args:
    name: the argument name used in messages.
    w: ``[..., m]`` weights.
    where: the calling function, for messages.
    atol: tolerance on the sum and on negativity.

  Returns:
    ``w`` as a floating JAX array.

  Raises:
    ValueError: if ``w`` is not finite, has a negative entry or does not sum to one.
  """
  w = check_points(name, w, ndim=None, where=where)
  if is_concrete(w):
    prefix = f"{where}: " if where else ""
    wh = np.asarray(w, dtype=np.float64)
    if (wh < -atol).any():
      idx = tuple(int(i) for i in np.argwhere(wh < -atol)[0])
      raise ValueError(
        f"{prefix}{name} must be non-negative (on the simplex); {name}{list(idx)} = {wh[idx]}."
      )
    sums = wh.sum(axis=-1)
    off = np.abs(sums - 1.0) > atol * max(1, wh.shape[-1])
    if off.any():
      idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(off))[0])
      total = np.atleast_1d(sums)[idx]
      raise ValueError(
        f"{prefix}{name} must sum to 1 over its last axis (on the simplex); "
        f"a row sums to {total:.6g}."
      )
  return w


def padded_points(F: ArrayLike, valid: ArrayLike | None, size: int | None, where: str):
  """``(F [N, m], valid [N], n)``: checked points padded to ``N = bucket_size(n, size=size)``.

  Concrete inputs (eager calls, where each new size would compile) are padded on the host and
  returned as numpy arrays (a jitted kernel takes them without compiling anything per size).
  Traced inputs are already inside one compiled program: they are padded (``jnp.pad``) only to an
  explicit ``size``. Padding rows are zeros with ``valid = False``.
  """
  F = check_points("F", F, where=where)
  n = F.shape[0]
  concrete = is_concrete(F, valid)
  if not concrete and size is None:  # traced: the caller's program has one shape
    return F, check_valid(valid, n, where), n
  N = bucket_size(n, size=size)
  if concrete:
    rows = np.ones(n, bool) if valid is None else np.asarray(check_valid(valid, n, where))
    padded = np.zeros((N, F.shape[1]), F.dtype)
    padded[:n] = np.asarray(F)
    mask = np.zeros(N, bool)
    mask[:n] = rows
    return padded, mask, n
  rows = check_valid(valid, n, where)
  return jnp.pad(F, ((0, N - n), (0, 0))), jnp.pad(rows, (0, N - n)), n


def unpad(x: Array, n: int, axes: int = 1) -> Array:
  """The first ``n`` entries along the leading ``axes`` axes (a host slice when concrete)."""
  index = (slice(0, n),) * axes
  if is_concrete(x):
    return jax.device_put(np.asarray(x)[index])  # jnp.asarray would compile per shape
  return x[index]
