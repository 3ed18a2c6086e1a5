import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import preference as pm

N_ITEMS, N_GROUPS, N_PEOPLE = 8, 3, 150


@pytest.fixture(scope="module")
def three_groups():
  """150 annotators in 3 Bradley-Terry groups; 40 training and 10 test comparisons each."""
  truth = pm.bt_mixture_games(jax.random.key(4), N_ITEMS, N_GROUPS)
  groups = jax.random.randint(jax.random.key(5), (N_PEOPLE,), 0, N_GROUPS)
  train = pm.sample_comparisons(jax.random.key(6), truth, per_annotator=40, groups=groups)
  test = pm.sample_comparisons(jax.random.key(7), truth, per_annotator=10, groups=groups)
  return truth, groups, train, test


def _best(fits):
  i = int(jnp.argmax(fits.log_likelihood))
  return jax.tree.map(lambda x: x[i], fits)


def _matched_error(estimate, truth):
  """Max abs error over the best matching of components to groups."""
  return min(
    float(jnp.abs(estimate[jnp.asarray(p)] - truth).max())
    for p in itertools.permutations(range(truth.shape[0]))
  )


# Slow: EM with restarts on three groups (about 9 s).
@pytest.mark.slow
def test_recovers_a_three_component_mixture_and_beats_bt(three_groups):
  truth, groups, train, test = three_groups
  mixture = pm.Mixture(pm.BradleyTerry(N_ITEMS, l2=1e-2), N_GROUPS, N_PEOPLE)
  fits = jax.vmap(lambda k: pm.fit_mixture(mixture, train, k))(
    jax.random.split(jax.random.key(0), 2)
  )
  best = _best(fits)
  error = _matched_error(pm.component_matrices(mixture, best.params), truth)
  assert error < 0.08  # measured 0.063 (max over 3 x 28 pairs, 6000 comparisons)
  # Each person's posterior names their group (up to the label permutation).
  assign = np.asarray(jnp.argmax(best.responsibilities, axis=1))
  agree = max(
    np.mean(np.asarray(p)[assign] == np.asarray(groups))
    for p in itertools.permutations(range(N_GROUPS))
  )
  assert agree > 0.95
  mix_ll = pm.mixture_log_likelihood(
    mixture, best.params, test, best.responsibilities[test.annotator]
  ).mean()
  bt = pm.BradleyTerry(N_ITEMS, l2=1e-2)
  bt_ll = pm.log_likelihood(bt, pm.fit(bt, train).params, test).mean()
  assert float(mix_ll) > float(bt_ll) + 0.1  # measured -0.387 vs -0.582


def test_em_trace_does_not_decrease(three_groups):
  _, _, train, _ = three_groups
  mixture = pm.Mixture(pm.BradleyTerry(N_ITEMS, l2=1e-2), N_GROUPS, N_PEOPLE)
  trace = pm.fit_mixture(mixture, train, jax.random.key(1), em_steps=15).trace
  assert np.all(np.diff(np.asarray(trace)) > -1e-6 * np.abs(np.asarray(trace[1:])))


def test_one_component_is_plain_bt(three_groups):
  _, _, train, test = three_groups
  bt = pm.BradleyTerry(N_ITEMS, advantage=True, l2=1e-2)
  mixture = pm.Mixture(bt, 1, N_PEOPLE)
  fitted = pm.fit_mixture(mixture, train, jax.random.key(2), em_steps=3)
  plain = pm.fit(bt, train)
  for name in ("scores", "advantage"):
    np.testing.assert_allclose(fitted.params.components[name][0], plain.params[name], atol=1e-8)
  np.testing.assert_allclose(fitted.responsibilities, 1.0)
  np.testing.assert_allclose(
    pm.mixture_log_likelihood(mixture, fitted.params, test, jnp.ones((test.outcome.size, 1))),
    pm.log_likelihood(bt, plain.params, test),
    atol=1e-8,
  )


