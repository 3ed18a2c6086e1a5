r"""Two-query extrapolation solvers: Mirror Prox (Nash-MP) and extragradient (EGPO).

Both take a half step from the anchor :math:`z_t` with the payoff at :math:`\pi_t`, then a full step
from the *same* anchor with the payoff at the half iterate :math:`\pi_{t+1/2}`. Mirror Prox treats
the KL regularizer proximally (any step is stable); EGPO treats it explicitly
(``docs/solvers.md``, 'Entropic mirror solvers'). Both average the half iterates, the sequence of
Nemirovski's ergodic guarantee.
"""

from collections.abc import Callable, Mapping
from typing import Any

from jaxpref.equilibria._base import (
  Operator,
  ScalarOrSchedule,
  Solver,
  average_add,
  check_hyperparameter,
  is_number,
  normalize,
  schedule_value,
  split_key,
)
from jaxpref.equilibria._logit_state import LogitState, explicit_step, implicit_step, logit_init
from jaxpref.types import Array, PRNGKey

_Update = Callable[[Array, Array, Array, Array, Array], Array]


def _extrapolation_step(update: _Update):
  def step(hp: Mapping[str, Any], state: LogitState, operator: Operator, key: PRNGKey | None):
    k_half, k_full = split_key(key, 2)
    eta, beta = schedule_value(hp["step_size"], state.count), hp["kl_coef"]
    z, z_ref = state.logits, state.ref_logits
    _, half = normalize(update(z, z_ref, operator(state.policy, k_half), eta, beta))
    g_half = operator(half, k_full)
    logits, policy = normalize(update(z, z_ref, g_half, eta, beta))
    new = state._replace(
      policy=policy, logits=logits, average=average_add(state.average, half), count=state.count + 1
    )
    return new, {"win_rates": g_half}

  return step


_mirror_prox_step = _extrapolation_step(implicit_step)
_extragradient_step = _extrapolation_step(explicit_step)


def mirror_prox(*, step_size: ScalarOrSchedule = 2.0, kl_coef: float = 0.0) -> Solver:
  r"""Entropic Mirror Prox; with ``kl_coef > 0`` it is Nash Mirror Prox (Nash-MP).

  .. math::
    z_{t+1/2} = \frac{z_t + \eta\beta z_{\mathrm{ref}} + \eta P\pi_t}{1+\eta\beta},\qquad
    z_{t+1} = \frac{z_t + \eta\beta z_{\mathrm{ref}} + \eta P\pi_{t+1/2}}{1+\eta\beta}.

  With :math:`\beta > 0` it converges to :math:`\pi^*_\beta` in the **last iterate** at
  :math:`\mathrm{KL}(\pi^*_\beta\|\pi_N) \le (1+2\beta)^{-N/2}\,\mathrm{KL}_0` after :math:`N`
  queries, for :math:`\eta = 2 = 1/L`, independently of :math:`n`. With :math:`\beta = 0` the
  **average** of the half iterates has gap :math:`O(1/T)` (Nemirovski 2004).

  Args:
    step_size: :math:`\eta`; 2 is :math:`1/L` for :math:`L = \max|P - 1/2| \le 1/2`.
    kl_coef: :math:`\beta \ge 0`.

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (two queries per step).

  References:
    Nemirovski, Prox-method with rate of convergence O(1/t), SIAM J. Optim. 2004; Tiapkin et al.,
    Accelerating Nash Learning from Human Feedback via Mirror Prox, arXiv 2505.19731 v1,
    https://arxiv.org/abs/2505.19731
  """
  check_hyperparameter("step_size", step_size)
  check_hyperparameter("kl_coef", kl_coef, positive=False)
  hparams = {"step_size": step_size, "kl_coef": kl_coef}
  return Solver(
    logit_init, _mirror_prox_step, hparams=hparams, queries_per_step=2, name="mirror_prox"
  )


def extragradient(*, step_size: ScalarOrSchedule = 0.5, kl_coef: float = 0.1) -> Solver:
  r"""Extragradient with an explicit KL regularizer (EGPO, tabular form).

  .. math::
    z_{t+1/2} = (1-\eta\beta) z_t + \eta\beta z_{\mathrm{ref}} + \eta P\pi_t,\qquad
    z_{t+1} = (1-\eta\beta) z_t + \eta\beta z_{\mathrm{ref}} + \eta P\pi_{t+1/2}.

  Converges linearly to :math:`\pi^*_\beta` in the **last iterate** (KL and duality gap; the KL
  ratio per step is at most :math:`1-\eta\beta` for :math:`\eta \le 3`, ``docs/solvers.md``,
  'Convergence rates'); with :math:`\beta \to 0` it approaches the unregularized equilibrium at a
  polynomial rate. Requires :math:`\eta\beta < 1`. An EGPO SGD learning rate ``lr`` on the
  tabular pairwise loss equals ``step_size = 4 lr / (kl_coef n)``
  (:func:`~jaxpref.equilibria.from_egpo`).

  Args:
    step_size: :math:`\eta`.
    kl_coef: :math:`\beta \ge 0`.

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (two queries per step).

  References:
    Zhou, Fazel, Du, Extragradient Preference Optimization, COLM 2025,
    https://arxiv.org/abs/2503.08942; Korpelevich, The extragradient method, 1976.
  """
  check_hyperparameter("step_size", step_size)
  check_hyperparameter("kl_coef", kl_coef, positive=False)
  if is_number(step_size) and is_number(kl_coef) and step_size * kl_coef >= 1:
    raise ValueError(
      f"extragradient needs step_size * kl_coef < 1, got {step_size} * {kl_coef}; "
      "use mirror_prox for large steps"
    )
  hparams = {"step_size": step_size, "kl_coef": kl_coef}
  return Solver(
    logit_init, _extragradient_step, hparams=hparams, queries_per_step=2, name="extragradient"
  )
