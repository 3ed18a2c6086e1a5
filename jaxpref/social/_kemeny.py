r"""Exact Kemeny rankings by integer programming (HiGHS through scipy), lazy 3-cycle cuts.

A Kemeny ranking of an election minimises the total weight of pairwise disagreements with the
voters (Kemeny 1959); it is the maximum-likelihood ranking of Young & Levenglick's (1978) model
and the only neutral, consistent, Condorcet rule that outputs rankings. With the pairwise counts
:math:`N_{ab}` = weight of voters ranking a above b (a tie adds 1/2 to both :math:`N_{ab}` and
:math:`N_{ba}`; this changes every ranking's objective by the same constant), a ranking
:math:`\pi` disagrees with

.. math:: D(\pi) = \sum_{a \succ_\pi b} N_{ba}

voter-pairs. Finding the minimum is NP-hard, already for 4 voters (Bartholdi, Tovey & Trick 1989),
so :func:`jaxpref.social.kemeny_young` enumerates the m! rankings and stops at m = 8. Here the
problem is the integer program of Conitzer, Davenport & Kalagnanam (2006): one binary
:math:`x_{ab}` per unordered pair a < b (1 iff a is ranked above b, :math:`x_{ba} = 1 - x_{ab}`),

.. math::

  \min_x \sum_{a < b} N_{ba} x_{ab} + N_{ab} (1 - x_{ab}) \quad \text{s.t.} \quad
  0 \le x_{ab} + x_{bc} - x_{ac} \le 1 \quad (a < b < c),

where the two sides forbid the directed 3-cycles a > b > c > a and a > c > b > a; a tournament is
acyclic (a ranking) iff it has no directed 3-cycle. The C(m, 3) rows are added lazily: solve
without them, add the row of every triple that is a 3-cycle of the incumbent tournament, re-solve,
until the incumbent is acyclic. The last solve is optimal for a relaxation and feasible for the
full program, hence optimal. Each solve is a MILP for HiGHS (``scipy.optimize.milp``, relative
gap 0): exact up to HiGHS's absolute gap (1e-6) on the objective.

Observed on a 2-core CPU (``benchmarks/kemeny_ilp.py``): uniform random profiles of 51 voters (the
hard case) take well under a second up to m = 40 and seconds at m = 50-60; consensus
(Mallows-like) profiles of m = 60 a fraction of a second with few cuts. Uniform profiles beyond
m ~ 80 can take minutes: ``time_limit`` then returns the best ranking found with
``optimal=False`` and a certified lower bound.

References:
  Kemeny, Mathematics without numbers, Daedalus 88, 1959;
  Young & Levenglick, A consistent extension of Condorcet's election principle, SIAM Journal on
  Applied Mathematics 35, 1978;
  Bartholdi, Tovey & Trick, Voting schemes for which it can be difficult to tell who won the
  election, Social Choice and Welfare 6, 1989;
  Conitzer, Davenport & Kalagnanam, Improved bounds for computing Kemeny rankings, AAAI 2006.
"""

import itertools
import time
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse

from jaxpref.social._profile import PairwiseCounts, Profile
from jaxpref.types import ArrayLike, HostArray

_TIERS = (list, tuple, set, frozenset)


class KemenyResult(NamedTuple):
  """A Kemeny ranking and how it was found.

  Attributes:
    ranking: every candidate, best first (candidate indices; item labels for
      :func:`kemeny_leaderboard`). When several rankings are optimal, the one HiGHS found.
    disagreements: ``D(ranking)``, the weighted pairwise disagreements (ties count 1/2).
    optimal: whether ``ranking`` is certified optimal; False only when ``time_limit`` stopped
      the search (``ranking`` is then the best found, locally improved by adjacent swaps).
    cuts: 3-cycle rows added to the program.
    rounds: MILPs solved.
    lower_bound: a certified lower bound on the optimum (= ``disagreements`` when optimal).
  """

  ranking: list
  disagreements: float
  optimal: bool
  cuts: int
  rounds: int
  lower_bound: float


