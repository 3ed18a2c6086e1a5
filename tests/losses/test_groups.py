"""GRPO and MaxMin-RLHF at the policy level: group weights, group-robust DPO, max-min REINFORCE."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxpref import losses as L  # noqa: N812

from ._helpers import PAIR, sig

E = math.e
# The spec's MaxMin-RLHF toy: three responses, two groups, uniform reference, beta = 1.
TOY_REWARDS = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]])


# group_robust_weights


def test_group_robust_weights_two_groups_closed_form():
  losses = jnp.array([0.5, 1.5, 2.0, 4.0])  # group means (1, 3)
  groups = jnp.array([0, 0, 1, 1])
  obj, alpha, gl = L.group_robust_weights(jnp.array([0.5, 0.5]), losses, groups, step_size=0.5)
  expected = np.array([1 / (1 + E), E / (1 + E)])
  np.testing.assert_allclose(gl, [1.0, 3.0])
  np.testing.assert_allclose(alpha, expected, rtol=1e-12)
  assert float(obj) == pytest.approx(float(expected @ np.array([1.0, 3.0])), rel=1e-12)


def test_an_absent_group_moves_with_the_weighted_mean_of_the_present_ones():
  alpha0 = jnp.array([0.25, 0.25, 0.5])
  losses, groups = jnp.array([1.0, 3.0, 3.0]), jnp.array([0, 1, 1])  # group 2 absent
  obj, alpha, gl = L.group_robust_weights(alpha0, losses, groups, step_size=0.5)
  fill = (0.25 * 1 + 0.25 * 3) / 0.5  # = 2, not 0
  expected = jax.nn.softmax(jnp.log(alpha0) + 0.5 * jnp.array([1.0, 3.0, fill]))
  np.testing.assert_allclose(alpha, expected, rtol=1e-12)
  np.testing.assert_allclose(gl, [1.0, 3.0, 0.0])
  assert float(obj) == pytest.approx(float(alpha[0] * 1 + alpha[1] * 3), rel=1e-12)
  # Treating it as a zero loss would have pushed it down.
  pushed = jax.nn.softmax(jnp.log(alpha0) + 0.5 * jnp.array([1.0, 3.0, 0.0]))
  assert float(alpha[2]) > float(pushed[2]) + 0.05
  # When the present groups tie, the absent group keeps its weight exactly.
  _, same, _ = L.group_robust_weights(alpha0, jnp.array([2.0, 2.0]), jnp.array([0, 1]), step_size=3)
  np.testing.assert_allclose(same, alpha0, rtol=1e-12)


def test_group_robust_weights_jit_and_vmap_equal_eager():
  alpha0 = jnp.array([0.2, 0.3, 0.5])
  losses, groups = jnp.array([1.0, 2.0, 0.5, 4.0]), jnp.array([0, 0, 2, 2])
  step = jax.jit(lambda a, x, g: L.group_robust_weights(a, x, g, step_size=0.7))
  for eager, jitted in zip(
    L.group_robust_weights(alpha0, losses, groups, step_size=0.7),
    step(alpha0, losses, groups),
    strict=True,
  ):
    np.testing.assert_allclose(jitted, eager, rtol=1e-12)
  alphas = jnp.stack([alpha0, jnp.array([0.6, 0.2, 0.2])])
  batched = jax.vmap(step, in_axes=(0, None, None))(alphas, losses, groups)[1]
  np.testing.assert_allclose(batched[1], step(alphas[1], losses, groups)[1], rtol=1e-12)


# group_batch_weights


def test_group_batch_weights_make_the_batch_mean_the_group_objective():
  alpha = jnp.array([0.2, 0.3, 0.5])
  groups, losses = jnp.array([0, 0, 0, 1]), jnp.array([1.0, 2.0, 3.0, 10.0])  # L = (2, 10, -)
  v = L.group_batch_weights(alpha, groups)
  np.testing.assert_allclose(v, [0.2 * 4 / 3, 0.3 * 4, 0.0], rtol=1e-12)
  assert float(jnp.mean(v[groups] * losses)) == pytest.approx(0.2 * 2 + 0.3 * 10, rel=1e-12)
  # The same as group_robust_weights' objective for an unchanged alpha (step_size 0).
  obj, _, _ = L.group_robust_weights(alpha, losses, groups, step_size=0.0)
  assert float(obj) == pytest.approx(3.4, rel=1e-12)


# group_robust_dpo


def _batch():
  rng = np.random.default_rng(0)
  n = 5
  return L.Example(
    logp=jnp.asarray(rng.normal(size=n)),
    logp2=jnp.asarray(rng.normal(size=n)),
    ref_logp=jnp.asarray(rng.normal(size=n)),
    ref_logp2=jnp.asarray(rng.normal(size=n)),
    pref=jnp.asarray(rng.uniform(size=n)),
    group=jnp.array([0, 1, 1, 2, 0]),
  )


def test_group_robust_dpo_hand_computed():
  weights = jnp.array([0.5, 2.0])
  e = L.Example(**PAIR, pref=1.0, group=1)  # h = 1
  loss, aux = L.group_robust_dpo(e, weights=weights, kl_coef=0.1)
  assert float(loss) == pytest.approx(-2.0 * math.log(sig(0.1)))
  assert float(aux["base_loss"]) == pytest.approx(-math.log(sig(0.1)))
  assert float(aux["group_weight"]) == 2.0
  assert {"logits", "reward_margin"} <= set(aux)
  # A soft label, group 0: -(0.8 log sig(0.5) + 0.2 log sig(-0.5)) at kl_coef 0.5.
  soft = L.Example(**PAIR, pref=0.8, group=0)
  expected = -0.5 * (0.8 * math.log(sig(0.5)) + 0.2 * math.log(sig(-0.5)))
  assert float(L.group_robust_dpo(soft, weights=weights, kl_coef=0.5)[0]) == pytest.approx(expected)


def test_group_robust_dpo_ipo_variant():
  e = L.Example(**PAIR, pref=1.0, group=0)
  loss, aux = L.group_robust_dpo(e, weights=jnp.array([0.5, 2.0]), kl_coef=0.1, ipo=True)
  assert float(loss) == pytest.approx(0.5 * (1 - 0.5 / 0.1) ** 2)  # 0.5 * 16
  assert float(aux["target"]) == pytest.approx(5.0)


def test_group_robust_dpo_with_unit_weights_is_dpo():
  batch = _batch()
  grpo = jax.vmap(lambda e: L.group_robust_dpo(e, weights=jnp.ones(3), kl_coef=0.3)[0])(batch)
  dpo = jax.vmap(lambda e: L.dpo(e, kl_coef=0.3)[0])(batch)
  np.testing.assert_allclose(grpo, dpo, rtol=1e-12)


def test_the_grpo_training_step_objective_is_the_batch_mean():
  batch = _batch()
  losses = jax.vmap(lambda e: L.dpo(e)[0])(batch)
  obj, alpha, _ = L.group_robust_weights(jnp.full(4, 0.25), losses, batch.group, step_size=1.0)
  v = L.group_batch_weights(alpha, batch.group)  # group 3 is absent
  per = jax.jit(jax.vmap(lambda e: L.group_robust_dpo(e, weights=v)[0]))(batch)
  assert float(jnp.mean(per)) == pytest.approx(float(obj), rel=1e-12)


def test_group_robust_dpo_finite_differences():
  def f(logp, logp2):
    e = L.Example(logp=logp, logp2=logp2, ref_logp=-1.5, ref_logp2=-1.2, pref=0.7, group=1)
    return L.group_robust_dpo(e, weights=jnp.array([0.3, 1.7]), kl_coef=0.5)[0]

  assert jnp.asarray(-1.0).dtype == jnp.float64
  check_grads(f, (jnp.asarray(-1.0), jnp.asarray(-2.0)), order=1, modes=["rev"], atol=1e-6)
  check_grads(
    lambda a, b: jax.jit(f)(a, b), (jnp.asarray(-0.3), jnp.asarray(-0.1)), order=1, modes=["rev"]
  )


def test_group_robust_dpo_out_of_range_group_under_jit_is_nan():
  e = L.Example(**PAIR, pref=1.0, group=2)
  loss, _ = jax.jit(lambda e: L.group_robust_dpo(e, weights=jnp.array([0.5, 2.0])))(e)
  assert np.isnan(float(loss))


# maxmin_rlhf


def test_maxmin_rlhf_hand_computed():
  e = L.Example(logp=-1.0, ref_logp=-1.5, rewards=jnp.array([1.0, -2.0]), score=0.1, weight=2.0)
  loss, aux = L.maxmin_rlhf(e, weights=jnp.array([0.75, 0.25]), kl_coef=0.2)
  # reward = 0.75 - 0.5 = 0.25; A = 0.25 - 0.2 * 0.5 - 0.1 = 0.05; loss = -2 * 0.05 * (-1).
  assert float(aux["reward"]) == pytest.approx(0.25)
  assert float(aux["advantage"]) == pytest.approx(0.05)
  assert float(loss) == pytest.approx(0.1)
  no_baseline = L.maxmin_rlhf(e._replace(score=None, weight=None), weights=jnp.array([0.75, 0.25]))
  assert float(no_baseline[1]["advantage"]) == pytest.approx(0.25 - 0.1 * 0.5)


def test_maxmin_rlhf_gradient_is_minus_the_held_advantage():
  rewards = jnp.array([0.3, 1.2, -0.4])
  w = jnp.array([0.2, 0.5, 0.3])

  def f(logp, ref_logp, rewards, score):
    e = L.Example(logp=logp, ref_logp=ref_logp, rewards=rewards, score=score)
    return L.maxmin_rlhf(e, weights=w, kl_coef=0.4)

  args = (jnp.asarray(-0.7), jnp.asarray(-1.1), rewards, jnp.asarray(0.2))
  grads = jax.grad(lambda *a: f(*a)[0], argnums=(0, 1, 2, 3))(*args)
  advantage = f(*args)[1]["advantage"]
  assert float(grads[0]) == pytest.approx(-float(advantage), rel=1e-12)
  # The advantage is held fixed: nothing flows to the reference, the rewards or the baseline.
  for g in grads[1:]:
    np.testing.assert_array_equal(g, 0.0)
  # Finite differences of the loss see A move too: d/dlogp [-A(logp) logp] = -A + kl_coef logp.
  eps = 1e-6
  fd = (f(args[0] + eps, *args[1:])[0] - f(args[0] - eps, *args[1:])[0]) / (2 * eps)
  assert float(fd) == pytest.approx(-float(advantage) + 0.4 * -0.7, rel=1e-8)


def test_maxmin_rlhf_is_an_unbiased_gradient_of_the_weighted_objective():
  rng = np.random.default_rng(1)
  theta, z_ref = jnp.asarray(rng.normal(size=3)), jnp.asarray(rng.normal(size=3))
  rewards, w, beta = jnp.asarray(rng.normal(size=(3, 2))), jnp.array([0.3, 0.7]), 0.5
  log_ref = jax.nn.log_softmax(z_ref)

  def objective(theta):
    logp = jax.nn.log_softmax(theta)
    pi = jnp.exp(logp)
    return pi @ (rewards @ w) - beta * jnp.sum(pi * (logp - log_ref))

  def surrogate_grad(theta, y, baseline):
    def loss(th):
      e = L.Example(
        logp=jax.nn.log_softmax(th)[y], ref_logp=log_ref[y], rewards=rewards[y], score=baseline
      )
      return L.maxmin_rlhf(e, weights=w, kl_coef=beta)[0]

    return jax.grad(loss)(theta)

  pi = jax.nn.softmax(theta)
  for baseline in (0.0, 0.8):
    grads = jnp.stack([surrogate_grad(theta, y, baseline) for y in range(3)])
    np.testing.assert_allclose(pi @ grads, -jax.grad(objective)(theta), atol=1e-12)
  # Not trivially: each sample's gradient differs from the expectation.
  assert float(jnp.max(jnp.abs(grads - pi @ grads))) > 1e-2


# egalitarian_weights


def test_egalitarian_weights_hand_computed():
  w = L.egalitarian_weights(jnp.array([0.5, 0.5]), jnp.array([1.0, 3.0]), step_size=0.5)
  np.testing.assert_allclose(w, [E / (1 + E), 1 / (1 + E)], rtol=1e-12)
  w3 = L.egalitarian_weights(jnp.array([0.2, 0.3, 0.5]), jnp.array([0.0, 1.0, 2.0]), step_size=2)
  expected = np.array([0.2, 0.3 * E**-2, 0.5 * E**-4])
  np.testing.assert_allclose(w3, expected / expected.sum(), rtol=1e-12)
  same = L.egalitarian_weights(jnp.array([0.2, 0.8]), jnp.array([5.0, -1.0]), step_size=0.0)
  np.testing.assert_allclose(same, [0.2, 0.8], rtol=1e-12)


def test_egalitarian_weights_move_to_the_worst_off_group_on_the_toy():
  log_ref, beta = jnp.log(jnp.full(3, 1 / 3)), 1.0

  def values(w):  # J_g of the best response to w, pi_w ∝ pi_ref exp(w . r / beta)
    logp = jax.nn.log_softmax(log_ref + TOY_REWARDS @ w / beta)
    pi = jnp.exp(logp)
    return pi @ TOY_REWARDS - beta * jnp.sum(pi * (logp - log_ref))

  step = jax.jit(lambda w: L.egalitarian_weights(w, values(w), step_size=1.0))
  w = jnp.array([0.9, 0.1])  # pi_w favours group 0's response: group 1 is worse off
  first = step(w)
  assert float(values(w)[1]) < float(values(w)[0]) and float(first[1]) > 0.1
  for _ in range(200):
    w = step(w)
  np.testing.assert_allclose(w, [0.5, 0.5], atol=1e-6)
  np.testing.assert_allclose(values(w), [0.5345, 0.5345], atol=1e-4)  # the max-min value
  # With the values fixed, a large step puts (almost) all weight on the worst-off group.
  hard = L.egalitarian_weights(jnp.array([0.9, 0.1]), values(jnp.array([0.9, 0.1])), step_size=200)
  np.testing.assert_allclose(hard, [0.0, 1.0], atol=1e-12)


# errors


@pytest.mark.parametrize(
  ("alpha", "match"),
  [
    ([0.6, 0.6], "simplex"),
    ([1.2, -0.2], "non-negative"),
    ([np.nan, 1.0], "finite"),
    ([[0.5, 0.5]], r"\[G\] vector"),
  ],
)
def test_group_robust_weights_refuse_alpha_off_the_simplex(alpha, match):
  with pytest.raises(ValueError, match=match):
    L.group_robust_weights(jnp.asarray(alpha), jnp.ones(2), jnp.array([0, 1]), step_size=0.1)
  with pytest.raises(ValueError, match=match):
    L.group_batch_weights(jnp.asarray(alpha), jnp.array([0, 1]))


def test_group_robust_weights_refuse_mismatched_losses_and_groups():
  with pytest.raises(ValueError, match="one shape"):
    L.group_robust_weights(jnp.array([0.5, 0.5]), jnp.ones(3), jnp.array([0, 1]), step_size=0.1)


def test_group_robust_weights_refuse_a_group_id_out_of_range():
  with pytest.raises(ValueError, match=r"K mismatch: alpha has G = 2 .* id 2"):
    L.group_robust_weights(jnp.array([0.5, 0.5]), jnp.ones(3), jnp.array([0, 2, 1]), step_size=1)
  with pytest.raises(ValueError, match=r"K mismatch: alpha has G = 2 .* id -1"):
    L.group_batch_weights(jnp.array([0.5, 0.5]), jnp.array([0, -1]))
  with pytest.raises(ValueError, match="integer group ids"):
    L.group_batch_weights(jnp.array([0.5, 0.5]), jnp.array([0.0, 1.0]))


def test_group_robust_dpo_refuses_a_group_id_out_of_range():
  with pytest.raises(ValueError, match=r"K mismatch: weights has G = 2 .* Example\.group .* id 2"):
    L.group_robust_dpo(L.Example(**PAIR, pref=1.0, group=2), weights=jnp.array([0.5, 2.0]))


@pytest.mark.parametrize(
  ("weights", "match"),
  [([1.0, -0.5], "non-negative"), ([1.0, np.inf], "finite"), ([[1.0, 1.0]], r"\[G\] vector")],
)
def test_group_robust_dpo_refuses_bad_weights(weights, match):
  with pytest.raises(ValueError, match=match):
    L.group_robust_dpo(L.Example(**PAIR, pref=1.0, group=0), weights=jnp.asarray(weights))


def test_group_robust_dpo_needs_an_integer_group():
  with pytest.raises(ValueError, match=r"needs Example\.group"):
    L.group_robust_dpo(L.Example(**PAIR, pref=1.0), weights=jnp.ones(2))
  with pytest.raises(ValueError, match=r"Example\.group must hold integer"):
    L.group_robust_dpo(L.Example(**PAIR, pref=1.0, group=1.0), weights=jnp.ones(2))


def test_maxmin_rlhf_refuses_weights_of_another_length():
  e = L.Example(logp=-1.0, ref_logp=-1.5, rewards=jnp.array([1.0, 0.0]))
  with pytest.raises(ValueError, match=r"K mismatch.*G = 2.*shape \(3,\)"):
    L.maxmin_rlhf(e, weights=jnp.array([0.2, 0.3, 0.5]))


@pytest.mark.parametrize(
  ("weights", "match"),
  [([0.5, 0.6], "simplex"), ([1.5, -0.5], "non-negative"), ([np.nan, 1.0], "finite")],
)
def test_maxmin_rlhf_and_egalitarian_weights_refuse_weights_off_the_simplex(weights, match):
  e = L.Example(logp=-1.0, ref_logp=-1.5, rewards=jnp.array([1.0, 0.0]))
  with pytest.raises(ValueError, match=match):
    L.maxmin_rlhf(e, weights=jnp.asarray(weights))
  with pytest.raises(ValueError, match=match):
    L.egalitarian_weights(jnp.asarray(weights), jnp.zeros(2), step_size=0.1)


def test_egalitarian_weights_refuse_values_of_another_length_and_a_negative_step():
  with pytest.raises(ValueError, match="K mismatch"):
    L.egalitarian_weights(jnp.array([0.5, 0.5]), jnp.zeros(3), step_size=0.1)
  with pytest.raises(ValueError, match="step_size"):
    L.egalitarian_weights(jnp.array([0.5, 0.5]), jnp.zeros(2), step_size=-1.0)


def test_maxmin_rlhf_needs_rewards():
  with pytest.raises(ValueError, match=r"maxmin_rlhf needs Example\.rewards"):
    L.maxmin_rlhf(L.Example(logp=-1.0, ref_logp=-1.5), weights=jnp.array([0.5, 0.5]))
  with pytest.raises(ValueError, match=r"Example\.rewards must be a \[G\] vector"):
    L.maxmin_rlhf(L.Example(logp=-1.0, ref_logp=-1.5, rewards=1.0), weights=jnp.array([1.0]))


# registry


def test_the_group_losses_are_registered():
  assert L.get_loss("group_robust_dpo") is L.group_robust_dpo
  assert L.get_loss("maxmin_rlhf") is L.maxmin_rlhf
  e = L.Example(**PAIR, pref=1.0, group=1)
  total, aux = L.combined_loss(
    e, weights={"group_robust_dpo": 1.0}, hparams={"group_robust_dpo": {"weights": [0.5, 2.0]}}
  )
  assert float(total) == pytest.approx(-2.0 * math.log(sig(0.1)))
  assert "group_robust_dpo/group_weight" in aux
