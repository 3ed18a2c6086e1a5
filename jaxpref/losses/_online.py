r"""Online and game-theoretic losses: online IPO (both sampled forms), Nash-MD-PG, INPO, Nash-MP.

Hyperparameters use jaxpref's names (see docs/solvers.md, 'Hyperparameter names'): ``kl_coef`` is
the KL weight :math:`\beta` to pi_ref (NLHF's and INPO's :math:`\tau`, EGPO's :math:`\beta`),
``mixture`` is the weight :math:`\lambda` of pi_ref in Nash-MD-PG's opponent (NLHF's
:math:`\beta`, TRL's ``mixture_coef``), and ``step_size`` multiplies the win rate (INPO's
:math:`\eta` is an *inverse* step: ``step_size = 1 / eta``).
"""

import jax

from jaxpref.losses._example import Example, example_weight, require
from jaxpref.types import Array


def online_ipo(example: Example, *, kl_coef: float = 0.1) -> tuple[Array, dict[str, Array]]:
  r"""Online IPO against an opponent pi_s (EGPO's form, "online IPO 1").

  .. math:: \ell = \Big(h - \frac{P(y \succ \pi_s) - P(y' \succ \pi_s)}{\beta}\Big)^2,

  with y, y' from any fixed full-support distribution (e.g. uniform) and the win rates estimated
  against pi_s. For a tabular softmax policy and exact win rates, one SGD step with learning rate lr
  on the mean over all pairs is an online mirror descent step with ``kl_coef`` :math:`\beta` and
  ``step_size`` :math:`\eta = 4\,\mathrm{lr} / (\beta n)` (tested). Calandriello et al.'s form
  ("online IPO 2": y, y' from the policy, target :math:`(P(y \succ y') - 1/2)/\beta`) is
  :func:`ipo` with the same ``kl_coef`` and ``pref = P(y > y')``.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, win, win2``.
    kl_coef: KL weight :math:`\beta` (EGPO's :math:`\beta`, IPO's :math:`\tau`).

  Returns:
    ``(loss, {"h": h, "target": target})``.

  References:
    Calandriello et al., Human alignment of large language models through online preference
    optimisation, ICML 2024; Zhou, Fazel, Du, Extragradient preference optimization, COLM 2025.
  """
  logp, logp2, ref_logp, ref_logp2, w, w2 = require(
    example, "online_ipo", "logp", "logp2", "ref_logp", "ref_logp2", "win", "win2"
  )
  h = (logp - ref_logp) - (logp2 - ref_logp2)
  target = (w - w2) / kl_coef
  return example_weight(example) * (h - target) ** 2, {"h": h, "target": target}


def nash_md_pg(example: Example, *, kl_coef: float = 0.1) -> tuple[Array, dict[str, Array]]:
  r"""Nash-MD-PG: REINFORCE on the win rate against the opponent, with baseline 1/2 and KL term.

  For y from the policy and y' from the opponent (the geometric mixture
  :math:`\pi_\theta^{1-\lambda}\pi_{ref}^{\lambda}`, see :func:`geometric_mixture`):

  .. math:: \ell = -\,\mathrm{sg}\big[P(y \succ y') - \tfrac12 - \beta(\log\pi_\theta(y) -
     \log\pi_{ref}(y))\big] \log\pi_\theta(y),

  whose gradient is :math:`\nabla\log\pi_\theta(y)[P(y \succ y') - 1/2 - \beta\log(\pi_\theta/
  \pi_{ref})(y)]`, an unbiased estimate of the gradient of
  :math:`P(\pi_\theta \succ \pi') - \beta\,\mathrm{KL}(\pi_\theta \| \pi_{ref})`.

  Args:
    example: needs ``logp, ref_logp, pref`` (pref = P(y > y') for the sampled pair).
    kl_coef: KL weight :math:`\beta` (NLHF's :math:`\tau`; NLHF's :math:`\beta` is the
      ``mixture`` of :func:`geometric_mixture`).

  Returns:
    ``(loss, {"advantage": ...})``.

  References:
    Munos et al., Nash learning from human feedback, ICML 2024. https://arxiv.org/abs/2312.00886
  """
  logp, ref_logp, p = require(example, "nash_md_pg", "logp", "ref_logp", "pref")
  advantage = jax.lax.stop_gradient(p - 0.5 - kl_coef * (logp - ref_logp))
  return example_weight(example) * (-advantage * logp), {"advantage": advantage}


def geometric_mixture(logits: Array, ref_logits: Array, *, mixture: float) -> Array:
  r"""Log-probabilities of :math:`\pi^{1-\lambda}\pi_{ref}^{\lambda}` renormalised (per token).

  Args:
    logits: ``[..., V]`` policy logits.
    ref_logits: ``[..., V]`` reference logits.
    mixture: :math:`\lambda` in [0, 1], the weight of the reference (NLHF's :math:`\beta`; TRL's
      ``mixture_coef``).

  Returns:
    ``[..., V]`` log-probabilities.
  """
  return jax.nn.log_softmax(
    (1 - mixture) * jax.nn.log_softmax(logits, -1) + mixture * jax.nn.log_softmax(ref_logits, -1),
    axis=-1,
  )


