r"""Multi-objective preference losses: MODPO and CPO (the group-robust ones are in ``_groups``)."""

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


def cpo_score(p: Array, c: Array, conditioned: Array, weights: Array) -> Array:
  """CPO's :math:`R(y|c)` (``jaxpref.pareto.cpo_scores`` checks the inputs and documents it)."""
  return jnp.sum(weights * jnp.where(conditioned, -jnp.abs(p - c), p), axis=-1)


def cpo_label(d: Array, temperature: float) -> Array:
  """CPO's label from the score difference ``d``: hard (ties 1/2) or Bradley-Terry at ``tau``."""
  if temperature == 0:
    return jnp.where(d > 0, 1.0, jnp.where(d < 0, 0.0, 0.5)).astype(d.dtype)
  return jax.nn.sigmoid(d / temperature)


def cpo(
  example: Example,
  *,
  condition: ArrayLike,
  kl_coef: float = 0.1,
  conditioned: ArrayLike | None = None,
  weights: ArrayLike | None = None,
  temperature: float = 0.0,
) -> tuple[Array, dict[str, Array]]:
  r"""CPO's controllable DPO (CDPO): DPO on the condition-prefixed prompt, labelled by R(y|c).

  The policy's log-probabilities are those given the prompt with the condition's preference
  tokens; the pair is labelled by which response better meets the condition,

  .. math:: R(y \mid c) = \sum_i \omega_i g_i(y), \quad
     g_i = -|p_i(y) - c_i| \ (\text{conditioned}), \quad g_i = p_i(y) \ (\text{free}),

  :math:`p = 1[R(y|c) > R(y'|c)]` (1/2 on ties) or :math:`\sigma(\Delta R / \tau)`, and the loss
  is :func:`dpo`'s :math:`-p \log\sigma(\beta h) - (1 - p)\log\sigma(-\beta h)`.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2`` and the attribute ratings of y and y' in
      ``margin`` and ``margin2`` (``[m]`` each: the per-objective vectors of the pair).
    condition: ``[m]`` target ratings :math:`c`.
    kl_coef: KL weight :math:`\beta`.
    conditioned: ``[m]`` booleans, True where conditioned (default all).
    weights: ``[m]`` objective weights :math:`\omega` (default ones).
    temperature: :math:`\tau \ge 0` of the label (0: the paper's hard label).

  Returns:
    ``(loss, {"logits": kl_coef h, "pref": p})``.

  References:
    Guo et al., Controllable preference optimization: toward controllable multi-objective
    alignment, EMNLP 2024. https://arxiv.org/abs/2402.19085
  """
  logp, logp2, ref_logp, ref_logp2, a, a2 = require(
    example, "cpo", "logp", "logp2", "ref_logp", "ref_logp2", "margin", "margin2"
  )
  m = a.shape[-1]
  mask = jnp.ones((m,), bool) if conditioned is None else jnp.asarray(conditioned, bool)
  omega = jnp.ones((m,), a.dtype) if weights is None else jnp.asarray(weights, a.dtype)
  c = jnp.asarray(condition, a.dtype)
  if c.shape[-1:] != (m,) or mask.shape != (m,) or omega.shape != (m,):
    raise ValueError(
      f"cpo: condition, conditioned and weights need {m} entries (the attributes'); got "
      f"{c.shape}, {mask.shape}, {omega.shape}."
    )
  p = cpo_label(cpo_score(a, c, mask, omega) - cpo_score(a2, c, mask, omega), temperature)
  z = kl_coef * ((logp - ref_logp) - (logp2 - ref_logp2))
  return example_weight(example) * soft_bce(z, p), {"logits": z, "pref": p}
