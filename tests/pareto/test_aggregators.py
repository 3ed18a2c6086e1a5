import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto

J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
G = J @ J.T


def test_spec_vectors():
  np.testing.assert_allclose(J.T @ pareto.mean_weights(G), [1, 1, 1])
  np.testing.assert_allclose(pareto.mgda_weights(G), [0.6, 0.4], atol=1e-12)
  np.testing.assert_allclose(J.T @ pareto.mgda_weights(G), [0, 1, 1], atol=1e-12)
  w = pareto.pcgrad_weights(G)
  np.testing.assert_allclose(w, [1 + 22 / 18, 1 + 22 / 38], rtol=1e-12)  # 2.2222, 1.5789
  np.testing.assert_allclose(J.T @ w, [0.5848, 3.8012, 3.8012], atol=5e-5)
  w = pareto.upgrad_weights(G)
  np.testing.assert_allclose(w, [10 / 9, 15 / 19], rtol=1e-12)
  np.testing.assert_allclose(J.T @ w, [0.29240, 1.90058, 1.90058], atol=5e-6)
  np.testing.assert_allclose(
    J.T @ pareto.upgrad_weights(G, ridge=1e-4), [0.2929, 1.9004, 1.9004], atol=5e-5
  )
  np.testing.assert_allclose(
    J.T @ pareto.dualproj_weights(G, ridge=1e-4), [0.5563, 1.1109, 1.1109], atol=5e-5
  )


def _random_jacobian(seed, m, d):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=(m, d)) + rng.normal(size=(1, d)) * rng.uniform())


@pytest.mark.parametrize("seed", range(20))
def test_qps_match_scipy_nnls(seed):
  scipy_optimize = pytest.importorskip("scipy.optimize")
  m = 2 + seed % 6
  Jr = _random_jacobian(seed, m, 2 * m + 1 if seed % 2 else m - 1)  # full and low rank
  Gr = Jr @ Jr.T
  scale = float(jnp.trace(Gr))
  p = np.full(m, 1 / m)
  expected = np.zeros(m)
  for i in range(m):  # v = p_i e_i + s, s >= 0: min ||J^T (l + s)||^2 is a non-negative LSQ
    low = p[i] * np.eye(m)[i]
    s, _ = scipy_optimize.nnls(
      np.asarray(Jr.T) / np.sqrt(scale), -np.asarray(Jr.T @ low) / np.sqrt(scale)
    )
    expected += low + s
  ours = pareto.upgrad_weights(Gr)
  # Compare the directions (weights are not unique when J is rank deficient).
  np.testing.assert_allclose(Jr.T @ ours, Jr.T @ expected, atol=1e-8)


@pytest.mark.parametrize("seed", range(10))
def test_non_conflicting_and_mgda_optimality(seed):
  m = 3 + seed % 5
  Jr = _random_jacobian(100 + seed, m, 12)
  Gr = Jr @ Jr.T
  for weighting in (pareto.upgrad_weights, pareto.dualproj_weights):
    assert bool(jnp.all(Jr @ (Jr.T @ weighting(Gr)) >= -1e-9))
  # MGDA: no simplex vertex improves the min-norm objective (Frank-Wolfe gap ~ 0).
  a = pareto.mgda_weights(Gr, max_iters=5000)
  gap = a @ Gr @ a - jnp.min(Gr @ a)
  assert float(gap) < 1e-3 * float(jnp.trace(Gr))
  np.testing.assert_allclose(a.sum(), 1.0)


def test_upgrad_scale_linear():
  Jr = _random_jacobian(7, 4, 9)
  scales = jnp.array([0.1, 1.0, 10.0, 3.0])
  d = Jr.T @ pareto.upgrad_weights(Jr @ Jr.T)
  Js = scales[:, None] * Jr
  ds = Js.T @ pareto.upgrad_weights(Js @ Js.T, weights=jnp.full(4, 0.25) / scales)
  np.testing.assert_allclose(ds, d, atol=1e-9)


def test_pcgrad_random_orders_and_jit():
  Jr = _random_jacobian(3, 5, 6)
  Gr = Jr @ Jr.T
  a = jax.jit(pareto.pcgrad_weights)(Gr, jax.random.key(0))
  b = pareto.pcgrad_weights(Gr, jax.random.key(0))
  np.testing.assert_allclose(a, b)
  # Direct PCGrad on vectors, natural order, matches the Gramian form.
  gs = np.asarray(Jr).copy()
  out = np.zeros(6)
  for i in range(5):
    g = gs[i].copy()
    for j in range(5):
      if j != i and g @ gs[j] < 0:
        g -= (g @ gs[j]) / (gs[j] @ gs[j]) * gs[j]
    out += g
  np.testing.assert_allclose(Jr.T @ pareto.pcgrad_weights(Gr), out, atol=1e-10)


def test_vmap_over_gramians():
  Gs = jnp.stack([_random_jacobian(s, 3, 5) @ _random_jacobian(s, 3, 5).T for s in range(4)])
  for fn in (pareto.mgda_weights, pareto.upgrad_weights, pareto.dualproj_weights):
    batched = jax.jit(jax.vmap(fn))(Gs)
    for k in range(4):
      np.testing.assert_allclose(batched[k], fn(Gs[k]), atol=1e-12)


