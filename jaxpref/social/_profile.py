r"""Preference profiles: ballots with counts, and their pairwise support and margin matrices.

A profile over m candidates (0..m-1) holds R distinct ballots and how many voters cast each. A
ballot is stored as *ranks*: ``ranks[r, c]`` is candidate c's position on ballot r (0 = best);
tied candidates share a position. Linear orders (no ties) can be given best-first instead
(:meth:`Profile.from_rankings`, pref_voting's ``Profile(rankings, rcounts)``).

.. math:: N_{ab} = \sum_r n_r [\mathrm{rank}_r(a) < \mathrm{rank}_r(b)], \qquad M = N - N^\top.

:func:`margins` computes M for a batch of profiles in JAX (one compiled call for thousands of
elections); the rules in :mod:`jaxpref.social` work on one profile on the host.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike, HostArray


@dataclasses.dataclass(frozen=True)
class Profile:
  """Ballots as ranks (``[R, m]`` int, 0 = best, ties share a rank) and their ``[R]`` counts.

  Attributes:
    ranks: ``[R, m]`` positions of every candidate on every ballot.
    counts: ``[R]`` non-negative voter counts (floats allowed, e.g. task weights).
  """

  ranks: HostArray
  counts: HostArray

  def __post_init__(self):
    """Validates the ballots (see :meth:`from_ranks`)."""
    ranks = np.asarray(self.ranks)
    counts = np.asarray(self.counts, dtype=np.float64)
    if ranks.ndim != 2 or ranks.shape[0] == 0 or ranks.shape[1] < 2:
      raise ValueError(
        f"A profile needs ranks of shape [R >= 1 ballots, m >= 2 candidates]; got {ranks.shape}."
      )
    if not np.issubdtype(ranks.dtype, np.integer):
      if not np.all(np.isfinite(ranks)) or not np.all(ranks == np.round(ranks)):
        raise ValueError("Profile ranks must be integers (0 = best).")
      ranks = ranks.astype(np.int64)
    if (ranks < 0).any():
      r, c = np.argwhere(ranks < 0)[0]
      raise ValueError(
        f"Profile ranks must be >= 0; ballot {r} gives candidate {c} rank {ranks[r, c]}."
      )
    if counts.shape != (ranks.shape[0],):
      raise ValueError(
        f"counts must have one entry per ballot ({ranks.shape[0]}); got shape {counts.shape}."
      )
    if not np.all(np.isfinite(counts)):
      raise ValueError("Profile counts must be finite.")
    if (counts < 0).any():
      r = int(np.argmax(counts < 0))
      raise ValueError(f"Profile counts must be non-negative; ballot {r} has count {counts[r]}.")
    if counts.sum() <= 0:
      raise ValueError("The profile is empty: the counts sum to 0.")
    object.__setattr__(self, "ranks", ranks)
    object.__setattr__(self, "counts", counts)

  @classmethod
  def from_rankings(cls, rankings: ArrayLike, counts: ArrayLike | None = None) -> "Profile":
    """A profile of linear orders given best-first (pref_voting's convention).

    Args:
      rankings: ``[R, m]``; each row a permutation of 0..m-1, best first.
      counts: ``[R]`` voters per ballot (1 each by default).

    Returns:
      The profile.

    Raises:
      ValueError: if a row is not a permutation of 0..m-1, or on bad counts.
    """
    rankings = np.asarray(rankings)
    if rankings.ndim != 2 or rankings.shape[0] == 0:
      raise ValueError(f"rankings must be a non-empty [R, m] array; got shape {rankings.shape}.")
    m = rankings.shape[1]
    for r, row in enumerate(rankings):
      if sorted(row.tolist()) != list(range(m)):
        raise ValueError(f"ranking {r} = {row.tolist()} is not a permutation of 0..{m - 1}.")
    ranks = np.empty_like(rankings)
    np.put_along_axis(ranks, rankings, np.arange(m)[None, :].repeat(len(rankings), 0), axis=1)
    counts = np.ones(len(rankings)) if counts is None else counts
    return cls(ranks, np.asarray(counts, dtype=np.float64))

  @classmethod
  def from_ranks(cls, ranks: ArrayLike, counts: ArrayLike | None = None) -> "Profile":
    """A profile from per-candidate positions (ties allowed: equal positions)."""
    ranks = np.asarray(ranks)
    counts = np.ones(ranks.shape[0]) if counts is None else counts
    return cls(ranks, np.asarray(counts, dtype=np.float64))

  @property
  def num_candidates(self) -> int:
    """M."""
    return int(self.ranks.shape[1])

  @property
  def num_voters(self) -> float:
    """Total count."""
    return float(self.counts.sum())

  @property
  def is_linear(self) -> bool:
    """Whether every ballot is a linear order (no ties)."""
    m = self.num_candidates
    return bool(np.all(np.sort(self.ranks, axis=1) == np.arange(m)))

  def rankings(self) -> HostArray:
    """Best-first rankings ``[R, m]`` (linear profiles only)."""
    if not self.is_linear:
      raise ValueError("rankings() needs linear orders; this profile has ties.")
    return np.argsort(self.ranks, axis=1, kind="stable")

  def restrict(self, candidates: list[int]) -> "Profile":
    """The profile on a subset of candidates, renumbered 0..k-1 in the given order."""
    sub = self.ranks[:, candidates]
    dense = np.argsort(np.argsort(sub, axis=1, kind="stable"), axis=1)
    if not self.is_linear:  # keep ties: dense ranks of the distinct values
      dense = np.stack([np.unique(row, return_inverse=True)[1] for row in sub])
    return Profile(dense, self.counts)

  def support(self) -> HostArray:
    """``N[a, b]``: total count of voters ranking a strictly above b."""
    above = self.ranks[:, :, None] < self.ranks[:, None, :]
    return np.einsum("r,rab->ab", self.counts, above.astype(np.float64))

  def margin_matrix(self) -> HostArray:
    """``M = N - N^T`` (a beats b iff ``M[a, b] > 0``)."""
    N = self.support()
    return N - N.T

  def preference_matrix(self) -> HostArray:
    """The preference game ``P = (N + ties / 2) / n``: ``P + P^T = 1`` (for maximal lotteries)."""
    N = self.support()
    n = self.num_voters
    P = (N + (n - N - N.T) / 2) / n
    np.fill_diagonal(P, 0.5)
    return P


@dataclasses.dataclass(frozen=True)
class PairwiseCounts:
  """An election known only through pairwise counts (e.g. crowd comparisons of LLM answers).

  ``support[a, b]`` is how many judgments put a above b (a tie counts half each way). Margin-based
  rules (Copeland, minimax, ranked pairs, beat path, split cycle, Smith and uncovered sets,
  Bradley-Terry) and :func:`majority_game` accept it; rules that need ballots raise.

  Attributes:
    support: ``[m, m]`` non-negative counts with a zero diagonal.
  """

  support_counts: HostArray

  def __post_init__(self):
    """Validates the counts."""
    N = np.asarray(self.support_counts, np.float64)
    if N.ndim != 2 or N.shape[0] != N.shape[1] or N.shape[0] < 2:
      raise ValueError(f"pairwise counts must be [m, m] with m >= 2; got shape {N.shape}.")
    if not np.all(np.isfinite(N)) or (N < 0).any():
      raise ValueError("pairwise counts must be finite and non-negative.")
    if N.sum() <= 0:
      raise ValueError("The election is empty: all pairwise counts are 0.")
    N = N.copy()
    np.fill_diagonal(N, 0.0)
    object.__setattr__(self, "support_counts", N)

  @property
  def num_candidates(self) -> int:
    """Number of candidates m."""
    return int(self.support_counts.shape[0])

  @property
  def is_linear(self) -> bool:
    """Always False: there are no ballots."""
    return False

  @property
  def ranks(self) -> HostArray:
    """Not available: there are no ballots."""
    raise ValueError("This election has pairwise counts only; the rule needs ballots.")

  @property
  def num_voters(self) -> float:
    """The largest number of judgments of any pair."""
    N = self.support_counts
    return float(np.max(N + N.T))

  def support(self) -> HostArray:
    """``N[a, b]``."""
    return self.support_counts

  def margin_matrix(self) -> HostArray:
    """``N - N^T``."""
    return self.support_counts - self.support_counts.T

  def preference_matrix(self) -> HostArray:
    """``P[a, b] = N[a, b] / (N[a, b] + N[b, a])`` (1/2 for pairs never judged)."""
    N = self.support_counts
    total = N + N.T
    P = np.where(total > 0, N / np.where(total > 0, total, 1.0), 0.5)
    np.fill_diagonal(P, 0.5)
    return P


def majority_game(election: "Profile | PairwiseCounts") -> HostArray:
  """The election's preference game P, the input of :func:`jaxpref.equilibria.maximal_lottery`.

  ``P[a, b]`` is the share of voters ranking a above b, a tie counting half each way, so that
  ``P + P^T = 1``: for a :class:`Profile`, ``P = (N + ties / 2) / n``; for
  :class:`PairwiseCounts`, ``P[a, b] = N[a, b] / (N[a, b] + N[b, a])`` (1/2 for a pair never
  judged). The diagonal is 1/2. The maximal lottery of the election is
  ``jaxpref.equilibria.maximal_lottery(majority_game(election))``; a Condorcet winner gets all
  of its mass.

  Args:
    election: a :class:`Profile` or :class:`PairwiseCounts`.

  Returns:
    ``[m, m]`` float64 preference matrix.

  Examples:
    >>> p = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], [3, 2, 2])
    >>> (7 * majority_game(p)).round(6).tolist()
    [[3.5, 5.0, 3.0], [2.0, 3.5, 5.0], [4.0, 2.0, 3.5]]
  """
  if not isinstance(election, Profile | PairwiseCounts):
    raise TypeError(
      f"majority_game needs a Profile or PairwiseCounts; got {type(election).__name__}."
    )
  return np.asarray(election.preference_matrix(), np.float64)


def margins(ranks: ArrayLike, counts: ArrayLike) -> Array:
  """Margin matrices of a batch of profiles in JAX: ``[..., m, m]``.

  Args:
    ranks: ``[..., R, m]`` positions (0 = best; ties share a position).
    counts: ``[..., R]`` voter counts.

  Returns:
    ``M[..., a, b] = N[a, b] - N[b, a]``.

  Examples:
    >>> ranks = jnp.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    >>> margins(ranks, jnp.array([3.0, 2, 2])).astype(int).tolist()
    [[0, 3, -1], [-3, 0, 3], [1, -3, 0]]
  """
  ranks, counts = jnp.asarray(ranks), jnp.asarray(counts)
  sign = jnp.sign(ranks[..., :, None, :] - ranks[..., :, :, None]).astype(counts.dtype)
  return jnp.einsum("...r,...rab->...ab", counts, sign)


def scoring_scores(ranks: ArrayLike, counts: ArrayLike, weights: ArrayLike) -> Array:
  """Positional scores of a batch of linear profiles: ``sum_r n_r w[rank_r(c)]``, ``[..., m]``.

  Borda is ``weights = m - 1 - arange(m)``, plurality ``[1, 0, ..., 0]``, Dowdall
  ``1 / (1 + arange(m))``.

  Args:
    ranks: ``[..., R, m]`` positions of linear orders.
    counts: ``[..., R]`` voter counts.
    weights: ``[m]`` score of each position.

  Returns:
    ``[..., m]`` scores.
  """
  ranks, counts = jnp.asarray(ranks), jnp.asarray(counts)
  return jnp.einsum("...r,...rc->...c", counts, jnp.asarray(weights, counts.dtype)[ranks])
