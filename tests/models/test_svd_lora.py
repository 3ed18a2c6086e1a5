import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models


def _layer(seed=0, rank=3, m=2):
  layer = models.SVDLoRALinear(
    5, 4, rank=rank, num_objectives=m, rngs=nnx.Rngs(seed), param_dtype=jnp.float64
  )
  # Move off the zero init of U and sigma so every term matters.
  layer.u[...] = jax.random.normal(jax.random.key(seed + 1), layer.u.shape, layer.u.dtype)
  layer.sigma[...] = jnp.arange(1.0, rank + 1)
  layer.scale[...] = jnp.asarray(2.5)
  return layer


def test_merged_equals_unmerged():
  layer = _layer()
  x = jax.random.normal(jax.random.key(3), (7, 5))
  for weights in (jnp.array([0.3, 0.7]), jnp.array([1.0, 0.0])):
    merged = x @ layer.merged_kernel(weights) + layer.base.bias[...]
    np.testing.assert_allclose(layer(x, weights), merged, rtol=1e-12, atol=1e-12)


def test_starts_at_the_base_layer_and_weights_enter_as_singular_values():
  layer = models.SVDLoRALinear(5, 4, rank=2, num_objectives=3, rngs=nnx.Rngs(0))
  x = jnp.ones((2, 5))
  np.testing.assert_allclose(layer(x, jnp.array([0.2, 0.3, 0.5])), layer.base(x))
  layer = _layer(rank=2, m=3)
  weights = jnp.array([0.2, 0.3, 0.5])
  delta = layer.merged_kernel(weights) - layer.base.kernel[...]
  s = jnp.concatenate([layer.sigma[...], 2.5 * weights])
  np.testing.assert_allclose(delta, layer.v[...] @ jnp.diag(s) @ layer.u[...].T, atol=1e-12)


def test_batched_weights_and_no_gradient_into_weights():
  layer = _layer()
  x = jax.random.normal(jax.random.key(4), (6, 5))
  weights_batch = jax.random.dirichlet(jax.random.key(5), jnp.ones(2), (6,))
  batched = layer(x, weights_batch)
  for k in range(6):
    np.testing.assert_allclose(batched[k], layer(x[k], weights_batch[k]), rtol=1e-12)
  g = jax.grad(lambda weights: jnp.sum(layer(x, weights)))(jnp.array([0.4, 0.6]))
  np.testing.assert_array_equal(g, 0.0)
  grads = nnx.grad(lambda mod: jnp.sum(mod(x, jnp.array([0.4, 0.6])) ** 2))(layer)
  assert float(jnp.abs(grads["scale"][...])) > 0  # the scale s is learned


def test_bad_weights_size():
  with pytest.raises(ValueError, match="built for 2 objectives"):
    _layer()(jnp.ones((1, 5)), jnp.array([0.2, 0.3, 0.5]))
  with pytest.raises(ValueError, match="num_objectives >= 1"):
    models.SVDLoRALinear(5, 4, rank=1, num_objectives=0, rngs=nnx.Rngs(0))


def test_preference_vector_is_named_weights():
  layer = _layer()
  x = jax.random.normal(jax.random.key(6), (3, 5))
  weights = jnp.array([0.25, 0.75])
  out = layer(x, weights=weights)
  np.testing.assert_allclose(out, layer(x, weights), rtol=1e-12)
  np.testing.assert_allclose(
    out, layer.base(x) + layer.delta(x, weights=weights), rtol=1e-12, atol=1e-12
  )
  merged = x @ layer.merged_kernel(weights=weights) + layer.base.bias[...]
  np.testing.assert_allclose(out, merged, rtol=1e-12, atol=1e-12)
  with pytest.raises(TypeError):
    layer(x, lam=weights)  # the old name is gone
  with pytest.raises(ValueError, match="weights has 3 entries"):
    layer(x, weights=jnp.ones(3) / 3)
