import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import losses as L  # noqa: N812

from ._helpers import (
  PAIR,
  assert_population_stationary,
  center,
  online_ipo_loss,
  pairs,
  population_setup,
  tabular,
)


def test_hand_computed_vectors():
  # online IPO: target (0.7 - 0.4) / 0.5 = 0.6.
  o = L.Example(**PAIR, win=0.7, win2=0.4)
  assert float(L.online_ipo(o, kl_coef=0.5)[0]) == pytest.approx((1 - 0.6) ** 2)
  # Nash-MD-PG: -(0.8 - 0.5 - 0.1 * (-1 + 1.5)) * (-1) = 0.25.
  n = L.Example(logp=-1.0, ref_logp=-1.5, pref=0.8)
  assert float(L.nash_md_pg(n, kl_coef=0.1)[0]) == pytest.approx(0.25)
  # INPO, paper's eta 0.5 and tau 0.25, i.e. step_size 2 and kl_coef 0.25 (step_size * kl_coef =
  # tau / eta = 0.5): h = 1 - 0.5 * 0 - 0.5 * (-1.2 + 1.5) = 0.85; target 2 * (1 - 1/2) = 1.
  i = L.Example(**PAIR, anchor=-1.2, anchor2=-1.5, pref=1.0)
  loss, aux = L.inpo(i, step_size=2.0, kl_coef=0.25)
  assert float(loss) == pytest.approx((0.85 - 1.0) ** 2)
  assert float(aux["target"]) == pytest.approx(1.0)


def test_inpo_default_kl_coef_is_a_third_of_the_inverse_step():
  # The paper's tau = eta / 3 with eta = 1 / step_size; defaults: eta = 0.005, step_size = 200.
  i = L.Example(**PAIR, anchor=-1.2, anchor2=-1.5, pref=1.0)
  np.testing.assert_allclose(
    L.inpo(i)[0], L.inpo(i, step_size=200.0, kl_coef=0.005 / 3)[0], rtol=1e-14
  )
  np.testing.assert_allclose(
    L.inpo(i, step_size=4.0)[0], L.inpo(i, step_size=4.0, kl_coef=1 / 12)[0], rtol=1e-14
  )


def test_geometric_mixture():
  rng = np.random.default_rng(0)
  logits, ref_logits = jnp.asarray(rng.normal(size=(3, 5))), jnp.asarray(rng.normal(size=(3, 5)))
  mixed = L.geometric_mixture(logits, ref_logits, mixture=0.25)
  expected = jax.nn.log_softmax(
    0.75 * jax.nn.log_softmax(logits) + 0.25 * jax.nn.log_softmax(ref_logits), axis=-1
  )
  np.testing.assert_allclose(mixed, expected, atol=1e-14)
  np.testing.assert_allclose(jnp.exp(mixed).sum(-1), 1.0, atol=1e-14)
  np.testing.assert_allclose(
    L.geometric_mixture(logits, ref_logits, mixture=0.0), jax.nn.log_softmax(logits), atol=1e-14
  )
  np.testing.assert_allclose(
    L.geometric_mixture(logits, ref_logits, mixture=1.0),
    jax.nn.log_softmax(ref_logits),
    atol=1e-14,
  )
  with pytest.raises(TypeError):
    L.geometric_mixture(logits, ref_logits, 0.5)  # mixture is keyword-only


def test_nash_md_pg_gradient_is_the_policy_gradient():
  # Exact expectation over a softmax policy: E_y[grad log pi(y) (P pi'(y) - 1/2 - beta log ratio)]
  # equals the gradient of P(pi > pi') - beta KL(pi || pi_ref) with pi' held fixed.
  rng = np.random.default_rng(0)
  n, kl_coef = 5, 0.3
  A = rng.uniform(size=(n, n))
  P = jnp.asarray((A + 1 - A.T) / 2)
  z, z_ref = jnp.asarray(rng.normal(size=n)), jnp.asarray(rng.normal(size=n))
  opp = jax.nn.softmax(jnp.asarray(rng.normal(size=n)))
  log_ref = jax.nn.log_softmax(z_ref)

  def surrogate(z):
    logp = jax.nn.log_softmax(z)
    pi = jax.lax.stop_gradient(jnp.exp(logp))
    ex = L.Example(logp=logp, ref_logp=log_ref, pref=P @ opp)
    return jnp.sum(pi * jax.vmap(lambda e: L.nash_md_pg(e, kl_coef=kl_coef)[0])(ex))

  def objective(z):
    pi = jax.nn.softmax(z)
    return -(pi @ P @ opp - kl_coef * jnp.sum(pi * (jnp.log(pi) - log_ref)))

  np.testing.assert_allclose(jax.grad(surrogate)(z), jax.grad(objective)(z), atol=1e-12)
  # The surrogate's value is not the objective (the advantage is stop-gradient), so its finite
  # differences are taken on the objective it estimates.
  step = 1e-6
  fd = [
    (objective(z.at[k].add(step)) - objective(z.at[k].add(-step))) / (2 * step) for k in range(n)
  ]
  np.testing.assert_allclose(jax.grad(surrogate)(z), fd, atol=1e-8)