def _counts(election: "Profile | PairwiseCounts | ArrayLike") -> HostArray:
  """The ``[m, m]`` count matrix ``N[a, b]`` (a above b; a tie adds 1/2 each way), validated.

  Args:
    election: a :class:`Profile` (``N = support + ties / 2`` from
      :meth:`Profile.support`), a :class:`PairwiseCounts` (its support, ties already halved),
      or an ``[m, m]`` array of finite non-negative counts (the diagonal is ignored).

  Returns:
    ``[m, m]`` float64 counts with a zero diagonal.

  Raises:
    ValueError: if the array is not square with m >= 1, or has negative or non-finite entries.
  """
  if isinstance(election, Profile):
    N = election.support()
    N = N + (election.num_voters - N - N.T) / 2
  elif isinstance(election, PairwiseCounts):
    N = election.support()
  else:
    N = np.asarray(election, np.float64)
    if N.ndim != 2 or N.shape[0] != N.shape[1] or N.shape[0] < 1:
      raise ValueError(
        f"Kemeny needs a square [m, m] count matrix with m >= 1 candidates; got shape {N.shape}."
      )
    if not np.all(np.isfinite(N)):
      a, b = np.argwhere(~np.isfinite(N))[0]
      raise ValueError(f"Pairwise counts must be finite; N[{a}, {b}] = {N[a, b]}.")
    if (N < 0).any():
      a, b = np.argwhere(N < 0)[0]
      raise ValueError(f"Pairwise counts must be non-negative; N[{a}, {b}] = {N[a, b]}.")
  N = np.array(N, np.float64)
  np.fill_diagonal(N, 0.0)
  return N


def _disagreements(N: HostArray, ranking: Sequence[int]) -> float:
  idx = np.asarray(ranking)
  return float(np.sum(np.tril(N[np.ix_(idx, idx)], -1)))


def _improve(N: HostArray, ranking: list[int]) -> list[int]:
  """Adjacent swaps while one lowers the disagreements (a local optimum)."""
  ranking = list(ranking)
  swapped = True
  while swapped:
    swapped = False
    for i in range(len(ranking) - 1):
      a, b = ranking[i], ranking[i + 1]
      if N[b, a] > N[a, b]:
        ranking[i], ranking[i + 1] = b, a
        swapped = True
  return ranking


