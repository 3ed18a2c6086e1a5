import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jaxpref import losses as L  # noqa: N812

PAIR = dict(logp=-1.0, logp2=-2.0, ref=-1.5, ref2=-1.5)  # h = 1


def sig(z):
  return 1 / (1 + math.exp(-z))


def test_hand_computed_vectors():
  e = L.Example(**PAIR, pref=1.0)
  assert float(L.dpo(e, beta=0.1)[0]) == pytest.approx(math.log(1 + math.exp(-0.1)))
  assert float(L.dpo(e._replace(pref=0.5), beta=2.0)[0]) == pytest.approx(
    -0.5 * math.log(sig(2)) - 0.5 * math.log(sig(-2))
  )
  assert float(L.ipo(e, tau=0.1)[0]) == pytest.approx((1 - 5) ** 2)
  assert float(L.ipo(e._replace(pref=0.5), tau=0.1)[0]) == pytest.approx(1.0)  # ties pull h to 0
  # cDPO: label 0.9/0.1 on z = 0.1.
  assert float(L.cdpo(e, beta=0.1, label_smoothing=0.1)[0]) == pytest.approx(
    -0.9 * math.log(sig(0.1)) - 0.1 * math.log(sig(-0.1))
  )
  # rDPO: ((1 - e) l(z) - e l(-z)) / (1 - 2e), l(z) = -log sig(z).
  lz, lmz = -math.log(sig(0.1)), -math.log(sig(-0.1))
  assert float(L.rdpo(e, beta=0.1, flip_rate=0.2)[0]) == pytest.approx((0.8 * lz - 0.2 * lmz) / 0.6)
  # online IPO: target (0.7 - 0.4) / 0.5 = 0.6.
  o = L.Example(**PAIR, win=0.7, win2=0.4)
  assert float(L.online_ipo(o, beta=0.5)[0]) == pytest.approx((1 - 0.6) ** 2)
  # Nash-MD-PG: -(0.8 - 0.5 - 0.1 * (-1 + 1.5)) * (-1) = 0.25.
  n = L.Example(logp=-1.0, ref=-1.5, pref=0.8)
  assert float(L.nash_md_pg(n, beta=0.1)[0]) == pytest.approx(0.25)
  # SPPO: (-1 - (-1.2) - 2 (0.75 - 0.5))^2 = (0.2 - 0.5)^2.
  s = L.Example(logp=-1.0, anchor=-1.2, win=0.75)
  assert float(L.sppo(s, eta=2.0)[0]) == pytest.approx(0.09)
  assert float(L.gpo(s._replace(score=0.25), eta=2.0)[0]) == pytest.approx(0.09)
  # DNO: delta = 2 ((-1 + 1.2) - (-2 + 1.5)) = 1.4; label sig(0.3).
  d = L.Example(logp=-1.0, logp2=-2.0, anchor=-1.2, anchor2=-1.5, win=0.7, win2=0.4)
  lab = sig(0.3)
  assert float(L.dno(d, eta=2.0)[0]) == pytest.approx(
    -lab * math.log(sig(1.4)) - (1 - lab) * math.log(sig(-1.4))
  )
  # INPO (eta 0.5, tau 0.25): h = 1 - 0.5 * 0 - 0.5 * (-1.2 + 1.5) = 0.85; target 1.
  i = L.Example(**PAIR, anchor=-1.2, anchor2=-1.5, pref=1.0)
  assert float(L.inpo(i, eta=0.5, tau=0.25)[0]) == pytest.approx((0.85 - 1.0) ** 2)
  # MODPO, k = 3: z = (0.1 * 1 - (0.3 * 0.5 + 0.2 * -1)) / 0.5 = 0.3.
  m = L.Example(**PAIR, pref=1.0, margin=jnp.array([1.0, 0.0]), margin2=jnp.array([0.5, 1.0]))
  loss, aux = L.modpo(m, weights=jnp.array([0.5, 0.3, 0.2]), beta=0.1)
  assert float(aux["logits"]) == pytest.approx(0.3)
  assert float(loss) == pytest.approx(-math.log(sig(0.3)))
  assert float(L.modpo(m, weights=jnp.array([0.5, 0.3, 0.2]), hinge=True)[0]) == pytest.approx(0.7)


