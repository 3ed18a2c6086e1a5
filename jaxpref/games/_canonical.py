"""Canonical preference games with equilibria known in closed form.

Shared by every test and by the ``nash_games`` experiment. Each game is a float64 host array with
its **maximum-entropy** Nash equilibrium (the unique one where the equilibrium is unique), derived
by hand, never by a solver. The set covers the cases where equilibrium solvers go wrong: cycles,
transitivity, a Condorcet winner, duplicated strategies, ties, dominated items, and a game whose
max-entropy equilibrium sits on a face cut out by a non-coordinate constraint.
"""

from typing import NamedTuple

import numpy as np

from jaxpref.types import HostArray


class CanonicalGame(NamedTuple):
  """A preference game with its known maximum-entropy equilibrium.

  Attributes:
    P: ``[n, n]`` float64 preference matrix.
    equilibrium: ``[n]`` float64 maximum-entropy Nash equilibrium.
    description: what the game tests and why the equilibrium is what it is.
  """

  P: HostArray
  equilibrium: HostArray
  description: str


def _from_upper(n: int, upper: dict[tuple[int, int], float]) -> HostArray:
  """Builds ``P`` from ``P[i, j]`` for listed pairs; the rest follow from ``P + P^T = 1``."""
  P = np.full((n, n), 0.5)
  for (i, j), p in upper.items():
    P[i, j] = p
    P[j, i] = 1.0 - p
  return P


def _rps() -> HostArray:
  return _from_upper(3, {(0, 1): 1.0, (1, 2): 1.0, (2, 0): 1.0})


