import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto


def test_spec_vector_stch_tch_linear():
  L, w, z = jnp.array([0.2, 0.5]), jnp.array([0.5, 0.5]), jnp.zeros(2)
  assert pareto.smooth_tchebycheff(L, w, ideal=z, mu=0.1) == pytest.approx(
    0.1 * np.log(np.e + np.e**2.5)
  )
  assert pareto.smooth_tchebycheff(L, w, ideal=z, mu=0.1) == pytest.approx(0.270141, abs=1e-6)
  assert pareto.tchebycheff(L, w, ideal=z) == pytest.approx(0.25)
  assert pareto.linear(L, w) == pytest.approx(0.35)
  assert pareto.tchebycheff(L, w, ideal=z, rho=0.01) == pytest.approx(0.25 + 0.01 * 0.35)


def test_stch_bounds_and_limit():
  rng = np.random.default_rng(0)
  L = rng.uniform(size=(50, 3))
  w = rng.dirichlet(np.ones(3), size=50)
  z = np.full(3, -0.1)
  tch = pareto.tchebycheff(L, w, ideal=z)
  for mu in (1.0, 0.1, 0.01):
    g = pareto.smooth_tchebycheff(L, w, ideal=z, mu=mu)
    assert np.all(g >= tch - 1e-12) and np.all(g <= tch + mu * np.log(3) + 1e-12)
  np.testing.assert_allclose(pareto.smooth_tchebycheff(L, w, ideal=z, mu=1e-4), tch, atol=2e-4)


@pytest.mark.parametrize("name", ["linear", "tchebycheff", "smooth_tchebycheff"])
def test_max_sense_is_negated_min(name):
  rng = np.random.default_rng(1)
  J, w, u = rng.normal(size=(7, 3)), rng.dirichlet(np.ones(3), 7), np.full(3, 3.0)
  fn = getattr(pareto, name)
  kw = {} if name == "linear" else {"ideal": u}
  neg = {} if name == "linear" else {"ideal": -u}
  np.testing.assert_allclose(fn(J, w, **kw, sense="max"), -fn(-J, w, **neg, sense="min"))
  if name == "tchebycheff":  # the spec's reward form: -max_i weights_i (u_i - J_i)
    np.testing.assert_allclose(fn(J, w, ideal=u, sense="max"), -np.max(w * (u - J), axis=-1))


def test_fonseca_fleming_truth_table():
  # Spec A.0: TCH with ideal 0 on the Fonseca-Fleming front s in [-1, 1].
  s = np.linspace(-1, 1, 200_001)
  F = np.stack([1 - np.exp(-((s - 1) ** 2)), 1 - np.exp(-((s + 1) ** 2))], axis=1)
  for w1, s_star, f in ((0.2, -0.497, (0.8937, 0.2234)), (0.5, 0.0, (0.6321, 0.6321))):
    g = pareto.tchebycheff(F, jnp.array([w1, 1 - w1]), ideal=jnp.zeros(2))
    k = int(jnp.argmin(g))
    assert s[k] == pytest.approx(s_star, abs=1e-3)
    np.testing.assert_allclose(F[k], f, atol=1e-4)
  for w1 in (0.2, 0.4, 0.6, 0.8):  # LS only reaches the endpoints of the concave front.
    k = int(jnp.argmin(pareto.linear(F, jnp.array([w1, 1 - w1]))))
    assert abs(s[k]) > 0.95


def test_jit_and_vmap_agree():
  rng = np.random.default_rng(2)
  L, w = rng.uniform(size=(5, 2)), rng.dirichlet(np.ones(2), 5)
  z = jnp.zeros(2)
  eager = pareto.smooth_tchebycheff(L, w, ideal=z, mu=0.2)
  jitted = jax.jit(jax.vmap(lambda a, b: pareto.smooth_tchebycheff(a, b, ideal=z, mu=0.2)))(L, w)
  np.testing.assert_allclose(eager, jitted, rtol=1e-12)


def test_bad_inputs():
  L = jnp.array([0.2, 0.5])
  with pytest.raises(ValueError, match="sum to 1"):
    pareto.linear(L, jnp.array([0.5, 0.6]))
  with pytest.raises(ValueError, match="non-negative"):
    pareto.tchebycheff(L, jnp.array([1.5, -0.5]), ideal=jnp.zeros(2))
  with pytest.raises(ValueError, match="must be finite"):
    pareto.linear(jnp.array([jnp.nan, 0.5]), jnp.array([0.5, 0.5]))
  with pytest.raises(ValueError, match="number of objectives must match"):
    pareto.linear(L, jnp.array([0.2, 0.3, 0.5]))
  with pytest.raises(ValueError, match="number of objectives must match"):
    pareto.tchebycheff(L, jnp.array([0.5, 0.5]), ideal=jnp.zeros(3))
  with pytest.raises(ValueError, match="sense"):
    pareto.linear(L, jnp.array([0.5, 0.5]), sense="maximize")
  with pytest.raises(ValueError, match="mu must be > 0"):
    pareto.smooth_tchebycheff(L, jnp.array([0.5, 0.5]), ideal=jnp.zeros(2), mu=0.0)


def test_hyperparameters_are_keyword_only():
  L, w, z = jnp.array([0.2, 0.5]), jnp.array([0.5, 0.5]), jnp.zeros(2)
  for fn in (pareto.tchebycheff, pareto.smooth_tchebycheff):
    with pytest.raises(TypeError):
      fn(L, w, z)  # the ideal point is keyword-only
  with pytest.raises(TypeError):
    pareto.scalarize(L, w, "tch", z)
  assert pareto.scalarize(values=L, weights=w, method="tch", ideal=z, rho=0.01) == pytest.approx(
    float(pareto.tchebycheff(L, w, ideal=z, rho=0.01))
  )
  assert pareto.scalarize(L, w, "stch", ideal=z, mu=0.1) == pytest.approx(
    float(pareto.smooth_tchebycheff(values=L, weights=w, ideal=z, mu=0.1))
  )
