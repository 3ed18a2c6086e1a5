import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models


@pytest.mark.parametrize("conditioning", models.CONDITIONINGS)
def test_shapes_jit_and_weights_dependence(conditioning):
  model = models.ConditionedMLP(
    3, [8, 8], 2, num_objectives=2, conditioning=conditioning, rngs=nnx.Rngs(0)
  )
  x = jnp.ones((4, 3))
  out = model(x, jnp.array([0.5, 0.5]))
  assert out.shape == (4, 2)
  weights_batch = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.8]])
  np.testing.assert_allclose(
    nnx.jit(lambda m, x, w: m(x, weights=w))(model, x, weights_batch), model(x, weights_batch)
  )
  # Perturb the conditioning parameters off their (identity) init: outputs then depend on weights.
  for _, p in nnx.iter_graph(model):
    if isinstance(p, nnx.Param):
      p[...] = p[...] + 0.1 * jax.random.normal(jax.random.key(p.size), p.shape, p.dtype)
  a, b = model(x[:1], weights_batch[0]), model(x[:1], weights_batch[1])
  assert float(jnp.max(jnp.abs(a - b))) > 1e-3


def test_unknown_conditioning_and_wrong_weights():
  with pytest.raises(ValueError, match="Unknown conditioning"):
    models.ConditionedMLP(1, [4], 1, num_objectives=2, conditioning="hyper", rngs=nnx.Rngs(0))
  model = models.ConditionedMLP(1, [4], 1, num_objectives=2, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="has 2 objectives"):
    model(jnp.ones((1, 1)), jnp.ones(3) / 3)