def canonical_games() -> dict[str, CanonicalGame]:
  """Returns the canonical games, keyed by name.

  Games (``n`` in brackets):

  - ``rps`` [3]: rock-paper-scissors with deterministic wins; uniform equilibrium.
  - ``weighted_three_cycle`` [3]: 0 ≻ 1 ≻ 2 ≻ 0 with margins (0.3, 0.1, 0.2); equilibrium
    (b, c, a)/(a + b + c) = (1/6, 1/3, 1/2).
  - ``three_types`` [3]: NLHF's three rater types with eps = 0.1; equilibrium (p3, p2, p1).
  - ``perturbed_rps`` [3]: OpenSpiel's MMD example; equilibrium (3, 3, 1)/7.
  - ``cyclic_5`` [5]: cyclic tournament, margin 0.2; uniform.
  - ``transitive`` [4]: Bradley-Terry scores (2, 1, 0, -1); point mass on item 0.
  - ``condorcet_winner`` [4]: item 0 beats all others (0.6), items 1-3 form a cycle; point mass on
  0.
  - ``duplicated_rps`` [4]: rock-paper-scissors with rock duplicated; the clones share rock's mass,
    (1/6, 1/6, 1/3, 1/3).
  - ``duplicated_cycle`` [5]: the weighted 3-cycle with item 2 in three identical copies; each copy
    gets 1/6.
  - ``all_ties`` [4]: every pair ties; every policy is an equilibrium, the max-entropy one is
  uniform.
  - ``tied_winners`` [4]: items 0 and 1 tie with each other and beat 2 and 3; (1/2, 1/2, 0, 0).
  - ``tie_face`` [3]: items 0 and 1 tie, 2 beats 0 (0.9) but loses to 1 (0.6). Equilibria are
    (t, 1 - t, 0) with t <= 0.2; the max-entropy one, (0.2, 0.8, 0), lies on the boundary set by
    item 2's constraint, not in the middle of the tied face.
  - ``rps_dominated`` [4]: rock-paper-scissors plus an item that loses to all three (0.3); the
    dominated item gets zero, (1/3, 1/3, 1/3, 0).
  - ``two_items`` [2]: item 0 beats item 1 with 0.7; (1, 0).

  Returns:
    A dict from name to :class:`CanonicalGame`, fresh arrays on every call.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024 (three types),
    https://arxiv.org/abs/2312.00886; Sokota et al., ICLR 2023 (perturbed RPS),
    https://arxiv.org/abs/2206.05825; Balduzzi et al., Re-evaluating evaluation, NeurIPS 2018
    (max-entropy Nash and invariance to clones), https://arxiv.org/abs/1806.02643
  """
  games = {}
  games["rps"] = CanonicalGame(
    _rps(), np.full(3, 1 / 3), "Rock-paper-scissors: unique uniform equilibrium."
  )
  a, b, c = 0.3, 0.1, 0.2
  games["weighted_three_cycle"] = CanonicalGame(
    _from_upper(3, {(0, 1): 0.5 + a, (1, 2): 0.5 + b, (2, 0): 0.5 + c}),
    np.array([b, c, a]) / (a + b + c),
    "Weighted 3-cycle 0>1>2>0 with margins (a, b, c): equilibrium (b, c, a)/(a+b+c).",
  )
  eps = 0.1
  p1, p2, p3 = 1 / 3 - eps, 1 / 3 + eps / 2, 1 / 3 + eps / 2
  games["three_types"] = CanonicalGame(
    _from_upper(3, {(1, 0): 0.5 + p1 / 2, (0, 2): 0.5 + p2 / 2, (2, 1): 0.5 + p3 / 2}),
    np.array([p3, p2, p1]),
    "NLHF Sec. 3.2 three rater types (eps = 0.1): equilibrium (p3, p2, p1).",
  )
  A = np.array([[0.0, -1.0, 3.0], [1.0, 0.0, -3.0], [-3.0, 3.0, 0.0]])
  games["perturbed_rps"] = CanonicalGame(
    0.5 + A / 6.0,
    np.array([3.0, 3.0, 1.0]) / 7.0,
    "OpenSpiel's perturbed RPS payoff mapped to P = 1/2 + A/6: equilibrium (3, 3, 1)/7.",
  )
  games["cyclic_5"] = CanonicalGame(
    _from_upper(5, {(i, (i + k) % 5): 0.7 for i in range(5) for k in (1, 2)}),
    np.full(5, 0.2),
    "Cyclic tournament on 5 items, margin 0.2: uniform equilibrium.",
  )
  r = np.array([2.0, 1.0, 0.0, -1.0])
  games["transitive"] = CanonicalGame(
    1.0 / (1.0 + np.exp(-(r[:, None] - r[None, :]))),
    np.array([1.0, 0.0, 0.0, 0.0]),
    "Bradley-Terry scores (2, 1, 0, -1): the best item is a Condorcet winner.",
  )
  games["condorcet_winner"] = CanonicalGame(
    _from_upper(4, {(0, 1): 0.6, (0, 2): 0.6, (0, 3): 0.6, (1, 2): 0.9, (2, 3): 0.9, (3, 1): 0.9}),
    np.array([1.0, 0.0, 0.0, 0.0]),
    "Item 0 beats every other item; the rest form a cycle: point mass on the Condorcet winner.",
  )
  rps = _rps()
  dup = [0, 0, 1, 2]
  games["duplicated_rps"] = CanonicalGame(
    rps[np.ix_(dup, dup)],
    np.array([1 / 6, 1 / 6, 1 / 3, 1 / 3]),
    "RPS with rock duplicated: the clones split rock's mass equally (max-entropy selection).",
  )
  cycle = games["weighted_three_cycle"].P
  dup = [0, 1, 2, 2, 2]
  games["duplicated_cycle"] = CanonicalGame(
    cycle[np.ix_(dup, dup)],
    np.array([1 / 6, 1 / 3, 1 / 6, 1 / 6, 1 / 6]),
    "Weighted 3-cycle with item 2 in three copies: each copy gets a third of 1/2.",
  )
  games["all_ties"] = CanonicalGame(
    np.full((4, 4), 0.5),
    np.full(4, 0.25),
    "Every pair ties: all policies are equilibria; the max-entropy one is uniform.",
  )
  games["tied_winners"] = CanonicalGame(
    _from_upper(4, {(0, 2): 0.7, (0, 3): 0.7, (1, 2): 0.7, (1, 3): 0.7, (2, 3): 0.6}),
    np.array([0.5, 0.5, 0.0, 0.0]),
    "Items 0 and 1 tie and beat the rest: they share the mass equally.",
  )
  games["tie_face"] = CanonicalGame(
    _from_upper(3, {(2, 0): 0.9, (1, 2): 0.6}),
    np.array([0.2, 0.8, 0.0]),
    "Equilibria (t, 1-t, 0), t <= 0.2; max entropy sits on item 2's constraint at t = 0.2.",
  )
  P = np.full((4, 4), 0.5)
  P[:3, :3] = rps
  P[3, :3], P[:3, 3] = 0.3, 0.7
  games["rps_dominated"] = CanonicalGame(
    P,
    np.array([1 / 3, 1 / 3, 1 / 3, 0.0]),
    "RPS plus an item losing to all three: the dominated item gets zero mass.",
  )
  games["two_items"] = CanonicalGame(
    _from_upper(2, {(0, 1): 0.7}), np.array([1.0, 0.0]), "Two items: the better one wins."
  )
  return games
