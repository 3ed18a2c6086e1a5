import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto
from tests.pareto._fronts import random_fronts

Z = jnp.array([[0.0, 1], [0.5, 0.5], [1, 0]])
A = jnp.array([[0.1, 1], [0.6, 0.6], [1, 0.2]])


def test_spec_igd_vectors():
  assert float(pareto.igd(A, Z)) == pytest.approx(0.147140, abs=1e-6)
  assert float(pareto.igd_plus(A, Z)) == pytest.approx(0.147140, abs=1e-6)


def test_against_moocore_and_pymoo():
  moocore = pytest.importorskip("moocore")
  ind = pytest.importorskip("pymoo.indicators")
  from pymoo.indicators.gd import GD
  from pymoo.indicators.gd_plus import GDPlus

  del ind
  F, valid, sizes = random_fronts(7, 100, 3)
  ref_front = F[0, : sizes[0]]
  batched = {}
  for name in ("igd", "igd_plus", "gd", "gd_plus"):
    fn = getattr(pareto, name)
    batched[name] = jax.vmap(lambda f, v, fn=fn: fn(f, ref_front, valid=v))(F, valid)
  for k in range(len(F)):
    pts = F[k, : sizes[k]]
    assert float(batched["igd"][k]) == pytest.approx(moocore.igd(pts, ref=ref_front), rel=1e-12)
    assert float(batched["igd_plus"][k]) == pytest.approx(
      moocore.igd_plus(pts, ref=ref_front), rel=1e-12
    )
    if k < 20:
      assert float(batched["gd"][k]) == pytest.approx(GD(ref_front)(pts), rel=1e-12)
      assert float(batched["gd_plus"][k]) == pytest.approx(GDPlus(ref_front)(pts), rel=1e-12)


def test_sense_max_equals_negated_min():
  assert float(pareto.igd_plus(-A, -Z, sense="max")) == pytest.approx(float(pareto.igd_plus(A, Z)))
  assert float(pareto.gd(-A, -Z, sense="max")) == pytest.approx(float(pareto.gd(A, Z)))


def test_spacing_and_sparsity_by_hand():
  F = jnp.array([[0.0, 3], [1, 2], [3, 0]])
  # Nearest L1 distances 2, 2, 4: mean 8/3; S = sqrt((4/9 + 4/9 + 16/9) / 2).
  assert float(pareto.spacing(F)) == pytest.approx(np.sqrt(24 / 9 / 2))
  # Sorted gaps per objective: (1, 2) and (2, 1): (1 + 4 + 4 + 1) / 2.
  assert float(pareto.sparsity(F)) == pytest.approx(5.0)
  padded = jnp.concatenate([F, jnp.full((2, 2), 9.0)])
  valid = jnp.array([True, True, True, False, False])
  assert float(pareto.spacing(padded, valid=valid)) == pytest.approx(float(pareto.spacing(F)))
  assert float(pareto.sparsity(padded, valid=valid)) == pytest.approx(5.0)


def test_spacing_against_pymoo():
  pytest.importorskip("pymoo")
  from pymoo.indicators.spacing import SpacingIndicator

  F, _, sizes = random_fronts(8, 10, 2)
  for k in range(10):
    pts = F[k, : sizes[k]]
    # pymoo divides by n where Schott (and the spec) divide by n - 1.
    n = len(pts)
    theirs = SpacingIndicator()(pts) * np.sqrt(n / (n - 1))
    assert float(pareto.spacing(pts)) == pytest.approx(theirs, rel=1e-9)


def test_r2_by_hand():
  F = jnp.array([[0.9, 0.2], [0.3, 0.8]])
  W = jnp.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
  # min over points of max_i w_i |1 - F_i|: 0.1, min(0.4, 0.35) = 0.35, 0.2.
  assert float(pareto.r2(F, W, ideal=jnp.ones(2))) == pytest.approx((0.1 + 0.35 + 0.2) / 3)
  assert float(pareto.r2(F, weights=W, ideal=jnp.ones(2), sense="max")) == pytest.approx(
    (0.1 + 0.35 + 0.2) / 3
  )
  with pytest.raises(TypeError):
    pareto.r2(F, W, jnp.ones(2))  # the utopia point is the keyword-only ideal


def test_controllability():
  weights = pareto.das_dennis(2, 10)
  J = np.stack([weights[:, 0] ** 2, 1 - weights[:, 0]], axis=1)  # f2 goes the right way, f1 too
  np.testing.assert_allclose(pareto.controllability(weights, J), [1.0, 1.0])
  np.testing.assert_allclose(pareto.controllability(weights, -J, sense="min"), [1.0, 1.0])
  np.testing.assert_allclose(pareto.controllability(weights, J[::-1]), [-1.0, -1.0])
  with pytest.raises(ValueError, match="same number of rows"):
    pareto.controllability(weights, J[:3])


def test_bad_inputs():
  with pytest.raises(ValueError, match="number of objectives must match"):
    pareto.igd(A, jnp.ones((3, 3)))
  with pytest.raises(ValueError, match="must be finite"):
    pareto.igd_plus(A.at[0, 0].set(jnp.nan), Z)
