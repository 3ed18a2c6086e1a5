"""Bootstrap leaderboards cover the truth at the nominal rate; Elo approaches BT; the game."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import arena, games
from jaxpref import preference as pm

THETA = jnp.array([1.0, 0.5, 0.0, -0.5, -1.0])


def _pairs(key, rows=300, theta=THETA):
  n = theta.shape[0]
  ka, kb, ky = jax.random.split(key, 3)
  a = jax.random.randint(ka, (rows,), 0, n)
  b = (a + jax.random.randint(kb, (rows,), 1, n)) % n
  y = jax.random.bernoulli(ky, jax.nn.sigmoid(theta[a] - theta[b])).astype(theta.dtype)
  ones = jnp.ones(rows, theta.dtype)
  return pm.Pairs(a, b, y, ones, jnp.zeros(rows, jnp.int32), jnp.zeros((rows, 0)), ones)


# 20,000 nested refits compiled as one program (about 20 s on 2 cores).
@pytest.mark.slow
def test_bootstrap_intervals_cover_the_truth_at_the_nominal_rate():
  """100 synthetic tables x 200 resamples, one vmapped program: coverage 95% +- 3%."""
  model = pm.BradleyTerry(5, l2=1e-6)
  truth = THETA - jnp.mean(THETA)

  def covered(key):
    k_data, k_boot = jax.random.split(key)
    board = arena.bootstrap_leaderboard(model, _pairs(k_data), k_boot, num_resamples=200)
    return (board.low <= truth) & (truth <= board.high), board.converged

  hit, converged = jax.jit(jax.vmap(covered))(jax.random.split(jax.random.key(0), 100))
  assert bool(jnp.all(converged))
  assert 0.92 <= float(jnp.mean(hit)) <= 0.98, float(jnp.mean(hit))


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_bootstrap_leaderboard_fields_and_groups():
  pairs = _pairs(jax.random.key(1), rows=400)
  model = pm.BradleyTerry(5, l2=1e-6)
  board = arena.bootstrap_leaderboard(model, pairs, jax.random.key(2), num_resamples=50)
  np.testing.assert_allclose(board.scores, pm.fit(model, pairs).params["scores"], atol=1e-10)
  np.testing.assert_array_equal(board.rank, [1, 2, 3, 4, 5])
  assert board.samples.shape == (50, 5) and np.all(board.low <= board.high)
  assert np.all(board.rank_low <= board.rank) and np.all(board.rank <= board.rank_high)
  # Groups resampled as units: every row of a group gets its group's count.
  groups = jnp.arange(400) // 4
  w = arena.resample_weights(jax.random.key(3), 400, 7, groups=groups, num_groups=100)
  assert w.shape == (7, 400) and np.all(np.asarray(w).reshape(7, 100, 4).std(-1) == 0)
  np.testing.assert_allclose(w.sum(-1), 400)  # multinomial: as many draws as units
  poisson = arena.resample_weights(jax.random.key(3), 400, 7, method="poisson")
  assert abs(float(poisson.mean()) - 1.0) < 0.1


def test_elo_with_a_vanishing_step_approaches_the_bradley_terry_order():
  pairs = _pairs(jax.random.key(4), rows=600)
  mle = pm.fit(pm.BradleyTerry(5, l2=1e-9), pairs).params["scores"]
  elo = arena.elo_ratings(pairs, 5, k_factor=0.5, passes=200)
  theta = (elo - elo.mean()) * jnp.log(10.0) / 400
  np.testing.assert_array_equal(arena.ranks(theta), arena.ranks(mle))
  np.testing.assert_allclose(theta, mle, atol=0.03)
  # FastChat's one pass with k = 4 depends on the order; the permutations show it.
  spread = arena.elo_permutations(jax.random.key(5), pairs, 5, num_permutations=32)
  assert spread.shape == (32, 5) and float(jnp.min(jnp.std(spread, axis=0))) > 1.0
  one = arena.elo_ratings(pairs, 5, order=jnp.arange(600)[::-1])
  assert not np.allclose(one, arena.elo_ratings(pairs, 5))


def test_comparison_game_is_the_host_empirical_game():
  pairs = _pairs(jax.random.key(6), rows=200)._replace(
    outcome=jnp.where(jnp.arange(200) % 7 == 0, 0.5, _pairs(jax.random.key(6), rows=200).outcome)
  )
  P = arena.comparison_game(pairs, 5)
  want = games.game_from_comparisons(pairs.item_a, pairs.item_b, pairs.outcome, 5, unseen="tie")
  np.testing.assert_allclose(P, want, atol=1e-12)
  np.testing.assert_allclose(P + P.T, 1.0)


@pytest.mark.parametrize(
  ("kwargs", "message"),
  [
    ({"num_resamples": 0}, "num_resamples must be >= 1; got 0"),
    ({"level": 1.0}, r"level must be in \(0, 1\)"),
    ({"method": "jackknife"}, "method must be one of multinomial, poisson"),
    ({"groups": jnp.zeros(300, jnp.int32)}, "groups needs num_groups"),
  ],
)
def test_bad_input(kwargs, message):
  with pytest.raises(ValueError, match=message):
    arena.bootstrap_leaderboard(
      pm.BradleyTerry(5), _pairs(jax.random.key(7)), jax.random.key(8), **kwargs
    )


def test_self_comparison_is_refused():
  pairs = _pairs(jax.random.key(9))
  bad = pairs._replace(item_b=pairs.item_b.at[0].set(pairs.item_a[0]))
  with pytest.raises(ValueError, match=r"compares item \d+ with itself"):
    arena.bootstrap_leaderboard(pm.BradleyTerry(5), bad, jax.random.key(0), num_resamples=2)
