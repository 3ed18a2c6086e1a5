r"""Voting rules on one profile (host side, exact), with pref_voting's conventions.

Every rule returns the sorted list of winners (all tied winners). Positional and elimination
rules need linear orders; the rules on the margin matrix M (Copeland, Llull, Condorcet, minimax,
leximax, ranked pairs, beat path, split cycle, top cycle, uncovered set, Kemeny-Young) accept
ties. The maximal lottery is not a rule here: it is
``jaxpref.equilibria.maximal_lottery(jaxpref.social.majority_game(profile))``. Combinatorial
rules run on the host in numpy: they are cheap at election sizes (m up to a few dozen;
Kemeny-Young is exact only up to ``KEMENY_MAX`` candidates). Batched margins and positional
scores for many profiles at once are in :func:`jaxpref.social.margins` and
:func:`jaxpref.social.scoring_scores` (JAX).

References:
  Holliday & Pacuit, pref_voting: the preferential voting tools package for Python, JOSS 2025;
  Brandt, Conitzer, Endriss, Lang, Procaccia (eds.), Handbook of Computational Social Choice,
  Cambridge University Press 2016.
"""

import itertools
from collections.abc import Callable

import numpy as np

from jaxpref.social._profile import Profile
from jaxpref.types import HostArray

KEMENY_MAX = 8  # m! rankings are enumerated: 40,320 at m = 8.


def _argmax(scores: HostArray, tol: float = 1e-9) -> list[int]:
  return [int(i) for i in np.flatnonzero(scores >= scores.max() - tol)]


def _argmin(scores: HostArray, tol: float = 1e-9) -> list[int]:
  return [int(i) for i in np.flatnonzero(scores <= scores.min() + tol)]


def _linear(profile: Profile, rule: str) -> HostArray:
  if not profile.is_linear:
    raise ValueError(
      f"{rule} needs linear orders (no ties); use a margin-based rule, or the Vote'n'Rank rules "
      "(jaxpref.social.Leaderboard) for score tables with ties."
    )
  return profile.ranks


# Positional rules -----------------------------------------------------------------------------


def positional_scores(profile: Profile, weights: HostArray) -> HostArray:
  """``sum_r n_r weights[rank_r(c)]`` for every candidate c (linear profiles)."""
  ranks = _linear(profile, "positional scoring")
  return np.einsum("r,rc->c", profile.counts, np.asarray(weights, np.float64)[ranks])


def plurality_scores(profile: Profile) -> HostArray:
  """First places per candidate."""
  return positional_scores(profile, np.eye(profile.num_candidates)[0])


def borda_scores(profile: Profile) -> HostArray:
  """Borda: candidates ranked below, summed over voters."""
  m = profile.num_candidates
  return positional_scores(profile, m - 1 - np.arange(m))


def dowdall_scores(profile: Profile) -> HostArray:
  """Dowdall: 1 / position (1-based)."""
  return positional_scores(profile, 1 / (1 + np.arange(profile.num_candidates)))


def anti_plurality_scores(profile: Profile) -> HostArray:
  """Last places per candidate (fewest wins)."""
  return positional_scores(profile, np.eye(profile.num_candidates)[-1])


def plurality(profile: Profile) -> list[int]:
  """Most first places."""
  return _argmax(plurality_scores(profile))


def borda(profile: Profile) -> list[int]:
  """Highest Borda score."""
  return _argmax(borda_scores(profile))


def dowdall(profile: Profile) -> list[int]:
  """Highest Dowdall score."""
  return _argmax(dowdall_scores(profile))


def anti_plurality(profile: Profile) -> list[int]:
  """Fewest last places."""
  return _argmin(anti_plurality_scores(profile))


# Margin-based rules ---------------------------------------------------------------------------


def copeland_scores(profile: Profile, scores: tuple[float, float, float] = (1, 0, -1)) -> HostArray:
  """Copeland: ``scores[0]`` per majority win, ``[1]`` per tie, ``[2]`` per loss."""
  M = profile.margin_matrix()
  off = ~np.eye(len(M), dtype=bool)
  return (
    scores[0] * np.sum((M > 0) & off, 1)
    + scores[1] * np.sum((M == 0) & off, 1)
    + scores[2] * np.sum((M < 0) & off, 1)
  )


def copeland(profile: Profile) -> list[int]:
  """Most wins minus losses in the majority graph."""
  return _argmax(copeland_scores(profile))


def llull(profile: Profile) -> list[int]:
  """Most wins plus ties."""
  return _argmax(copeland_scores(profile, (1, 1, 0)))


