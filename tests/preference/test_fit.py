import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import data, equilibria, games
from jaxpref import preference as pm


@pytest.fixture(scope="module")
def llmfao():
  return data.load_llmfao()


@pytest.fixture(scope="module")
def football(shared_data):
  return data.load_comparisons(
    shared_data / "paircomp" / "football.csv", item_a="home", item_b="away", annotator="season"
  )


def _choix_scores(table, alpha):
  """choix's MAP scores; a tie is one win each way (choix has no ties)."""
  choix = pytest.importorskip("choix")
  wins = []
  for a, b, y in zip(table.item_a, table.item_b, table.outcome, strict=True):
    if y == 1.0:
      wins.append((a, b))
    elif y == 0.0:
      wins.append((b, a))
    else:
      wins += [(a, b), (b, a)]
  return choix.opt_pairwise(table.num_items, wins, alpha=alpha, tol=1e-12)


@pytest.mark.parametrize("name", ["llmfao", "football"])
@pytest.mark.parametrize("alpha", [1e-6, 0.1])
def test_bt_matches_choix(name, alpha, request):
  table = request.getfixturevalue(name)
  want = _choix_scores(table, alpha)
  # choix's objective alpha * |s|^2 + sum softplus(s_l - s_w) is ours with l2 = alpha and each tie
  # as one win each way, i.e. outcome 1/2 with weight 2.
  pairs = pm.pairs_from_table(table)
  pairs = pairs._replace(weight=jnp.where(pairs.outcome == 0.5, 2.0, 1.0))
  result = pm.fit(pm.BradleyTerry(table.num_items, l2=alpha), pairs)
  assert bool(result.converged)
  np.testing.assert_allclose(result.params["scores"], want, atol=1e-5)
  assert np.max(np.abs(result.params["scores"] - want)) < 1e-7  # the measured agreement


def test_scores_are_centred_with_and_without_prior(llmfao):
  pairs = pm.pairs_from_table(llmfao)
  for l2 in (0.0, 1e-3):
    scores = pm.fit(pm.BradleyTerry(llmfao.num_items, l2=l2), pairs).params["scores"]
    assert abs(float(jnp.sum(scores))) < 1e-10
  model = pm.BradleyTerry(llmfao.num_items)
  params = pm.fit(model, pairs).params
  shifted = {"scores": params["scores"] + 3.0}
  np.testing.assert_allclose(
    pm.log_likelihood(model, shifted, pairs), pm.log_likelihood(model, params, pairs), atol=1e-12
  )


def test_ties_and_home_advantage_on_football(football):
  pairs = pm.pairs_from_table(football)
  n = football.num_items
  plain = pm.fit(pm.BradleyTerry(n, advantage=True, l2=0.01), pairs)
  assert 0.2 < float(plain.params["advantage"]) < 0.6  # home teams win 46%, lose 27%
  for ties in ("davidson", "rao_kupper"):
    model = pm.BradleyTerry(n, ties=ties, advantage=True, l2=0.01)
    result = pm.fit(model, pairs)
    assert bool(result.converged)
    probs = pm.outcome_probabilities(model, result.params, pairs)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)
    # The fitted draw rate matches the observed 26.6% (a property of the MLE of the tie parameter
    # in Davidson's model, close to it in Rao-Kupper's).
    np.testing.assert_allclose(probs[:, 1].mean(), np.mean(football.outcome == 0.5), atol=0.01)
    assert float(result.params["advantage"]) > 0
  # A tie model scores ties; BT without one cannot: it spends probability on wins and losses.
  davidson = pm.BradleyTerry(n, ties="davidson", advantage=True, l2=0.01)
  fitted = pm.fit(davidson, pairs).params
  assert float(pm.log_likelihood(davidson, fitted, pairs).sum()) < 0


def test_item_features_reproduce_free_scores(football):
  pairs = pm.pairs_from_table(football)
  n = football.num_items
  free = pm.fit(pm.BradleyTerry(n, l2=0.05), pairs).params["scores"]
  feats = pm.BradleyTerry(n, l2=0.05, item_features=jnp.eye(n), free_scores=False)
  beta = pm.fit(feats, pairs).params["beta"]
  np.testing.assert_allclose(beta - beta.mean(), free, atol=1e-7)


