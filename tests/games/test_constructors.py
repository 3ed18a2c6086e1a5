import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import games
from jaxpref.equilibria import maximal_lottery


def test_uniform_random_game_is_egpo_generator():
  P = np.asarray(games.uniform_random_game(jax.random.key(3), 6, batch_shape=(4,)))
  games.validate_preference_matrix(P, atol=1e-12)
  chex.assert_shape(P, (4, 6, 6))
  lower = P[:, np.tril_indices(6, -1)[0], np.tril_indices(6, -1)[1]]
  assert np.all((lower > 0) & (lower < 1))
  assert not np.allclose(P[0], P[1])  # independent draws per game
  same = games.uniform_random_game(jax.random.key(3), 6, batch_shape=(4,))
  chex.assert_trees_all_equal(P, same)


class ConstructorVariantsTest(chex.TestCase):
  """Every constructor gives the same valid games eagerly and under jit, batched as documented."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_uniform_random_game(self):
    key = jax.random.key(1)
    P = self.variant(games.uniform_random_game, static_argnums=(1, 2))(key, 5, (3,))
    chex.assert_shape(P, (3, 5, 5))
    chex.assert_trees_all_equal(P, games.uniform_random_game(key, 5, (3,)))

  @chex.variants(with_jit=True, without_jit=True)
  def test_batched_constructors(self):
    r = jnp.array([[0.3, -1.0, 2.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    bt = self.variant(games.bradley_terry_game)(r)
    chex.assert_shape(bt, (2, 4, 4))
    chex.assert_trees_all_close(bt, jax.nn.sigmoid(r[:, :, None] - r[:, None, :]), atol=1e-15)
    cyc = self.variant(games.cyclic_game, static_argnums=0)(5, jnp.array([0.1, 0.3]))
    chex.assert_shape(cyc, (2, 5, 5))
    margins = jnp.array([[0.3, 0.1, 0.2], [0.2, 0.2, 0.2], [0.05, 0.4, 0.1]])
    w3 = self.variant(games.weighted_three_cycle_game)(margins)
    chex.assert_shape(w3, (3, 3, 3))
    chex.assert_trees_all_close(w3[0], games.canonical_games()["weighted_three_cycle"].P)
    types = self.variant(games.three_types_game)(jnp.linspace(-0.3, 0.3, 4))
    chex.assert_shape(types, (4, 3, 3))
    raters = jnp.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0]])
    maj = self.variant(games.majority_of_raters)(jnp.stack([jnp.eye(3)] * 2), raters)
    chex.assert_shape(maj, (2, 3, 3))
    for P in (bt, cyc, w3, types, maj):
      chex.assert_tree_all_finite(P)
      games.validate_preference_matrix(P, atol=1e-12)


def test_uniform_random_game_needs_two_items():
  with pytest.raises(ValueError, match="n >= 2"):
    games.uniform_random_game(jax.random.key(0), 1)


def test_bradley_terry_game():
  r = jnp.array([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])
  P = np.asarray(games.bradley_terry_game(r))
  games.validate_preference_matrix(P, atol=1e-12)
  np.testing.assert_allclose(P[0, 0, 1], 1 / (1 + np.exp(-1.3)), rtol=1e-12)
  np.testing.assert_allclose(P[1], 0.5)
  np.testing.assert_allclose(maximal_lottery(P[0]), [0, 0, 1], atol=1e-12)
  with pytest.raises(ValueError, match="scores of shape"):
    games.bradley_terry_game(jnp.array([1.0]))


def test_cyclic_game():
  chex.assert_trees_all_equal(games.cyclic_game(3, 0.5), games.canonical_games()["rps"].P)
  for n in (5, 7, 9):
    P = np.asarray(games.cyclic_game(n, 0.2))
    games.validate_preference_matrix(P, atol=1e-12)
    np.testing.assert_allclose(maximal_lottery(P), np.full(n, 1 / n), atol=1e-12)
  chex.assert_shape(games.cyclic_game(5, jnp.array([0.1, 0.3])), (2, 5, 5))
  chex.assert_trees_all_close(games.cyclic_game(5, 0.2), games.canonical_games()["cyclic_5"].P)
  with pytest.raises(ValueError, match="odd n"):
    games.cyclic_game(4)


def test_weighted_three_cycle_closed_form():
  rng = np.random.default_rng(0)
  margins = rng.uniform(0.01, 0.5, size=(20, 3))
  P = np.asarray(games.weighted_three_cycle_game(margins))
  games.validate_preference_matrix(P, atol=1e-12)
  a, b, c = margins.T
  expected = np.stack([b, c, a], -1) / margins.sum(-1, keepdims=True)
  chex.assert_trees_all_close(maximal_lottery(P), expected, atol=1e-12)
  chex.assert_trees_all_close(
    games.weighted_three_cycle_game(jnp.array([0.3, 0.1, 0.2])),
    games.canonical_games()["weighted_three_cycle"].P,
    atol=1e-12,
  )


def test_three_types_game_moves_continuously_with_eps():
  eps = np.linspace(-0.3, 0.3, 13)
  P = np.asarray(games.three_types_game(eps))
  games.validate_preference_matrix(P, atol=1e-12)
  p1, p2, p3 = 1 / 3 - eps, 1 / 3 + eps / 2, 1 / 3 + eps / 2
  chex.assert_trees_all_close(maximal_lottery(P), np.stack([p3, p2, p1], -1), atol=1e-12)
  np.testing.assert_allclose(P[:, 1, 0], 0.5 + p1 / 2, atol=1e-12)  # y2 beats y1
  np.testing.assert_allclose(P[:, 0, 2], 0.5 + p2 / 2, atol=1e-12)  # y1 beats y3
  np.testing.assert_allclose(P[:, 2, 1], 0.5 + p3 / 2, atol=1e-12)  # y3 beats y2
  np.testing.assert_allclose(
    games.three_types_game(0.1), games.canonical_games()["three_types"].P, atol=1e-12
  )


def test_perturbed_rps_matches_canonical():
  chex.assert_trees_all_close(
    games.perturbed_rps_game(), games.canonical_games()["perturbed_rps"].P, atol=1e-12
  )


def test_majority_of_raters_condorcet_cycle():
  raters = jnp.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0]])
  P = np.asarray(games.majority_of_raters(jnp.eye(3), raters))
  games.validate_preference_matrix(P, atol=1e-12)
  np.testing.assert_allclose([P[0, 1], P[1, 2], P[2, 0]], 2 / 3, atol=1e-12)
  np.testing.assert_allclose(maximal_lottery(P), np.full(3, 1 / 3), atol=1e-12)
  # Masses (1/2, 1/4, 1/4): raters 1 and 3 rank 0 above 1, so P[0, 1] = 3/4.
  P = np.asarray(games.majority_of_raters(jnp.eye(3), raters, jnp.array([2.0, 1.0, 1.0])))
  np.testing.assert_allclose(P[0, 1], 0.75, atol=1e-12)


def test_majority_of_raters_ties_and_batching():
  features = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # items 0 and 1 identical
  raters = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  P = np.asarray(games.majority_of_raters(features, raters))
  np.testing.assert_allclose(P[0, 1], 0.5)
  batched = games.majority_of_raters(jnp.stack([features, features]), raters)
  chex.assert_shape(batched, (2, 3, 3))
  chex.assert_trees_all_close(batched[0], P, batched[1], atol=1e-15)
  with pytest.raises(ValueError, match="same d"):
    games.majority_of_raters(features, jnp.ones((2, 3)))