def condorcet_winner(profile: Profile) -> int | None:
  """The candidate beating every other by a strict majority, or ``None``."""
  M = profile.margin_matrix()
  wins = np.sum(M > 0, axis=1)
  best = np.flatnonzero(wins == len(M) - 1)
  return int(best[0]) if len(best) else None


def condorcet(profile: Profile) -> list[int]:
  """The Condorcet winner, or every candidate when there is none (pref_voting's convention)."""
  c = condorcet_winner(profile)
  return [c] if c is not None else list(range(profile.num_candidates))


MINIMAX_SCORES = ("margins", "winning", "pairwise_opposition")


def minimax_scores(profile: Profile, score_method: str = "margins") -> HostArray:
  """Worst defeat of every candidate (lower is better).

  Args:
    profile: the profile.
    score_method: ``"margins"`` (largest margin against, 0 if unbeaten), ``"winning"``
      (largest support of a candidate that beats it, 0 if unbeaten) or
      ``"pairwise_opposition"`` (largest support against, beaten or not).

  Returns:
    ``[m]`` scores.
  """
  N = profile.support()
  M = N - N.T
  off = ~np.eye(len(M), dtype=bool)
  if score_method == "margins":  # 0 for an unbeaten candidate, as pref_voting
    return np.maximum(np.max(np.where(off, M.T, -np.inf), axis=1), 0.0)
  if score_method == "winning":
    return np.max(np.where(off & (M.T > 0), N.T, 0.0), axis=1)
  if score_method == "pairwise_opposition":
    return np.max(np.where(off, N.T, -np.inf), axis=1)
  raise ValueError(f"Unknown minimax score_method {score_method!r}; known: {MINIMAX_SCORES}.")


def minimax(profile: Profile, score_method: str = "margins") -> list[int]:
  """Smallest worst defeat (Simpson-Kramer)."""
  return _argmin(minimax_scores(profile, score_method))


def leximax(profile: Profile) -> list[int]:
  """Minimax with ties broken by the sorted margins against each candidate, lexicographically."""
  M = profile.margin_matrix()
  m = len(M)
  seqs = [sorted((M[b, a] for b in range(m) if b != a), reverse=True) for a in range(m)]
  best = min(seqs)
  return [a for a in range(m) if seqs[a] == best]


def _widest_paths(M: HostArray) -> HostArray:
  """Strength of the strongest path (max over paths of the min edge) on the positive margins."""
  m = len(M)
  S = np.where(M > 0, M, 0.0)
  np.fill_diagonal(S, 0.0)
  for k in range(m):
    S = np.maximum(S, np.minimum(S[:, k : k + 1], S[k : k + 1, :]))
  np.fill_diagonal(S, 0.0)
  return S


def path_strengths(profile: Profile) -> HostArray:
  """Schulze's strongest-path strengths ``S[a, b]`` on the positive margins (0 if no path)."""
  return _widest_paths(profile.margin_matrix())


def beat_path(profile: Profile) -> list[int]:
  """Schulze's beat path: a wins if its strongest path to each b is at least b's path back."""
  S = _widest_paths(profile.margin_matrix())
  return [a for a in range(len(S)) if np.all(S[a] >= S[:, a])]


def split_cycle(profile: Profile) -> list[int]:
  """Split cycle: a defeats b iff ``M[a, b] > 0`` exceeds the strongest path from b back to a."""
  M = profile.margin_matrix()
  S = _widest_paths(M)
  defeated = np.any((M > 0) & (M > S.T), axis=0)
  return [int(c) for c in np.flatnonzero(~defeated)]


def _closure(R: HostArray) -> HostArray:
  R = R.copy()
  for k in range(len(R)):
    R |= R[:, k : k + 1] & R[k : k + 1, :]
  return R


def top_cycle(profile: Profile) -> list[int]:
  """The Smith set: the smallest set whose members all beat every non-member."""
  M = profile.margin_matrix()
  R = _closure(M >= 0)
  return [a for a in range(len(M)) if np.all(R[a])]


def uncovered_set(profile: Profile) -> list[int]:
  """Gillies' uncovered set: a covers b if a beats b and everyone beating a also beats b."""
  M = profile.margin_matrix()
  beats = M > 0
  m = len(M)
  covered = [
    any(beats[a, b] and all(beats[c, b] for c in range(m) if beats[c, a]) for a in range(m))
    for b in range(m)
  ]
  return [b for b in range(m) if not covered[b]]


