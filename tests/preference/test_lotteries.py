import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria
from jaxpref import preference as pm


def test_maximal_lotteries_of_a_batch_equal_one_at_a_time():
  model = pm.GeneralPreference(4, dim=2)
  params = jax.vmap(lambda k: model.init(k))(jax.random.split(jax.random.key(0), 6))
  params = jax.tree.map(lambda x: 3.0 * x.reshape(2, 3, *x.shape[1:]), params)
  batch = pm.maximal_lotteries(model, params, batch_dims=2)
  assert batch.shape == (2, 3, 4)
  for i in range(2):
    for j in range(3):
      one = jax.tree.map(lambda x, i=i, j=j: x[i, j], params)
      alone = equilibria.maximal_lottery(np.asarray(pm.preference_matrix(model, one)))
      np.testing.assert_allclose(batch[i, j], alone, atol=1e-6)


def test_mixture_game_weighs_components_by_mean_responsibility():
  mixture = pm.Mixture(pm.BradleyTerry(3), 2, 4)
  components = {"scores": jnp.array([[3.0, 0.0, -3.0], [-3.0, 0.0, 3.0]])}
  params = pm.MixtureParams(components=components, mixing=jnp.zeros(2))
  resp = jnp.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # 3/4 in the first group.
  fit = pm.MixtureFit(params, resp, jnp.zeros(()), jnp.zeros(1))
  games = np.asarray(pm.component_matrices(mixture, params))
  np.testing.assert_allclose(pm.fitted_game(mixture, fit), 0.75 * games[0] + 0.25 * games[1])
  batched = jax.tree.map(lambda x: x[None], fit)
  assert pm.maximal_lotteries(mixture, batched)[0].argmax() == 0


def test_top_lottery_items_mean_interval_and_support():
  x = np.array([[0.6, 0.4, 0.0], [0.8, 0.0, 0.2], [0.7, 0.3, 0.0]])
  top = pm.top_lottery_items(x, ["a", "b", "c"], 2)
  assert [t["item"] for t in top] == ["a", "b"]
  np.testing.assert_allclose(top[0]["mean"], 0.7)
  assert top[0]["ci95"] > 0 and top[0]["support"] == 1.0
  np.testing.assert_allclose(top[1]["support"], 2 / 3)


def test_group_accuracy_skips_ties_and_empty_groups():
  probs = jnp.array([[0.9, 0.0, 0.1], [0.2, 0.0, 0.8], [0.6, 0.0, 0.4], [0.5, 0.2, 0.3]])
  outcome = jnp.array([1.0, 1.0, 0.0, 0.5])  # The tie is not scored.
  acc, rows = pm.group_accuracy(probs, outcome, jnp.ones(4, bool), jnp.array([0, 1, 1, 0]), 3)
  np.testing.assert_allclose(acc, [1.0, 0.0, np.nan])
  assert rows.tolist() == [1, 2, 0]


def test_maximal_lotteries_of_candidates_by_choice():
  models = [pm.BradleyTerry(3), pm.GeneralPreference(3, dim=2)]
  bt = {"scores": jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 3.0]])}
  gpm = jax.vmap(lambda k: models[1].init(k))(jax.random.split(jax.random.key(1), 2))
  x = pm.maximal_lotteries(models, [bt, gpm], choice=np.array([0, 1]))
  np.testing.assert_allclose(x[0], [1.0, 0.0, 0.0], atol=1e-9)
  one = jax.tree.map(lambda v: v[1:], gpm)
  np.testing.assert_allclose(x[1], pm.maximal_lotteries(models[1], one)[0], atol=1e-9)


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_mixture_groups_report_pooled_vs_robust():
  n, people = 4, 8
  rng = np.random.default_rng(0)
  a, b = rng.integers(0, n, 400), rng.integers(0, n, 400)
  keep = a != b
  a, b, who = a[keep], b[keep], rng.integers(0, people, keep.sum())
  taste = np.where(who % 2, 1.0, -1.0) * (a - b)  # Two groups with opposite rankings.
  y = (rng.random(len(a)) < 1 / (1 + np.exp(-taste))).astype(float)
  pairs = pm.make_pairs(a, b, y, annotator=who)
  held = jnp.asarray(rng.random(len(a)) < 0.3)
  train_pairs = pairs._replace(weight=pairs.weight * ~held)
  bt = pm.BradleyTerry(n)
  mixture = pm.Mixture(bt, 2, people)
  fit = pm.fit_mixture(mixture, train_pairs, jax.random.key(0), em_steps=10)
  report = pm.mixture_groups_report(
    bt, pm.fit(bt, train_pairs).params, mixture, fit, pairs, ~held, held
  )
  assert report["K"] == 2 and sum(report["rows"]) == int(held.sum())
  assert min(report["mixture_accuracy"]) > max(report["pooled_accuracy"]) - 0.1
  assert min(report["mixture_accuracy"]) > 0.6
  assert report["worst_robust"] <= report["worst_pooled"] + 1e-6
