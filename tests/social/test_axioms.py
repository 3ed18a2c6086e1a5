import numpy as np

from jaxpref import social
from tests.social.test_rules import _random_profiles


def _profiles(count=150):
  return [social.Profile.from_rankings(r, c) for r, c in _random_profiles(5, count)]


def test_condorcet_methods_pass_and_borda_plurality_fail():
  profiles = _profiles()
  for name in ("copeland", "minimax", "beat_path", "ranked_pairs", "split_cycle", "kemeny_young"):
    assert social.check_condorcet(social.RULES[name], profiles) is None, name
  for name in ("borda", "plurality"):
    cex = social.check_condorcet(social.RULES[name], profiles)
    assert cex is not None and cex["axiom"] == "condorcet"
    assert social.RULES[name](cex["profile"]) != [cex["condorcet_winner"]]


def test_pareto_and_majority():
  profiles = _profiles()
  for name in ("borda", "copeland", "beat_path", "instant_runoff", "pareto_optimal"):
    assert social.check_pareto(social.RULES[name], profiles) is None, name
  for name in ("plurality", "instant_runoff", "copeland"):
    assert social.check_majority(social.RULES[name], profiles) is None, name
  # Borda is not majority consistent: 3 voters a > b > c, 2 voters b > c > a.
  p = social.Profile.from_rankings([[0, 1, 2], [1, 2, 0]], [3, 2])
  assert social.check_majority(social.borda, p)["majority_winner"] == 0


def test_winner_monotonicity():
  profiles = _profiles(60)
  for name in ("borda", "copeland", "beat_path", "split_cycle"):
    assert social.check_winner_monotonicity(social.RULES[name], profiles) is None, name
  # Instant runoff is not monotonic: lifting the winner on one ballot can make it lose.
  cex = social.check_winner_monotonicity(social.instant_runoff, _profiles(400))
  assert cex is not None and cex["winner"] not in social.instant_runoff(cex["lifted"])


def test_pairwise_majority_for_winner_rules():
  profiles = _profiles()
  hit = [p for p in profiles if social.majority_order(p) is not None]
  assert len(hit) > 20
  assert social.check_pairwise_majority(social.copeland, hit) is None
  assert social.check_pairwise_majority(social.plurality, hit) is not None
  assert social.majority_order(social.Profile.from_rankings([[2, 0, 1]])) == [2, 0, 1]
  cycle = social.Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
  assert social.majority_order(cycle) is None and np.all(cycle.margin_matrix().sum(0) == 0)
