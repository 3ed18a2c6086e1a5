import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto
from tests.pareto._fronts import random_fronts

F2 = np.array([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]])
F3 = np.array([[1.0, 2, 3], [2, 1, 3], [3, 2, 1], [2, 2, 2], [1, 3, 2]])
F4 = np.array([[1.0, 2, 3, 4], [4, 3, 2, 1], [2, 2, 2, 2], [3, 1, 4, 2]])


def test_spec_vectors():
  assert float(pareto.hypervolume(F2, ref_point=jnp.full(2, 5.0))) == 12.0
  assert float(pareto.hypervolume(F3, ref_point=jnp.full(3, 4.0))) == 15.0
  assert pareto.hypervolume_host(F2, ref_point=[5, 5]) == 12.0
  assert pareto.hypervolume_host(F3, ref_point=[4, 4, 4]) == 15.0
  assert pareto.hypervolume_host(F4, ref_point=[5, 5, 5, 5]) == 99.0
  contrib = pareto.hypervolume_contributions(F2, ref_point=jnp.full(2, 5.0))
  np.testing.assert_allclose(contrib, [1, 2, 2, 0, 0])


def test_points_not_dominating_the_reference_count_nothing():
  ref = jnp.array([3.5, 3.5])
  # (4, 4) and (1, 4) are outside; (3.5, 1) touches the reference in f1.
  F = np.array([[4.0, 4], [1, 4], [2, 2], [3.5, 1]])
  assert float(pareto.hypervolume(F, ref_point=ref)) == pytest.approx(1.5 * 1.5)
  assert pareto.hypervolume_host(F, ref_point=ref) == pytest.approx(2.25)
  assert float(pareto.hypervolume(F[:2], ref_point=ref)) == 0.0
  assert pareto.hypervolume_host(F[:2], ref_point=ref) == 0.0


def test_duplicates_and_dominated_points():
  F = np.concatenate([F3, F3[:2], [[3.5, 3.5, 3.5]]])
  assert float(pareto.hypervolume(F, ref_point=jnp.full(3, 4.0))) == 15.0
  contrib = pareto.hypervolume_contributions(F, ref_point=jnp.full(3, 4.0))
  assert contrib[0] == 0 and contrib[1] == 0 and contrib[-1] == 0  # duplicated or dominated


def test_max_sense_equals_negated_min():
  F, valid, _ = random_fronts(1, 1, 3)
  ref = jnp.full(3, 1.0)
  a = pareto.hypervolume(-F[0], ref_point=-ref, sense="max", valid=valid[0])
  b = pareto.hypervolume(F[0], ref_point=ref, valid=valid[0])
  assert float(a) == pytest.approx(float(b), rel=1e-12)
  assert pareto.hypervolume_host(-F4, ref_point=[-5] * 4, sense="max") == 99.0


@pytest.mark.parametrize("m", [2, 3, 4])
def test_against_moocore_and_pymoo(m):
  moocore = pytest.importorskip("moocore")
  hv_mod = pytest.importorskip("pymoo.indicators.hv")
  F, valid, sizes = random_fronts(20 + m, 120, m)
  ref = np.ones(m)
  if m <= 3:
    ours = jax.jit(jax.vmap(lambda f, v: pareto.hypervolume(f, ref_point=ref, valid=v)))(F, valid)
    contrib = jax.jit(
      jax.vmap(lambda f, v: pareto.hypervolume_contributions(f, ref_point=ref, valid=v))
    )(F[:20], valid[:20])
  pymoo_hv = hv_mod.HV(ref_point=ref)
  for k in range(len(F)):
    pts = F[k, : sizes[k]]
    expected = moocore.hypervolume(pts, ref=ref)
    assert pareto.hypervolume_host(pts, ref_point=ref, backend="jaxpref") == pytest.approx(
      expected, rel=1e-12, abs=1e-15
    )  # the own exact code; the default calls moocore when installed
    assert pareto.hypervolume_host(pts, ref_point=ref) == pytest.approx(expected, rel=1e-12)
    if k < 30:
      assert pymoo_hv(pts) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    if m <= 3:
      assert float(ours[k]) == pytest.approx(expected, rel=1e-12, abs=1e-15)
      if k < 20:
        inside = pts[np.all(pts < ref, axis=1)]
        theirs = np.zeros(sizes[k])
        theirs[np.all(pts < ref, axis=1)] = moocore.hv_contributions(
          inside, ref=ref, ignore_dominated=False
        )
        np.testing.assert_allclose(contrib[k, : sizes[k]], theirs, atol=1e-12)


