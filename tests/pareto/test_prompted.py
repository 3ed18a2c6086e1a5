import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import pareto


def test_cpo_scores_and_labels_hand_computed():
  p = jnp.array([[5.0, 4.0, 1.0], [3.0, 3.0, 3.0]])
  c = jnp.array([3.0, 4.0, 0.0])
  free3 = jnp.array([True, True, False])
  # (-2 + 0 + 1, 0 - 1 + 3); weighted by (1, 2, 0.5): (-2 + 0 + 0.5, 0 - 2 + 1.5).
  np.testing.assert_array_equal(pareto.cpo_scores(p, c, conditioned=free3), [-1.0, 2.0])
  np.testing.assert_array_equal(
    pareto.cpo_scores(p, c, conditioned=free3, weights=jnp.array([1.0, 2.0, 0.5])), [-1.5, -0.5]
  )
  np.testing.assert_array_equal(pareto.cpo_scores(p, c), [-3.0, -4.0])  # all conditioned
  assert float(pareto.cpo_preference(p[0], p[1], c, conditioned=free3)) == 0.0
  assert float(pareto.cpo_preference(p[0], p[0], c)) == 0.5
  np.testing.assert_allclose(
    pareto.cpo_preference(p[1], p[0], c, conditioned=free3, temperature=2.0), jax.nn.sigmoid(1.5)
  )
  with pytest.raises(ValueError, match=r"has 2 objectives .* but 3 were expected"):
    pareto.cpo_scores(p, c[:2])
  with pytest.raises(ValueError, match="conditioned and weights need shape"):
    pareto.cpo_scores(p, c, conditioned=jnp.array([True, False]))


def test_dpa_directional_rewards_and_rejection_sampling_round():
  r = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]])
  v = jnp.array([jnp.cos(jnp.pi / 6), jnp.sin(jnp.pi / 6)])  # t = 30 degrees
  np.testing.assert_allclose(
    pareto.directional_rewards(r, v),
    [np.sqrt(3) / 2, 0.5, 0.6 * (np.sqrt(3) / 2 + 0.5)],
    rtol=1e-12,
  )
  # Hand-checkable round: with N = 1 the target is a draw from the policy; with many samples it is
  # the best response in the support; the RSF loss is -log pi(y*).
  logp = jnp.log(jnp.array([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]]))
  scores = pareto.directional_rewards(r, v)[None, :].repeat(2, 0)
  best = pareto.rejection_sampling_targets(jax.random.key(0), logp, scores, num_samples=200)
  assert best.tolist() == [0, 2]
  rsf_loss = -jnp.take_along_axis(logp, best[:, None], 1).mean()
  np.testing.assert_allclose(rsf_loss, -(np.log(0.7) + np.log(0.6)) / 2)
  one = jax.vmap(
    lambda k: pareto.rejection_sampling_targets(k, logp[:1], scores[:1], num_samples=1)
  )(jax.random.split(jax.random.key(1), 4000))
  assert abs(float(jnp.mean(one == 0)) - 0.7) < 0.03  # a single draw follows the policy
  # Best of two: P(y* = 0) = 1 - 0.3^2 = 0.91.
  two = jax.vmap(
    lambda k: pareto.rejection_sampling_targets(k, logp[:1], scores[:1], num_samples=2)
  )(jax.random.split(jax.random.key(2), 4000))
  assert abs(float(jnp.mean(two == 0)) - 0.91) < 0.02
  with pytest.raises(ValueError, match="num_samples must be >= 1"):
    pareto.rejection_sampling_targets(jax.random.key(0), logp, scores, num_samples=0)
  with pytest.raises(ValueError, match="must match logp"):
    pareto.rejection_sampling_targets(jax.random.key(0), logp, scores[:, :2], num_samples=2)