def kemeny_ilp(
  election: "Profile | PairwiseCounts | ArrayLike",
  *,
  time_limit: float | None = None,
  max_rounds: int = 1000,
) -> KemenyResult:
  r"""An exact Kemeny ranking by integer programming with lazy 3-cycle constraints.

  Minimises :math:`D(\pi) = \sum_{a \succ_\pi b} N_{ba}` over rankings :math:`\pi` by the ILP of
  the module docstring (Conitzer, Davenport & Kalagnanam 2006), solved by HiGHS through
  ``scipy.optimize.milp``. Equivalently it maximises the sum of the majority margins
  :math:`N_{ab} - N_{ba}` of the ordered pairs, as :func:`jaxpref.social.kemeny_young` does by
  enumeration (same optimum for m <= 8). Kemeny is NP-hard (Bartholdi, Tovey & Trick 1989); in
  practice random 51-voter profiles are solved in seconds up to m ~ 60.

  Args:
    election: a :class:`Profile` (ballots, ties allowed), a :class:`PairwiseCounts`, or the
      ``[m, m]`` counts ``N[a, b]`` = weight of voters ranking a above b (a tie adds 1/2 to both
      entries, or nothing: the optimal rankings are the same).
    time_limit: seconds for the whole search (all rounds), or None for no limit. When it runs
      out, the result has ``optimal=False``: the incumbent (possibly cyclic) ordered by its
      wins, improved by adjacent swaps, and ``lower_bound`` from the last relaxation. It is
      never reported as optimal.
    max_rounds: a safeguard on the number of MILPs; running out raises.

  Returns:
    A :class:`KemenyResult`: ``ranking`` (best first), ``disagreements``, ``optimal``, ``cuts``,
    ``rounds``, ``lower_bound``.

  Raises:
    ValueError: on a count matrix that is not square with m >= 1 or has negative or non-finite
      entries; on a non-positive ``time_limit`` or ``max_rounds``.
    RuntimeError: if HiGHS fails, or ``max_rounds`` MILPs leave a cyclic incumbent.

  Examples:
    >>> N = [[0, 5, 3], [2, 0, 5], [4, 2, 0]]  # the (3, 2, 2) cycle profile's counts
    >>> r = kemeny_ilp(N)
    >>> r.ranking, r.disagreements, r.optimal
    ([0, 1, 2], 8.0, True)
  """
  N = _counts(election)
  if time_limit is not None and not time_limit > 0:
    raise ValueError(f"time_limit must be positive seconds or None; got {time_limit}.")
  if max_rounds < 1:
    raise ValueError(f"max_rounds must be >= 1; got {max_rounds}.")
  m = len(N)
  if m <= 2:
    ranking = _improve(N, list(range(m)))
    d = _disagreements(N, ranking)
    return KemenyResult(ranking, d, True, 0, 0, d)
  start = time.perf_counter()
  iu, ju = np.triu_indices(m, 1)
  pair = np.full((m, m), -1)
  pair[iu, ju] = np.arange(len(iu))
  # D = sum_{a<b} N[a, b] + sum_{a<b} (N[b, a] - N[a, b]) x_ab.
  const = float(N[iu, ju].sum())
  cost = N[ju, iu] - N[iu, ju]
  triples = np.array(list(itertools.combinations(range(m), 3)))  # [C(m, 3), 3]
  rows = np.stack([pair[triples[:, 0], triples[:, 1]], pair[triples[:, 1], triples[:, 2]]], 1)
  rows = np.c_[rows, pair[triples[:, 0], triples[:, 2]]]  # [T, 3]: x_ab, x_bc, x_ac
  active = np.zeros(len(triples), bool)
  lower = const + float(np.minimum(cost, 0).sum())  # every pair at its majority direction
  x = None
  for rounds in range(1, max_rounds + 1):
    options = {"disp": False, "mip_rel_gap": 0.0}
    if time_limit is not None:
      left = time_limit - (time.perf_counter() - start)
      if left <= 0:
        return _stopped(N, x, lower, int(active.sum()), rounds - 1)
      options["time_limit"] = left
    constraints = ()
    if active.any():
      sel = rows[active]
      A = scipy.sparse.csr_array(
        (np.tile([1.0, 1.0, -1.0], len(sel)), sel.ravel(), np.arange(0, 3 * len(sel) + 1, 3)),
        shape=(len(sel), len(cost)),
      )
      constraints = (scipy.optimize.LinearConstraint(A, 0.0, 1.0),)
    res = scipy.optimize.milp(
      cost,
      integrality=np.ones(len(cost)),
      bounds=scipy.optimize.Bounds(0.0, 1.0),
      constraints=constraints,
      options=options,
    )
    if res.status == 1:  # time (or iteration) limit inside HiGHS
      bound = getattr(res, "mip_dual_bound", None)
      if bound is not None and np.isfinite(bound):
        lower = max(lower, const + float(bound))
      incumbent = x if res.x is None else np.round(res.x)
      return _stopped(N, incumbent, lower, int(active.sum()), rounds)
    if res.status != 0 or res.x is None:
      raise RuntimeError(f"HiGHS failed on the Kemeny program: {res.message}")
    x = np.round(res.x)
    lower = max(lower, const + float(res.fun))
    s = x[rows]  # [T, 3]
    cyclic = (s[:, 0] + s[:, 1] - s[:, 2] > 1.5) | (s[:, 0] + s[:, 1] - s[:, 2] < -0.5)
    if not cyclic.any():
      ranking = _tournament_order(N, x)
      d = _disagreements(N, ranking)
      return KemenyResult(ranking, d, True, int(active.sum()), rounds, d)
    active |= cyclic
  raise RuntimeError(f"kemeny_ilp: the incumbent is still cyclic after max_rounds = {max_rounds}.")