def test_online_ipo_sgd_step_is_an_omd_step():
  P, theta, z_ref = tabular()
  n, kl_coef, lr = 6, 0.5, 0.05
  g = jax.grad(online_ipo_loss)(theta, z_ref, P, theta, kl_coef)
  step_size = 4 * lr / (kl_coef * n)
  omd = (
    (1 - step_size * kl_coef) * theta
    + step_size * kl_coef * z_ref
    + step_size * P @ jax.nn.softmax(theta)
  )
  # The loss is on log-softmax, so compare up to a constant: centred logits.
  np.testing.assert_allclose(center(theta - lr * g), center(omd), atol=1e-12)


def test_inpo_population_fixed_point():
  """OMD: exp(step_size P pi_t) pi_ref^(step_size kl_coef) pi_t^(1 - step_size kl_coef)."""
  s = population_setup()
  a, b, anchor, win = s["a"], s["b"], s["anchor"], s["win"]
  # The paper's eta = 2, tau = 0.5: step_size = 1 / eta = 0.5, kl_coef = tau = 0.5.
  step_size, kl_coef = 0.5, 0.5
  mix = step_size * kl_coef
  target = jax.nn.log_softmax(step_size * win + mix * s["log_ref"] + (1 - mix) * anchor)
  # Both responses from pi_t (INPO's Prop. 6 needs it): pairs weighted by pi_t(y) pi_t(y').
  pair_w = jnp.exp(anchor[a] + anchor[b])
  extra = dict(anchor=anchor[a], anchor2=anchor[b], pref=s["P"][a, b], weight=pair_w)
  assert_population_stationary("inpo", target, extra, dict(step_size=step_size, kl_coef=kl_coef), s)


def test_online_ipo_rejects_a_win_rate_outside_the_unit_interval():
  with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
    L.online_ipo(L.Example(**PAIR, win=-0.1, win2=0.5))


def _nash_mp_prox(P, anchor_logits, log_ref, mu, *, step_size, kl_coef):
  """One proximal step of Nash-MP by exact minimisation of the population nash_mp loss.

  Pairs are weighted by pi_k(y) pi_k(y'), labels replaced by their expectations (the Bernoulli
  noise only adds a constant); h is linear in the logits, so the loss is quadratic and one Newton
  step (pseudo-inverse: the logits' shift is free) minimises it exactly.
  """
  n = anchor_logits.shape[0]
  a, b = pairs(n)
  anchor = jax.nn.log_softmax(anchor_logits)
  win = P @ mu

  def population(theta):
    logp = jax.nn.log_softmax(theta)
    ex = L.Example(
      logp=logp[a],
      logp2=logp[b],
      ref_logp=log_ref[a],
      ref_logp2=log_ref[b],
      anchor=anchor[a],
      anchor2=anchor[b],
      win=win[a],
      win2=win[b],
      weight=jnp.exp(anchor[a] + anchor[b]),
    )
    return jnp.sum(jax.vmap(lambda e: L.nash_mp(e, step_size=step_size, kl_coef=kl_coef)[0])(ex))

  theta = anchor_logits
  theta = theta - jnp.linalg.pinv(jax.hessian(population)(theta)) @ jax.grad(population)(theta)
  np.testing.assert_allclose(jax.grad(population)(theta), 0.0, atol=1e-10)
  return theta


def test_nash_mp_round_with_exact_inner_minimization_is_the_tabular_mirror_prox_step():
  from jaxpref import equilibria

  P, z, z_ref = tabular(7, n=5)
  step_size, kl_coef = 2.0, 0.1
  log_ref = jax.nn.log_softmax(z_ref)
  kw = dict(step_size=step_size, kl_coef=kl_coef)
  half = _nash_mp_prox(P, z, log_ref, jax.nn.softmax(z), **kw)  # improvement: mu = pi_k
  full = _nash_mp_prox(P, z, log_ref, jax.nn.softmax(half), **kw)  # correction: mu = pi_{k+1/2}
  solver = equilibria.mirror_prox(**kw)
  state = solver.step(solver.init(jax.nn.softmax(z), ref_policy=jax.nn.softmax(z_ref)), P)
  np.testing.assert_allclose(jax.nn.softmax(full), state.policy, atol=1e-10)
  # The correction step matters: stopping after the improvement step is another policy.
  assert float(jnp.max(jnp.abs(jax.nn.softmax(half) - state.policy))) > 1e-3


def test_nash_mp_hand_computed_vector():
  # shrink = 1 / (1 + 2 * 0.25) = 2/3; h = 1 - 2/3 * (0.5 + 0.5 * 0) = 2/3; target = 2/3 * 2 * 0.5.
  ex = L.Example(**PAIR, anchor=-1.0, anchor2=-1.5, win=0.75, win2=0.25)
  loss, aux = L.nash_mp(ex, step_size=2.0, kl_coef=0.25)
  np.testing.assert_allclose([aux["h"], aux["target"]], [2 / 3, 2 / 3], rtol=1e-12)
  np.testing.assert_allclose(loss, 0.0, atol=1e-12)
