import jax
import numpy as np
import pytest

from jaxpref import games
from jaxpref.metrics import kl_divergence, win_rate


def test_kl_by_hand():
  p, q = np.array([0.25, 0.75]), np.array([0.5, 0.5])
  expected = 0.25 * np.log(0.5) + 0.75 * np.log(1.5)
  np.testing.assert_allclose(kl_divergence(p, q), expected, rtol=1e-14)
  assert float(kl_divergence(p, p)) == 0.0
  assert float(kl_divergence([0.0, 1.0], [0.5, 0.5])) == pytest.approx(np.log(2))  # 0 log 0 = 0
  assert np.isinf(kl_divergence([0.5, 0.5], [1.0, 0.0]))
  assert kl_divergence(np.tile(p, (3, 1)), q).shape == (3,)
  with pytest.raises(ValueError, match="share the last axis"):
    kl_divergence(p, np.ones(3) / 3)


def test_win_rate():
  P = np.asarray(games.uniform_random_game(jax.random.key(0), 5, (4,)))
  rng = np.random.default_rng(0)
  x, y = rng.dirichlet(np.ones(5), 4), rng.dirichlet(np.ones(5), 4)
  np.testing.assert_allclose(win_rate(P, x, x), 0.5, atol=1e-15)
  np.testing.assert_allclose(win_rate(P, x, y) + win_rate(P, y, x), 1.0, atol=1e-15)
  np.testing.assert_allclose(win_rate(P, x, y), np.einsum("bi,bij,bj->b", x, P, y), atol=1e-15)
  np.testing.assert_allclose(jax.jit(win_rate)(P, x, y), win_rate(P, x, y), atol=1e-15)
  rps = games.canonical_games()["rps"].P
  assert float(win_rate(rps, [1.0, 0, 0], [0, 1.0, 0])) == 1.0
