r"""Self-play regression losses against the previous iterate pi_t: SPPO, GPO and DNO.

Each regresses a log-ratio to pi_t onto a win-rate (or score) target, so that its tabular minimiser
is a multiplicative-weights step :math:`\pi_{t+1} \propto \pi_t e^{\eta\, g_t}` with ``step_size``
:math:`\eta` and :math:`g_t` the win rate (SPPO, DNO) or score (GPO) against pi_t. SPPO's and GPO's
:math:`\eta` is ``step_size`` (SPPO code's ``beta = 1e-3`` is ``step_size = 1e3``); DNO's
:math:`\eta` is a KL weight to pi_t, the inverse step: ``step_size = 1 / eta`` (see
docs/solvers.md, 'Hyperparameter names').
"""

import jax

from jaxpref.losses._example import Example, example_weight, require, soft_bce
from jaxpref.types import Array


def sppo(example: Example, *, step_size: float = 1e3) -> tuple[Array, dict[str, Array]]:
  r"""SPPO's square loss for one response y sampled from pi_t.

  .. math:: \ell = \Big(\log\frac{\pi_\theta(y)}{\pi_t(y)} - \eta\,\big(\hat P(y \succ \pi_t) -
     \tfrac12\big)\Big)^2.

  The -1/2 replaces :math:`\log Z_t / \eta` (:math:`E_{y \sim \pi_t} P(y \succ \pi_t) = 1/2`); the
  tabular minimiser is the Hedge step :math:`z_{t+1} = z_t + \eta P\pi_t` up to that normalisation
  (tested). The paper's pair form averages this loss over the best and worst response.

  Args:
    example: needs ``logp, anchor, win`` (win = estimated P(y > pi_t)).
    step_size: :math:`\eta`, the multiplier of the win rate (the paper's :math:`\eta`; the code's
      ``beta = 1e-3`` is ``step_size = 1e3``).

  Returns:
    ``(loss, {"log_ratio": ..., "target": ...})``.

  References:
    Wu et al., Self-play preference optimization for language model alignment, ICLR 2025.
    https://arxiv.org/abs/2405.00675
  """
  logp, anchor, w = require(example, "sppo", "logp", "anchor", "win")
  ratio, target = logp - anchor, step_size * (w - 0.5)
  return example_weight(example) * (ratio - target) ** 2, {"log_ratio": ratio, "target": target}


def gpo(example: Example, *, step_size: float = 1e3) -> tuple[Array, dict[str, Array]]:
  r"""GPO: SPPO with a general preference score instead of a win probability.

  .. math:: \ell = \Big(\log\frac{\pi_\theta(y)}{\pi_t(y)} - \eta\, \hat s(y \succ \pi_t)\Big)^2,

  with :math:`\hat s` the mean of the skew-symmetric GPM score s(y > y_j) over samples y_j of pi_t
  (no -1/2: s(y > y) = 0).

  Args:
    example: needs ``logp, anchor, score``.
    step_size: :math:`\eta`, the multiplier of the score (the paper's :math:`\eta`).

  Returns:
    ``(loss, {"log_ratio": ..., "target": ...})``.

  References:
    Zhang, Zhang, Wu, Xu, Gu, Beyond Bradley-Terry models: a general preference model for language
    model alignment, ICML 2025. https://arxiv.org/abs/2410.02197
  """
  logp, anchor, s = require(example, "gpo", "logp", "anchor", "score")
  ratio, target = logp - anchor, step_size * s
  return example_weight(example) * (ratio - target) ** 2, {"log_ratio": ratio, "target": target}


def dno(example: Example, *, step_size: float = 1.0) -> tuple[Array, dict[str, Array]]:
  r"""DNO's regression: binary cross-entropy with soft labels :math:`\sigma(r_t(y) - r_t(y'))`.

  With ``step_size`` :math:`\eta_s`, :math:`\Delta = \frac{1}{\eta_s}\Big(\log\frac{\pi_\theta(y)}
  {\pi_t(y)} - \log\frac{\pi_\theta(y')}{\pi_t(y')}\Big)` and :math:`r_t(y) = P(y \succ \pi_t)`:

  .. math:: \ell = -\sigma(r_t(y) - r_t(y'))\log\sigma(\Delta) - \sigma(r_t(y') - r_t(y))
     \log\sigma(-\Delta).

  Its minimiser over all pairs is :math:`\Delta = r_t(y) - r_t(y')`, i.e. the soft policy
  iteration target :math:`\pi_{t+1} \propto \pi_t e^{\eta_s r_t}` (multiplicative weights with
  ``step_size`` :math:`\eta_s`).

  Symbols: DNO's :math:`\eta` is the weight of the KL to pi_t in its per-iteration objective
  :math:`E_\pi r_t - \eta\,\mathrm{KL}(\pi \| \pi_t)`, i.e. an inverse step:
  ``step_size = 1 / eta`` (larger ``step_size`` = larger step; the paper's
  :math:`\Delta = \eta \log\ldots` is the one above).

  Args:
    example: needs ``logp, logp2, anchor, anchor2, win, win2`` (win = r_t(y)).
    step_size: :math:`\eta_s = 1/\eta`, the multiplier of the win rate.

  Returns:
    ``(loss, {"delta": ..., "label": ...})``.

  References:
    Rosset et al., Direct Nash optimization, 2024. https://arxiv.org/abs/2404.03715
  """
  logp, logp2, a, a2, r, r2 = require(
    example, "dno", "logp", "logp2", "anchor", "anchor2", "win", "win2"
  )
  delta = ((logp - a) - (logp2 - a2)) / step_size
  label = jax.nn.sigmoid(r - r2)
  return example_weight(example) * soft_bce(delta, label), {"delta": delta, "label": label}
