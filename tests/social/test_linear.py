import functools

import numpy as np
import pytest

from jaxpref import social

CORE_X = np.array([[2.0, 1], [1, 1], [0, 0]])


@pytest.mark.parametrize(("p", "theta1"), [(0.6, 0.2715), (0.7, 0.576), (0.8, 0.9713)])
def test_three_candidate_core_optimum(p, theta1):
  core = social.Profile.from_rankings([[0, 1, 2], [2, 1, 0]], [p, 1 - p])
  np.testing.assert_allclose(social.linear_loss_fit(CORE_X, core), [theta1, 0], atol=1e-3)


def test_theorem_3_1_numbers_and_violation():
  X, prof = social.theorem_3_1_instance(0.7, 0.5, 0.01)
  theta = social.linear_loss_fit(X, prof)
  np.testing.assert_allclose(theta, [0.5724, 0.0067], atol=1e-3)
  r = X @ theta
  assert r[4] - r[5] == pytest.approx(-5.7e-3, abs=2e-4)  # c is ranked above c'
  majority = social.majority_order(prof)
  assert majority == [0, 1, 2, 3, 4, 5] and social.is_feasible(X, majority)


@pytest.mark.parametrize("p", [0.6, 0.7, 0.8])
@pytest.mark.parametrize("delta", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("eps", [1e-3, 1e-2])
def test_btl_fails_po_and_pmc_while_lcpo_passes(p, delta, eps):
  X, prof = social.theorem_3_1_instance(p, delta, eps)
  btl = functools.partial(social.linear_btl, X)
  lcpo = functools.partial(social.lcpo, X)
  majority = functools.partial(social.majority_loss_rule, X)
  violation = social.check_pareto(btl, prof, ranking=True)  # c' (5), dominated by c (4), above c
  assert (violation["dominated"], violation["by"]) == (5, 4)
  assert violation["output"].index(5) < violation["output"].index(4)
  assert social.check_pairwise_majority(btl, prof, ranking=True) is not None
  for rule in (lcpo, majority):
    assert social.check_pareto(rule, prof, ranking=True) is None
    assert social.check_pairwise_majority(rule, prof, ranking=True) is None


def test_lcpo_axioms_on_random_feasible_profiles():
  rng = np.random.default_rng(0)
  profiles, features = [], []
  for _ in range(30):
    m, d = 4, 3  # d >= m - 1: features in general position make every ranking feasible
    X = rng.normal(size=(m, d + 1))
    X[:, -1] = 1.0
    rankings = [rng.permutation(m) for _ in range(int(rng.integers(3, 7)))]
    profiles.append(social.Profile.from_rankings(rankings, rng.integers(1, 4, len(rankings))))
    features.append(X)
  for X, prof in zip(features, profiles, strict=True):
    rule = functools.partial(social.lcpo, X)
    out = rule(prof)
    assert social.is_feasible(X, out)
    assert social.check_pareto(rule, prof, ranking=True) is None
    assert social.check_pairwise_majority(rule, prof, ranking=True) is None
    assert social.check_majority(rule, prof, ranking=True) is None
    assert social.check_winner_monotonicity(rule, prof, ranking=True) is None
    # LCPO's first place is a Copeland winner (by wins only) when every ranking is feasible.
    wins = social.copeland_scores(prof, (1, 0, 0))
    assert wins[out[0]] == wins.max()


def test_bad_inputs():
  X, prof = social.theorem_3_1_instance()
  with pytest.raises(ValueError, match="features must be"):
    social.linear_loss_fit(X[:3], prof)
  with pytest.raises(ValueError, match="finite"):
    social.lcpo(np.where(X == 0, np.nan, X), prof)
  with pytest.raises(ValueError, match="not a permutation"):
    social.is_feasible(X, [0, 1, 2, 2, 4, 5])
