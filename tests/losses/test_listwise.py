"""Listwise losses: the wave-2 spec's vectors, K = 2 reductions to DPO, gradients against finite
differences, padding, PL-DPO's population minimizer, and clear errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import losses as L  # noqa: N812


def _list(logp, score, ref=None, **kw):
  logp = jnp.asarray(logp, jnp.float64)
  ref = jnp.zeros_like(logp) if ref is None else jnp.asarray(ref, jnp.float64)
  return L.Example(logp=logp, ref_logp=ref, score=jnp.asarray(score, jnp.float64), **kw)


def test_spec_vectors():
  ex = _list([2.0, -1.0, 4.0, -3.0], [4.0, 3.0, 2.0, 1.0])
  loss, _ = L.pl_dpo(ex, kl_coef=0.1)
  np.testing.assert_allclose(loss, 2.918822, atol=1e-6)
  grad = jax.grad(lambda s: L.pl_dpo(ex._replace(logp=s), kl_coef=1.0)[0])(0.1 * ex.logp)
  np.testing.assert_allclose(grad, [-0.719790, -0.504019, 0.485922, 0.737887], atol=1e-6)
  loss, aux = L.pro(L.Example(logp=jnp.array([-1.0, -1.2, -0.9, -1.5]), score=jnp.array(
    [2.0, 1.0, 0.5, -1.0])))  # fmt: skip
  np.testing.assert_allclose(aux["stages"][:3], [2.524108, 2.149142, 0.341154], atol=1e-6)
  np.testing.assert_allclose(loss, 5.014404, atol=1e-6)
  loss, aux = L.lipo(_list([0.2, 0.5, -0.1, 0.0], [3.0, 2.0, 1.0, 0.0]), kl_coef=1.0)
  np.testing.assert_allclose(loss, 5.390486, atol=1e-6)
  np.testing.assert_allclose(aux["lambda"][0, 1:], [2.129823, 1.733426, 1.322242], atol=1e-6)
  np.testing.assert_allclose(aux["lambda"][[1, 1, 2], [2, 3, 3]], [1.642720, 2.164043, 0.100013],
                             atol=1e-6)  # fmt: skip
  ex = _list([0.3, -0.1, 0.2, -0.4], [0.9, 0.7, 0.2, 0.0])
  np.testing.assert_allclose(L.mpo(ex, kl_coef=1.0)[0], 0.609230, atol=1e-6)
  np.testing.assert_allclose(L.mpo(ex, kl_coef=1.0, deviation_weight=1.0)[0], 0.587196, atol=1e-6)


def test_two_responses_reduce_to_dpo():
  logp, ref = jnp.array([-3.0, -5.5]), jnp.array([-4.0, -4.2])
  pair = L.Example(logp=logp[0], logp2=logp[1], ref_logp=ref[0], ref_logp2=ref[1], pref=1.0)
  want = L.dpo(pair, kl_coef=0.3)[0]
  ex = _list(logp, [1.0, 0.0], ref)
  np.testing.assert_allclose(L.pl_dpo(ex, kl_coef=0.3)[0], want, rtol=1e-12)
  np.testing.assert_allclose(L.mpo(ex, kl_coef=0.3)[0], want, rtol=1e-12)
  np.testing.assert_allclose(L.lipo(ex, kl_coef=0.3, lambda_weights=False)[0], want, rtol=1e-12)
  loss, aux = L.lipo(ex, kl_coef=0.3)
  np.testing.assert_allclose(loss, aux["lambda"][0, 1] * want, rtol=1e-12)
  # PRO: DPO without a reference at beta = r_1 - r_2.
  ex = L.Example(logp=logp, score=jnp.array([2.5, 1.0]))
  np.testing.assert_allclose(L.pro(ex)[0], -jax.nn.log_sigmoid(1.5 * (logp[0] - logp[1])))
  # Order of the list does not matter: the scores rank it.
  swapped = _list(logp[::-1], [0.0, 1.0], ref[::-1])
  np.testing.assert_allclose(L.pl_dpo(swapped, kl_coef=0.3)[0], want, rtol=1e-12)


@pytest.mark.parametrize("name", ["pl_dpo", "pro", "lipo", "mpo"])
def test_gradients_match_finite_differences_and_padding_changes_nothing(name):
  rng = np.random.default_rng(3)
  logp, ref, score = rng.normal(size=5), rng.normal(size=5), rng.permutation(5).astype(float)
  fn = L.LOSSES[name]
  kw = {} if name == "pro" else {"kl_coef": 0.7}

  @jax.jit
  def loss(lp):
    return fn(_list(lp, score, ref), **kw)[0]

  grad = jax.grad(loss)(jnp.asarray(logp))
  eps = 1e-6
  for i in range(5):
    e = np.zeros(5)
    e[i] = eps
    fd = (loss(jnp.asarray(logp + e)) - loss(jnp.asarray(logp - e))) / (2 * eps)
    np.testing.assert_allclose(grad[i], fd, rtol=1e-5, atol=1e-7)
  pad = np.concatenate
  padded = _list(pad([logp, [9.0, -9.0]]), pad([score, [99.0, -99.0]]), pad([ref, [0.0, 0.0]]),
                 valid=jnp.array([True] * 5 + [False] * 2))  # fmt: skip
  np.testing.assert_allclose(fn(padded, **kw)[0], loss(jnp.asarray(logp)), rtol=1e-12)
  g = jax.grad(lambda lp: fn(padded._replace(logp=lp), **kw)[0])(padded.logp)
  assert np.all(np.isfinite(g)) and np.all(g[5:] == 0)


def test_pl_dpo_population_minimizer_is_the_kl_regularized_optimum():
  """Tabular policy, 4 responses, PL rankings of all 4 from reward r: pi* = pi_ref e^{r/beta}."""
  r, beta = np.array([1.0, 0.2, -0.5, 0.8]), 0.5
  ref = np.log(np.array([0.1, 0.4, 0.3, 0.2]))
  perms = [list(p) for p in itertools.permutations(range(4))]

  def pl_prob(order):
    e, out = np.exp(r[order]), 1.0
    for k in range(3):
      out *= e[k] / e[k:].sum()
    return out

  probs = jnp.array([pl_prob(p) for p in perms])
  scores = jnp.array([[3.0 - p.index(i) for i in range(4)] for p in perms])  # rank -> score

  def population(z):
    logp = jax.nn.log_softmax(z)
    per = jax.vmap(lambda s: L.pl_dpo(_list(logp, s, ref), kl_coef=beta)[0])(scores)
    return jnp.sum(probs * per)

  @jax.jit
  def newton(z):  # on a smooth objective, convex in the implicit rewards: fast and exact
    return z - jnp.linalg.lstsq(jax.hessian(population)(z), jax.grad(population)(z))[0]

  z = jnp.zeros(4)
  for _ in range(30):
    z = newton(z)
  want = jax.nn.softmax(ref + r / beta)
  np.testing.assert_allclose(jax.nn.softmax(z), want, atol=1e-8)


def test_registered_and_clear_errors():
  assert {"pl_dpo", "pro", "lipo", "mpo"} <= set(L.LOSSES)
  with pytest.raises(ValueError, match=r"\[K\] with K >= 2"):
    L.pl_dpo(_list([1.0], [1.0]))
  with pytest.raises(ValueError, match=r"needs Example\.score"):
    L.lipo(L.Example(logp=jnp.zeros(3), ref_logp=jnp.zeros(3)))
  with pytest.raises(ValueError, match="finite"):
    L.mpo(_list([0.0, np.nan], [1.0, 0.0]))
  with pytest.raises(ValueError, match="share one shape"):
    L.pl_dpo(L.Example(logp=jnp.zeros(3), ref_logp=jnp.zeros(2), score=jnp.zeros(3)))
  # Equal rewards: no chosen set (MPO) and constant PRO stages, a zero loss rather than NaN.
  assert float(L.mpo(_list([0.1, 0.2, 0.3], [1.0, 1.0, 1.0]))[0]) == 0.0
  assert np.isfinite(float(L.pro(L.Example(logp=jnp.zeros(3), score=jnp.ones(3)))[0]))
