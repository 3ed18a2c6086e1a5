import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria as eq
from jaxpref.games import canonical_games, uniform_random_game
from jaxpref.metrics import regularized_duality_gap


def _gap64(P, x):
  P = np.asarray(P, np.float64)
  x = np.asarray(x, np.float64)
  x = x / x.sum(-1, keepdims=True)
  return 2 * np.max(np.einsum("...ij,...j->...i", P, x), -1) - 1


# The larger sizes compile longer (about 15 s together): they run with -m slow.
@pytest.mark.parametrize(
  "n", [10, pytest.param(50, marks=pytest.mark.slow), pytest.param(200, marks=pytest.mark.slow)]
)
def test_default_solve_certifies_every_game_in_float32(n):
  P = uniform_random_game(jax.random.key(n), n, (256,)).astype(jnp.float32)
  result = eq.solve(P, tol=1e-4)
  assert bool(result.converged.all())
  assert _gap64(P, result.policy).max() <= 1e-4  # rechecked in float64
  assert result.policy.shape == (256, n) and result.gap.shape == (256,)
  assert int(result.num_queries.max()) < 2 * 2000  # per-game queries, certificates included
  for b in range(4):  # agreement with the exact maximal lottery
    p64 = np.asarray(P[b], np.float64)
    star = np.asarray(eq.maximal_lottery((p64 + 1.0 - p64.T) / 2))  # exactly P + P^T = 1
    # A gap of 1e-4 pins the policy down to O(gap / sharpness): polished answers agree to
    # float32 precision, averaged ones to a few 1e-2 in l1 at n = 200.
    tol_l1 = 1e-4 if int(result.source[b]) == eq.POLISHED else 5e-2
    assert np.abs(np.asarray(result.policy[b]) - star).sum() < tol_l1


@pytest.mark.parametrize("name", sorted(canonical_games()))
def test_default_solve_on_canonical_games(name):
  game = canonical_games()[name]
  result = eq.solve(game.P, tol=1e-9)
  assert bool(result.converged)
  assert _gap64(game.P, result.policy) <= 1e-9


def test_llmfao_crowd_game():
  from jaxpref.data import load_llmfao
  from jaxpref.games import game_from_comparisons

  t = load_llmfao()
  P = np.asarray(game_from_comparisons(t.item_a, t.item_b, t.outcome, len(t.items), unseen="tie"))
  result = eq.solve(P, tol=1e-6)
  assert bool(result.converged) and _gap64(P, result.policy) <= 1e-6
  # The game has many equilibria (46% of the pairs are unseen ties): solve returns one of them,
  # maximal_lottery the max-entropy one, whose support contains every equilibrium's (Kaplansky).
  star = np.asarray(eq.maximal_lottery(P))
  x = np.asarray(result.policy)
  assert np.all(star[x > 1e-6] > 0)


REGULARIZED = {
  "mirror_prox": (eq.mirror_prox(step_size=2.0, kl_coef=0.1), 1e-10),
  "extragradient": (eq.extragradient(step_size=0.5, kl_coef=0.1), 1e-10),
  "omd": (eq.online_mirror_descent(step_size=0.5, kl_coef=0.1), 1e-10),
  "mmd": (eq.magnetic_mirror_descent(kl_coef=0.1, step_size=0.5), 1e-10),
  "nash_md": (eq.nash_md(kl_coef=0.1), 1e-3),
  "smooth_fictitious_play": (eq.fictitious_play(kl_coef=0.1), 1e-3),
}


@pytest.mark.parametrize("name", sorted(REGULARIZED))
def test_regularized_solvers_on_all_canonical_games(name):
  solver, tol = REGULARIZED[name]
  games = canonical_games()
  P = np.stack([g.P for g in games.values() if g.P.shape[0] == 3])
  result = eq.solve(P, solver, tol=tol, max_steps=20_000)
  assert bool(result.converged.all()), result.gap
  gaps = regularized_duality_gap(P, result.policy, kl_coef=0.1)
  assert float(gaps.max()) <= tol


