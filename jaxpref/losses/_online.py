r"""Online and game-theoretic losses: online IPO (both sampled forms), Nash-MD-PG and INPO.

Symbols follow nash_solvers.md: beta is the KL weight to pi_ref (NLHF's tau), the mixture weight
of Nash-MD-PG's opponent is lambda (NLHF's beta), and INPO's eta is an *inverse* step size.
"""

import jax

from jaxpref.losses._example import Example, example_weight, require
from jaxpref.types import Array


def online_ipo(example: Example, *, beta: float = 0.1) -> tuple[Array, dict[str, Array]]:
  r"""Online IPO against an opponent pi_s (EGPO's form, "online IPO 1").

  .. math:: \ell = \Big(h - \frac{P(y \succ \pi_s) - P(y' \succ \pi_s)}{\beta}\Big)^2,

  with y, y' from any fixed full-support distribution (e.g. uniform) and the win rates estimated
  against pi_s. For a tabular softmax policy and exact win rates, one SGD step with learning rate lr
  on the mean over all pairs is an online mirror descent step with
  :math:`\eta = 4\,\mathrm{lr} / (\beta n)` (tested). Calandriello et al.'s form ("online IPO 2":
  y, y' from the policy, target :math:`(P(y \succ y') - 1/2)/\beta`) is :func:`ipo` with
  ``tau = beta`` and ``pref = P(y > y')``.

  Args:
    example: needs ``logp, logp2, ref, ref2, win, win2``.
    beta: KL weight.

  Returns:
    ``(loss, {"h": h, "target": target})``.

  References:
    Calandriello et al., Human alignment of large language models through online preference
    optimisation, ICML 2024; Zhou, Fazel, Du, Extragradient preference optimization, COLM 2025.
  """
  logp, logp2, ref, ref2, w, w2 = require(
    example, "online_ipo", "logp", "logp2", "ref", "ref2", "win", "win2"
  )
  h = (logp - ref) - (logp2 - ref2)
  target = (w - w2) / beta
  return example_weight(example) * (h - target) ** 2, {"h": h, "target": target}


def nash_md_pg(example: Example, *, beta: float = 0.1) -> tuple[Array, dict[str, Array]]:
  r"""Nash-MD-PG: REINFORCE on the win rate against the opponent, with baseline 1/2 and KL term.

  For y from the policy and y' from the opponent (the geometric mixture
  :math:`\pi_\theta^{1-\lambda}\pi_{ref}^{\lambda}`, see :func:`geometric_mixture`):

  .. math:: \ell = -\,\mathrm{sg}\big[P(y \succ y') - \tfrac12 - \beta(\log\pi_\theta(y) -
     \log\pi_{ref}(y))\big] \log\pi_\theta(y),

  whose gradient is :math:`\nabla\log\pi_\theta(y)[P(y \succ y') - 1/2 - \beta\log(\pi_\theta/
  \pi_{ref})(y)]`, an unbiased estimate of the gradient of
  :math:`P(\pi_\theta \succ \pi') - \beta\,\mathrm{KL}(\pi_\theta \| \pi_{ref})`.

  Args:
    example: needs ``logp, ref, pref`` (pref = P(y > y') for the sampled pair).
    beta: KL weight.

  Returns:
    ``(loss, {"advantage": ...})``.

  References:
    Munos et al., Nash learning from human feedback, ICML 2024. https://arxiv.org/abs/2312.00886
  """
  logp, ref, p = require(example, "nash_md_pg", "logp", "ref", "pref")
  advantage = jax.lax.stop_gradient(p - 0.5 - beta * (logp - ref))
  return example_weight(example) * (-advantage * logp), {"advantage": advantage}


def geometric_mixture(logits: Array, ref_logits: Array, mixture: float) -> Array:
  r"""Log-probabilities of :math:`\pi^{1-\lambda}\pi_{ref}^{\lambda}` renormalised (per token).

  Args:
    logits: ``[..., V]`` policy logits.
    ref_logits: ``[..., V]`` reference logits.
    mixture: lambda in [0, 1] (NLHF's beta; TRL's ``mixture_coef``).

  Returns:
    ``[..., V]`` log-probabilities.
  """
  return jax.nn.log_softmax(
    (1 - mixture) * jax.nn.log_softmax(logits, -1) + mixture * jax.nn.log_softmax(ref_logits, -1),
    axis=-1,
  )


def inpo(
  example: Example, *, eta: float = 0.005, tau: float | None = None
) -> tuple[Array, dict[str, Array]]:
  r"""INPO: regression of a three-policy log-ratio onto :math:`1/(2\eta)` for a won pair.

  For y (winner) and y' (loser) sampled from pi_t and labelled by the preference oracle:

  .. math:: h_t = \log\frac{\pi_\theta(y)}{\pi_\theta(y')}
     - \frac{\tau}{\eta}\log\frac{\pi_{ref}(y)}{\pi_{ref}(y')}
     - \frac{\eta - \tau}{\eta}\log\frac{\pi_t(y)}{\pi_t(y')}, \qquad
     \ell = \big(h_t - \tfrac{1}{2\eta}\big)^2.

  Its population minimiser is the OMD step
  :math:`\pi_{t+1} \propto \exp(P(y \succ \pi_t)/\eta)\,\pi_{ref}^{\tau/\eta}\pi_t^{1-\tau/\eta}`.
  Soft labels: with ``pref`` = p the target is :math:`(p - 1/2)/\eta` (1/(2 eta) for p = 1).

  Args:
    example: needs ``logp, logp2, ref, ref2, anchor, anchor2, pref``.
    eta: inverse step size (larger = smaller steps).
    tau: KL weight to pi_ref; eta / 3 by default (the paper's choice).

  Returns:
    ``(loss, {"h": h_t, "target": target})``.

  References:
    Zhang et al., Iterative Nash policy optimization, ICLR 2025. https://arxiv.org/abs/2407.00617
  """
  tau = eta / 3 if tau is None else tau
  logp, logp2, ref, ref2, a, a2, p = require(
    example, "inpo", "logp", "logp2", "ref", "ref2", "anchor", "anchor2", "pref"
  )
  h = (logp - logp2) - (tau / eta) * (ref - ref2) - ((eta - tau) / eta) * (a - a2)
  target = (p - 0.5) / eta
  return example_weight(example) * (h - target) ** 2, {"h": h, "target": target}
