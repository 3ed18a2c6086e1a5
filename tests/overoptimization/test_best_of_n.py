"""Best-of-n: the analytic KL, the exact categorical policy and the pooled estimator."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import overoptimization as oo


def test_analytic_kl_matches_the_spec_vector():
  got = oo.best_of_n_kl(jnp.array([2.0, 4.0, 16.0, 64.0, 256.0]))
  np.testing.assert_allclose(got, [0.193147, 0.636294, 1.835089, 3.174508, 4.549084], atol=1e-6)
  assert float(oo.best_of_n_kl(1)) == 0.0


@pytest.mark.parametrize(("N", "expected"), [(10, 1.733063), (100, 1.834018)])
def test_exact_kl_on_equiprobable_outcomes_approaches_the_formula_from_below(N, expected):
  ref = jnp.full(N, 1.0 / N)
  pi = oo.best_of_n_policy(jnp.arange(N, dtype=ref.dtype), 16, ref_policy=ref)
  kl = float(jnp.sum(pi * jnp.log(pi / ref)))
  assert kl == pytest.approx(expected, abs=1e-6)
  assert kl < float(oo.best_of_n_kl(16))


def _enumerate(ref, score, n):
  """The best-of-n distribution by summing over every tuple of n draws (ties: uniform pick)."""
  m = len(ref)
  out = np.zeros(m)
  for draws in itertools.product(range(m), repeat=n):
    p = np.prod([ref[d] for d in draws])
    best = max(score[d] for d in draws)
    winners = [d for d in draws if score[d] == best]
    for w in winners:
      out[w] += p / len(winners)
  return out


@pytest.mark.parametrize("score", [[0.3, -1.0, 2.0, 0.5], [1.0, 1.0, 0.0, 1.0]])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_exact_policy_equals_enumeration_with_and_without_ties(score, n):
  ref = np.array([0.1, 0.4, 0.2, 0.3])
  got = oo.best_of_n_policy(jnp.asarray(score), n, ref_policy=jnp.asarray(ref))
  np.testing.assert_allclose(got, _enumerate(ref, score, n), atol=1e-12)


def test_exact_policy_jits_and_vmaps_over_n_and_batches():
  ref = jax.nn.softmax(jax.random.normal(jax.random.key(0), (3, 6)))
  score = jax.random.normal(jax.random.key(1), (3, 6))
  ns = jnp.array([1.0, 2.0, 8.0])
  batched = jax.jit(jax.vmap(lambda n: oo.best_of_n_policy(score, n, ref_policy=ref)))(ns)
  for i, n in enumerate(ns):
    for x in range(3):
      np.testing.assert_allclose(
        batched[i, x], oo.best_of_n_policy(score[x], n, ref_policy=ref[x]), atol=1e-12
      )
  np.testing.assert_allclose(jnp.sum(batched, -1), 1.0, atol=1e-12)


def _brute_estimate(proxy, gold, n):
  values = []
  for subset in itertools.combinations(range(len(proxy)), n):
    s = list(subset)
    best = proxy[s].max()
    values.append(gold[s][proxy[s] == best].mean())
  return np.mean(values)


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_pooled_estimator_averages_every_subset(n):
  rng = np.random.default_rng(0)
  proxy = np.round(rng.normal(size=7), 0)  # with ties
  gold = rng.normal(size=7)
  got = float(oo.best_of_n_estimate(jnp.asarray(proxy), jnp.asarray(gold), n))
  assert got == pytest.approx(_brute_estimate(proxy, gold, n), abs=1e-10)


def test_pooled_estimator_with_proxy_equal_gold_is_the_expected_maximum():
  gold = jnp.array([0.0, 1.0, 2.0, 3.0])
  # Best of 2 among 4 distinct values: each value v_k is the max of (k - 1) of the 6 pairs.
  assert float(oo.best_of_n_estimate(gold, gold, 2)) == pytest.approx((1 + 2 * 2 + 3 * 3) / 6)


def test_bad_input_is_refused():
  with pytest.raises(ValueError, match="n >= 1"):
    oo.best_of_n_kl(0)
  with pytest.raises(ValueError, match="n >= 1"):
    oo.best_of_n_policy(jnp.array([0.0, 1.0]), 0.5, ref_policy=jnp.array([0.5, 0.5]))
  with pytest.raises(ValueError, match="one shape"):
    oo.best_of_n_policy(jnp.array([0.0, 1.0, 2.0]), 2, ref_policy=jnp.array([0.5, 0.5]))
  with pytest.raises(ValueError, match="n <= 3"):
    oo.best_of_n_estimate(jnp.zeros(3), jnp.zeros(3), 4)
  with pytest.raises(ValueError, match="one shape"):
    oo.best_of_n_estimate(jnp.zeros(3), jnp.zeros(4), 2)
