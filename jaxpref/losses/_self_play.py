r"""Self-play regression losses against the previous iterate pi_t: SPPO, GPO and DNO.

Each regresses a log-ratio to pi_t onto a win-rate (or score) target, so that its tabular minimiser
is a multiplicative-weights step :math:`\pi_{t+1} \propto \pi_t e^{\eta\, g_t}` (SPPO, GPO) or the
soft policy iteration target :math:`\pi_t e^{r_t/\eta}` (DNO).
"""

import jax

from jaxpref.losses._example import Example, example_weight, require, soft_bce
from jaxpref.types import Array


def sppo(example: Example, *, eta: float = 1e3) -> tuple[Array, dict[str, Array]]:
  r"""SPPO's square loss for one response y sampled from pi_t.

  .. math:: \ell = \Big(\log\frac{\pi_\theta(y)}{\pi_t(y)} - \eta\,\big(\hat P(y \succ \pi_t) -
     \tfrac12\big)\Big)^2.

  The -1/2 replaces :math:`\log Z_t / \eta` (:math:`E_{y \sim \pi_t} P(y \succ \pi_t) = 1/2`); the
  tabular minimiser is the Hedge step :math:`z_{t+1} = z_t + \eta P\pi_t` up to that normalisation
  (tested). The paper's pair form averages this loss over the best and worst response.

  Args:
    example: needs ``logp, anchor, win`` (win = estimated P(y > pi_t)).
    eta: step size (the code's ``beta = 1e-3`` is eta = 1e3).

  Returns:
    ``(loss, {"log_ratio": ..., "target": ...})``.

  References:
    Wu et al., Self-play preference optimization for language model alignment, ICLR 2025.
    https://arxiv.org/abs/2405.00675
  """
  logp, anchor, w = require(example, "sppo", "logp", "anchor", "win")
  ratio, target = logp - anchor, eta * (w - 0.5)
  return example_weight(example) * (ratio - target) ** 2, {"log_ratio": ratio, "target": target}


def gpo(example: Example, *, eta: float = 1e3) -> tuple[Array, dict[str, Array]]:
  r"""GPO: SPPO with a general preference score instead of a win probability.

  .. math:: \ell = \Big(\log\frac{\pi_\theta(y)}{\pi_t(y)} - \eta\, \hat s(y \succ \pi_t)\Big)^2,

  with :math:`\hat s` the mean of the skew-symmetric GPM score s(y > y_j) over samples y_j of pi_t
  (no -1/2: s(y > y) = 0).

  Args:
    example: needs ``logp, anchor, score``.
    eta: step size.

  Returns:
    ``(loss, {"log_ratio": ..., "target": ...})``.

  References:
    Zhang, Zhang, Wu, Xu, Gu, Beyond Bradley-Terry models: a general preference model for language
    model alignment, ICML 2025. https://arxiv.org/abs/2410.02197
  """
  logp, anchor, s = require(example, "gpo", "logp", "anchor", "score")
  ratio, target = logp - anchor, eta * s
  return example_weight(example) * (ratio - target) ** 2, {"log_ratio": ratio, "target": target}


def dno(example: Example, *, eta: float = 1.0) -> tuple[Array, dict[str, Array]]:
  r"""DNO's regression: binary cross-entropy with soft labels :math:`\sigma(r_t(y) - r_t(y'))`.

  With :math:`\Delta = \eta\log\frac{\pi_\theta(y)}{\pi_t(y)} - \eta\log\frac{\pi_\theta(y')}
  {\pi_t(y')}` and :math:`r_t(y) = P(y \succ \pi_t)`:

  .. math:: \ell = -\sigma(r_t(y) - r_t(y'))\log\sigma(\Delta) - \sigma(r_t(y') - r_t(y))
     \log\sigma(-\Delta).

  Its minimiser over all pairs is :math:`\Delta = r_t(y) - r_t(y')`, i.e. the soft policy
  iteration target :math:`\pi_{t+1} \propto \pi_t e^{r_t/\eta}`. eta is a KL-to-pi_t temperature
  (larger = smaller step).

  Args:
    example: needs ``logp, logp2, anchor, anchor2, win, win2`` (win = r_t(y)).
    eta: temperature.

  Returns:
    ``(loss, {"delta": ..., "label": ...})``.

  References:
    Rosset et al., Direct Nash optimization, 2024. https://arxiv.org/abs/2404.03715
  """
  logp, logp2, a, a2, r, r2 = require(
    example, "dno", "logp", "logp2", "anchor", "anchor2", "win", "win2"
  )
  delta = eta * ((logp - a) - (logp2 - a2))
  label = jax.nn.sigmoid(r - r2)
  return example_weight(example) * soft_bce(delta, label), {"delta": delta, "label": label}
