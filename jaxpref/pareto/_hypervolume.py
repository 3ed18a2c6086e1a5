r"""Hypervolume: exact (JAX for m <= 3, host for any m), Monte Carlo, exclusive contributions.

In minimisation form, with reference point :math:`r`,

.. math:: \mathrm{HV}(A; r) = \mathrm{Leb}\Big(\bigcup_{a \in A,\, a \prec r} [a, r]\Big).

Points that are not strictly better than :math:`r` in every objective contribute nothing and are
dropped first; for ``sense="max"`` points and reference are negated. The JAX versions replace such
points (and padding rows, ``valid = False``) by :math:`r` itself, which adds no volume, so shapes
stay static. :func:`hypervolume` and :func:`hypervolume_contributions` pad the points to a shape
bucket (:mod:`jaxpref.shapes`; ``size=`` pins one) and run one jitted program per bucket, so a loop
over fronts of many sizes compiles a few programs.

Algorithms. Two objectives: sort by :math:`f_1`, running minimum of :math:`f_2`, sum of
rectangles, O(n log n). Three objectives: one ``lax.scan`` over the points in :math:`f_3` order.
The state is the height of the :math:`(f_1, f_2)` staircase over each interval
:math:`[x_i, x_{i+1})` of the points pre-sorted by :math:`f_1`; a new point lowers the heights from
its own :math:`f_1` position on (one elementwise minimum: no re-sort and no running minimum per
level), and each interval's area in the :math:`(f_2, f_3)` plane grows by depth times height.
O(n) per level, O(n^2) work in O(n) memory. The host version for any m slices the last
objective recursively (HSO) down to the vectorised 3-D case.

References:
  While, Hingston, Barone, Huband, A faster algorithm for calculating hypervolume, IEEE TEVC 2006
  (HSO); Beume, Fonseca, Lopez-Ibanez, Paquete, Vahrenhold, On the complexity of computing the
  hypervolume indicator, IEEE TEVC 2009.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.pareto._checks import (
  check_finite,
  check_points,
  check_valid,
  padded_points,
  to_min,
  unpad,
)
from jaxpref.pareto._host import host_points, moocore_or_none
from jaxpref.pareto._order import argsort
from jaxpref.types import Array, ArrayLike, HostArray, PRNGKey


def _prepare(F, ref_point, sense, valid, where):
  F = check_points("F", F, where=where)
  ref_point = check_points("ref_point", ref_point, ndim=1, m=F.shape[1], where=where)
  return _inside(F, ref_point, check_valid(valid, F.shape[0], where), sense)


def _bucketed(F, ref_point, valid, size, where):
  """``(F [N, m], ref_point [m], valid [N], n)``: checked, padded to a bucket."""
  F, valid, n = padded_points(F, valid, size, where)
  ref_point = check_points("ref_point", ref_point, ndim=1, m=F.shape[1], where=where)
  return F, ref_point, valid, n


def _inside(F, ref_point, valid, sense):
  """Minimisation form, with padding rows and points not beating ``r`` replaced by ``r``."""
  F, r = to_min(F, sense), to_min(ref_point, sense)
  inside = valid & jnp.all(r > F, axis=-1)
  return jnp.where(inside[:, None], F, r), r


@functools.partial(jax.jit, static_argnames=("sense",))
def _hypervolume_kernel(F, ref_point, valid, sense):
  return _exact(*_inside(F, ref_point, valid, sense))


@functools.partial(jax.jit, static_argnames=("sense",))
def _contributions_kernel(F, ref_point, valid, sense):
  P, r = _inside(F, ref_point, valid, sense)
  n = P.shape[0]
  total = _exact(P, r)
  without = jax.vmap(lambda i: _exact(jnp.where((jnp.arange(n) == i)[:, None], r, P), r))(
    jnp.arange(n)
  )
  return total - without


def _hv2(P: Array, r: Array) -> Array:
  # Ties in f1 need no second key: the widths between tied points are 0 and the last of them
  # sees the running minimum over all of them.
  order = argsort(P[:, 0])
  x, y = P[order, 0], P[order, 1]
  width = jnp.append(x[1:], r[0]) - x
  return jnp.sum(width * (r[1] - jax.lax.cummin(y)))


def _hv3(P: Array, r: Array) -> Array:
  n = P.shape[0]
  by_x = argsort(P[:, 0])
  x = P[by_x, 0]
  width = jnp.append(x[1:], r[0]) - x
  position = jnp.zeros(n, jnp.int32).at[by_x].set(jnp.arange(n, dtype=jnp.int32))
  by_z = argsort(P[:, 2])  # the levels
  z, pos, y = P[by_z, 2], position[by_z], P[by_z, 1]
  depth = jnp.append(z[1:], r[2]) - z
  index = jnp.arange(n)

  def level(carry, point):
    # low[i]: the least f2 over the points seen so far whose f1 position is <= i, i.e. the height
    # of the (f1, f2) staircase over [x_i, x_{i+1}); seeing point k lowers it from k's position on.
    low, volume = carry
    at, y_k, depth_k = point
    low = jnp.minimum(low, jnp.where(index >= at, y_k, r[1]))
    return (low, volume + depth_k * (r[1] - low)), None

  init = (jnp.full(n, r[1], P.dtype), jnp.zeros(n, P.dtype))
  (_, volume), _ = jax.lax.scan(level, init, (pos, y, depth))
  return jnp.sum(width * volume)  # volume[i]: the area of column i in the (f2, f3) plane


def _exact(P: Array, r: Array) -> Array:
  m = P.shape[1]
  if m == 1:
    return r[0] - jnp.min(P[:, 0])
  if m == 2:
    return _hv2(P, r)
  if m == 3:
    return _hv3(P, r)
  raise ValueError(
    f"hypervolume: exact JAX hypervolume covers 1 to 3 objectives; got m = {m}. Use "
    "hypervolume_host (exact, numpy) for evaluation or hypervolume_mc (Monte Carlo) under jit."
  )


def hypervolume(
  F: ArrayLike,
  *,
  ref_point: ArrayLike,
  sense: str = "min",
  valid: ArrayLike | None = None,
  size: int | None = None,
) -> Array:
  """Exact hypervolume of ``F`` with respect to ``ref_point``, for one to three objectives, in JAX.

  Jits and vmaps (over fronts of equal padded size; use ``valid`` for the real rows). The points
  are padded to a shape bucket (:mod:`jaxpref.shapes`), one compiled program per bucket.

  Args:
    F: ``[n, m]`` objective values, ``m`` in 1..3.
    ref_point: ``[m]`` reference point :math:`r` (worse than the points that should count).
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.
    size: pin the padded size (``>= n``) instead of the bucket.

  Returns:
    Scalar hypervolume.

  Raises:
    ValueError: for m > 3 (see :func:`hypervolume_host`, :func:`hypervolume_mc`), mismatched
      shapes, or NaN/inf values.

  Examples:
    >>> F = jnp.array([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]])
    >>> float(hypervolume(F, ref_point=jnp.array([5.0, 5.0])))
    12.0
    >>> F3 = jnp.array([[1.0, 2, 3], [2, 1, 3], [3, 2, 1], [2, 2, 2], [1, 3, 2]])
    >>> float(hypervolume(F3, ref_point=jnp.full(3, 4.0)))
    15.0
  """
  F, ref_point, valid, _ = _bucketed(F, ref_point, valid, size, "hypervolume")
  return _hypervolume_kernel(F, ref_point, valid, sense)


def hypervolume_contributions(
  F: ArrayLike,
  *,
  ref_point: ArrayLike,
  sense: str = "min",
  valid: ArrayLike | None = None,
  size: int | None = None,
) -> Array:
  r"""Exclusive contribution of every point to the hypervolume.

  .. math:: \Delta(a) = \mathrm{HV}(A) - \mathrm{HV}(A \setminus \{a\}).

  Dominated points, duplicates of another point and padding rows contribute 0. This is the exact
  leave-one-out value, so a dominated point does count towards its dominator's contribution
  (moocore's ``hv_contributions(..., ignore_dominated=False)``; moocore's default ignores
  dominated points). Computed by vmapping the exact hypervolume over the n leave-one-out sets
  (one to three objectives), O(n) hypervolumes.

  Args:
    F: ``[n, m]`` objective values, ``m`` in 1..3.
    ref_point: ``[m]`` reference point.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.
    size: pin the padded size (``>= n``) instead of the bucket (:mod:`jaxpref.shapes`).

  Returns:
    ``[n]`` contributions.

  Examples:
    >>> F = jnp.array([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]])
    >>> hypervolume_contributions(F, ref_point=jnp.array([5.0, 5.0])).tolist()
    [1.0, 2.0, 2.0, 0.0, 0.0]
  """
  F, ref_point, valid, n = _bucketed(F, ref_point, valid, size, "hypervolume_contributions")
  return unpad(_contributions_kernel(F, ref_point, valid, sense), n)


def hypervolume_mc(
  key: PRNGKey,
  F: ArrayLike,
  *,
  ref_point: ArrayLike,
  num_samples: int = 100_000,
  sense: str = "min",
  valid: ArrayLike | None = None,
  batch_size: int = 8192,
) -> Array:
  r"""Monte Carlo hypervolume for any number of objectives, in JAX.

  Samples uniformly in the box :math:`[\min_a a, r]` and returns its volume times the fraction of
  samples that some point weakly dominates. Unbiased; the relative standard error is
  :math:`\sqrt{(1 - p) / (p N)}` for a dominated fraction :math:`p` and N samples. Memory is
  ``batch_size * n * m`` per batch (``lax.map`` over batches).

  Args:
    key: PRNG key.
    F: ``[n, m]`` objective values.
    ref_point: ``[m]`` reference point.
    num_samples: N (rounded up to a multiple of ``batch_size``).
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.
    batch_size: samples per batch.

  Returns:
    Scalar estimate.

  References:
    Bader & Zitzler, HypE: an algorithm for fast hypervolume-based many-objective optimization,
    Evolutionary Computation 2011.

  Examples:
    >>> F = jnp.array([[1.0, 4], [2, 2], [3, 1]])
    >>> key = jax.random.key(0)
    >>> est = hypervolume_mc(key, F, ref_point=jnp.array([5.0, 5.0]), num_samples=200_000)
    >>> abs(float(est) - 12.0) < 0.1
    True
  """
  P, r = _prepare(F, ref_point, sense, valid, "hypervolume_mc")
  lower = jnp.min(P, axis=0)
  volume = jnp.prod(r - lower)
  batch_size = min(int(batch_size), int(num_samples))
  num_batches = -(-int(num_samples) // batch_size)
  keys = jax.random.split(key, num_batches)

  def count(k):
    u = jax.random.uniform(k, (batch_size, P.shape[1]), P.dtype, lower, r)
    hit = jnp.any(jnp.all(P[None, :, :] <= u[:, None, :], axis=-1), axis=-1)
    return jnp.sum(hit)

  hits = jnp.sum(jax.lax.map(count, keys))
  return volume * hits / (num_batches * batch_size)


def _nondominated_host(P: HostArray) -> HostArray:
  """Unique non-dominated rows of a minimisation set (numpy, O(n^2 m))."""
  P = np.unique(P, axis=0)
  le = np.all(P[:, None, :] <= P[None, :, :], axis=-1)
  lt = np.any(P[:, None, :] < P[None, :, :], axis=-1)
  return P[~np.any(le & lt, axis=0)]


def _hv2_host(P: HostArray, r: HostArray) -> float:
  P = P[np.lexsort((P[:, 1], P[:, 0]))]
  width = np.append(P[1:, 0], r[0]) - P[:, 0]
  return float(np.sum(width * (r[1] - np.minimum.accumulate(P[:, 1]))))


def _hv3_host(P: HostArray, r: HostArray, block: int = 1024) -> float:
  P = P[np.lexsort((P[:, 1], P[:, 0]))]
  width = np.append(P[1:, 0], r[0]) - P[:, 0]
  rank_z = np.empty(len(P), dtype=np.int64)
  rank_z[np.argsort(P[:, 2], kind="stable")] = np.arange(len(P))
  z = np.sort(P[:, 2])
  depth = np.append(z[1:], r[2]) - z
  total = 0.0
  for start in range(0, len(P), block):  # Levels in blocks: [block, n] masks at a time.
    levels = np.arange(start, min(start + block, len(P)))
    y = np.where(rank_z[None, :] <= levels[:, None], P[None, :, 1], r[1])
    area = np.sum(width * (r[1] - np.minimum.accumulate(y, axis=1)), axis=1)
    total += float(np.sum(area * depth[levels]))
  return total


def _hv_host(P: HostArray, r: HostArray) -> float:
  if len(P) == 0:
    return 0.0
  m = P.shape[1]
  if m == 1:
    return float(r[0] - P[:, 0].min())
  if m == 2:
    return _hv2_host(P, r)
  if m == 3:
    return _hv3_host(P, r)
  P = P[np.argsort(P[:, -1], kind="stable")]
  z = np.append(P[1:, -1], r[-1])
  total = 0.0
  for k in range(len(P)):
    slab = z[k] - P[k, -1]
    if slab > 0:
      total += slab * _hv_host(_nondominated_host(P[: k + 1, :-1]), r[:-1])
  return total


def hypervolume_host(
  F: ArrayLike, *, ref_point: ArrayLike, sense: str = "min", backend: str = "auto"
) -> float:
  """Exact hypervolume for any number of objectives, on the host (for evaluation).

  With ``backend="moocore"`` (the default ``"auto"`` when the package is installed) it calls
  moocore, the field's reference C implementation (O(n log n) for m <= 3). With ``"jaxpref"``
  (the fallback) it slices the last objective recursively (HSO) on the non-dominated points, down
  to an O(n^2) vectorised three-objective sweep: the cost grows as O(n^(m-2)) three-objective
  sweeps, fine for evaluation fronts (hundreds of points, m up to 5 or 6), not for training loops.

  Args:
    F: ``[n, m]`` objective values.
    ref_point: ``[m]`` reference point.
    sense: ``"min"`` or ``"max"``.
    backend: ``"auto"``, ``"moocore"`` or ``"jaxpref"``.

  Returns:
    The hypervolume as a Python float (float64).

  Examples:
    >>> F = [[1, 2, 3, 4], [4, 3, 2, 1], [2, 2, 2, 2], [3, 1, 4, 2]]
    >>> hypervolume_host(F, ref_point=[5, 5, 5, 5])
    99.0
  """
  where = "hypervolume_host"
  F = host_points(F, sense=sense, where=where)
  r = np.asarray(ref_point, dtype=np.float64)
  if r.shape != (F.shape[1],):
    raise ValueError(
      f"{where}: F must be [n, m] and ref_point [m] with the same m; got {F.shape}, {r.shape}."
    )
  check_finite(r, "ref_point", where)
  r = -r if sense == "max" else r
  moocore = moocore_or_none(backend, where)
  if moocore is not None and len(F):  # moocore skips points that do not beat r by itself
    return float(moocore.hypervolume(F, ref=r))
  P = F[np.all(r > F, axis=1)]
  return float(_hv_host(_nondominated_host(P), r)) if len(P) else 0.0