def ranked_pairs(profile: Profile, *, all_tiebreaks: bool = True) -> list[int]:
  """Ranked pairs (Tideman): lock majority edges from the largest margin down, skipping cycles.

  With ``all_tiebreaks`` (pref_voting's definition) equal margins are tried in every order
  (memoised over the locked sets) and the winners are the union; the search can grow quickly with
  many equal margins (large elections), where ``all_tiebreaks=False`` breaks ties by candidate
  index (the source of the edge, then its target) in one pass.
  """
  M = profile.margin_matrix()
  m = len(M)
  edges = [(M[a, b], a, b) for a in range(m) for b in range(m) if M[a, b] > 0]
  if not all_tiebreaks:
    locked: list[tuple[int, int]] = []
    reach = np.eye(m, dtype=bool)
    for _, a, b in sorted(edges, key=lambda e: (-e[0], e[1], e[2])):
      if not reach[b, a]:
        locked.append((a, b))
        reach |= reach[:, a : a + 1] & reach[b : b + 1, :]
    beaten = {b for _, b in locked}
    return [c for c in range(m) if c not in beaten]
  groups = [
    [(a, b) for _, a, b in grp]
    for _, grp in itertools.groupby(sorted(edges, key=lambda e: -e[0]), key=lambda e: e[0])
  ]
  return _ranked_pairs_all_tiebreaks(m, groups)


def _ranked_pairs_all_tiebreaks(m: int, groups: list[list[tuple[int, int]]]) -> list[int]:
  """Union of ranked pairs' winners over every order of the tied edges in each group.

  A depth-first search over the orders within each tie group whose state is the transitive
  closure of the locked edges (locking decisions and the winners depend on nothing else),
  memoised on (group, closure, edges pending), with three exact shortcuts: pending edges already
  implied or already contradicted by the closure are dropped (their fate no longer depends on the
  order); pending edges on no cycle of the closure plus every pending edge are locked at once (any
  order locks them, and no cycle through them can reject another edge); and a branch stops once
  every candidate it can still leave unbeaten is a known winner (the closure only grows).
  """
  winners: set[int] = set()
  seen: set[tuple[int, tuple[int, ...], frozenset]] = set()
  # reach[x]: bitmask of the candidates x reaches through locked edges (x itself included).

  def lock(reach: tuple[int, ...], a: int, b: int) -> tuple[int, ...]:
    return tuple(r | reach[b] if r >> a & 1 else r for r in reach)

  def open_edges(reach, edges) -> frozenset:
    return frozenset((a, b) for a, b in edges if not (reach[a] >> b & 1 or reach[b] >> a & 1))

  def search(g: int, reach: tuple[int, ...], pending: frozenset) -> None:
    beaten = 0
    for x, r in enumerate(reach):
      beaten |= r & ~(1 << x)
    unbeaten = {c for c in range(m) if not beaten >> c & 1}
    if unbeaten <= winners:
      return
    pending = open_edges(reach, pending)
    while not pending and g < len(groups):
      pending = open_edges(reach, groups[g])
      g += 1
    if not pending:
      winners.update(unbeaten)
      return
    key = (g, reach, pending)
    if key in seen:
      return
    seen.add(key)
    whole = reach
    for a, b in pending:
      whole = lock(whole, a, b)
    forced = [(a, b) for a, b in pending if not whole[b] >> a & 1]
    if forced:  # on no cycle of closure + pending: locked in every order, and changes no other
      for a, b in forced:
        reach = lock(reach, a, b)
      search(g, reach, pending - set(forced))
      return
    for a, b in pending:
      search(g, lock(reach, a, b), pending - {(a, b)})

  search(0, tuple(1 << x for x in range(m)), frozenset())
  return sorted(winners)


def kemeny_young(profile: Profile) -> list[int]:
  """First places of every ranking minimising the total pairwise disagreement (exact, m <= 8)."""
  m = profile.num_candidates
  if m > KEMENY_MAX:
    raise ValueError(
      f"kemeny_young enumerates all m! rankings and is limited to m <= {KEMENY_MAX}; got m = {m}. "
      "For more candidates use kemeny_winners (the same winners) or kemeny_ilp (an optimal "
      "ranking), exact by integer programming."
    )
  N = profile.support()
  best, tops = -np.inf, set()
  for perm in itertools.permutations(range(m)):
    idx = np.array(perm)
    agree = np.sum(np.triu(N[np.ix_(idx, idx)], 1))
    if agree > best + 1e-9:
      best, tops = agree, {perm[0]}
    elif agree >= best - 1e-9:
      tops.add(perm[0])
  return sorted(tops)


def unanimity(profile: Profile) -> HostArray:
  """``U[a, b]``: every ballot ranks a strictly above b (a Pareto-dominates b)."""
  if not isinstance(profile, Profile):
    raise ValueError("Pareto dominance needs ballots; this election has pairwise counts only.")
  return np.all(profile.ranks[:, :, None] < profile.ranks[:, None, :], axis=0)