@pytest.mark.parametrize("m", [2, 4])
def test_monte_carlo_within_error(m):
  F, valid, sizes = random_fronts(30 + m, 1, m)
  ref = jnp.ones(m)
  exact = pareto.hypervolume_host(F[0, : sizes[0]], ref_point=ref)
  est = pareto.hypervolume_mc(
    jax.random.key(0), F[0], ref_point=ref, num_samples=400_000, valid=valid[0]
  )
  assert float(est) == pytest.approx(exact, rel=0.02)


def test_jit_vmap_equal_loop_and_grad_defined():
  F, valid, _ = random_fronts(2, 6, 2)
  ref = jnp.ones(2)
  batched = jax.vmap(lambda f, v: pareto.hypervolume(f, ref_point=ref, valid=v))(F, valid)
  for k in range(6):
    assert float(batched[k]) == pytest.approx(
      float(pareto.hypervolume(F[k], ref_point=ref, valid=valid[k]))
    )
  g = jax.grad(lambda f: pareto.hypervolume(f, ref_point=ref))(jnp.array([[0.2, 0.6], [0.5, 0.3]]))
  # d HV / d f for two points: widths and heights of the staircase (negative: smaller is better).
  np.testing.assert_allclose(g, [[-0.4, -0.3], [-0.3, -0.5]])


@pytest.mark.parametrize("m", [2, 3])
def test_many_ties_and_duplicates_against_moocore(m):
  moocore = pytest.importorskip("moocore")
  rng = np.random.default_rng(m)
  F = rng.integers(0, 5, size=(40, 60, m)).astype(float)  # a 5-level grid: ties in every objective
  ref = np.full(m, 5.0)
  ours = jax.jit(jax.vmap(lambda f: pareto.hypervolume(f, ref_point=ref)))(F)
  np.testing.assert_array_equal(ours, [moocore.hypervolume(f, ref=ref) for f in F])


def test_grad_of_the_three_objective_hypervolume_matches_finite_differences():
  F = np.random.default_rng(0).uniform(0.1, 0.9, size=(12, 3))
  ref = jnp.ones(3)
  hv = lambda f: pareto.hypervolume(f, ref_point=ref)  # noqa: E731
  g = np.asarray(jax.grad(hv)(jnp.asarray(F)))
  eps = 1e-6
  fd = np.zeros_like(F)
  for i in range(F.shape[0]):
    for j in range(3):
      up, down = F.copy(), F.copy()
      up[i, j] += eps
      down[i, j] -= eps
      fd[i, j] = (float(hv(up)) - float(hv(down))) / (2 * eps)
  np.testing.assert_allclose(g, fd, atol=1e-7)
  assert (g <= 0).all() and (g < 0).any()  # lowering any objective never shrinks the volume
  # One point: HV = prod(r - p), so dHV/dp_i = -prod_{j != i} (r_j - p_j).
  p = jnp.array([[0.2, 0.5, 0.6]])
  np.testing.assert_allclose(jax.grad(hv)(p), [[-0.2, -0.32, -0.4]], rtol=1e-12)


def test_bad_inputs():
  with pytest.raises(ValueError, match="must be finite"):
    pareto.hypervolume(jnp.array([[jnp.inf, 1.0]]), ref_point=jnp.ones(2))
  with pytest.raises(ValueError, match="number of objectives must match"):
    pareto.hypervolume(F2, ref_point=jnp.ones(3))
  with pytest.raises(ValueError, match="hypervolume_host"):
    pareto.hypervolume(F4, ref_point=jnp.full(4, 5.0))
  with pytest.raises(ValueError, match="same m"):
    pareto.hypervolume_host(F4, ref_point=[5, 5, 5])
  with pytest.raises(ValueError, match="must be finite"):
    pareto.hypervolume_host([[np.nan, 1.0]], ref_point=[2, 2])
  with pytest.raises(ValueError, match="backend must be one of"):
    pareto.hypervolume_host(F4, ref_point=[5] * 4, backend="c")