def test_hard_em_assigns_each_person_to_one_group(three_groups):
  _, _, train, _ = three_groups
  mixture = pm.Mixture(pm.BradleyTerry(N_ITEMS, l2=1e-2), N_GROUPS, N_PEOPLE, hard=True)
  resp = pm.fit_mixture(mixture, train, jax.random.key(3), em_steps=10).responsibilities
  np.testing.assert_array_equal(np.sort(np.asarray(resp), axis=1)[:, -1], 1.0)
  np.testing.assert_array_equal(np.asarray(resp).sum(1), 1.0)


def test_vmap_over_seeds_equals_a_loop(three_groups):
  _, _, train, _ = three_groups
  mixture = pm.Mixture(pm.BradleyTerry(N_ITEMS, l2=0.1), 2, N_PEOPLE)
  keys = jax.random.split(jax.random.key(9), 2)
  batched = jax.vmap(lambda k: pm.fit_mixture(mixture, train, k, em_steps=2, max_steps=20))(keys)
  for i, key in enumerate(keys):
    one = pm.fit_mixture(mixture, train, key, em_steps=2, max_steps=20)
    np.testing.assert_allclose(batched.trace[i], one.trace, rtol=1e-9)


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_covariates_predict_the_group_of_new_people():
  # The group is the sign of a covariate: people never seen get the right prior from it.
  truth = pm.bt_mixture_games(jax.random.key(10), 6, 2, scale=3.0)
  x = jax.random.normal(jax.random.key(11), (200, 1))
  groups = (x[:, 0] > 0).astype(jnp.int32)
  train = pm.sample_comparisons(jax.random.key(12), truth, per_annotator=30, groups=groups)
  seen = train.annotator < 150  # people 150..199 are held out
  train = train._replace(weight=seen.astype(train.outcome.dtype))
  mixture = pm.Mixture(pm.BradleyTerry(6, l2=1e-2), 2, 200, covariate_dim=1, mixing_l2=0.01)
  fitted = _best(
    jax.vmap(lambda k: pm.fit_mixture(mixture, train, k, x))(
      jax.random.split(jax.random.key(13), 3)
    )
  )
  prior = jnp.exp(pm.prior_log_weights(mixture, fitted.params, x))[150:]
  assign = np.asarray(jnp.argmax(prior, axis=1))
  agree = max(np.mean(assign == np.asarray(groups[150:])), np.mean(assign != groups[150:]))
  assert agree > 0.9


def test_bad_annotators_and_covariates(three_groups):
  _, _, train, _ = three_groups
  mixture = pm.Mixture(pm.BradleyTerry(N_ITEMS), 2, 10)
  with pytest.raises(ValueError, match=r"annotator ids must be in \[0, 10\)"):
    pm.fit_mixture(mixture, train, jax.random.key(0))
  conditioned = pm.Mixture(pm.BradleyTerry(N_ITEMS), 2, N_PEOPLE, covariate_dim=2)
  with pytest.raises(ValueError, match="covariates must be"):
    pm.fit_mixture(conditioned, train, jax.random.key(0), jnp.zeros((N_PEOPLE, 3)))
  with pytest.raises(ValueError, match="covariate_dim = 0"):
    pm.fit_mixture(
      pm.Mixture(pm.BradleyTerry(N_ITEMS), 2, N_PEOPLE), train, jax.random.key(0), jnp.zeros(1)
    )
  with pytest.raises(ValueError, match="num_components must be >= 1"):
    pm.Mixture(pm.BradleyTerry(N_ITEMS), 0, 5)


def test_one_component_with_ties_on_real_data_is_plain_davidson(shared_data):
  from jaxpref import data

  table = data.load_comparisons(shared_data / "paircomp" / "CEMSChoice.csv")
  pairs = pm.pairs_from_table(table)
  model = pm.BradleyTerry(table.num_items, ties="davidson", advantage=True, l2=1e-2)
  mixture = pm.Mixture(model, 1, table.num_annotators)
  fitted = pm.fit_mixture(mixture, pairs, jax.random.key(0), em_steps=2)
  plain = pm.fit(model, pairs).params
  for name in ("scores", "tie", "advantage"):
    np.testing.assert_allclose(fitted.params.components[name][0], plain[name], atol=1e-8)