@pytest.mark.parametrize("name", ["dpo", "ipo", "sppo"])
def test_finite_difference_gradients(name):
  base = L.Example(**PAIR, anchor=-1.3, pref=0.8, win=0.6)
  fn = L.get_loss(name)

  def f(logp, logp2):
    return fn(base._replace(logp=logp, logp2=logp2))[0]

  check_grads(f, (jnp.asarray(-1.0), jnp.asarray(-2.0)), order=1, modes=["rev"], atol=1e-6)


def test_nash_md_pg_gradient_is_the_policy_gradient():
  # Exact expectation over a softmax policy: E_y[grad log pi(y) (P pi'(y) - 1/2 - beta log ratio)]
  # equals the gradient of P(pi > pi') - beta KL(pi || pi_ref) with pi' held fixed.
  rng = np.random.default_rng(0)
  n, beta = 5, 0.3
  A = rng.uniform(size=(n, n))
  P = jnp.asarray((A + 1 - A.T) / 2)
  z, z_ref = jnp.asarray(rng.normal(size=n)), jnp.asarray(rng.normal(size=n))
  opp = jax.nn.softmax(jnp.asarray(rng.normal(size=n)))
  log_ref = jax.nn.log_softmax(z_ref)

  def surrogate(z):
    logp = jax.nn.log_softmax(z)
    pi = jax.lax.stop_gradient(jnp.exp(logp))
    ex = L.Example(logp=logp, ref=log_ref, pref=P @ opp)
    return jnp.sum(pi * jax.vmap(lambda e: L.nash_md_pg(e, beta=beta)[0])(ex))

  def objective(z):
    pi = jax.nn.softmax(z)
    return -(pi @ P @ opp - beta * jnp.sum(pi * (jnp.log(pi) - log_ref)))

  np.testing.assert_allclose(jax.grad(surrogate)(z), jax.grad(objective)(z), atol=1e-12)
  # The surrogate's value is not the objective (the advantage is stop-gradient), so its finite
  # differences are taken on the objective it estimates.
  step = 1e-6
  fd = [
    (objective(z.at[k].add(step)) - objective(z.at[k].add(-step))) / (2 * step) for k in range(n)
  ]
  np.testing.assert_allclose(jax.grad(surrogate)(z), fd, atol=1e-8)


def _tabular(seed=0, n=6):
  rng = np.random.default_rng(seed)
  A = rng.uniform(size=(n, n))
  P = jnp.asarray((A + 1 - A.T) / 2)
  return P, jnp.asarray(rng.normal(size=n)), jnp.asarray(rng.normal(size=n))


def _pairs(n):
  a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
  return jnp.asarray(a.ravel()), jnp.asarray(b.ravel())


def _online_ipo_loss(theta, z_ref, P, opponent_logits, beta):
  n = theta.shape[0]
  a, b = _pairs(n)
  logp, ref = jax.nn.log_softmax(theta), jax.nn.log_softmax(z_ref)
  win = P @ jax.nn.softmax(opponent_logits)
  ex = L.Example(logp=logp[a], logp2=logp[b], ref=ref[a], ref2=ref[b], win=win[a], win2=win[b])
  return jnp.mean(jax.vmap(lambda e: L.online_ipo(e, beta=beta)[0])(ex))


def _center(z):
  return z - z.mean()


def test_online_ipo_sgd_step_is_an_omd_step():
  P, theta, z_ref = _tabular()
  n, beta, lr = 6, 0.5, 0.05
  g = jax.grad(_online_ipo_loss)(theta, z_ref, P, theta, beta)
  eta = 4 * lr / (beta * n)
  omd = (1 - eta * beta) * theta + eta * beta * z_ref + eta * P @ jax.nn.softmax(theta)
  # The loss is on log-softmax, so compare up to a constant: centred logits.
  np.testing.assert_allclose(_center(theta - lr * g), _center(omd), atol=1e-12)