def test_context_slopes_recover_a_covariate_effect():
  # Item 0's strength rises with the context, item 1's is flat: gamma[0] - gamma[1] ~ 1.5.
  key = jax.random.key(0)
  k_c, k_y = jax.random.split(key)
  c = jax.random.normal(k_c, (20000, 1))
  logit = 1.5 * c[:, 0]
  y = jax.random.bernoulli(k_y, jax.nn.sigmoid(logit)).astype(jnp.float64)
  pairs = pm.make_pairs(jnp.zeros(20000, int), jnp.ones(20000, int), y, context=c)
  model = pm.BradleyTerry(2, context_dim=1, l2=1e-6)
  gamma = pm.fit(model, pairs).params["gamma"]
  np.testing.assert_allclose(gamma[0, 0] - gamma[1, 0], 1.5, atol=0.08)


def test_preference_matrix_feeds_the_solvers(football):
  model = pm.BradleyTerry(football.num_items, ties="davidson", advantage=True, l2=0.01)
  params = pm.fit(model, pm.pairs_from_table(football)).params
  P = pm.preference_matrix(model, params)
  games.validate_preference_matrix(P, atol=1e-14)
  np.testing.assert_allclose(jnp.diag(P), 0.5)
  # BT games are transitive: the strongest team is the Condorcet winner (lottery mass 1).
  x = equilibria.maximal_lottery(P)
  assert x[int(jnp.argmax(params["scores"]))] == pytest.approx(1.0)
  # The home advantage is a property of the venue, not of the teams: it is left out of P.
  no_home = pm.preference_matrix(model.replace(advantage=False), params)
  np.testing.assert_allclose(P, no_home)


def test_jit_and_vmap_over_seeds_and_l2():
  model, truth = pm.cyclic_gpm(jax.random.key(1), 6, dim=2)
  pairs = pm.sample_comparisons(jax.random.key(2), pm.preference_matrix(model, truth), 600)
  gpm = pm.GeneralPreference(6, dim=2, l2=0.01)
  keys = jax.random.split(jax.random.key(3), 3)
  batched = jax.jit(jax.vmap(lambda k: pm.fit(gpm, pairs, k)))(keys)
  for i, k in enumerate(keys):
    one = pm.fit(gpm, pairs, k)
    np.testing.assert_allclose(batched.params["embed"][i], one.params["embed"], atol=1e-9)
  l2s = jnp.asarray([1e-4, 1e-2, 1.0])
  bt = jax.vmap(lambda l2: pm.fit(pm.BradleyTerry(6, l2=l2), pairs).params["scores"])(l2s)
  for i, l2 in enumerate(l2s):
    one = pm.fit(pm.BradleyTerry(6, l2=float(l2)), pairs).params["scores"]
    np.testing.assert_allclose(bt[i], one, atol=1e-9)
  assert float(jnp.abs(bt[2]).max()) < float(jnp.abs(bt[0]).max())  # the prior shrinks


@pytest.mark.parametrize(
  ("change", "match"),
  [
    ({"item_a": jnp.asarray([0, 7])}, r"item_a\[1\] = 7 is outside"),
    ({"item_b": jnp.asarray([1, 0])}, "Row 1 compares item 0 with itself"),
    ({"outcome": jnp.asarray([1.0, 1.5])}, r"outcome\[1\] = 1.5"),
    ({"outcome": jnp.asarray([1.0, jnp.nan])}, r"outcome\[1\] = nan"),
    ({"weight": jnp.asarray([1.0, -1.0])}, "non-negative"),
    ({"context": jnp.ones((2, 3))}, "expects 0 context features"),
    ({"annotator": jnp.asarray([0])}, "share the leading length"),
  ],
)
def test_bad_pairs(change, match):
  pairs = pm.make_pairs([0, 0], [1, 2], [1.0, 0.0])._replace(**change)
  with pytest.raises(ValueError, match=match):
    pm.fit(pm.BradleyTerry(3), pairs)


def test_empty_pairs():
  with pytest.raises(ValueError, match="No comparisons"):
    pm.fit(pm.BradleyTerry(3), pm.make_pairs(jnp.zeros(0, int), jnp.zeros(0, int), jnp.zeros(0)))
