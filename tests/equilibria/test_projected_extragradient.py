import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria as eq


@pytest.mark.parametrize("n", [1, 2, 3, 17, 200])
def test_projection_matches_sort_reference(n):
  rng = np.random.default_rng(n)
  for scale in (1e-3, 1.0, 1e3):
    v = rng.normal(size=n) * scale
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1
    k = np.arange(1, n + 1)
    r = k[u - css / k > 0][-1]
    expected = np.maximum(v - css[r - 1] / r, 0)
    np.testing.assert_allclose(eq.project_to_simplex(jnp.asarray(v)), expected, atol=1e-12 * scale)


def test_projection_vmaps_and_is_idempotent():
  v = jax.random.normal(jax.random.key(0), (64, 9))
  x = jax.vmap(eq.project_to_simplex)(v)
  np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-12)
  np.testing.assert_allclose(jax.vmap(eq.project_to_simplex)(x), x, atol=1e-12)


def test_step_size_only_shrinks_and_restart_resets_the_average():
  s = eq.projected_extragradient(step_size=5.0)
  P = jnp.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
  st = s.init(jnp.array([0.6, 0.3, 0.1]))
  op = eq.matrix_operator(P)
  sizes = []
  for _ in range(20):
    st = s.step(st, op)
    sizes.append(float(st.step_size))
  assert sizes == sorted(sizes, reverse=True) and sizes[-1] < 5.0
  st = s.restart(st, jnp.ones(3) / 3)
  assert float(st.average.weight) == 0.0 and float(st.step_size) == sizes[-1]