def test_extragradient_wrapper_reproduces_the_extragradient_step():
  P, theta, z_ref = _tabular(1)
  n, beta, lr = 6, 0.5, 0.05
  tx = optax.sgd(lr)
  step = L.extragradient_step(
    lambda p, opp: _online_ipo_loss(p, z_ref, P, opp, beta), tx, theta, tx.init(theta)
  )
  eta = 4 * lr / (beta * n)
  half = (1 - eta * beta) * theta + eta * beta * z_ref + eta * P @ jax.nn.softmax(theta)
  full = (1 - eta * beta) * theta + eta * beta * z_ref + eta * P @ jax.nn.softmax(half)
  np.testing.assert_allclose(_center(step.extrapolated), _center(half), atol=1e-12)
  np.testing.assert_allclose(_center(step.params), _center(full), atol=1e-12)
  # The optimizer state is restored between the calls: Adam's count advances once per update.
  adam = optax.adam(1e-2)
  out = L.extragradient_step(
    lambda p, opp: _online_ipo_loss(p, z_ref, P, opp, beta), adam, theta, adam.init(theta)
  )
  assert int(out.opt_state[0].count) == 1


def test_sppo_minimiser_is_the_hedge_step():
  P, z, _ = _tabular(2)
  eta = 0.7
  anchor = jax.nn.log_softmax(z)
  win = P @ jnp.exp(anchor)
  # The loss is zero at log pi = anchor + eta (win - 1/2); normalised, that is Hedge.
  ex = L.Example(logp=anchor + eta * (win - 0.5), anchor=anchor, win=win)
  np.testing.assert_allclose(jax.vmap(lambda e: L.sppo(e, eta=eta)[0])(ex), 0.0, atol=1e-24)
  hedge = jax.nn.softmax(z + eta * win)
  np.testing.assert_allclose(jax.nn.softmax(ex.logp), hedge, atol=1e-12)


@pytest.mark.parametrize("name", ["dpo", "dno", "inpo", "modpo"])
def test_population_fixed_points(name):
  """The population loss over all pairs is stationary at the closed-form target policy."""
  P, z, z_ref = _tabular(3)
  n = 6
  a, b = _pairs(n)
  log_ref, anchor = jax.nn.log_softmax(z_ref), jax.nn.log_softmax(z)
  r = jnp.asarray(np.random.default_rng(4).normal(size=n))
  r2 = jnp.asarray(np.random.default_rng(5).normal(size=n))
  beta, eta, tau = 0.5, 2.0, 0.5
  win = P @ jnp.exp(anchor)
  if name == "dpo":  # BT labels of r: optimum pi_ref exp(r / beta)
    target = jax.nn.log_softmax(log_ref + r / beta)
    extra, hp = dict(pref=jax.nn.sigmoid(r[a] - r[b])), dict(beta=beta)
  elif name == "dno":  # soft policy iteration: pi_t exp(r_t / eta)
    target = jax.nn.log_softmax(anchor + win / eta)
    extra, hp = dict(anchor=anchor[a], anchor2=anchor[b], win=win[a], win2=win[b]), dict(eta=eta)
  elif name == "inpo":  # OMD: exp(P pi_t / eta) pi_ref^(tau / eta) pi_t^(1 - tau / eta)
    # Both responses from pi_t (INPO's Prop. 6 needs it): pairs weighted by pi_t(y) pi_t(y').
    target = jax.nn.log_softmax(win / eta + (tau / eta) * log_ref + (1 - tau / eta) * anchor)
    pair_w = jnp.exp(anchor[a] + anchor[b])
    extra = dict(anchor=anchor[a], anchor2=anchor[b], pref=P[a, b], weight=pair_w)
    hp = dict(eta=eta, tau=tau)
  else:  # MODPO, w = (0.3, 0.7): BT labels of r, margin r2 -> pi_ref exp((0.3 r + 0.7 r2) / beta)
    w = jnp.array([0.3, 0.7])
    target = jax.nn.log_softmax(log_ref + (w[0] * r + w[1] * r2) / beta)
    extra = dict(pref=jax.nn.sigmoid(r[a] - r[b]), margin=r2[a, None], margin2=r2[b, None])
    hp = dict(weights=w, beta=beta)

  def population(theta):
    logp = jax.nn.log_softmax(theta)
    ex = L.Example(logp=logp[a], logp2=logp[b], ref=log_ref[a], ref2=log_ref[b], **extra)
    return jnp.mean(jax.vmap(lambda e: L.get_loss(name)(e, **hp)[0])(ex))

  np.testing.assert_allclose(jax.grad(population)(target), 0.0, atol=1e-12)
  assert float(jnp.linalg.norm(jax.grad(population)(target + 0.3 * r))) > 1e-4


