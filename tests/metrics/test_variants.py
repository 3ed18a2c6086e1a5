"""Every metric gives the same answer eagerly and under jit (chex variants), in the right shape."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxpref import games
from jaxpref.equilibria import maximal_lottery
from jaxpref.metrics import (
  duality_gap,
  exploitability,
  kl_divergence,
  regularized_duality_gap,
  regularized_exploitability,
  win_rate,
)

B, N = 6, 5


def _games_and_policies(seed):
  P = np.asarray(games.uniform_random_game(jax.random.key(seed), N, (B,)))
  X = np.random.default_rng(seed).dirichlet(np.ones(N), size=B)
  return P, X


class MetricVariantsTest(chex.TestCase):
  @chex.variants(with_jit=True, without_jit=True)
  def test_duality_gap_and_exploitability(self):
    P, X = _games_and_policies(0)
    gap = self.variant(duality_gap)(P, X)
    chex.assert_shape(gap, (B,))
    chex.assert_trees_all_close(gap, 2 * np.max(np.einsum("bij,bj->bi", P, X), -1) - 1, atol=1e-14)
    chex.assert_trees_all_close(self.variant(exploitability)(P, X), gap / 2, atol=1e-15)
    # Zero at the maximal lotteries; one game against many policies broadcasts.
    star = maximal_lottery(P)
    chex.assert_trees_all_close(self.variant(duality_gap)(P, star), np.zeros(B), atol=1e-12)
    chex.assert_shape(self.variant(duality_gap)(P[0], X), (B,))

  @chex.variants(with_jit=True, without_jit=True)
  def test_regularized_duality_gap_closed_form(self):
    P, X = _games_and_policies(1)
    betas = jnp.linspace(0.05, 1.0, B)
    gap = self.variant(lambda p, x, b: regularized_duality_gap(p, x, kl_coef=b))(P, X, betas)
    chex.assert_shape(gap, (B,))
    chex.assert_tree_all_finite(gap)
    # Uniform reference: 2 beta log Z + 2 beta KL(x || u) - 1 with Z = mean(exp(P x / beta)).
    b = np.asarray(betas)
    Z = np.mean(np.exp(np.einsum("bij,bj->bi", P, X) / b[:, None]), -1)
    kl = np.sum(X * np.log(X * N), -1)
    chex.assert_trees_all_close(gap, 2 * b * np.log(Z) + 2 * b * kl - 1, atol=1e-12)
    half = self.variant(lambda p, x, b: regularized_exploitability(p, x, kl_coef=b))(P, X, betas)
    chex.assert_trees_all_close(half, gap / 2, atol=1e-15)
    # Never below 0, and the bias bound Gap <= Gap_beta + 2 beta log n.
    assert np.all(np.asarray(gap) >= -1e-12)
    assert np.all(np.asarray(duality_gap(P, X)) <= np.asarray(gap) + 2 * b * np.log(N) + 1e-12)

  @chex.variants(with_jit=True, without_jit=True)
  def test_regularized_gap_is_zero_at_the_regularized_equilibrium(self):
    P, _ = _games_and_policies(2)
    x = np.full((B, N), 1 / N)
    for _ in range(200):  # pi = softmax(P pi / beta) is a contraction for beta = 1
      x = np.exp(np.einsum("bij,bj->bi", P, x))
      x /= x.sum(-1, keepdims=True)
    gap = self.variant(lambda p, x: regularized_duality_gap(p, x, kl_coef=1.0))(P, x)
    chex.assert_trees_all_close(gap, np.zeros(B), atol=1e-13)

  @chex.variants(with_jit=True, without_jit=True)
  def test_kl_divergence_and_win_rate(self):
    P, X = _games_and_policies(3)
    Y = np.random.default_rng(4).dirichlet(np.ones(N), size=B)
    kl = self.variant(kl_divergence)(X, Y)
    chex.assert_shape(kl, (B,))
    chex.assert_trees_all_close(kl, np.sum(X * np.log(X / Y), -1), atol=1e-14)
    chex.assert_trees_all_close(self.variant(kl_divergence)(X, X), np.zeros(B), atol=1e-15)
    w = self.variant(win_rate)(P, X, Y)
    chex.assert_shape(w, (B,))
    chex.assert_trees_all_close(w, np.einsum("bi,bij,bj->b", X, P, Y), atol=1e-15)
    chex.assert_trees_all_close(w + self.variant(win_rate)(P, Y, X), np.ones(B), atol=1e-15)
    chex.assert_trees_all_close(self.variant(win_rate)(P, X, X), np.full(B, 0.5), atol=1e-15)

  def test_gradients_have_the_policy_shape(self):
    P, X = _games_and_policies(5)
    grads = jax.grad(lambda x: jnp.sum(regularized_duality_gap(P, x, kl_coef=0.1)))(jnp.asarray(X))
    chex.assert_shape(grads, (B, N))
    chex.assert_tree_all_finite(grads)
