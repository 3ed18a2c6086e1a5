r"""The egalitarian (max-min) KL-regularized policy over several groups' rewards.

With group rewards :math:`r_u(x, y)`, :math:`u = 1..m`, and the KL-regularized values
:math:`F_u(\pi) = E_x E_\pi r_u - \beta\, KL(\pi \| \pi_{ref})` (:func:`policy_values`), the
utilitarian optimum for weights :math:`w` is closed-form (:func:`closed_form_policy`), and the
egalitarian one, MaxMin-RLHF's target (Chakraborty et al., MaxMin-RLHF: alignment with diverse
human preferences, ICML 2024), solves a convex program: by the minimax theorem

.. math:: \max_\pi \min_u F_u(\pi) = \min_{\alpha \in \Delta_m}
   \beta\, E_x \log \sum_y \pi_{ref}(y \mid x) \exp\big(\alpha^\top r(x, y) / \beta\big),

whose minimizer :math:`\alpha^*` weighs the groups and whose best response
:math:`\pi^* = \pi^*_{\alpha^*}` is the max-min policy. The dual's gradient is the group values
:math:`E_x E_{\pi_\alpha} r_u`, so exponentiated-gradient (mirror) descent on :math:`\alpha` solves
it. As :math:`\beta \to 0` its value tends to the unregularized max-min value, the linear program
:func:`jaxpref.preference.maxmin_lottery` solves when each "reward" is a column of a group's
preference matrix.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpref.pareto._policies import closed_form_policy, policy_values
from jaxpref.types import Array, ArrayLike


class Egalitarian(NamedTuple):
  r"""Result of :func:`egalitarian_policy`.

  Attributes:
    logp: ``[P, V]`` log-probabilities of the max-min policy.
    weights: ``[m]`` the optimal group weights :math:`\alpha^*` (on the simplex).
    values: ``[m]`` each group's regularized value :math:`F_u(\pi^*)`.
    gap: the duality gap left, dual value minus :math:`\min_u F_u(\pi^*)` (0 at the optimum).
  """

  logp: Array
  weights: Array
  values: Array
  gap: Array


def egalitarian_policy(
  log_ref: ArrayLike, rewards: ArrayLike, *, kl_coef: ArrayLike, steps: int = 20000
) -> Egalitarian:
  r"""The max-min KL-regularized policy, by exponentiated-gradient descent on the group weights.

  The step is :math:`\beta / R^2` with :math:`R` the largest absolute reward, a safe step for the
  dual's curvature in the simplex's geometry; ``steps`` iterations run in one ``lax.scan``
  (jittable, vmappable over ``kl_coef`` and the rewards).

  Args:
    log_ref: ``[P, V]`` reference log-probabilities.
    rewards: ``[P, V, m]`` the m groups' rewards.
    kl_coef: :math:`\beta > 0`.
    steps: mirror-descent iterations (static).

  Returns:
    An :class:`Egalitarian`.

  Raises:
    ValueError: on shapes that disagree or fewer than one group.

  Examples:
    >>> import jax.numpy as jnp
    >>> r = jnp.array([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]]])  # the spec's 3-response toy
    >>> out = egalitarian_policy(jnp.log(jnp.full((1, 3), 1 / 3)), r, kl_coef=1.0)
    >>> [round(v, 4) for v in out.values.tolist()]
    [0.5345, 0.5345]
  """
  log_ref, R = jnp.asarray(log_ref), jnp.asarray(rewards)
  if R.ndim != 3 or R.shape[:2] != log_ref.shape or R.shape[-1] < 1:
    raise ValueError(
      f"need log_ref [P, V] and rewards [P, V, m] with m >= 1; got {log_ref.shape}, {R.shape}."
    )
  m = R.shape[-1]
  eta = kl_coef / jnp.maximum(jnp.max(jnp.abs(R)) ** 2, 1e-12)

  def dual(alpha):
    scores = jnp.einsum("pvm,m->pv", R, alpha) / kl_coef
    return kl_coef * jnp.mean(jax.nn.logsumexp(log_ref + scores, axis=-1))

  def body(log_alpha, _):
    grad = jax.grad(dual)(jax.nn.softmax(log_alpha))
    return jax.nn.log_softmax(log_alpha - eta * grad), None

  start = jnp.full((m,), -jnp.log(m), R.dtype)
  log_alpha, _ = jax.lax.scan(body, start, None, length=int(steps))
  alpha = jax.nn.softmax(log_alpha)
  logp = closed_form_policy(log_ref, R, alpha, kl_coef=kl_coef)
  values = policy_values(logp, log_ref, R, kl_coef=kl_coef)
  return Egalitarian(logp, alpha, values, dual(alpha) - jnp.min(values))
