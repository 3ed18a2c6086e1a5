"""AOT: hand-computed values, DPO at B = 1, zero exactly at dominance, gradients, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import losses

BATCH = losses.Example(
  logp=jnp.array([-1.0, -2.0]),
  logp2=jnp.array([-3.0, -1.0]),
  ref_logp=jnp.array([-2.0, -2.0]),
  ref_logp2=jnp.array([-2.0, -2.0]),
)


def test_hand_computed_values():
  # Paired: sorted logp - logp2 = (-1, 2) against sorted ref differences (0, 0): z = (-1, 2).
  loss, aux = losses.aot(BATCH, kl_coef=1.0)
  assert float(loss) == pytest.approx((1.313262 + 0.126928) / 2, abs=1e-6)
  np.testing.assert_allclose(aux["margins"], [-1.0, 2.0])
  assert float(aux["violation"]) == 0.5
  # Unpaired: sorted chosen log-ratios (0, 1) against sorted rejected (-1, 1): z = (1, 0).
  loss, aux = losses.aot(BATCH, kl_coef=1.0, paired=False)
  assert float(loss) == pytest.approx((0.313262 + 0.693147) / 2, abs=1e-6)
  smoothed, _ = losses.aot(BATCH, kl_coef=1.0, paired=False, label_smoothing=0.5)
  z = jnp.array([1.0, 0.0])
  expected = jnp.mean(-0.5 * jax.nn.log_sigmoid(z) - 0.5 * jax.nn.log_sigmoid(-z))
  assert float(smoothed) == pytest.approx(float(expected), abs=1e-12)


def test_one_pair_is_dpo():
  one = jax.tree.map(lambda x: x[:1], BATCH)
  dpo, _ = losses.dpo(jax.tree.map(lambda x: x[0], BATCH._replace(pref=jnp.ones(2))), kl_coef=0.3)
  assert float(losses.aot(one, kl_coef=0.3)[0]) == pytest.approx(float(dpo), abs=1e-12)


def test_paired_aot_with_a_constant_reference_margin_is_batch_dpo():
  # Sorting only permutes the pairs when every reference difference is the same (a uniform
  # reference), so paired AOT equals the batch mean of DPO on (chosen, rejected), for any B.
  rng = np.random.default_rng(1)
  lw, ll = jnp.asarray(rng.normal(size=7)), jnp.asarray(rng.normal(size=7))
  ref = jnp.full(7, -np.log(8.0))
  batch = losses.Example(logp=lw, logp2=ll, ref_logp=ref, ref_logp2=ref)
  dpo = jax.vmap(lambda e: losses.dpo(e, kl_coef=0.4)[0])(batch._replace(pref=jnp.ones(7)))
  assert float(losses.aot(batch, kl_coef=0.4)[0]) == pytest.approx(float(dpo.mean()), abs=1e-12)
  unpaired = float(losses.aot(batch, kl_coef=0.4, paired=False)[0])
  assert abs(unpaired - float(dpo.mean())) > 1e-3  # the unpaired form is not DPO


def test_squared_hinge_is_zero_exactly_at_first_order_dominance():
  rng = np.random.default_rng(0)
  for _ in range(200):
    c, r = rng.normal(size=5).round(1), rng.normal(size=5).round(1)
    ex = losses.Example(
      logp=jnp.asarray(c), logp2=jnp.asarray(r), ref_logp=jnp.zeros(5), ref_logp2=jnp.zeros(5)
    )
    loss, _ = losses.aot(ex, kl_coef=1.0, paired=False, surrogate="squared_hinge")
    dominates = np.all(np.sort(c) >= np.sort(r))
    assert (float(loss) == 0.0) == dominates


@pytest.mark.parametrize("paired", [True, False])
def test_gradient_matches_finite_differences(paired):
  rng = np.random.default_rng(1)
  base = losses.Example(*(jnp.asarray(rng.normal(size=4)) for _ in range(4)))

  def f(logp):
    return losses.aot(base._replace(logp=logp), kl_coef=0.7, paired=paired)[0]

  grad = jax.grad(f)(base.logp)
  eps = 1e-6
  for i in range(4):
    step = jnp.zeros(4).at[i].set(eps)
    fd = (f(base.logp + step) - f(base.logp - step)) / (2 * eps)
    assert float(grad[i]) == pytest.approx(float(fd), abs=1e-6)


def test_registered_and_bad_input_is_refused():
  assert losses.get_loss("aot") is losses.aot
  with pytest.raises(ValueError, match="Unknown AOT surrogate"):
    losses.aot(BATCH, surrogate="hinge")
  with pytest.raises(ValueError, match="share one shape"):
    losses.aot(BATCH._replace(logp2=jnp.zeros(3)))
  with pytest.raises(ValueError, match=r"one batch as \[B\] vectors"):
    losses.aot(jax.tree.map(lambda x: x[0], BATCH))
