import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto
from tests.pareto._fronts import random_fronts

SPEC_F = jnp.array([[1.0, 4], [2, 2], [3, 1], [3, 3], [4, 4]])


def test_spec_vector():
  assert pareto.front_ranks(SPEC_F).tolist() == [0, 0, 0, 1, 2]
  assert pareto.nondominated_mask(SPEC_F).tolist() == [True, True, True, False, False]


def test_duplicates_share_a_front():
  F = jnp.concatenate([SPEC_F, SPEC_F[1:2], SPEC_F[3:4]])
  D = pareto.dominance_matrix(F)
  assert not D[1, 5] and not D[5, 1]
  assert pareto.front_ranks(F).tolist() == [0, 0, 0, 1, 2, 0, 1]


def test_max_sense_equals_negated_min():
  F, valid, _ = random_fronts(3, 1, 3)
  np.testing.assert_array_equal(
    pareto.front_ranks(F[0], sense="max", valid=valid[0]),
    pareto.front_ranks(-F[0], valid=valid[0]),
  )


def test_valid_mask_equals_truncation():
  F, valid, sizes = random_fronts(4, 5, 2)
  for k in range(5):
    n = sizes[k]
    full = pareto.front_ranks(F[k], valid=valid[k])
    np.testing.assert_array_equal(full[:n], pareto.front_ranks(F[k, :n]))
    assert (full[n:] == -1).all()


def test_jit_vmap_equal_loop():
  F, valid, _ = random_fronts(5, 8, 3)
  batched = jax.jit(jax.vmap(lambda f, v: pareto.front_ranks(f, valid=v)))(F, valid)
  for k in range(8):
    np.testing.assert_array_equal(batched[k], pareto.front_ranks(F[k], valid=valid[k]))


@pytest.mark.parametrize("m", [2, 3, 4])
def test_against_moocore_and_pymoo(m):
  moocore = pytest.importorskip("moocore")
  nds = pytest.importorskip("pymoo.util.nds.non_dominated_sorting")
  F, valid, sizes = random_fronts(10 + m, 120, m)
  ranks = jax.jit(jax.vmap(lambda f, v: pareto.front_ranks(f, valid=v)))(F, valid)
  masks = jax.jit(jax.vmap(lambda f, v: pareto.nondominated_mask(f, valid=v)))(F, valid)
  sorter = nds.NonDominatedSorting()
  for k in range(len(F)):
    pts = F[k, : sizes[k]]
    np.testing.assert_array_equal(ranks[k, : sizes[k]], moocore.pareto_rank(pts))
    np.testing.assert_array_equal(
      masks[k, : sizes[k]], moocore.is_nondominated(pts, keep_weakly=True)
    )
    theirs = np.full(sizes[k], -1)
    for r, idx in enumerate(sorter.do(pts)):
      theirs[idx] = r
    np.testing.assert_array_equal(ranks[k, : sizes[k]], theirs)


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("n", [60, 700])
def test_many_ties_and_duplicates_against_moocore(m, n):
  moocore = pytest.importorskip("moocore")
  rng = np.random.default_rng(10 * m + n)
  F = rng.integers(0, 6, size=(6, n, m)).astype(float)  # a grid: ties and duplicates everywhere
  F[:, :5] = -0.0  # signed zeros tie
  ranks = jax.jit(jax.vmap(pareto.front_ranks))(F)
  masks = jax.jit(jax.vmap(pareto.nondominated_mask))(F)
  for k in range(len(F)):
    np.testing.assert_array_equal(ranks[k], moocore.pareto_rank(F[k]))
    np.testing.assert_array_equal(masks[k], moocore.is_nondominated(F[k], keep_weakly=True))
  F32 = rng.uniform(size=(n, m)).astype(np.float32)
  with jax.enable_x64(False):  # 32-bit packed sort keys
    np.testing.assert_array_equal(pareto.front_ranks(F32), moocore.pareto_rank(F32))


def test_bad_inputs():
  with pytest.raises(ValueError, match="must be finite"):
    pareto.front_ranks(jnp.array([[1.0, jnp.nan], [0.0, 1.0]]))
  with pytest.raises(ValueError, match="2 axes"):
    pareto.nondominated_mask(jnp.ones(3))
  with pytest.raises(ValueError, match="valid must be a boolean"):
    pareto.front_ranks(SPEC_F, valid=jnp.ones(4, bool))
  with pytest.raises(ValueError, match="sense"):
    pareto.dominance_matrix(SPEC_F, sense="up")


@pytest.mark.parametrize("backend", ["auto", "jaxpref"])
@pytest.mark.parametrize("m", [2, 3, 5])
def test_host_sorting_against_moocore(m, backend):
  moocore = pytest.importorskip("moocore")
  rng = np.random.default_rng(m)
  for F in (rng.uniform(size=(300, m)), rng.integers(0, 4, size=(300, m)).astype(float)):
    ranks = pareto.front_ranks_host(F, backend=backend)
    assert ranks.dtype == np.int32
    np.testing.assert_array_equal(ranks, moocore.pareto_rank(F))
    np.testing.assert_array_equal(
      pareto.nondominated_mask_host(F, backend=backend),
      moocore.is_nondominated(F, keep_weakly=True),
    )
    np.testing.assert_array_equal(
      pareto.front_ranks_host(-F, sense="max", backend=backend), moocore.pareto_rank(F)
    )


def test_host_sorting_is_exact_in_float64_without_x64():
  F = np.array([[1.0, 2.0], [1.0 + 1e-12, 2.0], [0.5, 3.0]])  # rows 0, 1 tie in float32
  with jax.enable_x64(False):
    assert pareto.front_ranks_host(F, backend="jaxpref").tolist() == [0, 1, 0]
    assert pareto.nondominated_mask_host(F, backend="jaxpref").tolist() == [True, False, True]


def test_host_sorting_bad_inputs():
  with pytest.raises(ValueError, match=r"front_ranks_host: F must be \[n, m\]"):
    pareto.front_ranks_host([1.0, 2.0])
  with pytest.raises(ValueError, match="must be finite"):
    pareto.nondominated_mask_host([[1.0, np.nan]])
  with pytest.raises(ValueError, match="backend must be one of"):
    pareto.front_ranks_host([[1.0, 2.0]], backend="numpy")
  with pytest.raises(ValueError, match="sense"):
    pareto.nondominated_mask_host([[1.0, 2.0]], sense="up")
