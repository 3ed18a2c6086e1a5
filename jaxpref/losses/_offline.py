r"""Offline pairwise losses on a labelled pair: DPO, IPO, conservative DPO and robust DPO.

With the reference-normalised log-ratio difference

.. math:: h = \log\frac{\pi_\theta(y)}{\pi_{ref}(y)} - \log\frac{\pi_\theta(y')}{\pi_{ref}(y')}

and a preference probability (or label) p = P(y > y'), ties being p = 1/2. Every loss here takes
the KL weight of its objective as ``kl_coef`` (:math:`\beta`): DPO's :math:`\beta` and IPO's
:math:`\tau` are both ``kl_coef``, and a larger value keeps the policy closer to pi_ref (see
docs/solvers.md, 'Hyperparameter names').
"""

import jax

from jaxpref.losses._example import Example, example_weight, require, soft_bce
from jaxpref.types import Array


def _h(example: Example, loss: str) -> tuple[Array, Array]:
  logp, logp2, ref_logp, ref_logp2, p = require(
    example, loss, "logp", "logp2", "ref_logp", "ref_logp2", "pref"
  )
  return (logp - ref_logp) - (logp2 - ref_logp2), p


def dpo(example: Example, *, kl_coef: float = 0.1) -> tuple[Array, dict[str, Array]]:
  r"""DPO with soft labels: binary cross-entropy of :math:`\sigma(\beta h)` against p.

  .. math:: \ell = -p \log\sigma(\beta h) - (1 - p) \log\sigma(-\beta h).

  With p = 1 this is Rafailov et al.'s :math:`-\log\sigma(\beta h)`; a tie (p = 1/2) pulls h to 0.
  Its population optimum under Bradley-Terry labels :math:`p = \sigma(r(y) - r(y'))` is
  :math:`\pi \propto \pi_{ref} e^{r/\beta}`.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, pref``.
    kl_coef: KL weight :math:`\beta` (DPO's and TRL's ``beta``; NLHF's :math:`\tau`).

  Returns:
    ``(loss, {"logits": kl_coef h, "reward_margin": kl_coef h})``.

  References:
    Rafailov et al., Direct preference optimization, NeurIPS 2023. https://arxiv.org/abs/2305.18290
  """
  h, p = _h(example, "dpo")
  z = kl_coef * h
  return example_weight(example) * soft_bce(z, p), {"logits": z, "reward_margin": z}


def ipo(example: Example, *, kl_coef: float = 0.1) -> tuple[Array, dict[str, Array]]:
  r"""IPO: squared regression of h onto :math:`(p - 1/2) / \tau`.

  .. math:: \ell = \big(h - (p - \tfrac12)/\tau\big)^2,

  which is Azar et al.'s :math:`(h - 1/(2\tau))^2` for p = 1 and pulls h to 0 on ties. With p the
  true P(y > y') and pairs from a policy, it is the online IPO loss of Calandriello et al.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, pref``.
    kl_coef: KL weight: IPO's :math:`\tau` is ``kl_coef`` (TRL's and SPPO code's ``beta`` too).

  Returns:
    ``(loss, {"h": h, "target": (p - 1/2) / kl_coef})``.

  References:
    Azar et al., A general theoretical paradigm to understand learning from human preferences,
    AISTATS 2024. https://arxiv.org/abs/2310.12036
  """
  h, p = _h(example, "ipo")
  target = (p - 0.5) / kl_coef
  return example_weight(example) * (h - target) ** 2, {"h": h, "target": target}


def cdpo(
  example: Example, *, kl_coef: float = 0.1, label_smoothing: float = 0.1
) -> tuple[Array, dict[str, Array]]:
  r"""Conservative DPO: DPO with the label smoothed towards 1/2 by ``label_smoothing`` (epsilon).

  .. math:: \tilde p = (1 - \epsilon) p + \epsilon (1 - p), \qquad
     \ell = -\tilde p \log\sigma(\beta h) - (1 - \tilde p)\log\sigma(-\beta h).

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, pref``.
    kl_coef: KL weight :math:`\beta` (DPO's ``beta``).
    label_smoothing: probability that a label is flipped, in [0, 1/2).

  Returns:
    ``(loss, aux)`` as :func:`dpo`.

  References:
    Mitchell, A note on DPO with noisy preferences and relationship to IPO, 2023.
  """
  h, p = _h(example, "cdpo")
  p = (1 - label_smoothing) * p + label_smoothing * (1 - p)
  z = kl_coef * h
  return example_weight(example) * soft_bce(z, p), {"logits": z, "reward_margin": z}


def rdpo(
  example: Example, *, kl_coef: float = 0.1, flip_rate: float = 0.1
) -> tuple[Array, dict[str, Array]]:
  r"""Robust DPO: the unbiased loss under labels flipped with rate :math:`\epsilon`.

  .. math:: \ell = \frac{(1 - \epsilon)\,\ell_{DPO}(h) - \epsilon\, \ell_{DPO}(-h)}{1 - 2\epsilon},

  with :math:`\ell_{DPO}` the soft-label DPO loss of the example as labelled; its expectation over
  the flips equals the clean loss.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, pref``.
    kl_coef: KL weight :math:`\beta` (DPO's ``beta``).
    flip_rate: epsilon in [0, 1/2).

  Returns:
    ``(loss, aux)`` as :func:`dpo`.

  References:
    Chowdhury, Kini, Natarajan, Provably robust DPO: aligning language models with noisy feedback,
    ICML 2024. https://arxiv.org/abs/2403.00409
  """
  if not isinstance(flip_rate, jax.core.Tracer) and not 0 <= flip_rate < 0.5:
    raise ValueError(f"rdpo: flip_rate must lie in [0, 1/2); got {flip_rate}.")
  h, p = _h(example, "rdpo")
  z = kl_coef * h

  loss = ((1 - flip_rate) * soft_bce(z, p) - flip_rate * soft_bce(-z, p)) / (1 - 2 * flip_rate)
  return example_weight(example) * loss, {"logits": z, "reward_margin": z}
