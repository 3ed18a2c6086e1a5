r"""Vote'n'Rank: benchmark leaderboards aggregated by voting rules.

Systems are candidates and tasks are voters with weights :math:`w_t`. Per task, systems are ranked
by score (higher is better) with two tie conventions: ``rank_min`` (tied systems share the best
rank) and ``rank_max`` (they share the worst). Scores (lower is better for minimax; higher for
the others):

* plurality: :math:`\sum_t w_t [\mathrm{rank\_max} = 1]` (tied firsts earn nothing);
* Borda: :math:`\sum_t w_t (n - \mathrm{rank\_max})`;
  Dowdall: :math:`\sum_t w_t / \mathrm{rank\_min}`;
* threshold: for positions k = n, n-1, ..., 2, keep the systems with the fewest weighted tasks at
  position k (``rank_max = k``);
* Baldwin: drop the lowest-Borda systems (all tied at once), recompute on the rest;
* majority graph on ``rank_min``: i beats j if the weight of tasks ranking i above j exceeds the
  weight ranking j above i; Copeland = wins + ties / 2; Condorcet = beats all; minimax
  (``winning_votes``) = the largest weight of tasks behind a system that beats i (0 if unbeaten).

References:
  Rofin, Mikhailov, Florinsky, Kravchenko, Shavrina, Tutubalina, Karpov, Vote'n'Rank: revision of
  benchmarking with social choice theory, EACL 2023. https://arxiv.org/abs/2210.05769
"""

import numpy as np

from jaxpref.types import ArrayLike, HostArray

LEADERBOARD_RULES = (
  "plurality",
  "borda",
  "dowdall",
  "threshold",
  "baldwin",
  "copeland",
  "minimax",
  "condorcet",
  "mean",
)


def task_ranks(scores: ArrayLike, convention: str = "min") -> HostArray:
  """1-based rank of every system on every task (``[n_sys, n_tasks]``), higher score first.

  Args:
    scores: ``[n_sys, n_tasks]`` scores.
    convention: ``"min"`` (ties share the best rank) or ``"max"`` (ties share the worst).

  Returns:
    ``[n_sys, n_tasks]`` int ranks.
  """
  S = np.asarray(scores, np.float64)
  better = np.sum(S[None, :, :] > S[:, None, :], axis=1)  # systems strictly above
  if convention == "min":
    return better + 1
  if convention == "max":
    return better + np.sum(S[None, :, :] == S[:, None, :], axis=1)
  raise ValueError(f'convention must be "min" or "max"; got {convention!r}.')


class Leaderboard:
  """A systems x tasks score table with task weights, aggregated by voting rules.

  Attributes:
    scores: ``[n_sys, n_tasks]`` scores (higher is better).
    weights: ``[n_tasks]`` non-negative task weights.
  """

  def __init__(self, scores: ArrayLike, weights: ArrayLike | None = None):
    """Validates the table.

    Args:
      scores: ``[n_sys, n_tasks]`` finite scores, at least 2 systems and 1 task.
      weights: ``[n_tasks]`` non-negative weights (1 each by default), not all zero.

    Raises:
      ValueError: on NaN/inf scores (impute first), bad shapes or weights.
    """
    S = np.asarray(scores, np.float64)
    if S.ndim != 2 or S.shape[0] < 2 or S.shape[1] < 1:
      raise ValueError(f"scores must be [n_sys >= 2, n_tasks >= 1]; got shape {S.shape}.")
    if not np.all(np.isfinite(S)):
      i, t = np.argwhere(~np.isfinite(S))[0]
      raise ValueError(
        f"scores must be finite (impute missing values first); scores[{i}, {t}] = {S[i, t]}."
      )
    w = np.ones(S.shape[1]) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (S.shape[1],) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
      raise ValueError(f"weights must be [n_tasks = {S.shape[1]}] non-negative, not all zero.")
    self.scores, self.weights = S, w

  def _sub(self, systems: list[int]) -> "Leaderboard":
    return Leaderboard(self.scores[systems], self.weights)

  def score(self, rule: str) -> HostArray:
    """The rule's score of every system (lower is better for minimax, higher otherwise)."""
    n = self.scores.shape[0]
    rmin, rmax = task_ranks(self.scores, "min"), task_ranks(self.scores, "max")
    w = self.weights
    if rule == "plurality":
      return (rmax == 1).astype(float) @ w
    if rule == "borda":
      return (n - rmax) @ w
    if rule == "dowdall":
      return (1.0 / rmin) @ w
    if rule == "mean":
      return self.scores @ w / w.sum()
    support = np.einsum("itj,t->ij", (rmin[:, :, None] < rmin.T[None, :, :]).astype(float), w)
    beats = support > support.T
    ties = (support == support.T) & ~np.eye(n, dtype=bool)
    if rule == "copeland":
      return beats.sum(1) + ties.sum(1) / 2
    if rule == "minimax":
      return np.max(np.where(beats.T, support.T, 0.0), axis=1)
    if rule == "condorcet":
      return (beats.sum(1) == n - 1).astype(float)
    raise ValueError(f"Unknown leaderboard rule {rule!r}; known: {', '.join(LEADERBOARD_RULES)}.")

  def winners(self, rule: str) -> list[int]:
    """The winning systems (sorted); Condorcet returns [] when there is no Condorcet winner."""
    if rule == "threshold":
      return self._threshold()
    if rule == "baldwin":
      return self._baldwin()
    s = self.score(rule)
    if rule == "condorcet":
      return [int(i) for i in np.flatnonzero(s == 1)]
    best = s.min() if rule == "minimax" else s.max()
    return [int(i) for i in np.flatnonzero(np.isclose(s, best, rtol=0, atol=1e-9))]

  def _threshold(self) -> list[int]:
    alive = list(range(self.scores.shape[0]))
    rmax = task_ranks(self.scores, "max")
    n = len(alive)
    for k in range(n, 1, -1):
      count = (rmax[alive] == k).astype(float) @ self.weights
      alive = [alive[i] for i in np.flatnonzero(np.isclose(count, count.min(), rtol=0, atol=1e-9))]
      if len(alive) == 1:
        break
    return sorted(alive)

  def _baldwin(self) -> list[int]:
    alive = list(range(self.scores.shape[0]))
    while len(alive) > 1:
      s = self._sub(alive).score("borda")
      low = np.isclose(s, s.min(), rtol=0, atol=1e-9)
      if low.all():
        break
      alive = [alive[i] for i in np.flatnonzero(~low)]
    return sorted(alive)

  def ranking(self, rule: str) -> list[int]:
    """All systems ordered by the rule's score (best first, ties by index; not for threshold)."""
    if rule in ("threshold", "baldwin"):
      raise ValueError(f"{rule} defines winners only; use winners().")
    s = self.score(rule)
    key = s if rule == "minimax" else -s
    return [int(i) for i in np.lexsort((np.arange(len(s)), key))]
