import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import preference as pm


def test_split_masks_are_disjoint_sized_and_vmap_over_keys():
  keys = jax.random.split(jax.random.key(0), 5)
  test, val = jax.jit(jax.vmap(lambda k: pm.split_masks(k, 50, 0.2, 0.25)))(keys)
  assert test.shape == val.shape == (5, 50)
  np.testing.assert_array_equal(test.sum(1), 10)  # round(0.2 * 50)
  np.testing.assert_array_equal(val.sum(1), 10)  # round(0.25 * 40), of what is left
  assert not (test & val).any()
  assert len({tuple(np.flatnonzero(t)) for t in np.asarray(test)}) == 5  # keys differ


@pytest.mark.parametrize("fractions", [(0.0,), (1.0,), (0.01,), (0.5, 0.999)])
def test_split_masks_refuse_empty_parts(fractions):
  with pytest.raises(ValueError, match="non-empty"):
    pm.split_masks(jax.random.key(0), 20, *fractions)


def test_heldout_metrics_read_only_the_masked_decisive_rows():
  probs = jnp.asarray([[0.7, 0.1, 0.2], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3], [0.9, 0.0, 0.1]])
  outcome = jnp.asarray([1.0, 1.0, 0.5, 0.0])
  mask = jnp.asarray([True, True, True, False])
  m = pm.heldout_metrics(probs, outcome, mask, tie_model=True)
  win = np.asarray([0.7 / 0.9, 0.2 / 0.8])  # decisive masked rows: 0 and 1, both won
  np.testing.assert_allclose(m["logloss"], -np.mean(np.log(win)), rtol=1e-6)
  np.testing.assert_allclose(m["accuracy"], 0.5)
  np.testing.assert_allclose(m["logloss3"], -np.mean(np.log([0.7, 0.2, 0.4])), rtol=1e-6)
  assert "logloss3" not in pm.heldout_metrics(probs, outcome, mask)
  assert np.isnan(pm.heldout_metrics(probs, outcome, jnp.zeros(4, bool))["logloss"])


def test_mixture_probabilities_weigh_components_by_responsibilities_or_prior():
  bt = pm.BradleyTerry(3)
  model = pm.Mixture(bt, 2, num_annotators=2)
  pairs = pm.make_pairs([0, 0], [1, 1], [1.0, 0.0], annotator=[0, 1])
  fit = pm.fit_mixture(model, pairs, jax.random.key(0), em_steps=3)
  seen = pm.mixture_outcome_probabilities(model, fit, pairs, new_people=False)
  new = pm.mixture_outcome_probabilities(model, fit, pairs, new_people=True)
  per = jax.vmap(pm.outcome_probabilities, in_axes=(None, 0, None))(
    bt, fit.params.components, pairs
  )
  expected = jnp.einsum("rk,krc->rc", fit.responsibilities[pairs.annotator], per)
  np.testing.assert_allclose(seen, expected, rtol=1e-6)
  prior = jnp.exp(pm.prior_log_weights(model, fit.params))
  np.testing.assert_allclose(new, jnp.einsum("rk,krc->rc", prior[pairs.annotator], per), rtol=1e-6)
  np.testing.assert_allclose(seen.sum(1), 1.0, rtol=1e-6)
