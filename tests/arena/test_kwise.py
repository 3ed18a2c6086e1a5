"""jaxpref.arena: K-wise votes, PL leaderboard, Thurstone / Elo updates, matchmaking, simulation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jaxpref import arena
from jaxpref.preference import PlackettLuce, fit_rankings, make_rankings, ranking_objective


def test_laplace_stderr_is_the_bradley_terry_closed_form():
  # 30 wins of item 0 over item 1 in 40 pairs: MLE d = log 3, Fisher of d = n p (1 - p).
  board = arena.pl_leaderboard(make_rankings([[0, 1]] * 30 + [[1, 0]] * 10), 2, l2=1e-10)
  n, p = 40, 0.75
  np.testing.assert_allclose(board.scores[0] - board.scores[1], np.log(3), rtol=1e-7)
  var_d = 1 / (n * p * (1 - p))
  np.testing.assert_allclose(board.stderr, np.sqrt(var_d / 4) * np.ones(2), rtol=1e-7)
  np.testing.assert_allclose(board.covariance, var_d / 4 * np.array([[1, -1], [-1, 1]]), rtol=1e-7)
  # Symmetric votes with a prior: Var(theta_0) = 1 / (n + 4 l2) exactly.
  l2 = 0.5
  board = arena.pl_leaderboard(make_rankings([[0, 1]] * 20 + [[1, 0]] * 20), 2, l2=l2)
  np.testing.assert_allclose(board.stderr, 1 / np.sqrt(40 + 4 * l2) * np.ones(2), rtol=1e-9)
  np.testing.assert_array_equal(board.rank_low, [1, 1])
  np.testing.assert_array_equal(board.rank_high, [2, 2])


def test_closed_form_derivatives_equal_autodiff_of_the_objective():
  rows = make_rankings(
    [[0, 1, 2, 3], [2, 0, 3], [1, 3], [3, 2, 1, 0], [0, 3, 1, 2]],
    num_ranked=[3, 1, 1, 2, 4],
    weight=[1.0, 2.0, 0.5, 1.0, 0.0],
  )
  model = PlackettLuce(4, l2=0.3)
  s = jnp.array([0.4, -0.2, 0.9, -1.1])

  def f(x):
    return ranking_objective(model, {"scores": x}, rows)

  value, grad, hess = jax.jit(arena.pl_derivatives)(s, rows, 0.3)
  np.testing.assert_allclose(value, jax.jit(f)(s), rtol=1e-12)
  np.testing.assert_allclose(grad, jax.jit(jax.grad(f))(s), rtol=1e-10, atol=1e-12)
  np.testing.assert_allclose(hess, jax.jit(jax.hessian(f))(s), rtol=1e-10, atol=1e-12)


def test_newton_refit_reaches_the_lbfgs_map():
  rows = make_rankings([[0, 1, 2], [1, 0, 2], [2, 1, 0], [0, 2, 1], [0, 1, 2]])
  model = PlackettLuce(3, l2=0.05)
  want = fit_rankings(model, rows).params["scores"]
  got = arena.newton_refit(model, rows, jnp.zeros(3), steps=6)
  np.testing.assert_allclose(got, want, atol=1e-7)


def test_votes_are_plackett_luce_draws():
  theta = jnp.array([1.0, 0.0, -0.5, 0.3])
  shown = jnp.array([3, 0, 2])
  keys = jax.random.split(jax.random.key(0), 20000)
  votes = jax.jit(jax.vmap(lambda k: arena.sample_kwise_vote(k, theta, shown)))(keys)
  assert votes.items.shape == (20000, 3) and int(votes.num_ranked[0]) == 2
  p = jax.nn.softmax(theta[shown])
  first = np.array([np.mean(votes.items[:, 0] == i) for i in shown])
  np.testing.assert_allclose(first, p, atol=0.015)
  best = arena.sample_kwise_vote(keys[0], theta, shown, mode="best")
  assert int(best.num_ranked) == 1 and sorted(best.items.tolist()) == [0, 2, 3]
  flipped = arena.sample_kwise_vote(keys[0], theta, shown, flip_prob=1.0)
  np.testing.assert_array_equal(flipped.items, votes.items[0, ::-1])


def test_enough_votes_recover_the_true_order():
  theta = jnp.linspace(1.5, -1.5, 6)
  keys = jax.random.split(jax.random.key(1), 300)

  @jax.jit
  def vote(key):
    return arena.sample_kwise_vote(key, theta, arena.uniform_matchmaking(key, 6, 3))

  votes = jax.vmap(vote)(keys)
  board = arena.pl_leaderboard(votes, 6, l2=1e-3)
  assert float(arena.kendall_tau(board.scores, theta)) > 0.85
  assert np.all(board.rank_low <= board.rank) and np.all(board.rank <= board.rank_high)
  assert np.all(board.stderr > 0) and bool(board.converged)


def test_kendall_tau_matches_scipy():
  rng = np.random.default_rng(0)
  for _ in range(5):
    a, b = rng.permutation(9).astype(float), rng.permutation(9).astype(float)
    np.testing.assert_allclose(arena.kendall_tau(a, b), scipy.stats.kendalltau(a, b)[0], 1e-12)
  a, b = rng.integers(0, 4, 12).astype(float), rng.integers(0, 3, 12).astype(float)  # ties: tau-b
  np.testing.assert_allclose(arena.kendall_tau(a, b), scipy.stats.kendalltau(a, b)[0], 1e-12)
  assert float(jax.jit(arena.kendall_tau)(a, a)) == 1.0


def test_rank_mse_is_zero_exactly_for_the_true_order():
  truth = jnp.array([3.0, 1.0, 2.0, 0.0])
  assert float(arena.rank_mse(truth * 2 + 1, truth)) == 0.0
  assert bool(arena.order_is_exact(truth * 2 + 1, truth))
  assert float(arena.rank_mse(jnp.array([3.0, 2.0, 1.0, 0.0]), truth)) == 0.5  # one swap
  assert float(arena.rank_mse(jnp.zeros(4), truth)) > 0  # ties are not an order
  assert not bool(arena.order_is_exact(jnp.zeros(4), truth))


def _trueskill_two_player(mu_w, s2_w, mu_l, s2_l, b):
  c2 = 2 * b**2 + s2_w + s2_l
  c = np.sqrt(c2)
  t = (mu_w - mu_l) / c
  v = scipy.stats.norm.pdf(t) / scipy.stats.norm.cdf(t)
  w = v * (v + t)
  return (
    (mu_w + s2_w / c * v, s2_w * (1 - s2_w / c2 * w)),
    (mu_l - s2_l / c * v, s2_l * (1 - s2_l / c2 * w)),
  )


@functools.partial(jax.jit, static_argnames="pair_scale")
def _update(state, items, num_ranked, *, pair_scale="trueskill", **kwargs):
  return arena.thurstone_update(state, items, num_ranked, pair_scale=pair_scale, **kwargs)


def test_thurstone_two_player_update_is_trueskill():
  state = arena.thurstone_init(3)
  new = _update(state, jnp.array([2, 0]), 1)
  # TrueSkill defaults, no draw margin: winner (29.205221, 7.194481), loser (20.794779, 7.194481).
  np.testing.assert_allclose(new.mu, [20.79477913, 25.0, 29.20522087], atol=1e-7)
  np.testing.assert_allclose(np.sqrt(new.sigma2), [7.19448135, 25 / 3, 7.19448135], atol=1e-7)
  state = arena.ThurstoneState(jnp.array([30.0, 22.0]), jnp.array([4.0, 30.0]))
  new = _update(state, jnp.array([1, 0]), 1, performance_noise=3.0)  # an upset
  (mw, sw), (ml, sl) = _trueskill_two_player(22.0, 30.0, 30.0, 4.0, 3.0)
  np.testing.assert_allclose(new.mu, [ml, mw], rtol=1e-10)
  np.testing.assert_allclose(new.sigma2, [sl, sw], rtol=1e-10)
  # The paper's printed scale: c_iq^2 = beta^2 + sigma_i^2, different for the two sides.
  paper = _update(state, jnp.array([1, 0]), 1, performance_noise=3.0, pair_scale="paper")
  c_w = np.sqrt(9.0 + 30.0)
  t = (22.0 - 30.0) / c_w
  v = scipy.stats.norm.pdf(t) / scipy.stats.norm.cdf(t)
  np.testing.assert_allclose(paper.mu[1], 22.0 + 30.0 / c_w * v, rtol=1e-10)
  assert float(arena.conservative_score(new)[1]) == pytest.approx(mw - 3 * np.sqrt(sw))


def test_kwise_thurstone_moves_winners_up_and_shrinks_variances():
  state = arena.thurstone_init(5)
  new = _update(state, jnp.array([4, 1, 3, 0]), 3)
  assert np.all(np.diff(np.asarray(new.mu)[[4, 1, 3, 0]]) < 0)
  assert float(new.mu[2]) == 25.0 and np.all(np.asarray(new.sigma2)[[0, 1, 3, 4]] < state.sigma2[0])
  best = _update(state, jnp.array([4, 1, 3, 0]), 1)  # the others unordered
  np.testing.assert_allclose(best.mu[1], best.mu[3])


def test_elo_update_matches_fastchat_numbers():
  r = jnp.full(2, 1000.0)
  for winner in (0, 1, 0):
    r = jax.jit(arena.elo_update)(r, jnp.array([winner, 1 - winner]), 1, k_factor=32.0)
  np.testing.assert_allclose(r, [1014.666, 985.334], atol=1e-3)


@pytest.mark.parametrize("rule", ["uniform", "information", "ucb"])
def test_matchmaking_returns_k_distinct_items(rule):
  n, k = 7, 4
  scores = jnp.linspace(1.0, -1.0, n)
  cov = 0.1 * jnp.eye(n) + 0.01
  counts = jnp.zeros((n, n), jnp.int32).at[0, 1].set(3).at[1, 0].set(3)

  def pick(key):
    if rule == "uniform":
      return arena.uniform_matchmaking(key, n, k)
    if rule == "information":
      return arena.information_matchmaking(key, scores, cov, k)
    return arena.ucb_matchmaking(key, scores, counts, k)

  sets = np.asarray(jax.jit(jax.vmap(pick))(jax.random.split(jax.random.key(0), 16)))
  assert sets.shape == (16, k) and sets.min() >= 0 and sets.max() < n
  assert all(len(set(row)) == k for row in sets)


def test_information_rule_picks_the_uncertain_items():
  cov = jnp.diag(jnp.array([0.01, 0.01, 5.0, 0.01, 4.0, 3.0]))
  info = jax.jit(arena.information_matchmaking, static_argnames="k")
  chosen = info(jax.random.key(0), jnp.zeros(6), cov, k=3)
  assert sorted(chosen.tolist()) == [2, 4, 5]


def test_ucb_pivot_and_exploit_sign():
  n = 5
  scores = jnp.array([0.0, 1.0, 2.0, 3.0, 10.0])
  counts = jnp.ones((n, n), jnp.int32) * 4 - 4 * jnp.eye(n, dtype=jnp.int32)
  counts = counts.at[2, :].add(-2).at[:, 2].add(-2).at[2, 2].set(0)  # item 2 least compared
  key = jax.random.key(0)
  ucb = jax.jit(arena.ucb_matchmaking, static_argnames=("k", "exploit"))
  different = ucb(key, scores, counts, k=2, alpha=0.0)
  similar = ucb(key, scores, counts, k=2, alpha=0.0, exploit="similar")
  assert different.tolist() == [2, 4] and int(similar[0]) == 2 and int(similar[1]) in (1, 3)


def _small_arena(matchmaking, estimator):
  return arena.Arena(5, 3, 6, matchmaking=matchmaking, estimator=estimator, flip_prob=0.05)


@pytest.mark.parametrize(
  "matchmaking,estimator",
  [
    # The PL refit with information matchmaking compiles longest (about 7 s): slow.
    pytest.param("information", "pl", marks=pytest.mark.slow),
    ("ucb", "thurstone"),
    ("uniform", "elo"),
  ],
)
def test_vmapped_steps_equal_a_loop(matchmaking, estimator):
  a = _small_arena(matchmaking, estimator)
  theta = jnp.array([0.5, -1.0, 2.0, 0.0, 1.0])
  keys = jax.random.split(jax.random.key(3), 2)

  def run(key):
    return jax.lax.fori_loop(
      0, 6, lambda i, s: arena.arena_step(a, s), arena.arena_init(a, theta, key)
    )

  batched = jax.jit(jax.vmap(run))(keys)
  for i, key in enumerate(keys):
    alone = jax.jit(run)(key)
    for x, y in zip(jax.tree.leaves(alone), jax.tree.leaves(batched), strict=True):
      if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        x, y = jax.random.key_data(x), jax.random.key_data(y)
      np.testing.assert_allclose(x, y[i], rtol=1e-9, atol=1e-12)
  assert int(batched.votes[0]) == 6 and int(batched.counts.sum(axis=(1, 2))[0]) == 6 * 6
  if estimator == "pl":
    rows = jax.tree.map(lambda x: x[0], batched.rankings)
    model = PlackettLuce(5, l2=a.l2)
    want = fit_rankings(model, rows).params["scores"]
    # Two Newton steps per vote lag the MAP a little after 6 votes; more steps reach it.
    np.testing.assert_allclose(batched.pl_scores[0], want, atol=0.05)
    more = arena.newton_refit(model, rows, batched.pl_scores[0], steps=4)
    np.testing.assert_allclose(more, want, atol=1e-7)
  metrics = arena.arena_metrics(jax.tree.map(lambda x: x[0], batched))
  assert -1 <= float(metrics["kendall_tau"]) <= 1


def test_bad_inputs_raise_clear_errors():
  with pytest.raises(ValueError, match="more than the 3 items"):
    arena.Arena(3, 4, 10)
  with pytest.raises(ValueError, match=">= 2"):
    arena.Arena(5, 1, 10)
  with pytest.raises(ValueError, match="Unknown matchmaking 'random'"):
    arena.Arena(5, 2, 10, matchmaking="random")
  with pytest.raises(ValueError, match="needs estimator='pl'"):
    arena.Arena(5, 2, 10, matchmaking="information", estimator="thurstone")
  with pytest.raises(ValueError, match="flip_prob"):
    arena.Arena(5, 2, 10, flip_prob=1.5)
  with pytest.raises(ValueError, match="finite; item 1 is nan"):
    arena.arena_init(arena.Arena(3, 2, 10), jnp.array([0.0, jnp.nan, 1.0]), jax.random.key(0))
  with pytest.raises(ValueError, match="Unknown vote mode"):
    arena.sample_kwise_vote(jax.random.key(0), jnp.zeros(3), jnp.array([0, 1]), mode="top2")
  with pytest.raises(ValueError, match="more than the 3 items"):
    arena.uniform_matchmaking(jax.random.key(0), 3, 4)
  with pytest.raises(ValueError, match="Unknown exploit"):
    arena.ucb_matchmaking(jax.random.key(0), jnp.zeros(3), jnp.zeros((3, 3)), 2, exploit="x")
  with pytest.raises(ValueError, match="Unknown pair_scale"):
    arena.thurstone_update(arena.thurstone_init(3), jnp.array([0, 1]), 1, pair_scale="x")
