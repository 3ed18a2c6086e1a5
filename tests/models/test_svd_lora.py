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
  layer.u[...] = jax.random.normal(jax.random.key(seed + 1), layer.u.shape)
  layer.sigma[...] = jnp.arange(1.0, rank + 1)
  layer.scale[...] = jnp.asarray(2.5)
  return layer


def test_merged_equals_unmerged():
  layer = _layer()
  x = jax.random.normal(jax.random.key(3), (7, 5))
  for lam in (jnp.array([0.3, 0.7]), jnp.array([1.0, 0.0])):
    merged = x @ layer.merged_kernel(lam) + layer.base.bias[...]
    np.testing.assert_allclose(layer(x, lam), merged, rtol=1e-12, atol=1e-12)


def test_starts_at_the_base_layer_and_lam_enters_as_singular_values():
  layer = models.SVDLoRALinear(5, 4, rank=2, num_objectives=3, rngs=nnx.Rngs(0))
  x = jnp.ones((2, 5))
  np.testing.assert_allclose(layer(x, jnp.array([0.2, 0.3, 0.5])), layer.base(x))
  layer = _layer(rank=2, m=3)
  lam = jnp.array([0.2, 0.3, 0.5])
  delta = layer.merged_kernel(lam) - layer.base.kernel[...]
  s = jnp.concatenate([layer.sigma[...], 2.5 * lam])
  np.testing.assert_allclose(delta, layer.v[...] @ jnp.diag(s) @ layer.u[...].T, atol=1e-12)


def test_batched_lambdas_and_no_gradient_into_lam():
  layer = _layer()
  x = jax.random.normal(jax.random.key(4), (6, 5))
  lams = jax.random.dirichlet(jax.random.key(5), jnp.ones(2), (6,))
  batched = layer(x, lams)
  for k in range(6):
    np.testing.assert_allclose(batched[k], layer(x[k], lams[k]), rtol=1e-12)
  g = jax.grad(lambda lam: jnp.sum(layer(x, lam)))(jnp.array([0.4, 0.6]))
  np.testing.assert_array_equal(g, 0.0)
  grads = nnx.grad(lambda mod: jnp.sum(mod(x, jnp.array([0.4, 0.6])) ** 2))(layer)
  assert float(jnp.abs(grads["scale"][...])) > 0  # the scale s is learned


def test_bad_lambda_size():
  with pytest.raises(ValueError, match="built for 2 objectives"):
    _layer()(jnp.ones((1, 5)), jnp.array([0.2, 0.3, 0.5]))
  with pytest.raises(ValueError, match="num_objectives >= 1"):
    models.SVDLoRALinear(5, 4, rank=1, num_objectives=0, rngs=nnx.Rngs(0))
