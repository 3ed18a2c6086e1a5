import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto


def test_pama_advantage_three_cases_and_the_weighted_interpolation():
  A = jnp.array([[-1.0, 2.0], [1.0, 3.0], [-2.0, -0.5], [0.0, 4.0]])
  np.testing.assert_array_equal(pareto.pama_advantage(A), [0.0, 1.0, -0.5, 0.0])
  w = jnp.array([0.25, 0.75])
  np.testing.assert_allclose(pareto.pama_advantage(A, w, radius=0.0), A @ w)  # LS
  # radius 1/2 on (1, 3): c = w/2 + u/2; the smallest |s| is at u = e_1: s = 1.25 + 0.5 = 1.75.
  assert float(pareto.pama_advantage(A[1], w, radius=0.5)) == pytest.approx(1.75)
  # On (-1, 2): s = 0.625 + 0.5 u^T A with u^T A in [-1, 2]; zero is out of reach: 0.125.
  assert float(pareto.pama_advantage(A[0], w, radius=0.5)) == pytest.approx(0.125)
  # Brute force over the simplex agrees.
  rng = np.random.default_rng(0)
  for _ in range(20):
    a, rho = rng.normal(size=3), rng.uniform()
    u = np.vstack([np.eye(3), rng.dirichlet(np.ones(3), size=20000)])
    p = np.array([0.2, 0.3, 0.5])
    brute = ((1 - rho) * p + rho * u) @ a
    got = float(pareto.pama_advantage(jnp.asarray(a), jnp.asarray(p), radius=rho))
    assert abs(got) <= np.min(np.abs(brute)) + 1e-9
    assert brute.min() - 1e-9 <= got <= brute.max() + 1e-9


def test_pama_and_mirror_weights_reject_bad_weights():
  with pytest.raises(ValueError, match="simplex"):
    pareto.pama_advantage(jnp.ones(2), jnp.array([0.5, 0.6]))
  with pytest.raises(ValueError, match=r"has 3 objectives .* but 2 were expected"):
    pareto.pama_advantage(jnp.ones(2), jnp.array([0.2, 0.3, 0.5]))  # wrong number of objectives
  with pytest.raises(ValueError, match="radius"):
    pareto.pama_advantage(jnp.ones(2), radius=1.5)
  with pytest.raises(ValueError, match="simplex"):
    pareto.mirror_weights(jnp.array([-0.5, 1.5]), jnp.eye(2), step_size=1.0)
  with pytest.raises(ValueError, match="step_size >= 0 and mu > 0"):
    pareto.mirror_weights(jnp.array([0.5, 0.5]), jnp.eye(2), step_size=1.0, mu=0.0)


def test_dynamic_weighting_reduces_to_fixed_weights_and_follows_the_influence():
  G = jnp.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.2], [0.0, -0.2, 3.0]])
  w = jnp.array([0.2, 0.3, 0.5])
  np.testing.assert_allclose(pareto.mirror_weights(w, G, step_size=0.0), w, rtol=1e-12)
  new = pareto.mirror_weights(w, G, step_size=0.1, mu=0.5)
  expected = w * np.exp(0.2 * G.sum(1)) / np.sum(w * np.exp(0.2 * G.sum(1)))
  np.testing.assert_allclose(new, expected, rtol=1e-12)
  np.testing.assert_allclose(
    pareto.hypervolume_meta_reward(jnp.array([-1.0, 0.0, 0.3, 100.0])),
    [0.5, 0.5, 0.5 + 1.5 * np.tanh(0.3), 2.0],
    rtol=1e-12,
  )
  batched = jax.jit(jax.vmap(lambda s: pareto.mirror_weights(w, G, step_size=s)))(jnp.ones(2))
  assert batched.shape == (2, 3)
