import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto


@pytest.mark.parametrize(("m", "h"), [(2, 10), (3, 12), (4, 5), (1, 3)])
def test_das_dennis_count_and_simplex(m, h):
  W = pareto.das_dennis(m, h)
  assert W.shape == (math.comb(h + m - 1, m - 1), m)
  np.testing.assert_allclose(W.sum(1), 1.0)
  assert (W >= 0).all()
  np.testing.assert_allclose(W * h, np.round(W * h), atol=1e-12)
  assert len(np.unique(W, axis=0)) == len(W)


def test_das_dennis_equals_pymoo():
  ref_dirs = pytest.importorskip("pymoo.util.ref_dirs")
  for m, h in ((2, 20), (3, 12), (4, 6)):
    theirs = ref_dirs.get_reference_directions("das-dennis", m, n_partitions=h)
    ours = pareto.das_dennis(m, h)

    def lex(a, h=h):
      return a[np.lexsort(np.round(a * h).T)]

    np.testing.assert_allclose(lex(ours), lex(theirs), atol=1e-12)


def test_dirichlet_uniform_mean_and_shape():
  w = pareto.dirichlet(jax.random.key(0), 3, 20_000)
  assert w.shape == (20_000, 3)
  np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
  np.testing.assert_allclose(w.mean(0), 1 / 3, atol=0.01)
  assert pareto.dirichlet(jax.random.key(0), 4).shape == (4,)


def test_unit_directions():
  v = pareto.unit_directions(jax.random.key(1), 3, 100)
  np.testing.assert_allclose(jnp.linalg.norm(v, axis=1), 1.0, atol=1e-12)
  assert (v >= 0).all()
  assert (pareto.unit_directions(jax.random.key(1), 3, 100, positive=False) < 0).any()


def test_bad_sizes():
  with pytest.raises(ValueError, match="divisions >= 1"):
    pareto.das_dennis(3, 0)
  with pytest.raises(ValueError, match="num_objectives >= 1"):
    pareto.dirichlet(jax.random.key(0), 0)
