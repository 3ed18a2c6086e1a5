import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxpref import losses as L  # noqa: N812

from ._helpers import PAIR, assert_population_stationary, population_setup, sig


class HandComputedTest(chex.TestCase):
  """Hand-computed values, with and without jit (the hyperparameter traced under jit)."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_dpo_and_ipo(self):
    e = L.Example(**PAIR, pref=1.0)
    dpo = self.variant(lambda e, c: L.dpo(e, kl_coef=c))
    ipo = self.variant(lambda e, c: L.ipo(e, kl_coef=c))
    loss, aux = dpo(e, 0.1)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-0.1)))
    chex.assert_trees_all_close(aux, {"logits": 0.1, "reward_margin": 0.1})
    assert float(dpo(e._replace(pref=0.5), 2.0)[0]) == pytest.approx(
      -0.5 * math.log(sig(2)) - 0.5 * math.log(sig(-2))
    )
    # IPO's tau is kl_coef: target (1 - 1/2) / 0.1 = 5.
    loss, aux = ipo(e, 0.1)
    assert float(loss) == pytest.approx((1 - 5) ** 2)
    chex.assert_trees_all_close(aux, {"h": 1.0, "target": 5.0})
    assert float(ipo(e._replace(pref=0.5), 0.1)[0]) == pytest.approx(1.0)  # ties pull h to 0

  @chex.variants(with_jit=True, without_jit=True)
  def test_cdpo_and_rdpo(self):
    e = L.Example(**PAIR, pref=1.0)
    cdpo = self.variant(lambda e, c, s: L.cdpo(e, kl_coef=c, label_smoothing=s)[0])
    rdpo = self.variant(lambda e, c, f: L.rdpo(e, kl_coef=c, flip_rate=f)[0])
    # cDPO: label 0.9/0.1 on z = 0.1.
    assert float(cdpo(e, 0.1, 0.1)) == pytest.approx(
      -0.9 * math.log(sig(0.1)) - 0.1 * math.log(sig(-0.1))
    )
    # rDPO: ((1 - e) l(z) - e l(-z)) / (1 - 2e), l(z) = -log sig(z).
    lz, lmz = -math.log(sig(0.1)), -math.log(sig(-0.1))
    assert float(rdpo(e, 0.1, 0.2)) == pytest.approx((0.8 * lz - 0.2 * lmz) / 0.6)


@pytest.mark.parametrize("name", ["dpo", "ipo"])
def test_finite_difference_gradients(name):
  base = L.Example(**PAIR, anchor=-1.3, pref=0.8, win=0.6)
  fn = L.get_loss(name)

  def f(logp, logp2):
    return fn(base._replace(logp=logp, logp2=logp2))[0]

  check_grads(f, (jnp.asarray(-1.0), jnp.asarray(-2.0)), order=1, modes=["rev"], atol=1e-6)


def test_dpo_population_fixed_point():
  """BT labels of r: the population optimum is pi_ref exp(r / kl_coef)."""
  s = population_setup()
  a, b, r, kl_coef = s["a"], s["b"], s["r"], 0.5
  target = jax.nn.log_softmax(s["log_ref"] + r / kl_coef)
  extra = dict(pref=jax.nn.sigmoid(r[a] - r[b]))
  assert_population_stationary("dpo", target, extra, dict(kl_coef=kl_coef), s)


def test_jit_and_vmap():
  batch = L.Example(
    logp=jnp.array([-1.0, -2.0]),
    logp2=jnp.array([-2.0, -1.0]),
    ref_logp=jnp.zeros(2),
    ref_logp2=jnp.zeros(2),
    pref=jnp.array([1.0, 0.5]),
  )
  out = jax.jit(jax.vmap(lambda e: L.dpo(e)[0]))(batch)
  for k in range(2):
    single = L.Example(**{f: (None if v is None else v[k]) for f, v in batch._asdict().items()})
    assert float(out[k]) == pytest.approx(float(L.dpo(single)[0]))
  np.testing.assert_allclose(out, jax.vmap(lambda e: L.dpo(e, kl_coef=0.1)[0])(batch))


def test_rdpo_rejects_a_flip_rate_of_one_half():
  with pytest.raises(ValueError, match="flip_rate"):
    L.rdpo(L.Example(**PAIR, pref=1.0), flip_rate=0.5)