def _tournament_order(N: HostArray, x: HostArray | None) -> list[int]:
  """Candidates by wins in the tournament x (ties by net margin): its order when acyclic."""
  m = len(N)
  margin = (N - N.T).sum(1)
  if x is None:
    return [int(c) for c in np.lexsort((np.arange(m), -margin))]
  T = np.zeros((m, m))
  iu, ju = np.triu_indices(m, 1)
  T[iu, ju], T[ju, iu] = x, 1 - x
  return [int(c) for c in np.lexsort((np.arange(m), -margin, -T.sum(1)))]


def _stopped(N: HostArray, x: HostArray | None, lower: float, cuts: int, rounds: int):
  ranking = _improve(N, _tournament_order(N, x))
  d = _disagreements(N, ranking)
  optimal = d <= lower + 1e-9 * max(1.0, abs(d))  # the bound may already certify it
  return KemenyResult(ranking, d, optimal, cuts, rounds, min(lower, d))


def _smith_set(N: HostArray) -> list[int]:
  """Candidates reaching every other one by weak-majority steps (``N[a, b] >= N[b, a]``)."""
  R = N >= N.T
  for k in range(len(N)):
    R |= R[:, k : k + 1] & R[k : k + 1, :]
  return [a for a in range(len(N)) if np.all(R[a])]


def kemeny_winners(
  election: "Profile | PairwiseCounts | ArrayLike", *, time_limit: float | None = None
) -> list[int]:
  """First places of every Kemeny ranking (sorted): :func:`kemeny_young`'s answer at any m.

  One :func:`kemeny_ilp` gives the optimum D* and a first winner. Every Kemeny ranking puts the
  Smith set (the smallest set whose members all beat every non-member) on top (Kemeny's extended
  Condorcet property), so only its other members c are tried: c is a winner iff
  ``sum_b N[b, c]`` plus the Kemeny optimum of the other m - 1 candidates equals D* (to 1e-6 plus
  1e-9 relative, HiGHS's precision). A candidate whose simple lower bound already exceeds D* is
  skipped. Cost: up to (Smith set size) extra programs of m - 1 candidates.

  Args:
    election: as in :func:`kemeny_ilp`.
    time_limit: seconds for each program; a program stopped before optimality raises.

  Returns:
    Sorted winners, like every rule in :data:`jaxpref.social.RULES`.

  Raises:
    ValueError: on bad counts (see :func:`kemeny_ilp`).
    RuntimeError: if ``time_limit`` stops a program before it is certified optimal.
  """
  N = _counts(election)
  m = len(N)

  def solve(M: HostArray) -> KemenyResult:
    r = kemeny_ilp(M, time_limit=time_limit)
    if not r.optimal:
      raise RuntimeError("kemeny_winners: time_limit stopped a program before optimality.")
    return r

  best = solve(N)
  tol = 1e-6 + 1e-9 * abs(best.disagreements)
  winners = {best.ranking[0]}
  for c in _smith_set(N):
    if c in winners:
      continue
    rest = [b for b in range(m) if b != c]
    top = float(N[rest, c].sum())
    sub = N[np.ix_(rest, rest)]
    if (
      top + float(np.minimum(sub, sub.T)[np.triu_indices(m - 1, 1)].sum())
      > best.disagreements + tol
    ):
      continue
    if top + solve(sub).disagreements <= best.disagreements + tol:
      winners.add(c)
  return sorted(int(c) for c in winners)


