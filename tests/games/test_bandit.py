import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import games


def _transitive(P):
  """Per game: a tournament is transitive iff its win counts are 0, 1, ..., n - 1."""
  wins = np.sort(np.sum(np.asarray(P) > 0.5, axis=-1), axis=-1)
  return np.all(wins == np.arange(P.shape[-1]), axis=-1)


def test_contextual_bandit_games_are_valid_and_intransitive_only_with_a_cycle():
  X, P = games.contextual_bandit(jax.random.key(0), prompts=16, features=4, n=5, cycle=2.0)
  assert X.shape == (16, 4) and P.shape == (16, 5, 5)
  np.testing.assert_allclose(P + jnp.swapaxes(P, -1, -2), 1.0, atol=1e-12)
  X0, bt = games.contextual_bandit(jax.random.key(0), prompts=16, features=4, n=5)
  np.testing.assert_array_equal(X0, X)  # The same key gives the same prompts.
  assert _transitive(bt).all()  # gamma = 0: Bradley-Terry
  assert not _transitive(P).all()
  with pytest.raises(ValueError, match="n >= 2"):
    games.contextual_bandit(jax.random.key(0), prompts=1, features=1, n=1)
