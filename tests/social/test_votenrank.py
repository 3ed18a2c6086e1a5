import numpy as np
import pytest

from jaxpref import social


def _table(seed, n_sys=5, n_tasks=7, ties=False):
  rng = np.random.default_rng(seed)
  S = (
    rng.integers(0, 4, size=(n_sys, n_tasks)).astype(float)
    if ties
    else rng.normal(size=(n_sys, n_tasks))
  )
  w = rng.integers(1, 4, size=n_tasks).astype(float)
  return S, w


def test_rank_conventions():
  S = np.array([[3.0], [3.0], [1.0]])
  assert social.task_ranks(S, "min")[:, 0].tolist() == [1, 1, 3]
  assert social.task_ranks(S, "max")[:, 0].tolist() == [2, 2, 3]
  board = social.Leaderboard(np.array([[3.0, 5], [3, 1], [1, 2]]))
  # Tied firsts earn no plurality point; Dowdall uses rank_min.
  np.testing.assert_allclose(board.score("plurality"), [1, 0, 0])
  np.testing.assert_allclose(board.score("dowdall"), [2, 1 + 1 / 3, 1 / 3 + 1 / 2])
  np.testing.assert_allclose(board.score("borda"), [1 + 2, 1 + 0, 0 + 1])


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_profile_rules_without_ties(seed):
  S, w = _table(seed)
  board = social.Leaderboard(S, w)
  prof = social.Profile.from_rankings(np.argsort(-S, axis=0).T, w)  # one ballot per task
  for rule, fn in (
    ("borda", social.borda),
    ("plurality", social.plurality),
    ("dowdall", social.dowdall),
    ("copeland", social.copeland),
    ("baldwin", social.baldwin),
  ):
    assert board.winners(rule) == fn(prof), rule
  assert board.winners("minimax") == social.minimax(prof, "winning")
  cw = social.condorcet_winner(prof)
  assert board.winners("condorcet") == ([] if cw is None else [cw])


def test_threshold_rule_by_hand():
  # Positions (rank_max) per task for 3 systems over 3 tasks.
  S = np.array([[3.0, 1, 3], [2, 3, 1], [1, 2, 2]])
  # Last places (k = 3): sys0 once, sys1 once, sys2 once -> all kept; k = 2: sys0 0, sys1 1,
  # sys2 2 -> sys0 wins.
  assert social.Leaderboard(S).winners("threshold") == [0]


def test_ties_and_ranking():
  S, w = _table(3, ties=True)
  board = social.Leaderboard(S, w)
  for rule in social.LEADERBOARD_RULES:
    assert board.winners(rule) is not None
  assert sorted(board.ranking("borda")) == list(range(5))


def test_bad_inputs():
  with pytest.raises(ValueError, match="finite"):
    social.Leaderboard(np.array([[1.0, np.nan], [0, 1]]))
  with pytest.raises(ValueError, match="non-negative"):
    social.Leaderboard(np.ones((2, 2)), [1, -1])
  with pytest.raises(ValueError, match="n_sys >= 2"):
    social.Leaderboard(np.ones((1, 3)))
  with pytest.raises(ValueError, match="Unknown leaderboard rule"):
    social.Leaderboard(np.eye(2)).score("kemeny")
