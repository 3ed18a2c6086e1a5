"""The egalitarian KL-regularized policy: the spec's toy, the LP limit, and bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import games, pareto, preference

TOY_REWARDS = jnp.array([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]]])  # 3 responses, two groups
UNIFORM = jnp.log(jnp.full((1, 3), 1.0 / 3.0))


def test_the_spec_toy_maxmin_and_utilitarian_policies():
  out = pareto.egalitarian_policy(UNIFORM, TOY_REWARDS, kl_coef=1.0)
  np.testing.assert_allclose(jnp.exp(out.logp[0]), [0.3220, 0.3220, 0.3559], atol=1e-4)
  np.testing.assert_allclose(out.weights, [0.5, 0.5], atol=1e-6)
  np.testing.assert_allclose(out.values, [0.5345, 0.5345], atol=1e-4)
  assert float(out.gap) < 1e-9
  # The utilitarian optimum of an 80/20 population leaves the minority group behind.
  util = pareto.closed_form_policy(UNIFORM, TOY_REWARDS, jnp.array([0.8, 0.2]), kl_coef=1.0)
  np.testing.assert_allclose(jnp.exp(util[0]), [0.4224, 0.2318, 0.3458], atol=1e-4)
  values = pareto.policy_values(util, UNIFORM, TOY_REWARDS, kl_coef=1.0)
  np.testing.assert_allclose(values, [0.6014, 0.4108], atol=1e-4)
  assert float(values.min()) < float(out.values.min())


def test_small_beta_reaches_the_max_min_lottery_of_preference_games():
  rps = games.canonical_games()["duplicated_rps"].P
  bt = games.bradley_terry_game(jnp.array([1.0, 0.0, -1.0, 0.5]))
  groups = jnp.stack([rps, bt])
  lp = preference.maxmin_lottery(np.asarray(groups))
  n = rps.shape[0]
  rewards = jnp.transpose(groups, (1, 0, 2)).reshape(n, -1)[None]  # r_{g,j}(i) = P_g[i, j]
  out = pareto.egalitarian_policy(jnp.log(jnp.full((1, n), 1.0 / n)), rewards, kl_coef=0.01)
  value = jnp.min(jnp.einsum("i,gij->gj", jnp.exp(out.logp[0]), groups))
  assert float(value) == pytest.approx(lp.value, abs=1e-4)


def test_bad_input_is_refused():
  with pytest.raises(ValueError, match=r"rewards \[P, V, m\]"):
    pareto.egalitarian_policy(UNIFORM, TOY_REWARDS[0], kl_coef=1.0)
  with pytest.raises(ValueError, match=r"rewards \[P, V, m\]"):
    pareto.egalitarian_policy(UNIFORM[:, :2], TOY_REWARDS, kl_coef=1.0)
