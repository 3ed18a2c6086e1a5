r"""Pareto dominance, the non-dominated set and non-dominated sorting (front ranks).

In minimisation form, :math:`a \prec b` iff :math:`a_i \le b_i` for all :math:`i` and
:math:`a_j < b_j` for some :math:`j`. Duplicates do not dominate each other, so they share a front.
Shapes are static: rows that are padding carry ``valid = False`` and take no part. The public
functions pad the points to a shape bucket (:mod:`jaxpref.shapes`; ``size=`` pins one) and run one
jitted program per bucket, so a loop over sets of many sizes compiles a few programs.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.pareto._checks import padded_points, to_min, unpad
from jaxpref.pareto._host import host_points, moocore_or_none
from jaxpref.pareto._order import lexsort, order_by, ranks
from jaxpref.types import Array, ArrayLike, HostArray


def _matrix(F: Array, valid: Array) -> Array:
  le = jnp.all(F[:, None, :] <= F[None, :, :], axis=-1)
  lt = jnp.any(F[:, None, :] < F[None, :, :], axis=-1)
  return le & lt & valid[:, None] & valid[None, :]


@functools.partial(jax.jit, static_argnames=("sense",))
def _dominance_kernel(F, valid, sense):
  return _matrix(to_min(F, sense), valid)


@functools.partial(jax.jit, static_argnames=("sense",))
def _nondominated_kernel(F, valid, sense):
  F = to_min(F, sense)
  if F.shape[1] == 2:  # O(n log n) instead of the n x n matrix
    return _nondominated_2d(F, valid)
  return _front_ranks_sweep(F, valid) == 0  # O(n m) memory; faster than the matrix from n ~ 100


@functools.partial(jax.jit, static_argnames=("sense",))
def _front_ranks_kernel(F, valid, sense):
  F = to_min(F, sense)
  if F.shape[1] == 2:
    return _front_ranks_2d(F, valid)
  return _front_ranks_sweep(F, valid)


def dominance_matrix(
  F: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None, size: int | None = None
) -> Array:
  r"""``D[i, j] = True`` iff point ``i`` Pareto-dominates point ``j``.

  .. math:: D_{ij} = \bigwedge_k F_{ik} \le F_{jk} \;\wedge\; \bigvee_k F_{ik} < F_{jk}.

  O(n^2 m) time and n^2 memory; padding rows and columns (``valid = False``) are all ``False``.

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.
    size: pin the padded size (``>= n``) instead of the bucket.

  Returns:
    ``[n, n]`` boolean matrix.

  Examples:
    >>> dominance_matrix(jnp.array([[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]])).astype(int).tolist()
    [[0, 1, 0], [0, 0, 0], [0, 1, 0]]
  """
  F, valid, n = padded_points(F, valid, size, "dominance_matrix")
  return unpad(_dominance_kernel(F, valid, sense), n, axes=2)


def nondominated_mask(
  F: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None, size: int | None = None
) -> Array:
  """``True`` for the valid points that no valid point dominates (front 0).

  Two objectives: a running minimum in lexicographic order, O(n log n). More objectives: front 0
  of :func:`front_ranks`'s sweep, O(n^2 m) work in O(n m) memory.

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.
    size: pin the padded size (``>= n``) instead of the bucket.

  Returns:
    ``[n]`` boolean mask.

  Examples:
    >>> F = jnp.array([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]])
    >>> nondominated_mask(F).tolist()
    [True, True, True, False, False]
  """
  F, valid, n = padded_points(F, valid, size, "nondominated_mask")
  return unpad(_nondominated_kernel(F, valid, sense), n)


def front_ranks(
  F: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None, size: int | None = None
) -> Array:
  """Non-dominated sorting: the front index of every point (0 = non-dominated), -1 for padding.

  Two objectives: one sweep in lexicographic order (a ``lax.scan``), assigning each point to the
  first front whose last point does not dominate it (a search over the fronts' last f2
  values; an exact duplicate joins its twin's front), O(n log n). More objectives: one
  ``lax.scan`` in lexicographic order, where every dominator of a point comes before it; the
  point's front is one more than the largest front among the earlier points that weakly dominate
  it in objectives 2..m (compared as integer ranks), O(n^2 m) work in O(n m) memory. The orders
  come from single integer sorts, several times faster on XLA's CPU backend than float sorts.

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.
    size: pin the padded size (``>= n``) instead of the bucket.

  Returns:
    ``[n]`` int32 front indices.

  References:
    Deb, Pratap, Agarwal, Meyarivan, A fast and elitist multiobjective genetic algorithm: NSGA-II,
    IEEE TEVC 2002.

  Examples:
    >>> F = jnp.array([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]])
    >>> front_ranks(F).tolist()
    [0, 0, 0, 1, 2]
  """
  F, valid, n = padded_points(F, valid, size, "front_ranks")
  return unpad(_front_ranks_kernel(F, valid, sense), n)


def _order_ranks_host(F: HostArray) -> HostArray:
  """Each objective replaced by its dense rank (float32, exact below 2^24 distinct values).

  Dominance depends only on the order within each objective, so the ranks give the same fronts as
  the float64 values, also where JAX runs without x64 (in float32 two close values could tie).
  """
  ranks = [np.unique(F[:, j], return_inverse=True)[1].reshape(-1) for j in range(F.shape[1])]
  return np.stack(ranks, axis=1).astype(np.float32)


def front_ranks_host(F: ArrayLike, *, sense: str = "min", backend: str = "auto") -> HostArray:
  """Non-dominated sorting on the host (for evaluation of large sets): front index per point.

  With ``backend="moocore"`` (the default ``"auto"`` when the package is installed) it calls
  moocore's ``pareto_rank`` (the field's reference C implementation); with ``"jaxpref"`` (the
  fallback) :func:`front_ranks` on each objective's exact ranks, so the answer is exact in
  float64 with or without JAX's x64 mode.

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    backend: ``"auto"``, ``"moocore"`` or ``"jaxpref"``.

  Returns:
    ``[n]`` int32 NumPy array of front indices (0 = non-dominated).

  Examples:
    >>> front_ranks_host([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]]).tolist()
    [0, 0, 0, 1, 2]
  """
  F = host_points(F, sense=sense, where="front_ranks_host")
  moocore = moocore_or_none(backend, "front_ranks_host")
  if moocore is not None:
    return np.asarray(moocore.pareto_rank(F), dtype=np.int32)
  return np.asarray(front_ranks(_order_ranks_host(F)), dtype=np.int32)


def nondominated_mask_host(F: ArrayLike, *, sense: str = "min", backend: str = "auto") -> HostArray:
  """Front 0 on the host: ``True`` for the points no other point dominates (duplicates kept).

  With ``backend="moocore"`` (the default ``"auto"`` when installed) it calls moocore's
  ``is_nondominated(..., keep_weakly=True)``; with ``"jaxpref"`` :func:`nondominated_mask` on each
  objective's exact ranks.

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    backend: ``"auto"``, ``"moocore"`` or ``"jaxpref"``.

  Returns:
    ``[n]`` boolean NumPy array.

  Examples:
    >>> nondominated_mask_host([[1.0, 4], [2, 2], [3, 1], [3, 3], [2, 2]]).tolist()
    [True, True, True, False, True]
  """
  F = host_points(F, sense=sense, where="nondominated_mask_host")
  moocore = moocore_or_none(backend, "nondominated_mask_host")
  if moocore is not None:
    return np.asarray(moocore.is_nondominated(F, keep_weakly=True), dtype=bool)
  return np.asarray(nondominated_mask(_order_ranks_host(F)), dtype=bool)


def _lexicographic_2d(F: Array, valid: Array) -> tuple[Array, Array, Array]:
  """The lexicographic order of two-objective points, padding last.

  Returns:
    ``(order, y, same)``: the order, f2 in that order, and whether each point in that order
    equals the one before it.
  """
  P = jnp.where(valid[:, None], F, jnp.finfo(F.dtype).max)
  order = lexsort((P[:, 1], P[:, 0]))
  x, y = P[order, 0], P[order, 1]
  same = jnp.concatenate([jnp.zeros(1, bool), (x[1:] == x[:-1]) & (y[1:] == y[:-1])])
  return order, y, same


def _front_ranks_2d(F: Array, valid: Array) -> Array:
  n = F.shape[0]
  order, y, same = _lexicographic_2d(F, valid)
  method = "scan_unrolled" if n <= 4096 else "scan"  # unrolled: faster on CPU, but not at 10^4

  def step(carry, i):
    last, prev = carry  # last[k]: f2 of front k's latest point (non-decreasing in k)
    k = jnp.where(same[i], prev, jnp.searchsorted(last, y[i], side="right", method=method))
    last = last.at[k].set(jnp.where(same[i], last[k], y[i]))
    return (last, k), k

  init = (jnp.full(n, jnp.inf, F.dtype), jnp.int32(0))
  _, ranks_sorted = jax.lax.scan(step, init, jnp.arange(n))
  ranks = jnp.zeros(n, jnp.int32).at[order].set(ranks_sorted.astype(jnp.int32))
  return jnp.where(valid, ranks, -1)


def _nondominated_2d(F: Array, valid: Array) -> Array:
  """Front 0 for two objectives, O(n log n) without a sequential sweep.

  In lexicographic order a point is dominated iff an earlier point that is not its duplicate has
  f2 <= its f2; duplicates are adjacent and share the fate of the first of them.
  """
  n = F.shape[0]
  order, y, same = _lexicographic_2d(F, valid)
  index = jnp.arange(n)
  before = jnp.concatenate([jnp.full(1, jnp.inf, y.dtype), jax.lax.cummin(y)[:-1]])
  keep = before > y  # for the first of a group every earlier point is a different point
  group = jax.lax.cummax(jnp.where(same, 0, index))  # the first of each group of duplicates
  mask = jnp.zeros(n, bool).at[order].set(keep[group])
  return mask & valid


_BLOCK = 8  # points per step of the m >= 3 sweep


def _front_ranks_sweep(F: Array, valid: Array) -> Array:
  """Front ranks for m >= 3: one pass in lexicographic order, O(n^2 m) work, O(n m) memory.

  In lexicographic order every dominator of a point comes before it and duplicates are adjacent,
  so when point i is reached every dominator already has its front, and i's front is one more
  than the largest of theirs. Among the points before i, weak dominance in objectives 2..m is
  dominance (or duplication, handled by adjacency), so the test needs only those objectives, on
  integer ranks. The scan takes blocks of ``_BLOCK`` points: one vectorised test against all
  earlier points, then the few dependencies inside the block in order (4x faster at n = 10^4
  than one point per step).
  """
  n, m = F.shape
  big = jnp.finfo(F.dtype).max
  P = jnp.where(valid[:, None], F, big)  # padding sorts last
  R = [ranks(P[:, j]) for j in range(m)]
  order = order_by(R)
  R = jnp.stack([r[order] for r in R])  # [m, n], in lexicographic order
  same = jnp.concatenate([jnp.zeros(1, bool), jnp.all(R[:, 1:] == R[:, :-1], axis=0)])
  b, num_blocks = _BLOCK, -(-n // _BLOCK)
  pad = num_blocks * b - n  # filler points rank n everywhere: they dominate no point
  rest = jnp.pad(R[1:], ((0, 0), (0, pad)), constant_values=n)  # [m - 1, n + pad]
  same = jnp.pad(same, (0, pad))
  before = jnp.arange(b)[:, None] < jnp.arange(b)[None, :]

  def step(carry, block):
    front, prev = carry  # front[j]: the rank of point j, -1 until it is reached
    start, r, dup = block  # r: [m - 1, b], the block's points
    dominates = jnp.all(rest[:, :, None] <= r[:, None, :], axis=0)  # only reached points count
    earlier = jnp.max(jnp.where(dominates, front[:, None], -1), axis=0)
    within = jnp.all(r[:, :, None] <= r[:, None, :], axis=0) & before
    fronts = jnp.full(b, -1, jnp.int32)
    for t in range(b):
      k = jnp.maximum(earlier[t], jnp.max(jnp.where(within[:, t], fronts, -1))) + 1
      prev = jnp.where(dup[t], prev, k)
      fronts = fronts.at[t].set(prev)
    return (jax.lax.dynamic_update_slice(front, fronts, (start,)), prev), None

  blocks = (
    jnp.arange(num_blocks) * b,
    rest.reshape(m - 1, num_blocks, b).transpose(1, 0, 2),
    same.reshape(num_blocks, b),
  )
  init = (jnp.full(n + pad, -1, jnp.int32), jnp.int32(0))
  (front, _), _ = jax.lax.scan(step, init, blocks)
  ranks_out = jnp.zeros(n, jnp.int32).at[order].set(front[:n])
  return jnp.where(valid, ranks_out, -1)
