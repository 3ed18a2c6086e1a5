"""Log-sigmoid-centred rewards and their sum as a soft AND, on the spec's vectors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import overoptimization as oo


def test_spec_vector():
  r = jnp.array([2.0, -1.0])
  np.testing.assert_allclose(oo.log_sigmoid_transform(r, 0.0), [-0.126928, -1.313262], atol=1e-6)
  total = oo.and_combine(r, 0.0)
  assert float(total) == pytest.approx(-1.440190, abs=1e-6)
  assert float(jnp.exp(total)) == pytest.approx(0.236883, abs=1e-6)
  slope = jax.grad(lambda x: oo.and_combine(x, 0.0))(r)
  np.testing.assert_allclose(slope, [0.119203, 0.731059], atol=1e-6)
  raw = jax.grad(lambda x: jnp.sum(x))(r)  # a raw sum weighs both properties alike
  np.testing.assert_allclose(raw, [1.0, 1.0])


def test_and_is_soft_a_sum_is_compensatory():
  good_on_both, great_on_one = jnp.array([1.0, 1.0]), jnp.array([6.0, -3.0])
  assert float(jnp.sum(great_on_one)) > float(jnp.sum(good_on_both))
  assert float(oo.and_combine(good_on_both, 0.0)) > float(oo.and_combine(great_on_one, 0.0))


def test_weights_and_references_broadcast():
  r = jnp.array([[1.0, 2.0], [0.0, -1.0]])
  ref = jnp.array([[0.5], [0.0]])
  w = jnp.array([2.0, 0.5])
  expected = jnp.sum(w * jax.nn.log_sigmoid(r - ref), axis=-1)
  np.testing.assert_allclose(oo.and_combine(r, ref, weights=w), expected, atol=1e-12)


def test_reference_reward_is_a_quantile_of_the_valid_samples():
  samples = jnp.array([[0.0, 1.0, 2.0, 3.0], [5.0, 1.0, 3.0, 100.0]])
  valid = jnp.array([[True] * 4, [True, True, True, False]])
  np.testing.assert_allclose(oo.reference_reward(samples, quantile=0.5, valid=valid), [1.5, 3.0])
  np.testing.assert_allclose(oo.reference_reward(samples[:1], quantile=1.0), [3.0])


def test_bad_input_is_refused():
  with pytest.raises(ValueError, match="quantile"):
    oo.reference_reward(jnp.zeros(3), quantile=1.5)
  with pytest.raises(ValueError, match="non-negative"):
    oo.and_combine(jnp.zeros(2), 0.0, weights=jnp.array([1.0, -1.0]))
  with pytest.raises(ValueError, match="shape"):
    oo.and_combine(jnp.zeros(2), 0.0, weights=jnp.ones(3))
