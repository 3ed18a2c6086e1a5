r"""Constrained RLHF: Lagrange multipliers by dual ascent, and the exact KL-regularized optimum.

Moskovitz et al. (Confronting reward model overoptimization with constrained RLHF, 2024) keep each
component reward's value :math:`v_i(\pi) = \mathbb{E}_{y \sim \pi} r_i(y)` at a threshold
:math:`\theta_i` (its *proxy point*: the value at which the gold evaluation peaked) instead of
maximizing a fixed weighting of the components:

.. math:: \max_\pi\ \mathbb{E}_\pi r_0 - \beta\,\mathrm{KL}(\pi \,\|\, \pi_{\mathrm{ref}})
   \quad \text{s.t.}\quad s_i\,(v_i(\pi) - \theta_i) \ge 0 \ \text{or}\ v_i(\pi) = \theta_i,

with :math:`s_i = +1` for ":math:`\ge`" and :math:`-1` for ":math:`\le`" (a safety cost kept
under a budget). The Lagrangian

.. math:: L(\pi, \mu) = \mathbb{E}_\pi r_0 - \beta\,\mathrm{KL} + \sum_i \mu_i s_i (v_i - \theta_i)

is maximized over :math:`\pi` by any trainer on the mixed reward
:math:`r_0 + \sum_i \mu_i s_i r_i` (:func:`lagrangian_reward`) and minimized over :math:`\mu`
(:math:`\mu_i \ge 0` for inequalities, free for equalities) by
:math:`\mu_i \leftarrow \mu_i - \eta\, s_i (\hat v_i - \theta_i)` (:func:`lagrange_step`),
so a multiplier grows while its constraint is violated: the multipliers are dynamic weights.

On a categorical policy the inner maximum is closed-form,
:math:`\pi_\mu \propto \pi_{\mathrm{ref}} \exp\big((r_0 + \sum_i \mu_i s_i r_i)/\beta\big)`, and
the dual :math:`g(\mu) = \beta \log Z(\mu) - \sum_i \mu_i s_i \theta_i` is convex with gradient
:math:`s_i (v_i(\pi_\mu) - \theta_i)`: :func:`constrained_policy` descends it to the exact
constrained optimum, the reference the trainers are tested against.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike

SENSES = (">=", "<=", "==")


class Lagrange(NamedTuple):
  """Lagrange multipliers of ``k`` constraints.

  Attributes:
    multipliers: ``[k]`` mu (>= 0 for inequalities).
  """

  multipliers: Array


def _signs(senses: str | Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
  """``(s [k], equality [k])`` of the constraint senses (one string applies to all)."""
  senses = [senses] * k if isinstance(senses, str) else list(senses)
  if len(senses) != k:
    raise ValueError(f"need one sense per constraint ({k}); got {len(senses)}.")
  for s in senses:
    if s not in SENSES:
      raise ValueError(f"Unknown constraint sense {s!r}; known: {', '.join(SENSES)}.")
  sign = np.array([-1.0 if s == "<=" else 1.0 for s in senses])
  return sign, np.array([s == "==" for s in senses])


def lagrange_init(num_constraints: int, *, dtype=None) -> Lagrange:
  """Zero multipliers for ``num_constraints`` constraints (Moskovitz et al. start at 0)."""
  if int(num_constraints) < 1:
    raise ValueError(f"need at least one constraint; got {num_constraints}.")
  return Lagrange(jnp.zeros((int(num_constraints),), dtype or jnp.result_type(float)))


def lagrange_step(
  state: Lagrange,
  values: ArrayLike,
  *,
  thresholds: ArrayLike,
  step_size: ArrayLike,
  senses: str | Sequence[str] = ">=",
) -> Lagrange:
  r"""One dual step :math:`\mu_i \leftarrow \mu_i - \eta\, s_i(\hat v_i - \theta_i)`, projected.

  Args:
    state: the multipliers.
    values: ``[k]`` estimates of :math:`v_i(\pi)` under the current policy.
    thresholds: ``[k]`` :math:`\theta_i`.
    step_size: :math:`\eta`, the dual step size (Moskovitz et al.'s Lagrange learning rate).
    senses: per constraint ``">="``, ``"<="`` or ``"=="`` (static); one string for all.

  Returns:
    The updated multipliers (inequality multipliers clipped at 0).
  """
  mu = state.multipliers
  sign, equality = _signs(senses, mu.shape[-1])
  mu = mu - step_size * sign * (jnp.asarray(values) - jnp.asarray(thresholds))
  return Lagrange(jnp.where(equality, mu, jnp.maximum(mu, 0.0)))


def lagrangian_reward(
  task_reward: ArrayLike,
  constraint_rewards: ArrayLike,
  state: Lagrange,
  *,
  senses: str | Sequence[str] = ">=",
) -> Array:
  r"""The mixed reward :math:`r_0 + \sum_i \mu_i s_i r_i` a primal trainer maximizes.

  Args:
    task_reward: ``[...]`` :math:`r_0` per sample (0 for Moskovitz et al.'s ":math:`-`KL" task).
    constraint_rewards: ``[..., k]`` :math:`r_i` per sample.
    state: the multipliers.
    senses: as in :func:`lagrange_step`.

  Returns:
    ``[...]`` the mixed reward.
  """
  mu = state.multipliers
  sign, _ = _signs(senses, mu.shape[-1])
  return jnp.asarray(task_reward) + jnp.sum(mu * sign * jnp.asarray(constraint_rewards), axis=-1)


def kl_regularized_policy(reward: ArrayLike, *, kl_coef: ArrayLike, ref_policy: ArrayLike) -> Array:
  r"""The maximizer of :math:`\mathbb{E}_\pi r - \beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})`.

  .. math:: \pi_\beta(y) \propto \pi_{\mathrm{ref}}(y)\, e^{r(y)/\beta}.

  Args:
    reward: ``[..., m]`` rewards.
    kl_coef: :math:`\beta > 0`.
    ref_policy: ``[..., m]`` reference probabilities.

  Returns:
    ``[..., m]`` the policy.
  """
  ref = jnp.asarray(ref_policy)
  logits = jnp.log(jnp.where(ref > 0, ref, 1.0)) + jnp.asarray(reward) / kl_coef
  return jax.nn.softmax(jnp.where(ref > 0, logits, -jnp.inf), axis=-1)


class Constrained(NamedTuple):
  """Result of :func:`constrained_policy`.

  Attributes:
    policy: ``[m]`` the constrained optimum.
    multipliers: ``[k]`` the optimal mu.
    values: ``[k]`` the constraint values v_i at the optimum.
    violation: the largest constraint violation left (0 when feasible).
  """

  policy: Array
  multipliers: Array
  values: Array
  violation: Array


def constrained_policy(
  constraint_rewards: ArrayLike,
  *,
  ref_policy: ArrayLike,
  thresholds: ArrayLike,
  kl_coef: ArrayLike = 1.0,
  task_reward: ArrayLike | None = None,
  senses: str | Sequence[str] = ">=",
  steps: int = 20000,
) -> Constrained:
  r"""The exact KL-regularized constrained optimum on a categorical, by dual descent.

  Projected gradient descent on the convex dual with step :math:`\beta/L`, where
  :math:`L = \sum_i (\max r_i - \min r_i)^2 / 4` bounds its curvature, and a momentum-free
  ``lax.scan`` of ``steps`` iterations (jittable and vmappable in every array argument).

  Args:
    constraint_rewards: ``[k, m]`` the component rewards :math:`r_i`.
    ref_policy: ``[m]`` reference probabilities.
    thresholds: ``[k]`` :math:`\theta_i`; each must lie strictly inside ``r_i``'s range.
    kl_coef: :math:`\beta > 0`.
    task_reward: ``[m]`` :math:`r_0`; zero when ``None`` (minimum KL subject to the constraints).
    senses: per constraint ``">="``, ``"<="`` or ``"=="``.
    steps: dual iterations (static).

  Returns:
    A :class:`Constrained`.

  Raises:
    ValueError: on shapes that disagree, or a concrete threshold outside its reward's range.

  Examples:
    >>> import jax.numpy as jnp
    >>> R, ref = jnp.array([[0.0, 1.0]]), jnp.array([0.8, 0.2])
    >>> out = constrained_policy(R, ref_policy=ref, thresholds=[0.5])
    >>> [round(p, 4) for p in out.policy.tolist()]
    [0.5, 0.5]
  """
  ref = jnp.asarray(ref_policy)
  R = jnp.asarray(constraint_rewards, ref.dtype)
  theta = jnp.asarray(thresholds, ref.dtype)
  if R.ndim != 2 or R.shape[1] != ref.shape[-1] or theta.shape != R.shape[:1]:
    raise ValueError(
      f"need ref_policy [m], constraint_rewards [k, m] and thresholds [k]; got {ref.shape}, "
      f"{R.shape}, {theta.shape}."
    )
  check_thresholds(R, theta)
  r0 = jnp.zeros_like(ref) if task_reward is None else jnp.asarray(task_reward, ref.dtype)
  sign, equality = _signs(senses, R.shape[0])
  spread = jnp.max(R, axis=1) - jnp.min(R, axis=1)
  eta = kl_coef / jnp.maximum(jnp.sum(spread**2) / 4.0, 1e-12)

  def policy(state):
    reward = lagrangian_reward(r0, R.T, state, senses=senses)
    return kl_regularized_policy(reward, kl_coef=kl_coef, ref_policy=ref)

  def body(state, _):
    v = R @ policy(state)
    return lagrange_step(state, v, thresholds=theta, step_size=eta, senses=senses), None

  state, _ = jax.lax.scan(body, Lagrange(jnp.zeros_like(theta)), None, length=int(steps))
  mu, pi = state.multipliers, policy(state)
  v = R @ pi
  slack = sign * (v - theta)
  violation = jnp.max(jnp.where(equality, jnp.abs(slack), jnp.maximum(-slack, 0.0)))
  return Constrained(pi, mu, v, violation)


def check_thresholds(rewards: ArrayLike, thresholds: ArrayLike) -> None:
  """Raises unless each concrete threshold lies strictly inside its reward's range.

  Args:
    rewards: ``[k, m]`` component rewards over the responses.
    thresholds: ``[k]`` thresholds (traced values pass unchecked).

  Raises:
    ValueError: naming the constraint and the range.
  """
  if isinstance(thresholds, jax.core.Tracer) or isinstance(rewards, jax.core.Tracer):
    return
  R, theta = np.asarray(rewards), np.asarray(thresholds)
  lo, hi = R.min(axis=-1), R.max(axis=-1)
  for i, (t, a, b) in enumerate(zip(theta.ravel(), lo.ravel(), hi.ravel(), strict=True)):
    if not a < t < b:
      raise ValueError(
        f"constraint {i}: threshold {t:g} lies outside the reward's range ({a:g}, {b:g}); no "
        "policy can meet it with room to spare."
      )
