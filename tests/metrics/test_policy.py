import jax
import jax.numpy as jnp
import numpy as np

from jaxpref import games, metrics


def test_policy_metrics_average_the_per_prompt_metrics():
  _, P = games.contextual_bandit(jax.random.key(1), prompts=5, features=3, n=4, cycle=1.0)
  pi = jax.nn.softmax(jax.random.normal(jax.random.key(2), (5, 4)))
  ref = jnp.full((5, 4), 0.25)
  out = metrics.policy_metrics(P, pi, kl_coef=0.1)
  gap = metrics.regularized_duality_gap(P, pi, kl_coef=0.1, ref_policy=ref)
  np.testing.assert_allclose(out["regularized_gap"], jnp.mean(gap), rtol=1e-12)
  np.testing.assert_allclose(out["duality_gap"], jnp.mean(metrics.duality_gap(P, pi)), rtol=1e-12)
  np.testing.assert_allclose(
    out["win_rate_vs_ref"], jnp.mean(metrics.win_rate(P, pi, ref)), rtol=1e-12
  )
  # The reference itself wins half the time against itself.
  assert float(metrics.policy_metrics(P, ref, kl_coef=0.1)["win_rate_vs_ref"]) == 0.5
