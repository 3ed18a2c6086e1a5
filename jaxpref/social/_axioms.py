"""Axiom checkers: a rule and profiles in, the first counterexample (or ``None``) out.

A *winner rule* maps a profile to its sorted winners (every rule in :data:`jaxpref.social.RULES`);
a *ranking rule* maps it to a full ranking, best first (the linear social choice rules). The
checkers accept both: pass ``ranking=True`` for a ranking rule.

Axioms (Ge et al., 2024, Sec. 2; Brandt et al., Handbook of Computational Social Choice, 2016):

* Pareto optimality: if every voter ranks a above b, b is not a winner while a is not (winner
  rule), or a is ranked above b (ranking rule).
* Pairwise majority consistency: if the strict majority relation is a linear order, the rule
  returns it (ranking rule) or its top (winner rule).
* Condorcet consistency: a Condorcet winner is the unique winner (first place).
* Majority consistency: a candidate ranked first by more than half the voters is the unique
  winner (first place).
* Winner monotonicity: raising a winner by one position on one voter's ballot keeps it a winner.
"""

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from jaxpref.social._profile import Profile
from jaxpref.social._rules import condorcet_winner, majority_winner, unanimity

Rule = Callable[[Profile], list[int]]


def _profiles(profiles: Profile | Iterable[Profile]) -> Iterable[Profile]:
  return [profiles] if isinstance(profiles, Profile) else profiles


def _winners(rule: Rule, profile: Profile, ranking: bool) -> list[int]:
  out = list(rule(profile))
  return out[:1] if ranking else out


def _counterexample(axiom: str, profile: Profile, **detail: Any) -> dict[str, Any]:
  return {"axiom": axiom, "profile": profile, **detail}


def check_pareto(
  rule: Rule, profiles: Profile | Iterable[Profile], *, ranking: bool = False
) -> dict[str, Any] | None:
  """Pareto optimality; returns ``{"axiom", "profile", "dominated", "by", ...}`` or None."""
  for p in _profiles(profiles):
    dominates = unanimity(p)  # [a, b]: a over b on every ballot
    out = list(rule(p))
    for a, b in zip(*np.nonzero(dominates), strict=True):
      if ranking:
        if out.index(int(a)) > out.index(int(b)):  # b, which a dominates, ranked above a
          return _counterexample("pareto", p, dominated=int(b), by=int(a), output=out)
      elif int(b) in out and int(a) not in out:
        return _counterexample("pareto", p, dominated=int(b), by=int(a), output=out)
  return None


def majority_order(profile: Profile) -> list[int] | None:
  """The strict majority relation as a ranking when it is a linear order, else ``None``."""
  M = profile.margin_matrix()
  m = len(M)
  off = ~np.eye(m, dtype=bool)
  if np.any((M == 0) & off):
    return None
  order = list(np.argsort(-np.sum(M > 0, axis=1), kind="stable"))
  for i in range(m):
    for j in range(i + 1, m):
      if M[order[i], order[j]] <= 0:
        return None
  return [int(c) for c in order]


def check_pairwise_majority(
  rule: Rule, profiles: Profile | Iterable[Profile], *, ranking: bool = False
) -> dict[str, Any] | None:
  """Pairwise majority consistency (PMC); a counterexample or None."""
  for p in _profiles(profiles):
    order = majority_order(p)
    if order is None:
      continue
    out = list(rule(p))
    if (ranking and out != order) or (not ranking and out != [order[0]]):
      return _counterexample("pairwise_majority", p, majority=order, output=out)
  return None


def check_condorcet(
  rule: Rule, profiles: Profile | Iterable[Profile], *, ranking: bool = False
) -> dict[str, Any] | None:
  """Condorcet consistency; a counterexample or None."""
  for p in _profiles(profiles):
    cw = condorcet_winner(p)
    if cw is not None and _winners(rule, p, ranking) != [cw]:
      return _counterexample("condorcet", p, condorcet_winner=cw, output=list(rule(p)))
  return None


def check_majority(
  rule: Rule, profiles: Profile | Iterable[Profile], *, ranking: bool = False
) -> dict[str, Any] | None:
  """Majority consistency; a counterexample or None."""
  for p in _profiles(profiles):
    if not p.is_linear:
      continue
    top = majority_winner(p)
    if top is not None and _winners(rule, p, ranking) != [top]:
      return _counterexample("majority", p, majority_winner=top, output=list(rule(p)))
  return None


def check_winner_monotonicity(
  rule: Rule, profiles: Profile | Iterable[Profile], *, ranking: bool = False
) -> dict[str, Any] | None:
  """Winner monotonicity: lift each winner one place on one voter's ballot (linear profiles)."""
  for p in _profiles(profiles):
    if not p.is_linear:
      continue
    winners = _winners(rule, p, ranking)
    rankings = p.rankings()
    for w in winners:
      for r, row in enumerate(rankings):
        pos = int(np.flatnonzero(row == w)[0])
        if pos == 0 or p.counts[r] < 1:
          continue
        lifted = row.copy()
        lifted[[pos - 1, pos]] = lifted[[pos, pos - 1]]
        counts = np.append(p.counts, 1.0)
        counts[r] -= 1
        q = Profile.from_rankings(np.vstack([rankings, lifted]), counts)
        if w not in _winners(rule, q, ranking):
          return _counterexample(
            "winner_monotonicity", p, winner=w, ballot=r, lifted=q, output=list(rule(q))
          )
  return None