@pytest.mark.parametrize(
  ("solver", "tol"),
  [
    (eq.optimistic_mwu(step_size=1.0), 1e-6),
    (eq.mirror_prox(step_size=2.0), 1e-4),
    (eq.extragradient(step_size=1.0, kl_coef=0.0), 1e-4),
    (eq.mwu(step_size=0.05), 2e-2),
    (eq.fictitious_play(), 2e-2),
    (eq.projected_extragradient(), 1e-9),
  ],
)
def test_unregularized_solvers_on_full_support_canonical_games(solver, tol):
  games = canonical_games()
  full = [g.P for g in games.values() if np.all(g.equilibrium > 0) and g.P.shape[0] == 3]
  result = eq.solve(np.stack(full), solver, tol=tol, max_steps=20_000, polish=False)
  assert bool(result.converged.all()), result.gap
  assert _gap64(np.stack(full), result.policy).max() <= tol * (1 + 1e-6)


# Slow: vmapped = loop over many games (about 10 s); the tiled schedule test covers it by default.
@pytest.mark.slow
def test_vmapped_batch_equals_per_game_loop():
  P = uniform_random_game(jax.random.key(7), 12, (6,))
  for solver in (None, eq.mirror_prox(step_size=2.0, kl_coef=0.05)):
    batch = eq.solve(P, solver, tol=1e-8, max_steps=2000)
    for b in range(6):
      single = eq.solve(P[b], solver, tol=1e-8, max_steps=2000)
      np.testing.assert_allclose(single.policy, batch.policy[b], atol=1e-12)
      assert int(single.num_steps) == int(batch.num_steps[b])


def test_leading_batch_dims_and_history():
  P = uniform_random_game(jax.random.key(3), 8, (2, 3))
  result = eq.solve(
    P,
    eq.mirror_prox(step_size=2.0, kl_coef=0.1),
    tol=1e-10,
    max_steps=640,
    num_logs=10,
    tile_size=0,  # shapes only: the tiled schedule has its own test (one program, not two)
  )
  assert result.policy.shape == (2, 3, 8) and result.gap.shape == (2, 3)
  assert result.history.best.shape == (2, 3, 10) and result.history.steps.shape == (10,)
  assert result.num_queries.shape == (2, 3)
  # two queries per Mirror Prox step plus two per certificate (every 16 steps)
  np.testing.assert_array_equal(
    result.num_queries, result.num_steps * 2 + result.num_steps // 16 * 2
  )


@pytest.mark.parametrize(
  "solver",
  [  # One solver of each update kind runs by default; the others share its code path.
    eq.mirror_prox(step_size=2.0, kl_coef=0.1),
    pytest.param(eq.extragradient(step_size=0.5, kl_coef=0.1), marks=pytest.mark.slow),
    pytest.param(eq.nash_md(kl_coef=0.1), marks=pytest.mark.slow),
    pytest.param(eq.magnetic_mirror_descent(kl_coef=0.1), marks=pytest.mark.slow),
    eq.online_mirror_descent(step_size=0.5, kl_coef=0.1),
    pytest.param(eq.optimistic_mwu(step_size=1.0), marks=pytest.mark.slow),
    pytest.param(eq.mwu(step_size=0.1), marks=pytest.mark.slow),
    eq.fictitious_play(),
    eq.projected_extragradient(),
  ],
)
def test_jit_and_eager_steps_agree(solver):
  P = uniform_random_game(jax.random.key(5), 7)
  op = eq.matrix_operator(P)
  start = jnp.ones(7) / 7

  def run(state):
    for _ in range(25):
      state = solver.step(state, op)
    return state

  jitted = jax.jit(run)(solver.init(start))
  with jax.disable_jit():
    eager = run(solver.init(start))
  np.testing.assert_allclose(jitted.policy, eager.policy, atol=1e-12)


# Over 10 s of the default suite; jit-ability is also checked by the test below (a jitted solve).
@pytest.mark.slow
def test_solve_under_jit():
  P = uniform_random_game(jax.random.key(9), 6, (4,))
  out = jax.jit(lambda p: eq.solve(p, tol=1e-8).policy)(P)
  np.testing.assert_allclose(out, eq.solve(P, tol=1e-8).policy, atol=1e-12)


def test_solve_under_jit_never_certifies_a_matrix_that_is_not_a_game(capfd):
  good = np.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]])
  bad = good.copy()
  bad[1, 0] = 0.3  # P + P^T != 1
  nan = good.copy()
  nan[0, 2] = np.nan
  run = jax.jit(lambda p: eq.solve(p, tol=1e-6, max_steps=200))
  out = run(jnp.asarray(np.stack([good, bad, nan])))
  assert out.converged.tolist() == [True, False, False]
  assert np.isfinite(out.gap[0]) and np.isnan(out.gap[1]) and np.isnan(out.gap[2])
  with pytest.raises(ValueError, match="square"):
    run(jnp.full((3, 4), 0.5))
  with pytest.raises(ValueError, match="at least 2 items"):
    run(jnp.full((1, 1), 0.5))
  assert capfd.readouterr().err == ""


