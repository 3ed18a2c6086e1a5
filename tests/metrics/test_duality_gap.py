import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import games
from jaxpref.metrics import (
  duality_gap,
  exploitability,
  kl_divergence,
  regularized_duality_gap,
  regularized_exploitability,
)

RPS = games.canonical_games()["rps"].P


def _random_games(seed, n, batch):
  return np.asarray(games.uniform_random_game(jax.random.key(seed), n, (batch,)))


def _random_policies(seed, n, batch):
  return np.random.default_rng(seed).dirichlet(np.ones(n), size=batch)


def _openspiel_nash_conv(P, x, y):
  """NashConv of the bimatrix game (A, -A), A = P - 1/2, at profile (x, y), from its definition:
  the sum over both players of best-response value minus on-policy value."""
  A = P - 0.5
  v_row = x @ A @ y
  return (np.max(A @ y) - v_row) + (np.max(-(x @ A)) - (-v_row))


def test_hand_computed_values():
  assert float(duality_gap(RPS, [1.0, 0.0, 0.0])) == 1.0
  assert float(exploitability(RPS, [1.0, 0.0, 0.0])) == 0.5
  assert abs(float(duality_gap(RPS, np.ones(3) / 3))) < 1e-15
  P = np.array([[0.5, 0.8], [0.2, 0.5]])
  # x = (1/2, 1/2): P x = (0.65, 0.35); x^T P = (0.35, 0.65). Gap = 0.65 - 0.35.
  np.testing.assert_allclose(duality_gap(P, [0.5, 0.5]), 0.3, atol=1e-15)
  np.testing.assert_allclose(exploitability(P, [0.5, 0.5]), 0.15, atol=1e-15)
  np.testing.assert_allclose(duality_gap(P, [1.0, 0.0]), 0.0, atol=1e-15)


def test_equals_openspiel_nash_conv_and_closed_form():
  P, X = _random_games(0, 7, 50), _random_policies(1, 7, 50)
  gap = np.asarray(duality_gap(P, X))
  expected = np.array([_openspiel_nash_conv(p, x, x) for p, x in zip(P, X, strict=True)])
  np.testing.assert_allclose(gap, expected, atol=1e-14)
  np.testing.assert_allclose(gap, 2 * np.max(np.einsum("bij,bj->bi", P, X), -1) - 1, atol=1e-14)
  np.testing.assert_allclose(exploitability(P, X), gap / 2, atol=1e-15)
  assert np.all(gap >= 0)


def _explicit_regularized_gap(P, x, beta, ref):
  """EGPO-style: compute both best responses explicitly and evaluate the regularized payoff."""

  def kl(p, q):
    return np.sum(p * np.log(p / q))

  def payoff(p, q):
    return p @ P @ q - beta * kl(p, ref) + beta * kl(q, ref)

  br_max = ref * np.exp(P @ x / beta)
  br_max /= br_max.sum()
  br_min = ref * np.exp(-(x @ P) / beta)
  br_min /= br_min.sum()
  return payoff(br_max, x) - payoff(x, br_min)


@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
def test_regularized_gap_matches_explicit_best_responses(beta):
  P, X = _random_games(2, 6, 20), _random_policies(3, 6, 20)
  ref = _random_policies(4, 6, 1)[0]
  got = np.asarray(regularized_duality_gap(P, X, kl_coef=beta, ref_policy=ref))
  expected = [_explicit_regularized_gap(p, x, beta, ref) for p, x in zip(P, X, strict=True)]
  np.testing.assert_allclose(got, expected, atol=1e-12)
  # The symmetric closed form 2 beta log Z + 2 beta KL - 1.
  Z = np.sum(ref * np.exp(np.einsum("bij,bj->bi", P, X) / beta), -1)
  closed = 2 * beta * np.log(Z) + 2 * beta * np.asarray(kl_divergence(X, ref)) - 1
  np.testing.assert_allclose(got, closed, atol=1e-10)
  np.testing.assert_allclose(
    regularized_exploitability(P, X, kl_coef=beta, ref_policy=ref), got / 2, atol=1e-15
  )


