import jax
import jax.numpy as jnp
import numpy as np

from jaxpref import pareto


def _task(key, P=5, V=6, m=2):
  k1, k2 = jax.random.split(key)
  log_ref = jax.nn.log_softmax(jax.random.normal(k1, (P, V)), axis=-1)
  return log_ref, jax.random.normal(k2, (P, V, m))


def test_closed_form_maximizes_its_linear_scalarization():
  log_ref, R = _task(jax.random.key(0))
  weights = jnp.array([0.3, 0.7])
  best = pareto.closed_form_policy(log_ref, R, weights, kl_coef=0.5)
  value = float(weights @ pareto.policy_values(best, log_ref, R, kl_coef=0.5))
  for k in range(5):
    other = jax.nn.log_softmax(best + 0.1 * jax.random.normal(jax.random.key(k), best.shape), -1)
    assert float(weights @ pareto.policy_values(other, log_ref, R, kl_coef=0.5)) < value


def test_closed_form_batches_over_weights_and_reference_has_zero_kl():
  log_ref, R = _task(jax.random.key(1))
  weights = jnp.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
  logp = pareto.closed_form_policy(log_ref, R, weights, kl_coef=2.0)
  assert logp.shape == (3, 5, 6)
  np.testing.assert_allclose(
    logp[1], pareto.closed_form_policy(log_ref, R, weights[1], kl_coef=2.0)
  )
  values = pareto.policy_values(log_ref, log_ref, R, kl_coef=3.0)  # KL(ref || ref) = 0
  np.testing.assert_allclose(
    values, jnp.mean(jnp.einsum("pv,pvm->pm", jnp.exp(log_ref), R), 0), rtol=1e-6
  )


def test_interpolate_params_is_the_weighted_sum_of_stacked_experts():
  experts = {"a": jnp.arange(6.0).reshape(2, 3), "b": {"c": jnp.ones((2, 2, 2))}}
  out = pareto.interpolate_params(experts, jnp.array([0.25, 0.75]))
  np.testing.assert_allclose(out["a"], 0.25 * experts["a"][0] + 0.75 * experts["a"][1])
  assert out["b"]["c"].shape == (2, 2)
  corner = pareto.interpolate_params(experts, jnp.array([1.0, 0.0]))
  np.testing.assert_array_equal(corner["a"], experts["a"][0])


def _modpo_by_hand(logp, log_ref, R, w, kl_coef):
  """The formula of Zhou et al. (2024) written out for the weight's largest objective."""
  primary = int(np.argmax(w))
  others = [i for i in range(R.shape[-1]) if i != primary]
  dr = R[:, :, None, :] - R[:, None, :, :]
  target = jax.nn.sigmoid(dr[..., primary])
  margin = jnp.einsum("pabk,k->pab", dr[..., np.array(others)], w[np.array(others)])
  ratio = logp - log_ref
  z = (kl_coef * (ratio[:, :, None] - ratio[:, None, :]) - margin) / w[primary]
  return jnp.mean(-(target * jax.nn.log_sigmoid(z) + (1 - target) * jax.nn.log_sigmoid(-z)))


def test_modpo_population_loss_matches_the_formula_and_is_minimal_at_the_closed_form():
  log_ref, R = _task(jax.random.key(2), m=3)
  logp = jax.nn.log_softmax(jax.random.normal(jax.random.key(3), log_ref.shape), -1)
  for w in (jnp.array([0.2, 0.5, 0.3]), jnp.array([0.6, 0.1, 0.3])):
    got = pareto.modpo_population_loss(logp, log_ref, R, w, kl_coef=0.5)
    np.testing.assert_allclose(got, _modpo_by_hand(logp, log_ref, R, w, 0.5), rtol=1e-5)
    best = pareto.closed_form_policy(log_ref, R, w, kl_coef=0.5)
    grad = jax.grad(lambda z, w=w: pareto.modpo_population_loss(z, log_ref, R, w, kl_coef=0.5))(
      best
    )
    assert float(jnp.max(jnp.abs(grad))) < 1e-5
  kl = pareto.policy_kl(best, log_ref)
  assert kl.shape == () and float(kl) > 0
