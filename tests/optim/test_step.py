"""The shared gradient step and compiled loop: optax by hand, NNX modules, keys, continuation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpref import optim


def _quadratic(params):
  return jnp.sum((params["w"] - 3.0) ** 2) + jnp.sum(params["b"] ** 2)


def test_gradient_step_is_one_optax_update():
  params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
  tx = optax.adam(0.1)
  state = tx.init(params)
  out = optim.gradient_step(_quadratic, tx, params, state)
  grads = jax.grad(_quadratic)(params)
  updates, want_state = tx.update(grads, state, params)
  want = optax.apply_updates(params, updates)
  jax.tree.map(np.testing.assert_array_equal, out.params, want)
  jax.tree.map(np.testing.assert_array_equal, out.opt_state, want_state)
  assert float(out.loss) == float(_quadratic(params)) and out.aux is None


def test_gradient_step_passes_args_undifferentiated_and_aux():
  def loss(p, target):
    return jnp.sum((p - target) ** 2), {"target": target}

  tx = optax.sgd(0.25)
  p = jnp.zeros(3)
  out = optim.gradient_step(loss, tx, p, tx.init(p), jnp.ones(3), has_aux=True)
  np.testing.assert_allclose(out.params, 0.5 * jnp.ones(3))  # p - 0.25 * 2 (p - 1)
  np.testing.assert_array_equal(out.aux["target"], jnp.ones(3))


def test_optimize_equals_a_python_loop_and_continues():
  params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
  tx = optax.adam(0.1)
  out = jax.jit(lambda p: optim.optimize(_quadratic, tx, p, steps=20))(params)
  p, s = params, tx.init(params)
  losses = []
  for _ in range(20):
    step = optim.gradient_step(_quadratic, tx, p, s)
    p, s = step.params, step.opt_state
    losses.append(step.loss)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), out.params, p)
  np.testing.assert_allclose(out.losses, np.array(losses), rtol=1e-6)
  # 20 + 20 steps continued from the state = 40 steps at once.
  more = optim.optimize(_quadratic, tx, out.params, steps=20, opt_state=out.opt_state)
  once = optim.optimize(_quadratic, tx, params, steps=40)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), more.params, once.params)


def test_optimize_with_a_key_draws_a_fresh_key_per_step():
  seen = []

  def loss(p, key):
    seen.append(key)
    return jnp.sum((p - jax.random.normal(key, p.shape)) ** 2)

  out = optim.optimize(loss, optax.sgd(0.1), jnp.zeros(2), steps=5, key=jax.random.key(0))
  assert out.losses.shape == (5,) and len(seen) == 1  # traced once by the scan
  want = jax.random.split(jax.random.key(0), 5)
  p = jnp.zeros(2)
  for k in want:
    p = p - 0.1 * jax.grad(loss)(p, k)
  np.testing.assert_allclose(out.params, p, rtol=1e-6)


def test_optimize_trains_an_nnx_module():
  model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
  x = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  y = x @ jnp.array([[2.0], [-1.0]]) + 0.5
  graphdef, params = nnx.split(model)

  def loss(p):
    return jnp.mean((nnx.merge(graphdef, p)(x) - y) ** 2)

  out = optim.optimize(loss, optax.adam(0.1), params, steps=300)
  fitted = nnx.merge(graphdef, out.params)
  assert out.losses[0] > 0.1 and out.losses[-1] < 1e-4
  np.testing.assert_allclose(fitted(x), y, atol=1e-2)
