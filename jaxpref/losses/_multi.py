r"""Multi-objective and group-robust preference losses: MODPO and group-robust DPO."""

import jax
import jax.numpy as jnp

from jaxpref.losses._example import Example, example_weight, require, soft_bce
from jaxpref.types import Array, ArrayLike


def modpo(
  example: Example, *, weights: ArrayLike, kl_coef: float = 0.1, hinge: bool = False
) -> tuple[Array, dict[str, Array]]:
  r"""MODPO: DPO on objective 1's preferences with the other k-1 rewards as a margin.

  With ``weights`` :math:`w` and ``kl_coef`` :math:`\beta`:

  .. math:: z = \frac{1}{w_1}\Big[\beta h - w_{2:k}^\top\big(r_\phi(y) - r_\phi(y')\big)\Big],
     \qquad \ell = -p\log\sigma(z) - (1 - p)\log\sigma(-z),

  (``hinge``: :math:`\mathrm{relu}(1 - z)` for p = 1). Its population optimum is the MORLHF policy
  :math:`\pi_w \propto \pi_{ref}\exp(w^\top r / \beta)`. Works for any k >= 2 with no code
  change: ``margin`` holds the k-1 other rewards.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, pref, margin, margin2`` (margins
      ``[k - 1]``).
    weights: ``[k]`` objective weights, ``w_1 > 0`` (objective 1 is the one labelled).
    kl_coef: KL weight :math:`\beta` (MODPO's :math:`\beta`).
    hinge: use the hinge variant.

  Returns:
    ``(loss, {"logits": z})``.

  References:
    Zhou et al., Beyond one-preference-fits-all alignment: multi-objective direct preference
    optimization, Findings of ACL 2024. https://arxiv.org/abs/2310.03708
  """
  logp, logp2, ref_logp, ref_logp2, p, m, m2 = require(
    example, "modpo", "logp", "logp2", "ref_logp", "ref_logp2", "pref", "margin", "margin2"
  )
  w = jnp.asarray(weights)
  if w.ndim != 1 or w.shape[0] != m.shape[-1] + 1:
    raise ValueError(
      f"modpo: weights must have k = {m.shape[-1] + 1} entries (1 + the margins); got {w.shape}."
    )
  h = (logp - ref_logp) - (logp2 - ref_logp2)
  z = (kl_coef * h - jnp.dot(w[1:], m - m2)) / w[0]
  loss = p * jax.nn.relu(1 - z) + (1 - p) * jax.nn.relu(1 + z) if hinge else soft_bce(z, p)
  return example_weight(example) * loss, {"logits": z}


def group_robust_weights(
  alpha: ArrayLike, losses: ArrayLike, groups: ArrayLike, *, step_size: float = 0.01
) -> tuple[Array, Array, Array]:
  r"""One step of group-robust preference optimisation over per-example losses.

  Group losses :math:`L_g` are means over each group's examples; the adversarial weights move by
  exponentiated gradient, :math:`\alpha_g \leftarrow \alpha_g e^{\eta L_g} / Z`, and the training
  objective is :math:`\sum_g \alpha_g L_g` (with alpha held fixed for the gradient).

  Args:
    alpha: ``[G]`` current group weights (on the simplex).
    losses: ``[N]`` per-example losses (e.g. vmapped :func:`dpo`).
    groups: ``[N]`` group id of every example, in 0..G-1.
    step_size: :math:`\eta`, the exponentiated-gradient step of the group weights (GRPO's
      :math:`\eta_\alpha`).

  Returns:
    ``(objective, new_alpha [G], group_losses [G])``.

  References:
    Ramesh et al., Group robust preference optimization in reward-free RLHF, NeurIPS 2024.
    https://arxiv.org/abs/2405.20304
  """
  alpha, losses, groups = jnp.asarray(alpha), jnp.asarray(losses), jnp.asarray(groups)
  num_groups = alpha.shape[0]
  total = jax.ops.segment_sum(losses, groups, num_segments=num_groups)
  count = jax.ops.segment_sum(jnp.ones_like(losses), groups, num_segments=num_groups)
  group_losses = total / jnp.maximum(count, 1)
  new_alpha = jax.nn.softmax(jnp.log(alpha) + step_size * jax.lax.stop_gradient(group_losses))
  objective = jnp.sum(jax.lax.stop_gradient(new_alpha) * group_losses)
  return objective, new_alpha, group_losses