def test_sampled_operator_through_solve_is_certified_exactly():
  P = np.array([[0.5, 0.9, 0.3], [0.1, 0.5, 0.8], [0.7, 0.2, 0.5]])
  result = eq.solve(
    P,
    eq.extragradient(step_size=0.05, kl_coef=0.1),
    tol=1e-3,
    max_steps=20_000,
    operator=lambda p: eq.sampled_operator(p, num_samples=64),
    key=jax.random.key(0),
  )
  assert bool(result.converged)
  assert float(regularized_duality_gap(P, result.policy, kl_coef=0.1)) <= 1e-3


def test_bad_inputs_raise_clear_errors():
  with pytest.raises(ValueError, match=r"P \+ P\^T|antisymmetr|diagonal|preference"):
    eq.solve(np.array([[0.5, 0.9], [0.9, 0.5]]))
  with pytest.raises(ValueError):
    eq.solve(np.array([[0.5, np.nan], [0.5, 0.5]]))
  with pytest.raises(ValueError, match="tol"):
    eq.solve(np.array([[0.5, 0.9], [0.1, 0.5]]), tol=0.0)
  with pytest.raises(ValueError, match="init"):
    eq.solve(np.array([[0.5, 0.9], [0.1, 0.5]]), init=np.ones(3))
  with pytest.raises(ValueError, match="restart"):
    eq.solve(np.array([[0.5, 0.9], [0.1, 0.5]]), eq.mwu(step_size=0.1), restart=True)
  with pytest.raises(ValueError, match="PRNG key"):
    eq.solve(
      np.array([[0.5, 0.9], [0.1, 0.5]]),
      eq.mwu(step_size=0.1),
      operator=lambda p: eq.sampled_operator(p, num_samples=4),
    )


def test_nan_operator_output_is_flagged_not_converged():
  P = np.array([[0.5, 0.9, 0.3], [0.1, 0.5, 0.8], [0.7, 0.2, 0.5]])

  def broken(p):
    return lambda x, key=None: jnp.full_like(x, jnp.nan)

  for solver in (
    eq.mirror_prox(step_size=2.0, kl_coef=0.1),
    eq.projected_extragradient(),
    eq.fictitious_play(),
  ):
    result = eq.solve(
      P, solver, tol=1e-6, max_steps=64, operator=broken, init=np.array([0.6, 0.3, 0.1])
    )
    assert not bool(result.converged)
    assert np.all(np.isfinite(result.policy))  # the start, never a NaN "solution"


def _cache_size():
  return eq._solve._solve_batch._cache_size()


def test_two_lambdas_of_the_same_shape_compile_once():
  P = uniform_random_game(jax.random.key(1), 5, (3,))
  solver = eq.mirror_prox(step_size=1.0, kl_coef=0.1)

  def run(operator, solver=solver, tol=1e-4):
    return eq.solve(
      P, solver, operator=operator, key=jax.random.key(0), max_steps=64, tol=tol, tile_size=0
    )

  first = run(lambda p: eq.sampled_operator(p, num_samples=8))
  size = _cache_size()
  second = run(lambda p: eq.sampled_operator(p, num_samples=8))  # a new lambda, same code
  for k in (2.0, 3.0):  # new hyperparameter values and tolerances are traced
    run(
      lambda p: eq.sampled_operator(p, num_samples=8),
      eq.mirror_prox(step_size=k, kl_coef=k / 40),
      tol=k / 1e3,
    )
  assert _cache_size() == size
  np.testing.assert_array_equal(first.policy, second.policy)
  run(lambda p: eq.sampled_operator(p, num_samples=4))  # a different operator does compile
  assert _cache_size() == size + 1


