"""Preference games estimated from long-form comparison tables (host side, float64)."""

from typing import Literal

import numpy as np

from jaxpref.types import ArrayLike, HostArray


def comparison_counts(
  item_a: ArrayLike, item_b: ArrayLike, outcome: ArrayLike, n_items: int
) -> tuple[HostArray, HostArray]:
  r"""Aggregates comparisons into win and count matrices.

  Each row ``k`` compares ``item_a[k]`` with ``item_b[k]``; ``outcome[k]`` is the score of
  ``item_a``: 1 when it won, 0 when it lost, 1/2 for a tie (any value in [0, 1] is accepted as a
  soft label, e.g. a judge's probability). Then

  .. math::
    W_{ij} = \sum_{k: (a_k, b_k) = (i, j)} o_k + \sum_{k: (a_k, b_k) = (j, i)} (1 - o_k), \qquad
    N_{ij} = N_{ji} = \#\{k: \{a_k, b_k\} = \{i, j\}\},

  so :math:`W + W^\top = N` and ties count half a win for each side.

  Args:
    item_a: ``[K]`` integer ids in ``[0, n_items)``.
    item_b: ``[K]`` integer ids in ``[0, n_items)``, different from ``item_a``.
    outcome: ``[K]`` scores of ``item_a`` in ``[0, 1]``.
    n_items: number of items ``n >= 2``.

  Returns:
    ``(wins, counts)``, two ``[n, n]`` float64 arrays.

  Raises:
    ValueError: on empty or mismatched inputs, ids out of range or not integers, self-comparisons,
      and outcomes outside ``[0, 1]`` or not finite; the message names the first bad row.

  References:
    Fishburn, Probabilistic social choice based on simple voting comparisons, Rev. Econ. Stud. 1984.
  """
  a = np.asarray(item_a)
  b = np.asarray(item_b)
  o = np.asarray(outcome, dtype=np.float64)
  n = int(n_items)
  if n < 2:
    raise ValueError(f"n_items must be >= 2; got {n}.")
  if a.ndim != 1 or a.shape != b.shape or a.shape != o.shape:
    raise ValueError(
      "item_a, item_b and outcome must be 1-D of equal length; got shapes "
      f"{a.shape}, {b.shape}, {o.shape}."
    )
  if a.size == 0:
    raise ValueError("No comparisons given (empty table).")
  for name, ids in (("item_a", a), ("item_b", b)):
    if not np.issubdtype(ids.dtype, np.integer):
      raise ValueError(f"{name} must hold integer item ids; got dtype {ids.dtype}.")
    bad = (ids < 0) | (ids >= n)
    if bad.any():
      k = int(np.argmax(bad))
      raise ValueError(f"{name}[{k}] = {ids[k]} is outside [0, {n}).")
  bad = a == b
  if bad.any():
    k = int(np.argmax(bad))
    raise ValueError(f"Row {k} compares item {a[k]} with itself.")
  bad = ~np.isfinite(o) | (o < 0) | (o > 1)
  if bad.any():
    k = int(np.argmax(bad))
    raise ValueError(f"outcome[{k}] = {o[k]} must be a score of item_a in [0, 1].")
  wins = np.zeros((n, n))
  counts = np.zeros((n, n))
  np.add.at(wins, (a, b), o)
  np.add.at(wins, (b, a), 1.0 - o)
  np.add.at(counts, (a, b), 1.0)
  np.add.at(counts, (b, a), 1.0)
  return wins, counts


def game_from_comparisons(
  item_a: ArrayLike,
  item_b: ArrayLike,
  outcome: ArrayLike,
  n_items: int,
  *,
  unseen: Literal["raise", "tie"] = "raise",
  prior: float = 0.0,
) -> HostArray:
  r"""Empirical preference matrix from a long-form comparison table.

  With :math:`W, N` from :func:`comparison_counts` and a symmetric pseudo-count :math:`\alpha`
  (``prior``) split evenly between the two sides,

  .. math:: P_{ij} = \frac{W_{ij} + \alpha / 2}{N_{ij} + \alpha}, \qquad P_{ii} = 1/2.

  The maximal lottery of this game is that of the pooled win *proportions*; it is not, in general,
  that of the raw count margins :math:`W - W^\top` used in voting, which weight pairs by how often
  they were compared.

  **Unseen pairs** (:math:`N_{ij} = 0`) have no empirical preference. With ``prior > 0`` they get
  1/2 from the prior. With ``prior == 0`` they are handled by ``unseen``: ``"raise"`` (default)
  raises a ``ValueError`` naming the first unseen pair, and ``"tie"`` sets them to 1/2, the margin-0
  convention of maximal lotteries on incomplete margin graphs.

  Args:
    item_a: ``[K]`` integer ids.
    item_b: ``[K]`` integer ids.
    outcome: ``[K]`` scores of ``item_a`` in ``[0, 1]`` (1 win, 0 loss, 1/2 tie).
    n_items: number of items.
    unseen: what to do with pairs never compared when ``prior == 0``.
    prior: nonnegative pseudo-count added to every pair, half to each side.

  Returns:
    ``[n, n]`` float64 preference matrix.

  Raises:
    ValueError: on bad comparisons (see :func:`comparison_counts`), a negative prior, an unknown
      ``unseen`` policy, or an unseen pair with ``unseen="raise"``.

  References:
    Fishburn, Probabilistic social choice based on simple voting comparisons, Rev. Econ. Stud. 1984.

  Examples:
    >>> game_from_comparisons([0, 0, 1], [1, 1, 0], [1.0, 0.5, 0.0], 2)
    array([[0.5       , 0.83333333],
           [0.16666667, 0.5       ]])
  """
  if unseen not in ("raise", "tie"):
    raise ValueError(f"unseen must be 'raise' or 'tie'; got {unseen!r}.")
  prior = float(prior)
  if not np.isfinite(prior) or prior < 0:
    raise ValueError(f"prior must be a finite nonnegative pseudo-count; got {prior}.")
  wins, counts = comparison_counts(item_a, item_b, outcome, n_items)
  n = counts.shape[0]
  denom = counts + prior
  missing = (denom == 0) & ~np.eye(n, dtype=bool)
  if missing.any() and unseen == "raise":
    i, j = np.argwhere(missing)[0]
    raise ValueError(
      f"Pair ({i}, {j}) was never compared ({int(missing.sum()) // 2} of {n * (n - 1) // 2} "
      "pairs are unseen); pass unseen='tie' to score them 1/2, or prior > 0 to smooth every pair."
    )
  with np.errstate(invalid="ignore", divide="ignore"):
    P = np.where(denom > 0, (wins + prior / 2) / np.where(denom > 0, denom, 1.0), 0.5)
  np.fill_diagonal(P, 0.5)
  return P