def inpo(
  example: Example, *, step_size: float = 200.0, kl_coef: float | None = None
) -> tuple[Array, dict[str, Array]]:
  r"""INPO: regression of a three-policy log-ratio onto :math:`\eta_s/2` for a won pair.

  With ``step_size`` :math:`\eta_s` and ``kl_coef`` :math:`\beta`, for y (winner) and y' (loser)
  sampled from pi_t and labelled by the preference oracle:

  .. math:: h_t = \log\frac{\pi_\theta(y)}{\pi_\theta(y')}
     - \eta_s\beta\log\frac{\pi_{ref}(y)}{\pi_{ref}(y')}
     - (1 - \eta_s\beta)\log\frac{\pi_t(y)}{\pi_t(y')}, \qquad
     \ell = \big(h_t - \tfrac{\eta_s}{2}\big)^2.

  Its population minimiser is the online mirror descent step
  :math:`\pi_{t+1} \propto \exp(\eta_s P(y \succ \pi_t))\,\pi_{ref}^{\eta_s\beta}
  \pi_t^{1-\eta_s\beta}` (:func:`jaxpref.equilibria.online_mirror_descent` with the same
  ``step_size`` and ``kl_coef``). Soft labels: with ``pref`` = p the target is
  :math:`\eta_s (p - 1/2)` (:math:`\eta_s/2` for p = 1).

  Symbols: the paper's :math:`\eta` is an *inverse* step size, ``step_size = 1 / eta`` (its
  :math:`\eta = 0.005` is ``step_size = 200``), and its KL weight :math:`\tau` is ``kl_coef``; in
  its symbols :math:`\eta_s\beta = \tau/\eta` and the target is :math:`1/(2\eta)`.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, anchor, anchor2, pref``.
    step_size: multiplier of the win rate, the inverse of INPO's :math:`\eta` (larger = larger
      steps).
    kl_coef: KL weight to pi_ref (INPO's :math:`\tau`); ``1 / (3 step_size)`` by default (the
      paper's :math:`\tau = \eta/3`).

  Returns:
    ``(loss, {"h": h_t, "target": target})``.

  References:
    Zhang et al., Iterative Nash policy optimization, ICLR 2025. https://arxiv.org/abs/2407.00617
  """
  kl_coef = 1 / (3 * step_size) if kl_coef is None else kl_coef
  logp, logp2, ref_logp, ref_logp2, a, a2, p = require(
    example, "inpo", "logp", "logp2", "ref_logp", "ref_logp2", "anchor", "anchor2", "pref"
  )
  mix = step_size * kl_coef
  h = (logp - logp2) - mix * (ref_logp - ref_logp2) - (1 - mix) * (a - a2)
  target = step_size * (p - 0.5)
  return example_weight(example) * (h - target) ** 2, {"h": h, "target": target}


def nash_mp(
  example: Example, *, step_size: float = 2.0, kl_coef: float = 0.1
) -> tuple[Array, dict[str, Array]]:
  r"""Nash Mirror Prox's proximal step from the anchor pi_k against an opponent mu, as a regression.

  Each half of a Nash-MP round solves
  :math:`\max_\pi \eta[P(\pi \succ \mu) - \beta\,\mathrm{KL}(\pi\|\pi_{ref})] -
  \mathrm{KL}(\pi\|\pi_k)` (mu = pi_k for the improvement step, pi_{k+1/2} for the correction
  step), whose solution has logits :math:`(z_k + \eta\beta z_{ref} + \eta P\mu)/(1 + \eta\beta)`.
  For y, y' drawn from pi_k (any full-support distribution) and win labels of each against its own
  opponent sample from mu:

  .. math:: h = \log\frac{\pi_\theta(y)}{\pi_\theta(y')} - \frac{\log\frac{\pi_k(y)}{\pi_k(y')}
     + \eta\beta\log\frac{\pi_{ref}(y)}{\pi_{ref}(y')}}{1 + \eta\beta}, \qquad
     \ell = \Big(h - \frac{\eta\,(w - w')}{1 + \eta\beta}\Big)^2.

  :math:`E[w - w' | y, y'] = P(y \succ \mu) - P(y' \succ \mu)`, so over a tabular policy the
  population minimiser is exactly the proximal step (tested against
  :func:`jaxpref.equilibria.mirror_prox`). The regularizer is proximal (the factor
  :math:`1/(1 + \eta\beta)`), not EGPO's explicit :math:`1 - \eta\beta`, so any ``step_size``
  keeps it stable.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, anchor, anchor2, win, win2`` (anchor =
      pi_k's log-probabilities; win = a label of y against a sample of mu).
    step_size: :math:`\eta > 0` (the paper's tabular choice is 2 = 1/L for preferences in [0, 1]).
    kl_coef: :math:`\beta`, the KL weight to pi_ref.

  Returns:
    ``(loss, {"h": h, "target": target})``.

  References:
    Tiapkin et al., Accelerating Nash learning from human feedback via Mirror Prox, 2025.
    https://arxiv.org/abs/2505.19731 (docs/solvers.md: the tabular update and its rate).
  """
  logp, logp2, ref_logp, ref_logp2, a, a2, w, w2 = require(
    example, "nash_mp", "logp", "logp2", "ref_logp", "ref_logp2", "anchor", "anchor2", "win", "win2"
  )
  shrink = 1.0 / (1.0 + step_size * kl_coef)
  h = (logp - logp2) - shrink * ((a - a2) + step_size * kl_coef * (ref_logp - ref_logp2))
  target = shrink * step_size * (w - w2)
  return example_weight(example) * (h - target) ** 2, {"h": h, "target": target}
