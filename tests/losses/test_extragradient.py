import jax
import numpy as np
import optax

from jaxpref import losses as L  # noqa: N812

from ._helpers import center, online_ipo_loss, tabular


def test_extragradient_wrapper_reproduces_the_extragradient_step():
  P, theta, z_ref = tabular(1)
  n, kl_coef, lr = 6, 0.5, 0.05
  tx = optax.sgd(lr)
  step = L.extragradient_step(
    lambda p, opp: online_ipo_loss(p, z_ref, P, opp, kl_coef), tx, theta, tx.init(theta)
  )
  step_size = 4 * lr / (kl_coef * n)
  mix = step_size * kl_coef
  half = (1 - mix) * theta + mix * z_ref + step_size * P @ jax.nn.softmax(theta)
  full = (1 - mix) * theta + mix * z_ref + step_size * P @ jax.nn.softmax(half)
  np.testing.assert_allclose(center(step.extrapolated), center(half), atol=1e-12)
  np.testing.assert_allclose(center(step.params), center(full), atol=1e-12)
  # The optimizer state is restored between the calls: Adam's count advances once per update.
  adam = optax.adam(1e-2)
  out = L.extragradient_step(
    lambda p, opp: online_ipo_loss(p, z_ref, P, opp, kl_coef), adam, theta, adam.init(theta)
  )
  assert int(out.opt_state[0].count) == 1
