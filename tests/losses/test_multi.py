import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import losses as L  # noqa: N812

from ._helpers import PAIR, assert_population_stationary, population_setup, sig


def test_modpo_hand_computed():
  # MODPO, k = 3: z = (0.1 * 1 - (0.3 * 0.5 + 0.2 * -1)) / 0.5 = 0.3.
  m = L.Example(**PAIR, pref=1.0, margin=jnp.array([1.0, 0.0]), margin2=jnp.array([0.5, 1.0]))
  loss, aux = L.modpo(m, weights=jnp.array([0.5, 0.3, 0.2]), kl_coef=0.1)
  assert float(aux["logits"]) == pytest.approx(0.3)
  assert float(loss) == pytest.approx(-math.log(sig(0.3)))
  assert float(L.modpo(m, weights=jnp.array([0.5, 0.3, 0.2]), hinge=True)[0]) == pytest.approx(0.7)


def test_modpo_population_fixed_point():
  """w = (0.3, 0.7): BT labels of r, margin r2 -> pi_ref exp((0.3 r + 0.7 r2) / kl_coef)."""
  s = population_setup()
  a, b, r, r2, kl_coef = s["a"], s["b"], s["r"], s["r2"], 0.5
  w = jnp.array([0.3, 0.7])
  target = jax.nn.log_softmax(s["log_ref"] + (w[0] * r + w[1] * r2) / kl_coef)
  extra = dict(pref=jax.nn.sigmoid(r[a] - r[b]), margin=r2[a, None], margin2=r2[b, None])
  assert_population_stationary("modpo", target, extra, dict(weights=w, kl_coef=kl_coef), s)


def test_modpo_weights_must_match_the_margins():
  with pytest.raises(ValueError, match="k = 2 entries"):
    L.modpo(
      L.Example(**PAIR, pref=1.0, margin=jnp.ones(1), margin2=jnp.ones(1)),
      weights=jnp.array([0.2, 0.3, 0.5]),
    )


def test_group_robust_weights_move_to_the_worst_group():
  losses = jnp.array([1.0, 1.0, 3.0, 3.0, 2.0])
  groups = jnp.array([0, 0, 1, 1, 2])
  obj, alpha, gl = L.group_robust_weights(jnp.full(3, 1 / 3), losses, groups, step_size=1.0)
  np.testing.assert_allclose(gl, [1, 3, 2])
  np.testing.assert_allclose(alpha, jax.nn.softmax(jnp.array([1.0, 3, 2])))
  assert float(obj) == pytest.approx(float(alpha @ gl))
  with pytest.raises(TypeError):
    L.group_robust_weights(jnp.full(3, 1 / 3), losses, groups, 1.0)  # step_size is keyword-only


def test_cpo_hand_computed():
  # Attributes y = (3, 4), y' = (5, 4); condition (3, 4): R(y) = 0 > R(y') = -2, so p = 1 and the
  # loss is DPO's -log sigma(kl_coef h) with h = (-1 - -2) - (-3 - -1) = 3.
  ex = L.Example(
    logp=-1.0, logp2=-3.0, ref_logp=-2.0, ref_logp2=-1.0,
    margin=jnp.array([3.0, 4.0]), margin2=jnp.array([5.0, 4.0]),
  )  # fmt: skip
  loss, aux = L.cpo(ex, condition=jnp.array([3.0, 4.0]), kl_coef=0.5)
  assert float(aux["pref"]) == 1.0 and float(aux["logits"]) == pytest.approx(1.5)
  assert float(loss) == pytest.approx(-math.log(sig(1.5)))
  # Objective 2 free (maximised), condition 5 on objective 1: R(y) = -2 + 4 < R(y') = 0 + 4.
  loss, aux = L.cpo(ex, condition=jnp.array([5.0, 0.0]), conditioned=jnp.array([True, False]))
  assert float(aux["pref"]) == 0.0 and float(loss) == pytest.approx(-math.log(sig(-0.3)))
  tie = L.cpo(ex._replace(margin2=ex.margin), condition=jnp.array([0.0, 0.0]))[1]["pref"]
  assert float(tie) == 0.5
  with pytest.raises(ValueError, match="need 2 entries"):
    L.cpo(ex, condition=jnp.ones(3))


def test_cpo_population_fixed_point_with_bradley_terry_labels():
  """Labels sigma(Delta R / tau): the optimum is pi_ref exp(R(y|c) / (tau kl_coef))."""
  s = population_setup()
  a, b, kl_coef, tau = s["a"], s["b"], 0.5, 2.0
  attrs = jnp.stack([s["r"], s["r2"]], -1)
  c = jnp.array([0.3, 0.0])
  R = -jnp.abs(attrs[:, 0] - c[0]) + attrs[:, 1]
  target = jax.nn.log_softmax(s["log_ref"] + R / (tau * kl_coef))
  hp = dict(condition=c, conditioned=jnp.array([True, False]), kl_coef=kl_coef, temperature=tau)
  assert_population_stationary("cpo", target, dict(margin=attrs[a], margin2=attrs[b]), hp, s)
