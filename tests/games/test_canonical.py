import numpy as np
import pytest

from jaxpref.games import canonical_games

GAMES = canonical_games()


@pytest.mark.parametrize("name", sorted(GAMES))
def test_known_equilibrium_is_an_equilibrium(name):
  """The hand-derived answers are checked from the definition, independently of any solver."""
  P, x, _ = GAMES[name]
  assert P.dtype == np.float64 and x.dtype == np.float64
  assert np.all(x >= 0) and abs(x.sum() - 1) < 1e-15
  assert np.max(P @ x) <= 0.5 + 1e-15  # no item beats x
  assert np.min(x @ P) >= 0.5 - 1e-15  # x beats or ties every item


def test_covers_the_documented_cases():
  assert {"rps", "transitive", "condorcet_winner", "duplicated_rps", "all_ties", "tie_face"} <= set(
    GAMES
  )
  # tie_face: the midpoint of the tied face is NOT an equilibrium (the trap it guards against).
  P = GAMES["tie_face"].P
  assert np.max(P @ np.array([0.5, 0.5, 0.0])) > 0.5
