"""Exact stable sorting orders and ranks from single-operand integer sorts.

XLA's CPU backend sorts one integer array several times faster than it sorts a float array or
several arrays together (``benchmarks/README.md``: 256 rows of 100 float64 values take about
2.7 ms with ``jnp.argsort``, 1.1 ms here). So :func:`ranks` maps the keys to integers with the
same order, sorts those alone and finds every key's first position by binary search;
:func:`argsort`, :func:`order_by` and :func:`lexsort` then sort the packed integers
``rank * 2^b + index`` (ranks of several keys side by side for a lexicographic order), which are
distinct: the results equal
NumPy's ``argsort(kind="stable")`` and ``lexsort``. ``-0.0`` and ``0.0`` tie; keys must not be NaN
(the Pareto toolkit checks finiteness). Where the packed integer would not fit (int64 with
``jax_enable_x64``, int32 without), the functions fall back to ``jnp.argsort``.
"""

import jax
import jax.numpy as jnp

from jaxpref.types import Array


def _ordered_ints(x: Array) -> Array:
  """Integers that order as the floats ``x`` do (IEEE sign-magnitude to two's complement)."""
  x = jnp.where(x == 0, jnp.zeros_like(x), x)  # -0.0 ties with 0.0
  kind = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[x.dtype.itemsize]
  bits = jax.lax.bitcast_convert_type(x, kind)
  return bits ^ ((bits >> (8 * x.dtype.itemsize - 1)) & jnp.iinfo(kind).max)


def ranks(keys: Array) -> Array:
  """For every key, how many keys are strictly smaller (equal keys share a rank).

  ``ranks(a)[i] < ranks(a)[j]`` iff ``a[i] < a[j]``, and equal iff the keys are equal, so integer
  ranks can stand in for the keys in comparisons.

  Args:
    keys: ``[n]`` float or integer values (no NaN).

  Returns:
    ``[n]`` int32 ranks in ``[0, n)``.
  """
  ints = _ordered_ints(keys) if jnp.issubdtype(keys.dtype, jnp.floating) else keys
  method = "scan_unrolled" if keys.shape[0] <= 4096 else "scan"  # unrolled: faster for small n
  return jnp.searchsorted(jax.lax.sort(ints), ints, side="left", method=method).astype(jnp.int32)


def _packed_order(rank_arrays: list[Array], n: int) -> Array | None:
  """The stable lexicographic order of ``rank_arrays`` (primary first), or None if it won't fit."""
  wide = jnp.dtype(jnp.int64) if jax.config.jax_enable_x64 else jnp.dtype(jnp.int32)
  shift = max(1, (n - 1).bit_length())
  if (len(rank_arrays) + 1) * shift > 8 * wide.itemsize - 1:
    return None
  packed = jnp.zeros(n, wide)
  for r in rank_arrays:
    packed = (packed << shift) | r.astype(wide)
  packed = (packed << shift) | jnp.arange(n, dtype=wide)
  return (jax.lax.sort(packed) & ((1 << shift) - 1)).astype(jnp.int32)


def argsort(keys: Array) -> Array:
  """Stable argsort of a 1-D float or integer array, as ``np.argsort(keys, kind="stable")``.

  Args:
    keys: ``[n]`` values (no NaN).

  Returns:
    ``[n]`` int32 permutation that sorts ``keys``, ties in input order.
  """
  order = _packed_order([ranks(keys)], keys.shape[0])
  return jnp.argsort(keys, stable=True).astype(jnp.int32) if order is None else order


def order_by(rank_arrays: list[Array]) -> Array:
  """Stable lexicographic order of integer ranks (from :func:`ranks`), the first array primary.

  Args:
    rank_arrays: ``[n]`` int32 arrays with values in ``[0, n)``, most significant first.

  Returns:
    ``[n]`` int32 permutation.
  """
  order = _packed_order(rank_arrays, rank_arrays[0].shape[0])
  if order is None:  # sort by one key at a time, least significant first (stable)
    order = argsort(rank_arrays[-1])
    for r in reversed(rank_arrays[:-1]):
      order = order[argsort(r[order])]
  return order


def lexsort(keys: tuple[Array, ...] | list[Array]) -> Array:
  """Stable lexicographic argsort, the last key primary (as ``np.lexsort``).

  Args:
    keys: ``[n]`` arrays, least significant first.

  Returns:
    ``[n]`` int32 permutation.
  """
  return order_by([ranks(k) for k in reversed(keys)])
