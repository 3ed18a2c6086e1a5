r"""Multi-objective preference losses: MODPO (the group-robust ones are in ``_groups``)."""

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
