"""Constrained RLHF: the dual's closed forms, the exact optimum and a trained Lagrangian policy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import optimize

from jaxpref import overoptimization as oo


def test_two_outcomes_have_a_closed_form():
  # min KL(pi || ref) s.t. E_pi r = 0.5, r = (0, 1): pi = (.5, .5), mu = logit(.5) - logit(.2).
  out = oo.constrained_policy(
    jnp.array([[0.0, 1.0]]), ref_policy=jnp.array([0.8, 0.2]), thresholds=[0.5], senses="=="
  )
  np.testing.assert_allclose(out.policy, [0.5, 0.5], atol=1e-9)
  assert float(out.multipliers[0]) == pytest.approx(np.log(4.0), abs=1e-8)
  assert float(out.violation) < 1e-9


def test_an_inactive_inequality_leaves_the_unconstrained_optimum():
  ref, r0 = jnp.array([0.2, 0.3, 0.5]), jnp.array([1.0, 0.0, -1.0])
  out = oo.constrained_policy(
    jnp.array([[0.0, 1.0, 2.0]]), ref_policy=ref, thresholds=[0.1], task_reward=r0, kl_coef=0.5
  )
  assert float(out.multipliers[0]) == 0.0
  np.testing.assert_allclose(
    out.policy, oo.kl_regularized_policy(r0, kl_coef=0.5, ref_policy=ref), atol=1e-12
  )


def _scipy_optimum(ref, r0, cost, budget, beta):
  def negative(z):
    pi = np.exp(z - z.max())
    pi /= pi.sum()
    return -(pi @ r0 - beta * np.sum(pi * np.log(pi / ref)))

  def slack(z):
    pi = np.exp(z - z.max())
    pi /= pi.sum()
    return budget - pi @ cost

  res = optimize.minimize(
    negative, np.log(ref), constraints=[{"type": "ineq", "fun": slack}], method="SLSQP",
    options={"ftol": 1e-14, "maxiter": 1000},
  )  # fmt: skip
  pi = np.exp(res.x - res.x.max())
  return pi / pi.sum()


def test_a_safety_budget_matches_a_general_solver():
  rng = np.random.default_rng(0)
  ref = rng.dirichlet(np.ones(6))
  r0, cost = rng.normal(size=6), rng.uniform(size=6)
  out = oo.constrained_policy(
    jnp.asarray(cost)[None], ref_policy=jnp.asarray(ref), thresholds=[0.3],
    task_reward=jnp.asarray(r0), kl_coef=0.2, senses="<=",
  )  # fmt: skip
  assert float(out.values[0]) <= 0.3 + 1e-7
  assert float(out.multipliers[0]) > 0  # the budget binds here
  np.testing.assert_allclose(out.policy, _scipy_optimum(ref, r0, cost, 0.3, 0.2), atol=1e-5)


def test_a_trained_lagrangian_policy_meets_its_constraint_and_the_exact_optimum():
  """Adam on the Lagrangian's policy logits, one dual step per update (exact expectations)."""
  ref = jnp.array([0.5, 0.3, 0.15, 0.05])
  r0 = jnp.array([0.0, 0.5, 1.0, 3.0])  # the task reward loves the rare response
  cost = jnp.array([0.0, 0.2, 0.5, 1.0])
  beta, budget = 0.5, 0.25
  exact = oo.constrained_policy(
    cost[None], ref_policy=ref, thresholds=[budget], task_reward=r0, kl_coef=beta, senses="<="
  )
  tx = optax.adam(0.05)

  def update(carry, _):
    theta, opt, lagrange = carry

    def loss(t):
      pi = jax.nn.softmax(jnp.log(ref) + t)
      reward = oo.lagrangian_reward(r0, cost[:, None], lagrange, senses="<=")
      return -(pi @ reward - beta * jnp.sum(pi * jnp.log(pi / ref)))

    updates, opt = tx.update(jax.grad(loss)(theta), opt)
    theta = optax.apply_updates(theta, updates)
    value = jax.nn.softmax(jnp.log(ref) + theta) @ cost
    lagrange = oo.lagrange_step(
      lagrange, value[None], thresholds=jnp.array([budget]), step_size=0.5, senses="<="
    )
    return (theta, opt, lagrange), None

  theta = jnp.zeros(4)
  (theta, _, lagrange), _ = jax.lax.scan(
    update, (theta, tx.init(theta), oo.lagrange_init(1)), None, length=4000
  )
  pi = jax.nn.softmax(jnp.log(ref) + theta)
  assert float(pi @ cost) <= budget + 2e-3
  np.testing.assert_allclose(pi, exact.policy, atol=5e-3)
  assert float(lagrange.multipliers[0]) == pytest.approx(float(exact.multipliers[0]), rel=0.05)
  unconstrained = oo.kl_regularized_policy(r0, kl_coef=beta, ref_policy=ref)
  assert float(unconstrained @ cost) > budget + 0.05  # the constraint mattered


def test_dual_step_projects_inequalities_and_frees_equalities():
  state = oo.Lagrange(jnp.array([0.1, 0.1, 0.1]))
  out = oo.lagrange_step(
    state, jnp.array([1.0, 1.0, 1.0]), thresholds=jnp.zeros(3), step_size=1.0,
    senses=(">=", "<=", "=="),
  )  # fmt: skip
  # ">=" satisfied: mu shrinks to 0; "<=" violated: mu grows; "==": mu may go negative.
  np.testing.assert_allclose(out.multipliers, [0.0, 1.1, -0.9])
  mixed = oo.lagrangian_reward(jnp.zeros(2), jnp.ones((2, 3)), out, senses=(">=", "<=", "=="))
  np.testing.assert_allclose(mixed, [-1.1 - 0.9] * 2)


def test_bad_input_is_refused():
  ref, R = jnp.array([0.5, 0.5]), jnp.array([[0.0, 1.0]])
  with pytest.raises(ValueError, match="outside the reward's range"):
    oo.constrained_policy(R, ref_policy=ref, thresholds=[1.5])
  with pytest.raises(ValueError, match="outside the reward's range"):
    oo.constrained_policy(R, ref_policy=ref, thresholds=[0.0])
  with pytest.raises(ValueError, match="Unknown constraint sense"):
    oo.constrained_policy(R, ref_policy=ref, thresholds=[0.5], senses=">")
  with pytest.raises(ValueError, match="one sense per constraint"):
    oo.lagrange_step(oo.lagrange_init(2), jnp.ones(2), thresholds=jnp.ones(2), step_size=1.0,
                     senses=(">=",))  # fmt: skip
  with pytest.raises(ValueError, match="need ref_policy"):
    oo.constrained_policy(jnp.array([0.0, 1.0]), ref_policy=ref, thresholds=[0.5])
  with pytest.raises(ValueError, match="at least one constraint"):
    oo.lagrange_init(0)
