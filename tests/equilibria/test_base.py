import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria as eq
from jaxpref.equilibria._base import average_add, average_init


def test_matrix_operator_is_p_times_policy():
  P = jnp.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]])
  x = jnp.array([0.2, 0.3, 0.5])
  np.testing.assert_allclose(eq.matrix_operator(P)(x), P @ x, rtol=1e-14)


@pytest.mark.parametrize("bernoulli", [False, True])
def test_sampled_operator_is_unbiased(bernoulli):
  P = jnp.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]])
  x = jnp.array([0.2, 0.3, 0.5])
  op = eq.sampled_operator(P, num_samples=8, bernoulli=bernoulli)
  draws = jax.vmap(lambda k: op(x, k))(jax.random.split(jax.random.key(0), 20_000))
  np.testing.assert_allclose(draws.mean(0), P @ x, atol=6e-3)
  assert float(draws.var(0).max()) > 0


def test_sampled_operator_errors():
  with pytest.raises(ValueError, match="PRNG key"):
    eq.sampled_operator(jnp.eye(2) * 0 + 0.5, num_samples=4)(jnp.array([0.5, 0.5]))
  with pytest.raises(ValueError, match="num_samples"):
    eq.sampled_operator(jnp.eye(2), num_samples=0)


def test_compensated_average_in_float32_matches_float64():
  rng = np.random.default_rng(0)
  xs = rng.dirichlet(np.ones(5), size=30_000)
  avg = average_init(jnp.zeros(5, jnp.float32))
  avg = jax.lax.scan(lambda a, x: (average_add(a, x), None), avg, jnp.asarray(xs, jnp.float32))[0]
  naive = jax.lax.scan(
    lambda s, x: (s + x, None), jnp.zeros(5, jnp.float32), jnp.asarray(xs, jnp.float32)
  )[0]
  exact = xs.astype(np.float32).astype(np.float64).mean(0)
  err = np.abs(np.asarray(eq.average_value(avg), np.float64) - exact).max()
  naive_err = np.abs(np.asarray(naive, np.float64) / 30_000 - exact).max()
  assert err < 1e-7 < naive_err


@pytest.mark.parametrize(
  ("factory", "kwargs", "message"),
  [
    (eq.online_mirror_descent, dict(step_size=20.0, kl_coef=0.1), "step_size \\* kl_coef"),
    (eq.extragradient, dict(step_size=10.0, kl_coef=0.1), "step_size \\* kl_coef"),
    (eq.mirror_prox, dict(step_size=-1.0), "step_size"),
    (eq.nash_md, dict(kl_coef=0.0), "kl_coef"),
    (eq.mwu, dict(step_size=float("nan")), "step_size"),
    (eq.projected_extragradient, dict(safety=1.5), "safety"),
  ],
)
def test_bad_hyperparameters(factory, kwargs, message):
  with pytest.raises(ValueError, match=message):
    factory(**kwargs)