def test_bad_inputs():
  with pytest.raises(ValueError, match="square"):
    pareto.upgrad_weights(jnp.ones((2, 3)))
  with pytest.raises(ValueError, match="symmetric"):
    pareto.mgda_weights(jnp.array([[1.0, 2.0], [0.0, 1.0]]))
  with pytest.raises(ValueError, match="must be finite"):
    pareto.dualproj_weights(jnp.array([[1.0, jnp.nan], [jnp.nan, 1.0]]))
  with pytest.raises(ValueError, match="non-negative"):
    pareto.upgrad_weights(G, weights=jnp.array([0.5, -0.1]))
  assert functools.partial(pareto.upgrad_weights, ridge=1e-4)(G).shape == (2,)


def test_preference_weights_are_named_weights_and_hyperparameters_keyword_only():
  p = jnp.array([0.8, 0.2])
  for fn in (pareto.upgrad_weights, pareto.dualproj_weights):
    assert not np.allclose(fn(G, weights=p), fn(G))  # the preference steers the weights
    np.testing.assert_allclose(fn(G, p), fn(G, weights=p))  # weights may be positional
    with pytest.raises(TypeError):
      fn(G, pref=p)  # the old name
    with pytest.raises(TypeError):
      fn(G, p, 1e-4)  # ridge is keyword-only
  # DualProj: w >= p (the lower bound of its QP), and no conflict with either objective.
  w = pareto.dualproj_weights(G, weights=p)
  assert bool(jnp.all(w >= p - 1e-12))
  assert bool(jnp.all(J @ (J.T @ w) >= -1e-9))
  with pytest.raises(TypeError):
    pareto.mgda_weights(G, 10)  # max_iters is keyword-only


def test_named_aggregators_with_preference_weights():
  p = jnp.array([0.25, 0.75])
  np.testing.assert_allclose(pareto.aggregator_weighting("mean", p)(G), p)  # LS
  np.testing.assert_allclose(pareto.aggregator_weighting("mean")(G), pareto.mean_weights(G))
  np.testing.assert_allclose(pareto.aggregator_weighting("mgda")(G), pareto.mgda_weights(G))
  np.testing.assert_allclose(pareto.aggregator_weighting("pcgrad")(G), pareto.pcgrad_weights(G))
  np.testing.assert_allclose(
    pareto.aggregator_weighting("upgrad", p)(G), pareto.upgrad_weights(G, p)
  )
  np.testing.assert_allclose(
    pareto.aggregator_weighting("dualproj", p)(G), pareto.dualproj_weights(G, p)
  )
  # MGDA and PCGrad on the scaled rows p_i g_i.
  Js = p[:, None] * J
  np.testing.assert_allclose(
    pareto.aggregator_weighting("mgda", p)(G), p * pareto.mgda_weights(Js @ Js.T), rtol=1e-12
  )
  np.testing.assert_allclose(
    J.T @ pareto.aggregator_weighting("pcgrad", p)(G),
    Js.T @ pareto.pcgrad_weights(Js @ Js.T),
    rtol=1e-12,
  )
  with pytest.raises(ValueError, match="Unknown aggregator 'adam'; known: mean, mgda"):
    pareto.aggregator_weighting("adam")
  with pytest.raises(ValueError, match="non-negative"):
    pareto.aggregator_weighting("upgrad", jnp.array([-0.5, 1.5]))(G)
  with pytest.raises(ValueError, match=r"has 3 objectives .* but 2 were expected"):
    pareto.aggregator_weighting("mgda", jnp.array([0.2, 0.3, 0.5]))(G)


def test_aggregated_training_step_equals_aggregate_of_the_per_objective_gradients():
  """One step through ``pareto.aggregate`` (Gramian-only) equals J^T w(J J^T) from jacrev."""

  def losses(params, x):
    h = jnp.tanh(x @ params["w"]) @ params["v"]
    return jnp.stack([jnp.mean((h - 1.0) ** 2), jnp.mean((h + 0.5) ** 2), jnp.mean(h**2 * x[:, 0])])

  k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
  params = {"w": jax.random.normal(k1, (4, 5)), "v": jax.random.normal(k2, (5,))}
  x = jax.random.normal(k3, (8, 4))
  p = jnp.array([0.2, 0.5, 0.3])
  jac = jax.jacrev(losses)(params, x)
  for name in pareto.AGGREGATORS:
    weighting = pareto.aggregator_weighting(name, p, key=jax.random.key(1))
    direction, values, w = pareto.aggregate(losses, params, weighting, x)
    np.testing.assert_allclose(w, weighting(pareto.gramian(jac)), rtol=1e-6, atol=1e-9)
    expected = pareto.combine(jac, w)
    for leaf, ref in zip(jax.tree.leaves(direction), jax.tree.leaves(expected), strict=True):
      np.testing.assert_allclose(leaf, ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(values, losses(params, x), rtol=1e-12)
