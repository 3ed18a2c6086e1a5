import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto

R = jnp.array([[[0.0, 1.0], [0.2, 0.8], [0.5, 0.6], [0.9, 0.3], [1.0, 0.0]]])
UNIFORM = jnp.log(jnp.full((1, 5), 0.2))


def test_spec_vector_both_levels_active():
  sol = pareto.palette_weights(UNIFORM, R, jnp.array([0.6, 0.5]))
  np.testing.assert_allclose(sol.weights, [5.851, 6.075], atol=1e-3)
  probs = jnp.exp(sol.log_probs[0])
  np.testing.assert_allclose(probs, [0.1398, 0.1337, 0.2295, 0.3853, 0.1118], atol=1e-4)
  np.testing.assert_allclose(sol.values, [0.6, 0.5], atol=1e-9)
  assert bool(sol.feasible)


def test_levels_met_with_the_least_kl_on_a_random_bandit():
  k1, k2 = jax.random.split(jax.random.key(3))
  log_ref = jax.nn.log_softmax(jax.random.normal(k1, (4, 7)), -1)
  rewards = jax.random.normal(k2, (4, 7, 3))
  base = pareto.policy_values(log_ref, log_ref, rewards, kl_coef=0.0)
  levels = base + jnp.array([0.3, 0.2, -0.5])  # The third level is already met: lambda_3 = 0.
  sol = pareto.palette_weights(log_ref, rewards, levels)
  assert float(sol.weights[2]) == 0.0 and bool(jnp.all(sol.weights[:2] > 0))
  np.testing.assert_allclose(sol.values[:2], levels[:2], atol=1e-9)
  assert float(sol.values[2]) >= float(levels[2])
  # p_lambda is the closed-form policy of the direction lambda at kl_coef 1 / |lambda|_1.
  s = float(jnp.sum(sol.weights))
  np.testing.assert_allclose(
    sol.log_probs,
    pareto.closed_form_policy(log_ref, rewards, sol.weights / s, kl_coef=1 / s),
    atol=1e-9,
  )
  # Any policy meeting the levels has at least this KL: a step towards the levels' violators.
  for k in range(5):
    noise = 0.05 * jax.random.normal(jax.random.key(k), (4, 7))
    other = jax.nn.log_softmax(sol.log_probs + noise, -1)
    values = pareto.policy_values(other, log_ref, rewards, kl_coef=0.0)
    if bool(jnp.all(values >= levels)):
      assert float(pareto.policy_kl(other, log_ref)) >= float(sol.kl)
  # Levels below the reference's values need no change at all.
  easy = pareto.palette_weights(log_ref, rewards, base - 1.0)
  np.testing.assert_array_equal(easy.weights, 0.0)
  np.testing.assert_allclose(easy.kl, 0.0, atol=1e-12)


def test_infeasible_palette_and_bad_shapes_are_errors_and_jit_returns_the_flag():
  with pytest.raises(ValueError, match=r"palette is infeasible.*E r_0 = "):
    pareto.palette_weights(UNIFORM, R, jnp.array([0.9, 0.9]))
  with pytest.raises(ValueError, match="palette is infeasible"):
    pareto.palette_weights(UNIFORM, R, jnp.array([1.5, 0.0]))  # above the largest reward
  with pytest.raises(ValueError, match="levels"):
    pareto.palette_weights(UNIFORM, R, jnp.array([0.5, 0.5, 0.5]))
  with pytest.raises(ValueError, match="must be \\[P, V, m\\]"):
    pareto.palette_weights(jnp.zeros((2, 5)), R, jnp.array([0.5, 0.5]))
  flags = jax.jit(jax.vmap(lambda c: pareto.palette_weights(UNIFORM, R, c).feasible))(
    jnp.array([[0.6, 0.5], [0.9, 0.9]])
  )
  assert flags.tolist() == [True, False]
