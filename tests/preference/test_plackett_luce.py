"""Plackett-Luce: a hand-computed likelihood, choix's MAP on rankings and top-1 choices, K = 2 is
Bradley-Terry, padding to a bucket changes nothing, and bad rankings are clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import preference as pm


def _sample(rng, theta, size):
  """A Plackett-Luce ranking of ``size`` distinct items drawn from ``theta`` (Gumbel trick)."""
  shown = rng.choice(len(theta), size, replace=False)
  return [int(i) for i in shown[np.argsort(-(theta[shown] + rng.gumbel(size=size)))]]


def test_log_likelihood_by_hand():
  model = pm.PlackettLuce(4)
  params = {"scores": jnp.array([1.0, 0.0, -0.5, 2.0])}
  rows = pm.make_rankings([[3, 0, 2], [1, 2, 0, 3], [2, 1]], num_ranked=[2, 1, 1])
  e = np.exp(np.array([1.0, 0.0, -0.5, 2.0]))
  want = [
    np.log(e[3] / (e[3] + e[0] + e[2])) + np.log(e[0] / (e[0] + e[2])),  # full ranking of 3
    np.log(e[1] / e.sum()),  # choice of 1 among 4
    np.log(e[2] / (e[2] + e[1])),  # a pair
  ]
  got = pm.ranking_log_likelihood(model, params, rows)
  np.testing.assert_allclose(got, want, rtol=1e-12)
  # Padding to a wider bucket (a shape shared by other batches) changes nothing.
  wide = pm.make_rankings([[3, 0, 2], [1, 2, 0, 3], [2, 1]], num_ranked=[2, 1, 1], width=8)
  np.testing.assert_allclose(pm.ranking_log_likelihood(model, params, wide), want, rtol=1e-12)
  g = jax.grad(lambda p: pm.ranking_objective(model, p, wide))(params)
  assert np.all(np.isfinite(g["scores"]))


def test_spec_vectors():
  """docs' wave-2 test vectors: likelihoods at theta = (0.75, 0.25, -0.25, -0.75), the MAP fit."""
  model = pm.PlackettLuce(4)
  params = {"scores": jnp.array([0.75, 0.25, -0.25, -0.75])}
  rows = pm.make_rankings(
    [[0, 1, 2, 3], [2, 0, 3, 1], [0, 1, 2, 3], [2, 0, 1, 3], [2, 1]], num_ranked=[3, 3, 2, 1, 1]
  )
  want = [-1.941685, -3.704731, -1.467608, -1.787339, -0.974077]
  np.testing.assert_allclose(pm.ranking_log_likelihood(model, params, rows), want, atol=1e-6)
  data = pm.make_rankings(
    [[0, 1, 2, 3], [0, 2, 1, 3], [1, 0, 2, 3], [0, 1, 3, 2], [2, 0, 1, 3], [0, 3, 1, 2]]
  )
  fit = pm.fit_rankings(pm.PlackettLuce(4, l2=0.1), data)
  want = [1.532109, 0.224166, -0.514501, -1.241774]  # choix opt_rankings(alpha=0.1)
  np.testing.assert_allclose(fit.params["scores"], want, atol=1e-6)


def test_map_matches_choix_on_rankings_and_top1(alpha=0.01):
  choix = pytest.importorskip("choix")
  rng = np.random.default_rng(0)
  theta = rng.normal(size=8)
  rankings = [_sample(rng, theta, int(rng.integers(2, 6))) for _ in range(200)]
  fit = pm.fit_rankings(pm.PlackettLuce(8, l2=alpha), pm.make_rankings(rankings))
  assert bool(fit.converged)
  want = choix.opt_rankings(8, rankings, alpha=alpha, tol=1e-12)
  np.testing.assert_allclose(fit.params["scores"], want - want.mean(), atol=1e-5)
  # Top-1: the first item of each ranking chosen among its set.
  top1 = [(r[0], r[1:]) for r in rankings]
  fit1 = pm.fit_rankings(
    pm.PlackettLuce(8, l2=alpha), pm.choices([c for c, _ in top1], [[c, *o] for c, o in top1])
  )
  want1 = choix.opt_top1(8, top1, alpha=alpha, tol=1e-12)
  np.testing.assert_allclose(fit1.params["scores"], want1 - want1.mean(), atol=1e-5)


def test_pairs_are_bradley_terry():
  rng = np.random.default_rng(1)
  theta = rng.normal(size=6)
  rows = [_sample(rng, theta, 2) for _ in range(400)]
  pl = pm.fit_rankings(pm.PlackettLuce(6, l2=0.01), pm.make_rankings(rows))
  a, b = np.array(rows).T
  bt = pm.fit(pm.BradleyTerry(6, l2=0.01), pm.make_pairs(a, b, np.ones(len(rows))))
  np.testing.assert_allclose(pl.params["scores"], bt.params["scores"], atol=1e-8)
  # Its game is the pairwise marginal.
  P = pm.preference_matrix(pm.PlackettLuce(6), pl.params)
  s = pl.params["scores"]
  np.testing.assert_allclose(P, jax.nn.sigmoid(s[:, None] - s[None, :]), atol=1e-12)


def test_fit_vmaps_over_l2():
  rows = pm.make_rankings([[0, 1, 2], [1, 0, 2], [0, 2, 1], [2, 0, 1]])
  fits = jax.vmap(lambda l2: pm.fit_rankings(pm.PlackettLuce(3, l2=l2), rows).params["scores"])(
    jnp.array([0.01, 1.0])
  )
  assert np.abs(fits[1]).max() < np.abs(fits[0]).max()  # a stronger prior shrinks


@pytest.mark.parametrize(
  "rows, kwargs, message",
  [
    ([[0, 1, 1]], {}, "appears twice"),
    ([[0, 5]], {}, "out of range"),
    ([[0]], {}, "choice set has 1 items"),
    ([[0, 1, 2]], {"num_ranked": [4]}, "num_ranked 4"),
    ([[0, 1]], {"weight": [np.nan]}, "finite"),
  ],
)
def test_bad_rankings_are_clear_errors(rows, kwargs, message):
  with pytest.raises(ValueError, match=message):
    pm.fit_rankings(pm.PlackettLuce(4), pm.make_rankings(rows, **kwargs))


def test_bad_constructors():
  with pytest.raises(ValueError, match="empty"):
    pm.make_rankings([])
  with pytest.raises(ValueError, match="more than width"):
    pm.make_rankings([[0, 1, 2]], width=2)
  with pytest.raises(ValueError, match="not among the shown"):
    pm.choices([3], [[0, 1]])
  with pytest.raises(ValueError, match="no ties"):
    pm.PlackettLuce(3, ties="davidson")
