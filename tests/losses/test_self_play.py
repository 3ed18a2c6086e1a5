import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxpref import losses as L  # noqa: N812

from ._helpers import PAIR, assert_population_stationary, population_setup, sig, tabular


class HandComputedTest(chex.TestCase):
  """Hand-computed values, with and without jit (the step size traced under jit)."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_sppo_and_gpo(self):
    sppo = self.variant(lambda e, s: L.sppo(e, step_size=s))
    gpo = self.variant(lambda e, s: L.gpo(e, step_size=s)[0])
    # SPPO: (-1 - (-1.2) - 2 (0.75 - 0.5))^2 = (0.2 - 0.5)^2.
    s = L.Example(logp=-1.0, anchor=-1.2, win=0.75)
    loss, aux = sppo(s, 2.0)
    assert float(loss) == pytest.approx(0.09)
    chex.assert_trees_all_close(aux, {"log_ratio": 0.2, "target": 0.5})
    assert float(gpo(s._replace(score=0.25), 2.0)) == pytest.approx(0.09)

  @chex.variants(with_jit=True, without_jit=True)
  def test_dno(self):
    dno = self.variant(lambda e, s: L.dno(e, step_size=s))
    # DNO's eta = 2 is step_size = 1/2: delta = ((-1 + 1.2) - (-2 + 1.5)) / 0.5 = 1.4; label
    # sig(0.3).
    d = L.Example(logp=-1.0, logp2=-2.0, anchor=-1.2, anchor2=-1.5, win=0.7, win2=0.4)
    lab = sig(0.3)
    loss, aux = dno(d, 0.5)
    assert float(loss) == pytest.approx(-lab * math.log(sig(1.4)) - (1 - lab) * math.log(sig(-1.4)))
    chex.assert_trees_all_close(aux, {"delta": 1.4, "label": lab})


def test_sppo_finite_difference_gradients():
  base = L.Example(**PAIR, anchor=-1.3, pref=0.8, win=0.6)

  def f(logp, logp2):
    return L.get_loss("sppo")(base._replace(logp=logp, logp2=logp2))[0]

  check_grads(f, (jnp.asarray(-1.0), jnp.asarray(-2.0)), order=1, modes=["rev"], atol=1e-6)


def test_sppo_minimiser_is_the_hedge_step():
  P, z, _ = tabular(2)
  step_size = 0.7
  anchor = jax.nn.log_softmax(z)
  win = P @ jnp.exp(anchor)
  # The loss is zero at log pi = anchor + step_size (win - 1/2); normalised, that is Hedge.
  ex = L.Example(logp=anchor + step_size * (win - 0.5), anchor=anchor, win=win)
  np.testing.assert_allclose(
    jax.vmap(lambda e: L.sppo(e, step_size=step_size)[0])(ex), 0.0, atol=1e-24
  )
  hedge = jax.nn.softmax(z + step_size * win)
  np.testing.assert_allclose(jax.nn.softmax(ex.logp), hedge, atol=1e-12)


def test_dno_population_fixed_point():
  """Soft policy iteration: pi_t exp(step_size r_t) (the paper's pi_t exp(r_t / eta))."""
  s = population_setup()
  a, b, anchor, win = s["a"], s["b"], s["anchor"], s["win"]
  step_size = 0.5  # the paper's eta = 2
  target = jax.nn.log_softmax(anchor + step_size * win)
  extra = dict(anchor=anchor[a], anchor2=anchor[b], win=win[a], win2=win[b])
  assert_population_stationary("dno", target, extra, dict(step_size=step_size), s)
