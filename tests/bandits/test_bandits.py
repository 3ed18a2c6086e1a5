"""Dueling bandits: regret against the maximal lottery, RUCB, D-TS, Sparring EXP3, bad input."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import bandits
from jaxpref.bandits import double_thompson, regret, rucb, simulate, sparring_exp3
from jaxpref.equilibria import maximal_lottery
from jaxpref.games import bradley_terry_game

SEEDS = jax.random.split(jax.random.key(0), 4)
# Transitive: a Bradley-Terry game whose Condorcet winner is arm 0.
P_BT = np.asarray(bradley_terry_game(jnp.array([1.0, 0.5, 0.0, -0.5, -1.0])))


def _cyclic() -> np.ndarray:
  """0 > 1 > 2 > 0 at 0.8 and a 4th arm every cycle arm beats at 0.7: no Condorcet winner."""
  P = np.full((4, 4), 0.5)
  for a, b, p in [(0, 1, 0.8), (1, 2, 0.8), (2, 0, 0.8), (0, 3, 0.7), (1, 3, 0.7), (2, 3, 0.7)]:
    P[a, b], P[b, a] = p, 1 - p
  return P


P_CYCLIC = _cyclic()


@functools.cache
def _runs(name: str, game: str, horizon: int) -> bandits.Simulation:
  algorithm = {"rucb": rucb, "dts": double_thompson, "sparring": sparring_exp3}[name]()
  P = {"bt": P_BT, "cyclic": P_CYCLIC}[game]
  run = jax.jit(jax.vmap(lambda key: simulate(algorithm, P, key, horizon=horizon)))
  return jax.tree.map(np.asarray, run(SEEDS))


# ------------------------------------------------------------------------------------- regret


def test_regret_hand_values_on_a_three_cycle():
  # 0 > 1 by 0.2, 1 > 2 by 0.1, 2 > 0 by 0.3: the equilibrium is (A_12, A_20, A_01) / sum.
  P = np.array([[0.5, 0.7, 0.2], [0.3, 0.5, 0.6], [0.8, 0.4, 0.5]])
  lottery = maximal_lottery(P)
  np.testing.assert_allclose(lottery, [1 / 6, 1 / 2, 1 / 3], atol=1e-9)
  # Every arm is in the support: any duel, so any pair drawn from the lottery, has zero regret.
  i, j = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
  np.testing.assert_allclose(regret(P, lottery, i, j), 0.0, atol=1e-9)
  # Against the point mass on arm 0, P(e_0 beats a) = P[0, a] = (0.5, 0.7, 0.2).
  e0 = np.array([1.0, 0.0, 0.0])
  assert float(regret(P, e0, 0, 1)) == pytest.approx((0.0 + 0.2) / 2)
  assert float(regret(P, e0, 1, 1)) == pytest.approx(0.2)
  assert float(regret(P, e0, 2, 1)) == pytest.approx((-0.3 + 0.2) / 2)


def test_regret_hand_values_with_a_dominated_arm():
  # The cyclic test game: P(pi* beats .) = (0.5, 0.5, 0.5, 0.7).
  lottery = maximal_lottery(P_CYCLIC)
  np.testing.assert_allclose(lottery, [1 / 3, 1 / 3, 1 / 3, 0], atol=1e-9)
  assert float(regret(P_CYCLIC, lottery, 0, 1)) == pytest.approx(0.0, abs=1e-9)
  assert float(regret(P_CYCLIC, lottery, 2, 3)) == pytest.approx(0.1)
  assert float(regret(P_CYCLIC, lottery, 3, 3)) == pytest.approx(0.2)
  # Pairs drawn from the lottery have zero expected regret.
  pairs = regret(P_CYCLIC, lottery, *np.meshgrid(np.arange(4), np.arange(4), indexing="ij"))
  assert float(lottery @ pairs @ lottery) == pytest.approx(0.0, abs=1e-9)


def test_regret_is_yue_et_al_with_a_condorcet_winner():
  lottery = maximal_lottery(P_BT)
  np.testing.assert_allclose(lottery, np.eye(5)[0], atol=1e-9)
  i, j = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
  eps = P_BT[0] - 0.5  # eps(c, a) = P[c, a] - 1/2
  np.testing.assert_allclose(regret(P_BT, lottery, i, j), (eps[i] + eps[j]) / 2, atol=1e-9)
  assert float(regret(P_BT, lottery, 4, 4)) == pytest.approx(1 / (1 + np.exp(-2)) - 0.5)


# ---------------------------------------------------------- transitive (Condorcet): RUCB, D-TS


def _check_vmap_equals_loop(name: str, game: str, horizon: int, seeds=(0, 3)) -> None:
  """The vmapped runs of `_runs` equal single runs, key by key (one more compilation)."""
  algorithm = {"rucb": rucb, "dts": double_thompson, "sparring": sparring_exp3}[name]()
  P = {"bt": P_BT, "cyclic": P_CYCLIC}[game]
  batched = _runs(name, game, horizon)
  one = jax.jit(lambda key: simulate(algorithm, P, key, horizon=horizon))
  for b in seeds:
    single = one(SEEDS[b])
    for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
      got, want = np.asarray(got)[b], np.asarray(want)
      if np.issubdtype(want.dtype, np.integer):  # the arms played, counts, round counters
        np.testing.assert_array_equal(got, want)
      else:  # sums may differ in the last bit between batched and single kernels
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _check_condorcet_runs(sim: bandits.Simulation) -> tuple[float, float]:
  late = sim.duels[:, 1000:]
  share = np.mean(late == 0, axis=(1, 2))  # arm slots on the Condorcet winner, per seed
  assert np.all(share > 0.85), share
  assert np.mean(np.all(late == 0, axis=-1)) > 0.9  # both slots: the winner duels itself
  np.testing.assert_array_equal(sim.counts.sum(-1), 4000)
  np.testing.assert_allclose(sim.play, sim.counts / 4000)
  regrets = sim.cumulative_regret.mean(0)
  assert np.all(np.diff(regrets) >= -1e-12)  # every round's regret is >= 0 against e_c
  first, second = regrets[999], regrets[-1] - regrets[999]
  # Sublinear: rounds 1000-2000 cost less than a quarter of rounds 0-1000 (4 seeds' mean).
  assert second < 0.25 * first, (first, second)
  return first, second


def test_rucb_with_a_condorcet_winner():
  _check_condorcet_runs(_runs("rucb", "bt", 2000))
  _check_vmap_equals_loop("rucb", "bt", 2000)


def test_dts_with_a_condorcet_winner_and_against_rucb():
  _check_condorcet_runs(_runs("dts", "bt", 2000))
  _check_vmap_equals_loop("dts", "bt", 2000, seeds=(1,))
  rucb_regret = _runs("rucb", "bt", 2000).cumulative_regret[:, -1].mean()
  dts_regret = _runs("dts", "bt", 2000).cumulative_regret[:, -1].mean()
  assert dts_regret < 0.8 * rucb_regret, (dts_regret, rucb_regret)


# -------------------------------------------------------------- cyclic (no Condorcet winner)


def test_sparring_play_approaches_the_maximal_lottery_and_beats_rucb():
  sim = _runs("sparring", "cyclic", 5000)
  tv = 0.5 * np.abs(sim.play - maximal_lottery(P_CYCLIC)).sum(-1)
  assert tv.mean() < 0.15, tv
  assert np.all(sim.play[:, 3] < 0.1), sim.play
  _check_vmap_equals_loop("sparring", "cyclic", 5000)
  # Regret against the lottery: RUCB's candidate set empties and it explores at random, the
  # dominated arm included, so its regret is linear; Sparring's is not.
  rucb_regret = _runs("rucb", "cyclic", 5000).cumulative_regret.mean(0)
  sparring_regret = sim.cumulative_regret.mean(0)
  assert rucb_regret[-1] > 2 * sparring_regret[-1], (rucb_regret[-1], sparring_regret[-1])
  assert rucb_regret[-1] > 1.5 * rucb_regret[2499]
  assert sparring_regret[-1] < 1.5 * sparring_regret[2499]


# -------------------------------------------------------------------- interface and batching


def test_algorithms_are_pytrees_of_their_hyperparameters():
  leaves, _ = jax.tree.flatten(rucb(alpha=0.7))
  assert leaves == [0.7]
  assert jax.tree.leaves(sparring_exp3()) == []  # step_size=None is static
  alphas = jnp.array([0.51, 2.0])
  algorithms = jax.vmap(lambda a: rucb(alpha=a))(alphas)
  state = rucb().init(3)
  i, j = jax.jit(jax.vmap(lambda algo: algo.select(state, jax.random.key(1))))(algorithms)
  assert i.shape == j.shape == (2,)


def test_update_counts_wins_and_skips_self_duels():
  bandit = rucb()
  update = jax.jit(bandit.update)
  state = update(bandit.init(3), 0, 2, 1)
  state = update(state, 2, 0, 1)
  state = update(state, 1, 1, 1)
  np.testing.assert_array_equal(state.wins, [[0, 0, 1], [0, 0, 0], [1, 0, 0]])
  assert int(state.step) == 3
  sparring = sparring_exp3(step_size=0.1)
  state = jax.jit(sparring.update)(sparring.init(2), 1, 1, 0)  # learner 2 wins the self-duel
  np.testing.assert_array_equal(state.wins, 0)
  # gamma = min(1, K * step_size) = 0.2: p = 0.8 * 1/2 + 0.1 = 1/2 for both arms.
  np.testing.assert_allclose(state.rewards, [[0, 0], [0, 2.0]])


def test_rucb_plays_the_known_winner_against_itself():
  # After many duels the upper bounds of arm 0's column are < 1/2: C = {0} and d = c = 0.
  bandit = rucb()
  wins = jnp.array([[0.0, 900.0], [100.0, 0.0]])
  state = bandit.init(2)._replace(wins=wins, step=jnp.asarray(1000, jnp.int32))
  i, j = jax.jit(bandit.select)(state, jax.random.key(3))
  assert (int(i), int(j)) == (0, 0)
  assert int(jax.jit(bandit.update)(state, i, j, 1).hypothesis) == 0


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
  "P",
  [
    np.array([[0.5, 0.7, 0.2], [0.3, 0.5, 0.6]]),  # not square
    np.array([[0.5, 1.2], [-0.2, 0.5]]),  # outside [0, 1]
    np.array([[0.5, 0.7], [0.7, 0.5]]),  # P + P^T != 1
    np.array([[0.5, np.nan], [np.nan, 0.5]]),  # not finite
    np.array([[0.5]]),  # one arm
    np.full((2, 2, 2), 0.5),  # a batch
  ],
)
def test_simulate_rejects_what_is_not_a_preference_matrix(P):
  with pytest.raises(ValueError):
    simulate(rucb(), P, jax.random.key(0), horizon=10)


@pytest.mark.parametrize("horizon", [0, -3, 2.5, True])
def test_simulate_rejects_a_bad_horizon(horizon):
  with pytest.raises(ValueError, match="horizon"):
    simulate(rucb(), P_BT, jax.random.key(0), horizon=horizon)


def test_bad_hyperparameters_and_arm_counts():
  for make in (rucb, double_thompson):
    for alpha in (0.5, 0.3, float("nan")):
      with pytest.raises(ValueError, match="alpha"):
        make(alpha=alpha)
  for step_size in (0.0, -1.0, float("inf")):
    with pytest.raises(ValueError, match="step_size"):
      sparring_exp3(step_size=step_size)
  for make in (rucb, double_thompson, sparring_exp3):
    for num_arms in (1, 0, 2.5):
      with pytest.raises(ValueError, match="num_arms"):
        make().init(num_arms)
  with pytest.raises(ValueError, match="lottery"):
    simulate(rucb(), P_BT, jax.random.key(0), horizon=5, lottery=np.ones(5))
  with pytest.raises(ValueError, match="lottery"):
    jax.jit(lambda P: simulate(rucb(), P, jax.random.key(0), horizon=5))(P_BT)
