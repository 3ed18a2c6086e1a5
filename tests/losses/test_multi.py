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
