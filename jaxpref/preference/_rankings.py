"""Rankings and K-wise choices as padded device arrays: what a Plackett-Luce model is fitted on.

One row is a choice set of ``size`` items listed best first, of which the first ``num_ranked`` are
ordered (the rest are the unranked remainder of the set):

- a full ranking of K items: ``size = K``, ``num_ranked = K - 1`` (the last place is implied);
- a top-k ranking out of K shown items: ``size = K``, ``num_ranked = k``, the k ranked items first;
- a K-wise choice (the chosen one among K): ``size = K``, ``num_ranked = 1``, the chosen item
  first.

Ties: an optional ``tier`` array gives each listed item its place, equal places tied (dense ranks
0, 1, ... best first, non-decreasing along the row); the unranked remainder of a top-k row has
tier ``K`` (the row width). Only :class:`~jaxpref.preference.PlackettLuce` with
``ties="davidson"`` (Davidson-Luce) reads tiers; a tie-free model refuses rows that carry them.

Rows are padded to a common width with item ``-1`` so that batches of mixed sizes keep one shape.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike


class Rankings(NamedTuple):
  """Rankings / K-wise choices as a pytree of ``[R]``-leading arrays.

  Attributes:
    items: ``[R, K]`` int item ids, best first; ``-1`` pads a row beyond its ``size``.
    size: ``[R]`` number of items in each row's choice set (>= 2).
    num_ranked: ``[R]`` how many leading items are ordered (1 for a choice, ``size - 1`` or
      ``size`` for a full ranking).
    weight: ``[R]`` non-negative weight of each row in the likelihood.
    tier: ``[R, K]`` int place of each item (equal = tied; see the module docstring), or ``None``
      for rows without ties (the place is the position).
  """

  items: Array
  size: Array
  num_ranked: Array
  weight: Array
  tier: Array | None = None


def make_rankings(
  rankings: Sequence[Sequence[int]],
  *,
  num_ranked: ArrayLike | None = None,
  weight: ArrayLike | None = None,
  width: int | None = None,
  places: Sequence[Sequence[float]] | None = None,
) -> Rankings:
  """Builds :class:`Rankings` from lists of item ids, best first.

  Args:
    rankings: one list per row: the ranked items first, then (for top-k data) the unranked rest of
      the choice set.
    num_ranked: ``[R]`` ordered items per row; ``len(row) - 1`` (a full ranking) when ``None``,
      ``len(row)`` when ``places`` are given.
    weight: ``[R]`` row weights; ones when ``None``.
    width: pad every row to this many columns (a bucket size, so that batches of different widths
      share one compiled fit); the longest row when ``None``.
    places: optional, one list per row of the ranked items' places (any numbers, smaller is
      better, equal = tied, non-decreasing along the row); stored as dense tiers.

  Returns:
    The padded :class:`Rankings` (validate with :func:`check_rankings`).

  Raises:
    ValueError: on an empty batch, a row longer than ``width``, or mismatched lengths.
  """
  rows = [list(map(int, r)) for r in rankings]
  if not rows:
    raise ValueError("rankings is empty.")
  longest = max(len(r) for r in rows)
  width = longest if width is None else int(width)
  if longest > width:
    raise ValueError(f"a ranking has {longest} items, more than width={width}.")
  items = np.full((len(rows), width), -1, np.int32)
  for k, r in enumerate(rows):
    items[k, : len(r)] = r
  size = np.array([len(r) for r in rows], np.int32)
  default_ranked = size if places is not None else size - 1
  ranked = default_ranked if num_ranked is None else np.asarray(num_ranked, np.int32)
  tier = None if places is None else _tiers(places, ranked, width)
  w = np.ones(len(rows)) if weight is None else np.asarray(weight, np.float64)
  if ranked.shape != size.shape or w.shape != size.shape:
    raise ValueError(
      f"num_ranked and weight need one entry per ranking ({len(rows)}); got "
      f"{ranked.shape} and {w.shape}."
    )
  dtype = jnp.zeros(()).dtype
  return Rankings(
    jnp.asarray(items),
    jnp.asarray(size),
    jnp.asarray(ranked),
    jnp.asarray(w, dtype),
    None if tier is None else jnp.asarray(tier),
  )


def _tiers(places: Sequence[Sequence[float]], ranked: np.ndarray, width: int) -> np.ndarray:
  """Dense tiers ``[R, width]`` from per-row places; unranked and padded slots get ``width``."""
  if len(places) != len(ranked):
    raise ValueError(f"places needs one list per ranking ({len(ranked)}); got {len(places)}.")
  tier = np.full((len(ranked), width), width, np.int32)
  for r, (p, k) in enumerate(zip(places, ranked, strict=True)):
    p = np.asarray(p, np.float64)
    if p.ndim != 1 or len(p) < k or not np.all(np.isfinite(p)):
      raise ValueError(f"ranking {r}: places must be {k} finite numbers; got {p.tolist()}.")
    p = p[:k]
    if np.any(np.diff(p) < 0):
      raise ValueError(f"ranking {r}: places {p.tolist()} must be non-decreasing (best first).")
    tier[r, :k] = np.unique(p, return_inverse=True)[1]
  return tier


def choices(chosen: Sequence[int], shown: Sequence[Sequence[int]], **kwargs) -> Rankings:
  """K-wise choices: ``chosen[r]`` was picked among ``shown[r]`` (which contains it).

  Args:
    chosen: ``[R]`` the picked item of each row.
    shown: one list per row of the items offered (any order; the chosen one included).
    **kwargs: ``weight`` / ``width`` as for :func:`make_rankings`.

  Returns:
    :class:`Rankings` with ``num_ranked = 1``.

  Raises:
    ValueError: if a chosen item is not among its shown items, or the lengths differ.
  """
  if len(chosen) != len(shown):
    raise ValueError(f"chosen has {len(chosen)} entries but shown has {len(shown)}.")
  rows = []
  for k, (c, s) in enumerate(zip(chosen, shown, strict=True)):
    s = [int(i) for i in s]
    if int(c) not in s:
      raise ValueError(f"choice {k}: the chosen item {c} is not among the shown items {s}.")
    rows.append([int(c)] + [i for i in s if i != int(c)])
  return make_rankings(rows, num_ranked=np.ones(len(rows), np.int32), **kwargs)


def check_rankings(rankings: Rankings, num_items: int, *, max_tie: int = 1) -> None:
  """Raises ``ValueError`` naming the first bad row (skipped for traced arrays).

  Checks: ``items`` is ``[R, K]`` integer with ``R >= 1``; every row's set has at least 2 items, no
  item twice and every id in ``[0, num_items)``; padding (``-1``) only after ``size``;
  ``1 <= num_ranked <= size``; weights finite and non-negative; with tiers, dense non-decreasing
  tiers on the ranked items, none larger than ``max_tie`` items (1: ties are refused).
  """
  leaves = jax.tree.leaves(rankings)
  if any(isinstance(x, jax.core.Tracer) for x in leaves):
    return
  items = np.asarray(rankings.items)
  if items.ndim != 2 or items.shape[0] == 0 or not np.issubdtype(items.dtype, np.integer):
    raise ValueError(f"rankings.items must be a non-empty [R, K] integer array; got {items.shape}.")
  size, ranked = np.asarray(rankings.size), np.asarray(rankings.num_ranked)
  weight = np.asarray(rankings.weight, np.float64)
  R, K = items.shape
  for name, v in (("size", size), ("num_ranked", ranked), ("weight", weight)):
    if v.shape != (R,):
      raise ValueError(f"rankings.{name} must have shape [{R}]; got {v.shape}.")
  # Vectorized over rows (a fit checks every call); each message names the first bad row.
  present = np.arange(K)[None, :] < size[:, None]
  out_of_range = present & ((items < 0) | (items >= num_items))
  padded = ~present & (items != -1)
  ordered = np.sort(np.where(present, items, -1 - np.arange(K)[None, :]), axis=1)
  twice = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
  bad_size, bad_ranked = (size < 2) | (size > K), (ranked < 1) | (ranked > size)
  failed = bad_size | out_of_range.any(axis=1) | twice | padded.any(axis=1) | bad_ranked
  if failed.any():
    r = int(np.argmax(failed))  # The first bad row, then its first failed check.
    if bad_size[r]:
      message = f"its choice set has {size[r]} items; need 2 <= size <= {K}."
    elif out_of_range[r].any():
      message = f"item {items[r][out_of_range[r]][0]} is out of range [0, {num_items})."
    elif twice[r]:
      message = f"an item appears twice in {items[r, : size[r]].tolist()}."
    elif padded[r].any():
      message = f"entries after its size {size[r]} must be -1 (padding)."
    else:
      message = f"num_ranked {ranked[r]} is not in [1, {size[r]}]."
    raise ValueError(f"ranking {r}: {message}")
  if not np.all(np.isfinite(weight)) or np.any(weight < 0):
    raise ValueError("rankings.weight must be finite and non-negative.")
  if rankings.tier is not None:
    _check_tiers(np.asarray(rankings.tier), items.shape, ranked, max_tie)


def _check_tiers(
  tier: np.ndarray, shape: tuple[int, int], ranked: np.ndarray, max_tie: int
) -> None:
  K = shape[1]
  if tier.shape != shape or not np.issubdtype(tier.dtype, np.integer):
    raise ValueError(f"rankings.tier must be an integer array shaped like items; got {tier.shape}.")
  ordered = np.arange(K)[None, :] < ranked[:, None]
  step = np.diff(np.where(ordered, tier, -1), axis=1)
  bad_order = (tier[:, 0] != 0) | np.any(ordered[:, 1:] & ((step < 0) | (step > 1)), axis=1)
  if bad_order.any():
    r = int(np.argmax(bad_order))
    raise ValueError(
      f"ranking {r}: tiers {tier[r, : ranked[r]].tolist()} must start at 0 and rise by 0 or 1."
    )
  t = np.where(ordered, tier, K)
  counts = np.stack([np.sum(t == k, axis=1) for k in range(K)], axis=1)
  too_big = counts.max(axis=1) > max_tie
  if too_big.any():
    r = int(np.argmax(too_big))
    if max_tie == 1:
      raise ValueError(
        f"ranking {r} has tied items: fit it with PlackettLuce(ties='davidson') or rank only up "
        "to the first tie (rankings_from_table(ties=False))."
      )
    raise ValueError(
      f"ranking {r}: a tie of {counts[r].max()} items exceeds the model's max_tie={max_tie}."
    )


def rankings_from_table(
  table, *, width: int | None = None, ties: bool = False
) -> tuple[Rankings, int]:
  """Padded :class:`Rankings` from a ``jaxpref.data.RankingTable``.

  Without ``ties``, each row is ranked up to its first tie: items before the first tied position
  are successive choices; the tied items and everything after them stay in the choice set as its
  unranked remainder (a top-k row). A ranking whose best place is tied carries no choice and is
  dropped. With ``ties``, every row is kept whole with its places as tiers (for
  ``PlackettLuce(ties="davidson")``).

  Args:
    table: the rankings (``jaxpref.data.load_rankings`` or ``rankings_from_comparisons``).
    width: pad to this many columns (a bucket); the largest set when ``None``.
    ties: keep tied places as tiers instead of cutting each row at its first tie.

  Returns:
    ``(rankings, the number of rankings dropped)``.

  Raises:
    ValueError: if every ranking is tied at the top (without ``ties``).
  """
  if ties:
    rows = [[int(i) for i in items] for items, _ in table.rankings]
    places = [list(map(float, positions)) for _, positions in table.rankings]
    return make_rankings(rows, places=places, width=width), 0
  rows, ranked = [], []
  for items, positions in table.rankings:
    positions = np.asarray(positions)
    tied = np.flatnonzero(np.diff(positions) == 0)
    k = int(tied[0]) if tied.size else len(positions) - 1
    if k >= 1:
      rows.append([int(i) for i in items])
      ranked.append(k)
  if not rows:
    raise ValueError("every ranking is tied at its best place: no choice to fit.")
  return make_rankings(rows, num_ranked=ranked, width=width), len(table.rankings) - len(rows)
