"""Tests of jaxpref/pareto/_jacobian.py: gramian, combine, gramian_and_values, aggregate."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from jax.flatten_util import ravel_pytree

from jaxpref import pareto

M = 3  # objectives of the small test function


def _params():
  return {
    "w": jax.random.normal(jax.random.key(0), (4, 2)),
    "b": jax.random.normal(jax.random.key(1), (2,)),
  }


def _x():
  return jax.random.normal(jax.random.key(2), (M, 4))


def _losses(params, x):
  """``[M]`` objectives: one smooth non-linear loss per row of ``x``."""
  h = jnp.tanh(x @ params["w"] + params["b"])
  return jnp.sum(h**2, axis=-1) + jnp.sin(params["b"][0]) * x[:, 0]


def _explicit_jacobian(params, x):
  """``(pytree Jacobian from jax.jacrev, the same flattened to [M, d])``."""
  jac = jax.jacrev(_losses)(params, x)
  flat = jnp.concatenate([leaf.reshape(M, -1) for leaf in jax.tree.leaves(jac)], axis=1)
  return jac, flat


class JacobianTest(chex.TestCase):
  @chex.variants(with_jit=True, without_jit=True)
  def test_gramian_equals_explicit_jacobian_product(self):
    jac, flat = _explicit_jacobian(_params(), _x())
    G = self.variant(pareto.gramian)(jac)
    chex.assert_shape(G, (M, M))
    chex.assert_trees_all_close(G, flat @ flat.T, rtol=1e-12, atol=1e-12)
    chex.assert_trees_all_close(G, G.T, rtol=0, atol=0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_combine_equals_explicit_transpose_product(self):
    params = _params()
    jac, flat = _explicit_jacobian(params, _x())
    weights = jnp.array([0.2, 0.5, 0.3])
    direction = self.variant(pareto.combine)(jac, weights)
    chex.assert_trees_all_equal_shapes(direction, params)
    expected = ravel_pytree(params)[1](flat.T @ weights)
    chex.assert_trees_all_close(direction, expected, rtol=1e-12, atol=1e-12)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(None, 1, 2, 3)
  def test_gramian_and_values_match_jacrev_for_every_chunk_size(self, chunk_size):
    params, x = _params(), _x()
    _, flat = _explicit_jacobian(params, x)
    fn = self.variant(functools.partial(pareto.gramian_and_values, _losses, chunk_size=chunk_size))
    values, G = fn(params, x)
    chex.assert_trees_all_close(values, _losses(params, x), rtol=1e-12, atol=1e-12)
    chex.assert_trees_all_close(G, flat @ flat.T, rtol=1e-10, atol=1e-12)
    # chunked = unchunked (2 does not divide M = 3: the remainder chunk is exact too)
    _, G_all = pareto.gramian_and_values(_losses, params, x)
    chex.assert_trees_all_close(G, G_all, rtol=1e-12, atol=1e-12)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(None, 2)
  def test_aggregate_is_combine_of_the_weighting(self, chunk_size):
    params, x = _params(), _x()
    jac, flat = _explicit_jacobian(params, x)
    weighting = functools.partial(pareto.upgrad_weights, ridge=0.0)
    fn = self.variant(
      lambda p, x: pareto.aggregate(_losses, p, weighting, x, chunk_size=chunk_size)
    )
    direction, values, weights = fn(params, x)
    chex.assert_trees_all_close(values, _losses(params, x), rtol=1e-12, atol=1e-12)
    chex.assert_trees_all_close(weights, weighting(flat @ flat.T), rtol=1e-8, atol=1e-10)
    chex.assert_trees_all_close(direction, pareto.combine(jac, weights), rtol=1e-10, atol=1e-12)
    # UPGrad's direction conflicts with no objective: J d >= 0.
    d = ravel_pytree(direction)[0]
    assert bool(jnp.all(flat @ d >= -1e-10))

  def test_aggregate_with_mean_weights_is_the_mean_gradient(self):
    params, x = _params(), _x()
    direction, _, weights = pareto.aggregate(_losses, params, pareto.mean_weights, x)
    chex.assert_trees_all_close(weights, jnp.full(M, 1 / M))
    mean_grad = jax.grad(lambda p: jnp.mean(_losses(p, x)))(params)
    chex.assert_trees_all_close(direction, mean_grad, rtol=1e-12, atol=1e-12)


# Slow: Gramian routes on a network (about 10 s).
@pytest.mark.slow
def test_gramian_routes_agree_on_a_network():
  key = jax.random.key(0)
  params = {
    "w1": jax.random.normal(key, (10, 5)) / 3,
    "w2": jax.random.normal(jax.random.key(1), (5, 1)) / 2,
  }
  x = jax.random.normal(jax.random.key(2), (16, 10))
  y = jax.random.normal(jax.random.key(3), (16,))

  def losses(p, x, y):  # IWRM: every example's loss is an objective
    pred = (jax.nn.relu(x @ p["w1"]) @ p["w2"])[:, 0]
    return (pred - y) ** 2

  jac = jax.jacrev(losses)(params, x, y)
  G1 = pareto.gramian(jac)
  for chunk in (None, 1, 4):
    values, G2 = pareto.gramian_and_values(losses, params, x, y, chunk_size=chunk)
    np.testing.assert_allclose(G2, G1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(values, losses(params, x, y))
  direction, _, w = pareto.aggregate(losses, params, pareto.upgrad_weights, x, y, chunk_size=4)
  expected = pareto.combine(jac, w)
  for k in params:
    np.testing.assert_allclose(direction[k], expected[k], rtol=1e-10, atol=1e-12)
  # Non-conflicting: J d >= 0, so a small step along -d raises no example's loss.
  flat = jnp.concatenate([jac[k].reshape(16, -1) for k in params], axis=1)
  d = jnp.concatenate([direction[k].ravel() for k in params])
  assert bool(jnp.all(flat @ d >= -1e-9))
  step = jax.tree.map(lambda p, g: p - 1e-4 * g, params, direction)
  assert bool(jnp.all(losses(step, x, y) <= losses(params, x, y) + 1e-12))
  mean_dir = pareto.combine(jac, jnp.full(16, 1 / 16))
  mean_step = jax.tree.map(lambda p, g: p - 1e-4 * g, params, mean_dir)
  assert bool(jnp.any(losses(mean_step, x, y) > losses(params, x, y)))  # ERM may raise some


def test_bad_inputs():
  with pytest.raises(ValueError, match="leading objective axis"):
    pareto.gramian({"a": jnp.ones((2, 3)), "b": jnp.ones((3, 3))})
  with pytest.raises(ValueError, match="no leaves"):
    pareto.gramian({})