def kemeny_leaderboard(
  rankings_per_task: Iterable[Sequence[Any]],
  *,
  weights: ArrayLike | None = None,
  items: Sequence[Hashable] | None = None,
  missing: str = "ignore",
  time_limit: float | None = None,
) -> KemenyResult:
  r"""The Kemeny consensus of several rankings of the same systems (one per task or prompt).

  Each task is a voter with weight :math:`w_t`: it adds :math:`w_t` to ``N[a, b]`` for every pair
  it ranks a above b and :math:`w_t / 2` to both entries for a pair it ties. The result is the
  ranking that disagrees least with the tasks, :math:`\min_\pi \sum_t w_t
  \,\mathrm{dist}_t(\pi)` (Kendall-tau disagreements, a tie counting 1/2), solved exactly by
  :func:`kemeny_ilp`: Kemeny's (1959) answer to "what are the best systems?" across benchmarks,
  which unlike mean scores ignores score scales and unlike Borda respects the majority order
  whenever it is transitive (Young & Levenglick 1978).

  Missing systems: with ``missing="ignore"`` (default) a task says nothing about the pairs
  involving a system it does not list (it abstains on them), so an unevaluated system is neither
  rewarded nor penalised; with ``missing="bottom"`` the unlisted systems are tied below every
  listed one (top-k lists).

  Args:
    rankings_per_task: one ranking per task, best first. An entry is a system or a
      ``list`` / ``tuple`` / ``set`` of systems tied at that place, e.g.
      ``["gpt", ("llama", "qwen"), "phi"]``. A 2-D array of best-first rows works too.
    weights: ``[n_tasks]`` non-negative task weights (1 each by default), not all zero.
    items: every system, which fixes their set (and the index order behind ties among optimal
      rankings); by default all systems listed, sorted when they are comparable.
    missing: ``"ignore"`` or ``"bottom"``, see above.
    time_limit: as in :func:`kemeny_ilp`.

  Returns:
    A :class:`KemenyResult` whose ``ranking`` lists the systems themselves, best first, and whose
    ``disagreements`` is the weighted number of task-pair disagreements.

  Raises:
    ValueError: on no tasks, bad weights, a system listed twice in a task or not in ``items``,
      an unknown ``missing``, or (with ``"ignore"``) a system that no task ranks against another.

  Examples:
    >>> r = kemeny_leaderboard([["a", "b", "c"], ["b", "a", "c"], ["a", ("b", "c")], ["c", "a"]])
    >>> r.ranking, r.disagreements
    (['a', 'b', 'c'], 2.5)
  """
  if missing not in ("ignore", "bottom"):
    raise ValueError(f'missing must be "ignore" or "bottom"; got {missing!r}.')
  tasks = []
  for t, ranking in enumerate(rankings_per_task):
    tiers = [list(e) if isinstance(e, _TIERS) else [e] for e in ranking]
    flat = [s.item() if isinstance(s, np.generic) else s for tier in tiers for s in tier]
    if len(set(flat)) != len(flat):
      dup = next(s for s in flat if flat.count(s) > 1)
      raise ValueError(f"Task {t} lists system {dup!r} more than once.")
    tasks.append([[s.item() if isinstance(s, np.generic) else s for s in tier] for tier in tiers])
  if not tasks:
    raise ValueError("kemeny_leaderboard needs at least one task ranking.")
  if items is None:
    seen = list(dict.fromkeys(s for tiers in tasks for tier in tiers for s in tier))
    try:
      items = sorted(seen)
    except TypeError:
      items = seen
  items = list(items)
  index = {s: i for i, s in enumerate(items)}
  if len(index) != len(items):
    raise ValueError("items lists a system more than once.")
  w = np.ones(len(tasks)) if weights is None else np.asarray(weights, np.float64)
  if w.shape != (len(tasks),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
    raise ValueError(f"weights must be [n_tasks = {len(tasks)}] non-negative, not all zero.")
  m = len(items)
  N = np.zeros((m, m))
  for t, tiers in enumerate(tasks):
    place = np.full(m, np.inf)  # unlisted: inf (never compared under "ignore")
    for k, tier in enumerate(tiers):
      for s in tier:
        if s not in index:
          raise ValueError(f"Task {t} ranks {s!r}, which is not in items.")
        place[index[s]] = k
    listed = np.isfinite(place)
    if missing == "bottom":
      place[~listed] = len(tiers)
      listed[:] = True
    both = listed[:, None] & listed[None, :] & ~np.eye(m, dtype=bool)
    above = (place[:, None] < place[None, :]) & both
    tied = (place[:, None] == place[None, :]) & both
    N += w[t] * (above + 0.5 * tied)
  lonely = np.flatnonzero((N + N.T).sum(1) == 0) if m > 1 else []
  if len(lonely):
    raise ValueError(
      f"System {items[lonely[0]]!r} is never ranked against another system by a task with "
      'positive weight; drop it or use missing="bottom".'
    )
  r = kemeny_ilp(N, time_limit=time_limit)
  return r._replace(ranking=[items[i] for i in r.ranking])
