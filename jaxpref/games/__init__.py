"""Preference games ``P[..., n, n]`` with ``P[i, j] = Prob(i beats j)`` and ``P + P^T = 1``.

Constructors are pure and jittable (keys explicit, batched over leading axes); building a game from
comparison data, validation and the canonical games run on the host in float64.
"""

from jaxpref.games._bandit import contextual_bandit
from jaxpref.games._canonical import CanonicalGame, canonical_games
from jaxpref.games._comparisons import comparison_counts, game_from_comparisons
from jaxpref.games._constructors import (
  bradley_terry_game,
  cyclic_game,
  majority_of_raters,
  perturbed_rps_game,
  three_types_game,
  uniform_random_game,
  weighted_three_cycle_game,
)
from jaxpref.games._validation import (
  check_preference_shape,
  is_preference_matrix,
  validate_preference_matrix,
)

__all__ = [
  "CanonicalGame",
  "bradley_terry_game",
  "canonical_games",
  "check_preference_shape",
  "comparison_counts",
  "contextual_bandit",
  "cyclic_game",
  "game_from_comparisons",
  "is_preference_matrix",
  "majority_of_raters",
  "perturbed_rps_game",
  "three_types_game",
  "uniform_random_game",
  "validate_preference_matrix",
  "weighted_three_cycle_game",
]
