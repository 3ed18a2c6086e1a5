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
  with pytest.raises(ValueError, match="ties must be None"):
    pm.PlackettLuce(3, ties="rao_kupper")
  with pytest.raises(ValueError, match="max_tie must be 2 or 3"):
    pm.PlackettLuce(3, ties="davidson", max_tie=4)
  with pytest.raises(ValueError, match="needs item_features"):
    pm.PlackettLuce(3, free_scores=False)
  with pytest.raises(ValueError, match="non-decreasing"):
    pm.make_rankings([[0, 1, 2]], places=[[2, 1, 3]])


def test_davidson_luce_spec_vectors():
  """docs' wave-2 vectors: Davidson g = (2, 1), delta = 0.5; Davidson-Luce on {0, 1, 2}."""
  pair = pm.PlackettLuce(2, ties="davidson")
  params = {"scores": jnp.log(jnp.array([2.0, 1.0])), "tie": jnp.log(0.5)}
  rows = pm.make_rankings([[0, 1], [1, 0], [0, 1]], places=[[1, 2], [1, 2], [1, 1]])
  got = np.exp(pm.ranking_log_likelihood(pair, params, rows))
  np.testing.assert_allclose(got, [0.539504, 0.269752, 0.190744], atol=1e-6)
  model = pm.PlackettLuce(3, ties="davidson", max_tie=3)
  params = {"scores": jnp.log(jnp.array([2.0, 1.0, 0.5])), "tie": jnp.log(0.5)}
  params["tie3"] = jnp.log(0.2)
  # First stage only: 0 alone, {0, 1} tied, then all three tied (a full ranking).
  rows = pm.make_rankings(
    [[0, 1, 2], [0, 1, 2], [0, 1, 2]], places=[[1], [1, 1], [1, 1, 1]], num_ranked=[1, 2, 3]
  )
  got = np.exp(pm.ranking_log_likelihood(model, params, rows))
  np.testing.assert_allclose(got, [0.380180, 0.134414, 0.038018], atol=1e-6)
  # The stages' probabilities sum to 1 over the outcomes: every ordered partition into tiers.
  items, places = [], []
  for tiers in _ordered_partitions([0, 1, 2]):
    items.append([i for t in tiers for i in t])
    places.append([k for k, t in enumerate(tiers) for _ in t])
  assert len(items) == 13  # the ordered Bell number of 3
  rows = pm.make_rankings(items, places=places)
  total = float(jnp.sum(jnp.exp(pm.ranking_log_likelihood(model, params, rows))))
  assert total == pytest.approx(1.0, abs=1e-12)


def _ordered_partitions(items):
  """Every ordered partition of ``items`` into non-empty tiers."""
  if not items:
    yield []
    return
  first, rest = items[0], items[1:]
  for partition in _ordered_partitions(rest):
    for k in range(len(partition) + 1):  # A tier of its own at place k ...
      yield [*partition[:k], [first], *partition[k:]]
    for k in range(len(partition)):  # ... or tied with a tier.
      yield [*partition[:k], [first, *partition[k]], *partition[k + 1 :]]


def test_davidson_luce_on_pairs_is_davidson_bradley_terry():
  """K = 2 with ties: the fit equals BradleyTerry(ties="davidson") on the same pairs."""
  rng = np.random.default_rng(3)
  a = rng.integers(0, 5, 300)
  b = (a + rng.integers(1, 5, 300)) % 5
  outcome = rng.choice([0.0, 0.5, 1.0], 300, p=[0.35, 0.2, 0.45])
  bt = pm.fit(pm.BradleyTerry(5, ties="davidson", l2=0.01), pm.make_pairs(a, b, outcome))
  rows = [
    [int(x), int(y)] if o >= 0.5 else [int(y), int(x)]
    for x, y, o in zip(a, b, outcome, strict=False)
  ]
  places = [[1, 1] if o == 0.5 else [1, 2] for o in outcome]
  model = pm.PlackettLuce(5, ties="davidson", l2=0.01)
  pl = pm.fit_rankings(model, pm.make_rankings(rows, places=places))
  assert bool(pl.converged)
  np.testing.assert_allclose(pl.params["scores"], bt.params["scores"], atol=1e-8)
  np.testing.assert_allclose(pl.params["tie"], bt.params["tie"], atol=1e-8)
  P = pm.preference_matrix(model, pl.params)
  np.testing.assert_allclose(
    P, pm.preference_matrix(pm.BradleyTerry(5, ties="davidson"), bt.params)
  )


def test_davidson_luce_fit_recovers_ties_and_is_pl_without_them():
  """Rows without ties: the fitted delta goes to 0 and the strengths approach the PL fit."""
  rng = np.random.default_rng(4)
  theta = rng.normal(size=6)
  rows = [_sample(rng, theta, 4) for _ in range(300)]
  tiefree = pm.make_rankings(rows, places=[list(range(4))] * len(rows))
  dl = pm.fit_rankings(pm.PlackettLuce(6, ties="davidson", l2=0.01), tiefree, max_steps=2000)
  pl = pm.fit_rankings(pm.PlackettLuce(6, l2=0.01), pm.make_rankings(rows))
  assert float(dl.params["tie"]) < -8  # delta_2 -> 0
  np.testing.assert_allclose(dl.params["scores"], pl.params["scores"], atol=1e-3)


def test_tied_rows_need_a_tie_model():
  rows = pm.make_rankings([[0, 1, 2]], places=[[1, 1, 2]])
  with pytest.raises(ValueError, match="has tied items"):
    pm.fit_rankings(pm.PlackettLuce(3), rows)
  with pytest.raises(ValueError, match="exceeds the model's max_tie=2"):
    pm.fit_rankings(
      pm.PlackettLuce(3, ties="davidson"), pm.make_rankings([[0, 1, 2]], places=[[1] * 3])
    )
  with pytest.raises(ValueError, match="rise by 0 or 1"):
    bad = rows._replace(tier=jnp.array([[0, 2, 2]]))
    pm.fit_rankings(pm.PlackettLuce(3, ties="davidson"), bad)


def test_item_features():
  """Identity features without free strengths is the free model; features rank unseen items."""
  rng = np.random.default_rng(5)
  theta = rng.normal(size=5)
  rows = pm.make_rankings([_sample(rng, theta, 3) for _ in range(200)])
  free = pm.fit_rankings(pm.PlackettLuce(5, l2=0.01), rows)
  eye = pm.PlackettLuce(5, l2=0.01, item_features=jnp.eye(5), free_scores=False)
  feat = pm.fit_rankings(eye, rows)
  s = feat.params["beta"]
  np.testing.assert_allclose(s - s.mean(), free.params["scores"], atol=1e-7)
  # One feature equal to the true strength: item 4 never ranked still gets its strength.
  X = jnp.asarray(theta)[:, None]
  seen = pm.make_rankings([_sample(rng, theta[:4], 3) for _ in range(300)])
  linear = pm.PlackettLuce(5, l2=1e-4, item_features=X, free_scores=False)
  fit = pm.fit_rankings(linear, seen)
  assert float(fit.params["beta"][0]) == pytest.approx(1.0, abs=0.2)
  np.testing.assert_allclose(linear.strengths(fit.params), fit.params["beta"][0] * theta)