def test_regularized_gap_zero_at_regularized_equilibrium_and_bias_bound():
  P = _random_games(5, 8, 1)[0]
  beta = 1.0
  x = np.ones(8) / 8
  for _ in range(200):  # fixed point pi = softmax(P pi / beta): a contraction for beta = 1
    x = np.exp(P @ x / beta)
    x /= x.sum()
  assert abs(float(regularized_duality_gap(P, x, kl_coef=beta))) < 1e-13
  # Gap(x) <= Gap_beta(x) + 2 beta log n for a uniform reference
  # (docs/solvers.md, 'Gap conventions').
  X = _random_policies(6, 8, 30)
  for b in (0.01, 0.1, 1.0):
    reg = np.asarray(regularized_duality_gap(P, X, kl_coef=b))
    assert np.all(reg >= -1e-12)
    assert np.all(np.asarray(duality_gap(P, X)) <= reg + 2 * b * np.log(8) + 1e-12)


def test_regularized_gap_tends_to_unregularized():
  P, X = _random_games(7, 5, 10), _random_policies(8, 5, 10)
  np.testing.assert_allclose(
    regularized_duality_gap(P, X, kl_coef=1e-6), duality_gap(P, X), atol=5e-5
  )


def test_jit_and_vmap_equal_eager_and_batching():
  P, X = _random_games(9, 6, 12), _random_policies(10, 6, 12)
  eager = duality_gap(P, X)
  np.testing.assert_array_equal(jax.jit(duality_gap)(P, X), eager)
  np.testing.assert_allclose(jax.vmap(duality_gap)(P, X), eager, atol=1e-15)
  looped = [float(duality_gap(p, x)) for p, x in zip(P, X, strict=True)]
  np.testing.assert_allclose(eager, looped, atol=1e-15)
  reg = jax.jit(lambda p, x, b: regularized_duality_gap(p, x, kl_coef=b))
  betas = jnp.linspace(0.05, 1.0, 12)
  np.testing.assert_allclose(
    reg(P, X, betas), regularized_duality_gap(P, X, kl_coef=betas), atol=1e-14
  )
  # One game, many policies, by broadcasting.
  assert duality_gap(P[0], X).shape == (12,)


def test_differentiable():
  P, x = _random_games(11, 4, 1)[0], _random_policies(12, 4, 1)[0]
  g = jax.grad(lambda x: regularized_duality_gap(P, x, kl_coef=0.1))(jnp.asarray(x))
  assert np.all(np.isfinite(g))
  g = jax.grad(lambda x: duality_gap(P, x))(jnp.asarray(x))
  assert np.all(np.isfinite(g))


def test_shape_errors():
  with pytest.raises(ValueError, match=r"duality_gap: P must have shape \[..., n, n\]"):
    duality_gap(np.ones((3, 4)), np.ones(4))
  with pytest.raises(ValueError, match="policy argument 0 must have shape"):
    duality_gap(RPS, np.ones(4) / 4)
  with pytest.raises(ValueError, match="regularized_duality_gap"):
    regularized_duality_gap(RPS, np.ones(2), kl_coef=0.1)


def test_nan_propagates_instead_of_a_silent_zero():
  x = np.array([np.nan, 0.5, 0.5])
  assert np.isnan(duality_gap(RPS, x))
  assert np.isnan(regularized_duality_gap(RPS, x, kl_coef=0.1))


def test_assume_valid_uses_one_product_and_agrees_on_valid_games():
  P = games.uniform_random_game(jax.random.key(0), 7, (5,))
  x = jax.nn.softmax(jax.random.normal(jax.random.key(1), (5, 7)))
  np.testing.assert_allclose(duality_gap(P, x, assume_valid=True), duality_gap(P, x), atol=1e-14)
  np.testing.assert_allclose(
    regularized_duality_gap(P, x, kl_coef=0.1, assume_valid=True),
    regularized_duality_gap(P, x, kl_coef=0.1),
    atol=1e-14,
  )


def test_gaps_of_a_matrix_that_is_not_a_game_are_nan_also_under_jit():
  from jaxpref.metrics import duality_gap, regularized_duality_gap

  good = jnp.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]])
  P = jnp.stack([good, good.at[1, 0].set(0.3), good.at[0, 1].set(jnp.inf)])
  x = jnp.ones((3, 3)) / 3
  for fn in (duality_gap, lambda p, y: regularized_duality_gap(p, y, kl_coef=0.1)):
    for f in (fn, jax.jit(fn)):
      gaps = np.asarray(f(P, x))
      assert np.isfinite(gaps[0]) and np.isnan(gaps[1:]).all()
  # assume_valid skips the check (the caller vouches for P).
  assert np.isfinite(np.asarray(duality_gap(P[1], x[1], assume_valid=True)))