def test_pytree_operator_and_matrix_operator_are_traced():
  P = uniform_random_game(jax.random.key(2), 6, (2,))
  Q1 = uniform_random_game(jax.random.key(3), 6, (2,))
  Q2 = uniform_random_game(jax.random.key(4), 6, (2,))
  solver = eq.mirror_prox(step_size=2.0, kl_coef=0.1)
  kw = dict(max_steps=32, tile_size=0)  # caching, not tiling: one program per call, not two
  eq.solve(P, solver, operator=Q1, **kw)
  size = _cache_size()
  r2 = eq.solve(P, solver, operator=Q2, **kw)
  assert _cache_size() == size
  # Queries of Q2, certificates against P: the same as a Partial over Q2's games.
  r3 = eq.solve(P, solver, operator=jax.tree_util.Partial(lambda q: eq.matrix_operator(q)), **kw)
  np.testing.assert_allclose(
    eq.solve(P[0], solver, operator=Q2[0], max_steps=32).policy, r2.policy[0], atol=1e-6
  )
  assert r3.policy.shape == r2.policy.shape


_MP = eq.mirror_prox(step_size=2.0, kl_coef=0.05)


# The default solver's tiling runs by default, Mirror Prox's with -m slow. Tiles of 4 small games
# run one sweep; tiles of 32 switch to tiles of 2 for the stragglers.
@pytest.mark.parametrize(
  "solver, tile", [(None, 4), (None, 32), pytest.param(_MP, 4, marks=pytest.mark.slow)]
)
def test_tiled_schedule_equals_plain_vmap_of_the_per_game_loop(solver, tile):
  P = uniform_random_game(jax.random.key(11), 9, (13,))
  tiled = eq.solve(P, solver, tol=1e-7, max_steps=3000, tile_size=tile)
  plain = eq.solve(P, solver, tol=1e-7, max_steps=3000, tile_size=0)
  np.testing.assert_allclose(tiled.policy, plain.policy, atol=1e-12)
  np.testing.assert_array_equal(tiled.num_steps, plain.num_steps)
  np.testing.assert_array_equal(tiled.source, plain.source)


def test_traced_kl_coef_selects_the_gap_per_value():
  P = uniform_random_game(jax.random.key(12), 5)

  def final_gap(kl_coef):
    return eq.solve(P, eq.mirror_prox(step_size=2.0, kl_coef=kl_coef), tol=1e-6).gap

  gaps = jax.vmap(final_gap)(jnp.array([0.0, 0.1]))
  for g, beta in zip(gaps, (0.0, 0.1), strict=True):
    np.testing.assert_allclose(g, final_gap(beta), atol=1e-7)
  assert float(gaps.max()) <= 1e-6


def test_step_returns_the_queried_win_rates_as_aux():
  P = uniform_random_game(jax.random.key(13), 4)
  solver = eq.mwu(step_size=0.5)
  state = solver.init(jnp.ones(4) / 4)
  new, aux = solver.step(state, P, return_aux=True)  # a matrix is an exact operator
  np.testing.assert_allclose(aux["win_rates"], P @ state.policy, rtol=1e-6)
  np.testing.assert_allclose(new.policy, solver.step(state, eq.matrix_operator(P)).policy)


def test_solver_is_a_pytree_of_its_hyperparameters():
  solver = eq.extragradient(step_size=0.5, kl_coef=0.1)
  leaves, treedef = jax.tree.flatten(solver)
  assert sorted(leaves) == [0.1, 0.5]
  assert jax.tree.unflatten(treedef, [0.2, 0.3]).hparams == {"kl_coef": 0.2, "step_size": 0.3}
  assert solver.replace(kl_coef=0.2).kl_coef == 0.2
  with pytest.raises(ValueError, match="no hyperparameter"):
    solver.replace(beta=0.1)


@pytest.mark.parametrize("solver", [None, eq.mirror_prox(step_size=2.0, kl_coef=0.05)])
def test_certified_loop_driven_step_by_step_equals_solve(solver):
  P = uniform_random_game(jax.random.key(21), 7)
  solver_ = eq.projected_extragradient() if solver is None else solver
  loop = eq.certified_loop(solver_, tol=1e-7)
  state = loop.init(P, jnp.ones(7) / 7)
  step = jax.jit(loop.step)
  for it in range(300):
    state = step(state, P, it)
  want = eq.solve(P, solver, tol=1e-7, max_steps=300 * 16)
  assert bool(state.done) and bool(want.converged)
  np.testing.assert_allclose(state.best_x, want.policy, atol=1e-12)
  assert int(state.steps) == int(want.num_steps) and int(state.queries) == int(want.num_queries)
