import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models, pareto

FF_HV = 0.34209  # Fonseca-Fleming front, reference (1, 1) (spec A.0)


def fonseca_fleming(x):
  n = x.shape[-1]
  f1 = 1 - jnp.exp(-jnp.sum((x - 1 / jnp.sqrt(n)) ** 2, -1))
  f2 = 1 - jnp.exp(-jnp.sum((x + 1 / jnp.sqrt(n)) ** 2, -1))
  return jnp.stack([f1, f2], -1)


def _fit(method):
  model = models.ConditionedMLP(1, [16, 16], 2, num_objectives=2, rngs=nnx.Rngs(0))

  def objectives(m, weights, key):
    del key
    return fonseca_fleming(4 * jnp.tanh(m(jnp.ones((weights.shape[0], 1)), weights) / 4))

  models.fit_pareto_set(
    model,
    objectives,
    jax.random.key(0),
    num_objectives=2,
    steps=800,
    learning_rate=5e-3,
    log_every=400,
    method=method,
    ideal=jnp.zeros(2),
    mu=0.01,
    num_weights=16,
  )
  return objectives(model, jnp.asarray(pareto.das_dennis(2, 100)), None)


# Slow: trains two conditioned models to convergence (about 9 s).
@pytest.mark.slow
def test_stch_covers_the_concave_front_and_ls_does_not():
  F = _fit("stch")
  hv = float(pareto.hypervolume(F, ref_point=jnp.ones(2)))
  assert hv > 0.97 * FF_HV
  # The middle weight lands in the interior: the TCH optimum for (0.5, 0.5) is f = (0.632, 0.632).
  mid = F[50]
  assert float(jnp.max(jnp.abs(mid - 0.6321))) < 0.03
  F_ls = _fit("ls")
  assert float(pareto.hypervolume(F_ls, ref_point=jnp.ones(2))) < 0.9 * FF_HV


def test_unknown_method():
  model = models.ConditionedMLP(1, [4], 2, num_objectives=2, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="Unknown scalarization"):
    models.pareto_set_loss(
      model,
      jax.random.key(0),
      lambda m, weights, k: m(jnp.ones((weights.shape[0], 1)), weights),
      num_objectives=2,
      method="pbi",
    )


def test_loss_samples_weights_with_the_pareto_vocabulary():
  model = models.ConditionedMLP(1, [4], 2, num_objectives=2, rngs=nnx.Rngs(0))
  seen = {}

  def objectives(m, weights, key):
    del key
    seen["weights"] = weights
    return m(jnp.ones((weights.shape[0], 1)), weights=weights)

  key = jax.random.key(3)
  loss, aux = models.pareto_set_loss(
    model,
    key,
    objectives,
    num_objectives=2,
    method="tch",
    ideal=jnp.zeros(2),
    rho=0.01,
    num_weights=5,
    alpha=0.5,
  )
  # The weights are jaxpref.pareto.dirichlet's, with the same names, and come back in aux.
  expected = pareto.dirichlet(jax.random.split(key)[0], 2, 5, alpha=0.5)
  np.testing.assert_allclose(aux["weights"], expected)
  np.testing.assert_allclose(seen["weights"], expected)
  scalarized = pareto.tchebycheff(aux["objectives"], expected, ideal=jnp.zeros(2), rho=0.01)
  np.testing.assert_allclose(loss, jnp.mean(scalarized), rtol=1e-12)
  with pytest.raises(TypeError):
    models.pareto_set_loss(model, key, objectives, 2)  # num_objectives is keyword-only
