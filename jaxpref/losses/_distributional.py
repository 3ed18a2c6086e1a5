r"""AOT: distributional alignment of a batch by first-order stochastic dominance (1-D transport).

Melnyk et al. (Distributional preference alignment of LLMs via optimal transport, NeurIPS 2024)
ask the policy's reward distribution on chosen responses to dominate the one on rejected responses
in the first order, not each pair. In one dimension the optimal transport plan under a convex cost
matches sorted samples, so the violation is measured between order statistics of a batch of B
pairs, with the implicit rewards :math:`\beta \log(\pi / \pi_{ref})` (:math:`\beta` =
``kl_coef``):

- paired (``paired=True``; "aot" in TRL): sort :math:`\Delta_\pi = \log\pi(y_w) - \log\pi(y_l)`
  and :math:`\Delta_{ref}` separately and penalize :math:`z_i = \beta(\Delta_{\pi,(i)} -
  \Delta_{ref,(i)})`;
- unpaired (``paired=False``; "aot_pair"): sort the chosen log-ratios
  :math:`c = \log\pi(y_w)/\pi_{ref}(y_w)` and the rejected ones :math:`r` separately and penalize
  :math:`z_i = \beta(c_{(i)} - r_{(i)})`.

The penalty is logistic, :math:`-(1 - \epsilon)\log\sigma(z_i) - \epsilon\log\sigma(-z_i)` (label
smoothing :math:`\epsilon`), or the squared hinge :math:`\max(0, -z_i)^2`, which is zero exactly
when every order statistic of the chosen side is at least the rejected one's: empirical
first-order dominance. With B = 1 the paired logistic loss is DPO. ``jnp.sort`` is differentiable
almost everywhere (the gradient follows the sorted order).
"""

import jax
import jax.numpy as jnp

from jaxpref.losses._example import Example, require
from jaxpref.types import Array

SURROGATES = ("logistic", "squared_hinge")


def aot(
  example: Example,
  *,
  kl_coef: float = 0.1,
  paired: bool = True,
  surrogate: str = "logistic",
  label_smoothing: float = 0.0,
) -> tuple[Array, dict[str, Array]]:
  r"""AOT's dominance loss on one batch of B (chosen, rejected) pairs.

  Args:
    example: a batch as one example: ``logp, logp2, ref_logp, ref_logp2`` of shape ``[B]``
      (``logp`` the chosen responses, ``logp2`` the rejected ones).
    kl_coef: :math:`\beta` (AOT's and TRL's ``beta``).
    paired: sort the log-ratio differences (True) or the chosen and rejected log-ratios apart.
    surrogate: ``"logistic"`` or ``"squared_hinge"`` (static).
    label_smoothing: :math:`\epsilon` of the logistic surrogate, in [0, 1/2).

  Returns:
    ``(loss, {"margins": z [B], "violation": share of order statistics with z < 0})``.

  Raises:
    ValueError: on an unknown surrogate or fields that are not matching ``[B]`` vectors.

  Examples:
    >>> import jax.numpy as jnp
    >>> ex = Example(logp=jnp.array([-1.0, -2.0]), logp2=jnp.array([-3.0, -1.0]),
    ...              ref_logp=jnp.array([-2.0, -2.0]), ref_logp2=jnp.array([-2.0, -2.0]))
    >>> float(aot(ex, kl_coef=1.0, paired=False, surrogate="squared_hinge")[0])
    0.0
  """
  if surrogate not in SURROGATES:
    raise ValueError(f"Unknown AOT surrogate {surrogate!r}; known: {', '.join(SURROGATES)}.")
  logp, logp2, ref_logp, ref_logp2 = require(
    example, "aot", "logp", "logp2", "ref_logp", "ref_logp2"
  )
  shapes = {jnp.shape(x) for x in (logp, logp2, ref_logp, ref_logp2)}
  if len(shapes) != 1 or len(next(iter(shapes))) != 1:
    raise ValueError(f"aot takes one batch as [B] vectors of one length; got shapes {shapes}.")
  if paired:
    z = kl_coef * (jnp.sort(logp - logp2) - jnp.sort(ref_logp - ref_logp2))
  else:
    z = kl_coef * (jnp.sort(logp - ref_logp) - jnp.sort(logp2 - ref_logp2))
  if surrogate == "logistic":
    per = -(1.0 - label_smoothing) * jax.nn.log_sigmoid(z) - label_smoothing * jax.nn.log_sigmoid(
      -z
    )
  else:
    per = jax.nn.relu(-z) ** 2
  return jnp.mean(per), {"margins": z, "violation": jnp.mean(z < 0)}