def test_group_robust_weights_move_to_the_worst_group():
  losses = jnp.array([1.0, 1.0, 3.0, 3.0, 2.0])
  groups = jnp.array([0, 0, 1, 1, 2])
  obj, alpha, gl = L.group_robust_weights(jnp.full(3, 1 / 3), losses, groups, step_size=1.0)
  np.testing.assert_allclose(gl, [1, 3, 2])
  np.testing.assert_allclose(alpha, jax.nn.softmax(jnp.array([1.0, 3, 2])))
  assert float(obj) == pytest.approx(float(alpha @ gl))


def test_registry_combination_and_custom_loss():
  e = L.Example(**PAIR, pref=1.0)
  total, aux = L.combined_loss({"dpo": 1.0, "ipo": 0.5}, e, {"ipo": {"tau": 0.1}})
  assert float(total) == pytest.approx(float(L.dpo(e)[0]) + 0.5 * 16)
  assert set(aux) >= {"dpo/loss", "ipo/loss", "ipo/h"}

  def hinge(example, *, margin=1.0):
    h = (example.logp - example.ref) - (example.logp2 - example.ref2)
    return jax.nn.relu(margin - h), {}

  L.register("test_hinge", hinge)
  try:
    assert float(L.get_loss("test_hinge")(e, margin=3.0)[0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="already registered"):
      L.register("test_hinge", hinge)
  finally:
    L.LOSSES.pop("test_hinge")


def test_jit_and_vmap():
  batch = L.Example(
    logp=jnp.array([-1.0, -2.0]),
    logp2=jnp.array([-2.0, -1.0]),
    ref=jnp.zeros(2),
    ref2=jnp.zeros(2),
    pref=jnp.array([1.0, 0.5]),
  )
  out = jax.jit(jax.vmap(lambda e: L.dpo(e)[0]))(batch)
  for k in range(2):
    single = L.Example(**{f: (None if v is None else v[k]) for f, v in batch._asdict().items()})
    assert float(out[k]) == pytest.approx(float(L.dpo(single)[0]))


def test_bad_inputs():
  with pytest.raises(ValueError, match=r"needs Example\.pref"):
    L.dpo(L.Example(**PAIR))
  with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
    L.dpo(L.Example(**PAIR, pref=1.5))
  with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
    L.online_ipo(L.Example(**PAIR, win=-0.1, win2=0.5))
  with pytest.raises(ValueError, match="finite"):
    L.ipo(L.Example(**{**PAIR, "logp": jnp.nan}, pref=1.0))
  with pytest.raises(ValueError, match="Unknown loss 'dpoo'"):
    L.get_loss("dpoo")
  with pytest.raises(ValueError, match="k = 2 entries"):
    L.modpo(
      L.Example(**PAIR, pref=1.0, margin=jnp.ones(1), margin2=jnp.ones(1)),
      weights=jnp.array([0.2, 0.3, 0.5]),
    )
  with pytest.raises(ValueError, match="flip_rate"):
    L.rdpo(L.Example(**PAIR, pref=1.0), flip_rate=0.5)
  with pytest.raises(ValueError, match="must share one shape"):
    L.dpo(
      L.Example(
        logp=jnp.ones(3), logp2=jnp.ones(2), ref=jnp.ones(3), ref2=jnp.ones(3), pref=jnp.ones(3)
      )
    )
  with pytest.raises(ValueError, match="not in the combination"):
    L.combined_loss({"dpo": 1.0}, L.Example(**PAIR, pref=1.0), {"ipo": {"tau": 1.0}})