def pareto_optimal(profile: Profile) -> list[int]:
  """Candidates that no other candidate beats on every ballot (the Pareto-optimal ones)."""
  return [int(c) for c in np.flatnonzero(~np.any(unanimity(profile), axis=0))]


# Elimination rules ----------------------------------------------------------------------------


def _eliminate(profile: Profile, pick: Callable[[Profile], list[int] | None], losers) -> list[int]:
  remaining = list(range(profile.num_candidates))
  while True:
    sub = profile.restrict(remaining)
    done = pick(sub)
    if done is not None:
      return sorted(remaining[i] for i in done)
    out = losers(sub)
    if len(out) == len(remaining):
      return sorted(remaining)
    remaining = [c for i, c in enumerate(remaining) if i not in set(out)]
    if len(remaining) == 1:
      return remaining


def baldwin(profile: Profile) -> list[int]:
  """Repeatedly drop every candidate with the lowest Borda score; recompute."""
  _linear(profile, "baldwin")
  return _eliminate(profile, lambda p: None, lambda p: _argmin(borda_scores(p)))


def strict_nanson(profile: Profile) -> list[int]:
  """Repeatedly drop every candidate with Borda score strictly below the average."""
  _linear(profile, "strict_nanson")

  def losers(p):
    s = borda_scores(p)
    below = [int(i) for i in np.flatnonzero(s < s.mean() - 1e-9)]
    return below or list(range(len(s)))

  return _eliminate(profile, lambda p: None, losers)


def weak_nanson(profile: Profile) -> list[int]:
  """Repeatedly drop every candidate with Borda score at most the average."""
  _linear(profile, "weak_nanson")

  def losers(p):
    s = borda_scores(p)
    return [int(i) for i in np.flatnonzero(s <= s.mean() + 1e-9)]

  return _eliminate(profile, lambda p: None, losers)


def majority_winner(profile: Profile) -> int | None:
  """The candidate with more than half the first places (linear profiles), or ``None``."""
  top = np.flatnonzero(plurality_scores(profile) > profile.num_voters / 2)
  return int(top[0]) if len(top) else None


def _majority_stop(profile: Profile) -> list[int] | None:
  winner = majority_winner(profile)
  return None if winner is None else [winner]


def instant_runoff(profile: Profile) -> list[int]:
  """Repeatedly drop every candidate with the fewest first places until one has a majority."""
  _linear(profile, "instant_runoff")

  return _eliminate(profile, _majority_stop, lambda p: _argmin(plurality_scores(p)))


def coombs(profile: Profile) -> list[int]:
  """Repeatedly drop every candidate with the most last places until one has a majority."""
  _linear(profile, "coombs")

  return _eliminate(profile, _majority_stop, lambda p: _argmax(anti_plurality_scores(p)))


# Rules that fit a model -----------------------------------------------------------------------


def bradley_terry_scores(profile: Profile, l2: float = 0.0) -> HostArray:
  """Bradley-Terry strengths fitted to the pairwise support (ties count half each way)."""
  import jax.numpy as jnp

  from jaxpref import preference as pm

  N = profile.support()
  n = profile.num_voters
  m = len(N)
  a, b = np.nonzero(~np.eye(m, dtype=bool))
  wins = N[a, b] + (n - N[a, b] - N[b, a]) / 2
  pairs = pm.make_pairs(a, b, np.ones(len(a)), weight=jnp.asarray(wins))
  model = pm.BradleyTerry(num_items=m, l2=max(l2, 1e-9))
  return np.asarray(pm.fit(model, pairs).params["scores"], np.float64)


def bradley_terry(profile: Profile) -> list[int]:
  """Highest Bradley-Terry strength (up to 1e-6)."""
  return _argmax(bradley_terry_scores(profile), tol=1e-6)


RULES: dict[str, Callable[[Profile], list[int]]] = {
  "plurality": plurality,
  "borda": borda,
  "dowdall": dowdall,
  "anti_plurality": anti_plurality,
  "copeland": copeland,
  "llull": llull,
  "condorcet": condorcet,
  "minimax": minimax,
  "leximax": leximax,
  "baldwin": baldwin,
  "strict_nanson": strict_nanson,
  "weak_nanson": weak_nanson,
  "instant_runoff": instant_runoff,
  "coombs": coombs,
  "ranked_pairs": ranked_pairs,
  "beat_path": beat_path,
  "split_cycle": split_cycle,
  "top_cycle": top_cycle,
  "uncovered_set": uncovered_set,
  "kemeny_young": kemeny_young,
  "bradley_terry": bradley_terry,
  "pareto_optimal": pareto_optimal,
}
