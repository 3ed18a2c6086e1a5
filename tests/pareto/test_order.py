import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref.pareto import _order


def _keys(rng, n, dtype):
  v = (rng.integers(-4, 4, n) * rng.choice([1.0, 0.5], n)).astype(dtype)  # many ties
  if np.issubdtype(dtype, np.floating) and n > 3:
    v[:3] = [-0.0, 0.0, -0.0]  # ties with each other, as in numpy
  return v


@pytest.mark.parametrize("x64", [True, False])
@pytest.mark.parametrize("n", [1, 2, 7, 300, 40_000])
def test_orders_and_ranks_equal_numpy(n, x64):
  rng = np.random.default_rng(n)
  with jax.enable_x64(x64):
    for dtype in (np.float32, np.float64, np.int32) if x64 else (np.float32, np.int32):
      v, w, u = _keys(rng, n, dtype), _keys(rng, n, dtype), rng.uniform(size=n).astype(dtype)
      np.testing.assert_array_equal(
        jax.jit(_order.argsort)(jnp.asarray(v)), np.argsort(v, kind="stable")
      )
      np.testing.assert_array_equal(
        jax.jit(_order.ranks)(jnp.asarray(v)), np.searchsorted(np.sort(v), v, side="left")
      )
      keys = tuple(jnp.asarray(k) for k in (u, w, v))
      np.testing.assert_array_equal(jax.jit(_order.lexsort)(keys), np.lexsort((u, w, v)))


def test_packed_order_falls_back_when_the_packed_key_would_not_fit():
  n = 40_000  # 16 bits per rank: (1 + 1) * 16 > 31 without x64
  with jax.enable_x64(False):
    r = jnp.arange(n, dtype=jnp.int32)
    assert _order._packed_order([r], n) is None
  with jax.enable_x64(True):
    assert _order._packed_order([r], n) is not None
    assert _order._packed_order([r, r, r, r], n) is None  # 5 * 16 > 63: chained instead
    v = np.random.default_rng(0).integers(0, 3, size=(4, n))
    np.testing.assert_array_equal(
      _order.lexsort(tuple(jnp.asarray(k) for k in v)), np.lexsort(tuple(v))
    )
