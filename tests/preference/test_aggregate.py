import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria, games
from jaxpref import preference as pm

RPS = jnp.asarray([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])


def test_one_group_is_an_equilibrium():
  result = pm.maxmin_lottery(RPS[None])
  np.testing.assert_allclose(result.lottery, [1 / 3] * 3, atol=1e-9)
  assert result.value == pytest.approx(0.5)
  P = games.bradley_terry_game(jnp.asarray([0.3, 1.0, -0.2]))
  np.testing.assert_allclose(pm.maxmin_lottery(P[None]).lottery, equilibria.maximal_lottery(P))


def test_two_groups_with_opposite_winners():
  # Group 1: item 0 always wins; group 2: item 1 always wins. The egalitarian lottery splits
  # (1/2, 1/2) and guarantees each group 1/4 (against its own winner); any other split gives less.
  p1 = jnp.asarray([[0.5, 1.0], [0.0, 0.5]])
  result = pm.maxmin_lottery(jnp.stack([p1, p1.T]))
  np.testing.assert_allclose(result.lottery, [0.5, 0.5], atol=1e-9)
  assert result.value == pytest.approx(0.25)
  np.testing.assert_allclose(result.group_values, [0.25, 0.25], atol=1e-9)


def test_maxmin_beats_a_grid_of_lotteries():
  Ps = pm.bt_mixture_games(jax.random.key(0), 3, 3)
  result = pm.maxmin_lottery(Ps)
  grid = [(a, b, 1 - a - b) for a in np.linspace(0, 1, 51) for b in np.linspace(0, 1 - a, 51)]
  best = max(np.einsum("i,gij->gj", np.asarray(x), np.asarray(Ps)).min() for x in grid)
  assert result.value >= best - 1e-12
  assert result.value == pytest.approx(best, abs=2e-2)
  assert result.value <= 0.5 + 1e-12


def test_maxmin_validates():
  with pytest.raises(ValueError, match=r"\[G, n, n\]"):
    pm.maxmin_lottery(RPS)
  with pytest.raises(ValueError):
    pm.maxmin_lottery(jnp.stack([RPS, RPS + 0.1]))


def test_utilitarian_matrix_is_a_preference_matrix():
  Ps = pm.bt_mixture_games(jax.random.key(1), 5, 3)
  P = pm.utilitarian_matrix(Ps, jnp.asarray([2.0, 1.0, 1.0]))
  games.validate_preference_matrix(P)
  np.testing.assert_allclose(P, 0.5 * Ps[0] + 0.25 * Ps[1] + 0.25 * Ps[2])


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_group_robust_fit_lowers_the_worst_group_loss():
  truth = pm.bt_mixture_games(jax.random.key(2), 6, 2)
  groups = (jnp.arange(100) < 85).astype(jnp.int32)  # 85 / 15 people: a small minority
  pairs = pm.sample_comparisons(jax.random.key(3), truth, per_annotator=30, groups=groups)
  row_groups = groups[pairs.annotator]
  model = pm.BradleyTerry(6, l2=1e-2)
  pooled = pm.group_losses(model, pm.fit(model, pairs).params, pairs, row_groups, 2)
  robust = pm.fit_group_robust(model, pairs, row_groups, 2)
  assert float(robust.group_losses.max()) < float(pooled.max()) - 0.01
  # At the robust optimum both groups bind (equal losses), and the weights are a distribution.
  np.testing.assert_allclose(robust.group_losses[0], robust.group_losses[1], atol=1e-3)
  np.testing.assert_allclose(robust.group_weights.sum(), 1.0)
  with pytest.raises(ValueError, match="groups must be"):
    pm.fit_group_robust(model, pairs, row_groups, 1)