def test_reference_point_is_the_keyword_only_ref_point():
  ref_point = jnp.full(2, 5.0)
  for fn in (pareto.hypervolume, pareto.hypervolume_contributions, pareto.hypervolume_host):
    with pytest.raises(TypeError):
      fn(F2, ref_point)  # positional: rejected
    with pytest.raises(TypeError):
      fn(F2, ref=ref_point)  # the old name: rejected
  with pytest.raises(TypeError):
    pareto.hypervolume_mc(jax.random.key(0), F2, ref_point)
  with pytest.raises(TypeError):
    pareto.hypervolume_mc(jax.random.key(0), F2, 1000, ref_point=ref_point)  # num_samples
  assert float(pareto.hypervolume(F2, ref_point=ref_point)) == 12.0
  assert pareto.hypervolume_host(F2, ref_point=ref_point) == 12.0
  est = pareto.hypervolume_mc(
    jax.random.key(1), F2, ref_point=ref_point, num_samples=1000, batch_size=250
  )
  assert 0.0 < float(est) <= 16.0  # inside the box [1, 5]^2
  np.testing.assert_allclose(
    pareto.hypervolume_contributions(F2, ref_point=ref_point), [1, 2, 2, 0, 0]
  )
  with pytest.raises(ValueError, match="ref_point"):
    pareto.hypervolume(F2, ref_point=jnp.array([5.0, jnp.nan]))
  with pytest.raises(ValueError, match="ref_point"):
    pareto.hypervolume_host(F2, ref_point=[5.0, np.inf])


def test_ref_point_under_jit_and_vmap_over_reference_points():
  refs = jnp.array([[5.0, 5.0], [4.0, 4.0], [3.5, 3.5]])
  hv = jax.jit(jax.vmap(lambda r: pareto.hypervolume(F2, ref_point=r)))(refs)
  expected = [pareto.hypervolume_host(F2, ref_point=r) for r in np.asarray(refs)]
  np.testing.assert_allclose(hv, expected, rtol=1e-12)


def test_fronts_of_many_sizes_compile_one_program_per_bucket():
  from jax import monitoring

  compiles = []
  monitoring.register_event_duration_secs_listener(
    lambda event, _, **kw: (
      compiles.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
  )
  rng = np.random.default_rng(3)
  for m in (2, 3):
    fronts = [rng.random((int(n), m)) for n in rng.integers(10, 201, 30)]
    ref = np.full(m, 1.1)
    for fn, sets in (
      (lambda F, r=ref: pareto.hypervolume(F, ref_point=r), fronts),
      (lambda F, r=ref: pareto.hypervolume_contributions(F, ref_point=r), fronts[: 6 * (m == 2)]),
      (pareto.front_ranks, fronts),
      (pareto.nondominated_mask, fronts),
    ):
      start = len(compiles)
      for F in sets:
        fn(F)
      assert len(compiles) - start <= 3  # buckets 16, 64, 256 (and no eager op per size)
    got = [float(pareto.hypervolume(F, ref_point=ref)) for F in fronts[:10]]
    want = [pareto.hypervolume_host(F, ref_point=ref) for F in fronts[:10]]
    np.testing.assert_allclose(got, want, rtol=1e-5)
  F = rng.random((20, 2))
  pinned = pareto.hypervolume_contributions(F, ref_point=np.full(2, 1.1), size=40)
  np.testing.assert_allclose(
    pinned, pareto.hypervolume_contributions(F, ref_point=np.full(2, 1.1)), atol=1e-6
  )  # float32 differences of totals
  assert pinned.shape == (20,)
  with pytest.raises(ValueError, match="size=10 cannot hold 20 rows"):
    pareto.hypervolume(F, ref_point=np.full(2, 1.1), size=10)
