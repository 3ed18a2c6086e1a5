r"""Pareto dominance, the non-dominated set and non-dominated sorting (front ranks).

In minimisation form, :math:`a \prec b` iff :math:`a_i \le b_i` for all :math:`i` and
:math:`a_j < b_j` for some :math:`j`. Duplicates do not dominate each other, so they share a front.
Shapes are static: rows that are padding carry ``valid = False`` and take no part.
"""

import jax
import jax.numpy as jnp

from jaxpref.pareto._checks import check_points, check_valid, to_min
from jaxpref.types import Array, ArrayLike


def dominance_matrix(F: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None) -> Array:
  r"""``D[i, j] = True`` iff point ``i`` Pareto-dominates point ``j``.

  .. math:: D_{ij} = \bigwedge_k F_{ik} \le F_{jk} \;\wedge\; \bigvee_k F_{ik} < F_{jk}.

  O(n^2 m) time and n^2 memory; padding rows and columns (``valid = False``) are all ``False``.

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.

  Returns:
    ``[n, n]`` boolean matrix.

  Examples:
    >>> dominance_matrix(jnp.array([[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]])).astype(int).tolist()
    [[0, 1, 0], [0, 0, 0], [0, 1, 0]]
  """
  F = to_min(check_points("F", F, where="dominance_matrix"), sense)
  valid = check_valid(valid, F.shape[0], "dominance_matrix")
  le = jnp.all(F[:, None, :] <= F[None, :, :], axis=-1)
  lt = jnp.any(F[:, None, :] < F[None, :, :], axis=-1)
  return le & lt & valid[:, None] & valid[None, :]


def nondominated_mask(F: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None) -> Array:
  """``True`` for the valid points that no valid point dominates (front 0).

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.

  Returns:
    ``[n]`` boolean mask.

  Examples:
    >>> F = jnp.array([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]])
    >>> nondominated_mask(F).tolist()
    [True, True, True, False, False]
  """
  F = check_points("F", F, where="nondominated_mask")
  valid = check_valid(valid, F.shape[0], "nondominated_mask")
  D = dominance_matrix(F, sense=sense, valid=valid)
  return valid & ~jnp.any(D, axis=0)


def front_ranks(F: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None) -> Array:
  """Non-dominated sorting: the front index of every point (0 = non-dominated), -1 for padding.

  Fronts are peeled with a ``lax.while_loop``: front k is the set of remaining points that no
  remaining point dominates. Each peel costs one O(n^2) update of the domination counts, so the
  total is O(n^2 m + K n^2) for K fronts.

  Args:
    F: ``[n, m]`` objective values.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` boolean mask of real rows.

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
  F = check_points("F", F, where="front_ranks")
  valid = check_valid(valid, F.shape[0], "front_ranks")
  D = dominance_matrix(F, sense=sense, valid=valid).astype(jnp.int32)
  count = jnp.sum(D, axis=0)  # How many remaining points dominate each point.
  ranks = jnp.full(F.shape[0], -1, dtype=jnp.int32)

  def cond(carry):
    _, remaining, _, _ = carry
    return jnp.any(remaining)

  def body(carry):
    ranks, remaining, count, k = carry
    front = remaining & (count == 0)
    ranks = jnp.where(front, k, ranks)
    count = count - front.astype(jnp.int32) @ D
    return ranks, remaining & ~front, count, k + 1

  ranks, *_ = jax.lax.while_loop(cond, body, (ranks, valid, count, jnp.int32(0)))
  return ranks
