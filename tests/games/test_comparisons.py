import numpy as np
import pytest

from jaxpref.games import comparison_counts, game_from_comparisons, validate_preference_matrix

# 0 beats 1 twice, ties once, loses once; 1 vs 2 once (2 wins); (0, 2) never compared.
A = np.array([0, 0, 1, 0, 2])
B = np.array([1, 1, 0, 1, 1])
OUTCOME = np.array([1.0, 1.0, 1.0, 0.5, 1.0])


def test_counts_by_hand():
  wins, counts = comparison_counts(A, B, OUTCOME, 3)
  np.testing.assert_array_equal(wins, [[0, 2.5, 0], [1.5, 0, 0], [0, 1, 0]])
  np.testing.assert_array_equal(counts, [[0, 4, 0], [4, 0, 1], [0, 1, 0]])
  np.testing.assert_array_equal(wins + wins.T, counts)


def test_game_ties_count_half_and_unseen_pairs():
  with pytest.raises(ValueError, match=r"Pair \(0, 2\) was never compared \(1 of 3 pairs"):
    game_from_comparisons(A, B, OUTCOME, 3)
  P = game_from_comparisons(A, B, OUTCOME, 3, unseen="tie")
  np.testing.assert_allclose(P, [[0.5, 2.5 / 4, 0.5], [1.5 / 4, 0.5, 0.0], [0.5, 1.0, 0.5]])
  validate_preference_matrix(P, atol=1e-15)
  P = game_from_comparisons(A, B, OUTCOME, 3, prior=2.0)
  np.testing.assert_allclose(P[0, 1], (2.5 + 1) / (4 + 2))
  np.testing.assert_allclose(P[0, 2], 0.5)
  validate_preference_matrix(P, atol=1e-15)


def test_soft_labels():
  P = game_from_comparisons([0, 1], [1, 0], [0.9, 0.3], 2)
  np.testing.assert_allclose(P[0, 1], (0.9 + 0.7) / 2)


@pytest.mark.parametrize(
  "args, kwargs, message",
  [
    (([], [], [], 2), {}, "No comparisons"),
    (([0], [1, 0], [1.0], 2), {}, "1-D of equal length"),
    (([0, 3], [1, 0], [1.0, 1.0], 3), {}, r"item_a\[1\] = 3 is outside \[0, 3\)"),
    (([0, 1], [1, -1], [1.0, 1.0], 3), {}, r"item_b\[1\] = -1 is outside"),
    (([0.0], [1.0], [1.0], 2), {}, "integer item ids"),
    (([0, 1], [1, 1], [1.0, 1.0], 2), {}, "Row 1 compares item 1 with itself"),
    (([0, 1], [1, 0], [1.0, 1.5], 2), {}, r"outcome\[1\] = 1.5"),
    (([0], [1], [np.nan], 2), {}, r"outcome\[0\] = nan"),
    (([0], [1], [1.0], 1), {}, "n_items must be >= 2"),
    (([0], [1], [1.0], 2), {"unseen": "ignore"}, "unseen must be"),
    (([0], [1], [1.0], 2), {"prior": -1.0}, "prior must be"),
  ],
)
def test_bad_comparisons_raise(args, kwargs, message):
  with pytest.raises(ValueError, match=message):
    game_from_comparisons(*args, **kwargs)
