r"""One-query mirror-descent solvers: MWU, online mirror descent, Nash-MD, MMD and optimistic MWU.

Each makes one win-rate query :math:`g_t = P\pi_t` (Nash-MD: at the geometric mixture) per step and
updates the logits :math:`z_t = \log \pi_t` in closed form (``docs/solvers.md``, 'Entropic mirror
solvers'). They
differ in what they converge to and in which iterate:

- :func:`mwu`: the unregularized NE, average iterate, gap :math:`O(\sqrt{\log n / T})`;
- :func:`online_mirror_descent`: :math:`\pi^*_\beta`, last iterate, KL :math:`O(1/T)` with a
  decaying step, linear with a small constant one;
- :func:`nash_md`: :math:`\pi^*_\beta`, last iterate, KL :math:`\le 8/(\beta^2(T+1))`;
- :func:`magnetic_mirror_descent`: :math:`\pi^*_\beta`, last iterate, linear at
  :math:`1/(1+\eta\beta)`;
- :func:`optimistic_mwu`: the unregularized NE, last iterate, linear under a full-support NE.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp

from jaxpref.equilibria._base import (
  IterateAverage,
  Operator,
  ScalarOrSchedule,
  Solver,
  average_add,
  check_hyperparameter,
  is_number,
  normalize,
  schedule_value,
)
from jaxpref.equilibria._logit_state import LogitState, explicit_step, implicit_step, logit_init
from jaxpref.types import Array, ArrayLike, PRNGKey


def _check_explicit(step_size: ScalarOrSchedule, kl_coef: float, name: str) -> None:
  check_hyperparameter("step_size", step_size)
  check_hyperparameter("kl_coef", kl_coef, positive=False)
  if is_number(step_size) and is_number(kl_coef) and step_size * kl_coef > 1:
    raise ValueError(
      f"{name}: the explicit KL step needs step_size * kl_coef <= 1, got "
      f"{step_size} * {kl_coef} = {step_size * kl_coef}; lower step_size or use "
      "magnetic_mirror_descent / mirror_prox (implicit, stable for any step)"
    )


def _played(state: LogitState, policy: Array, logits: Array) -> LogitState:
  return state._replace(
    policy=policy,
    logits=logits,
    average=average_add(state.average, state.policy),
    count=state.count + 1,
  )


def _regularized_step(update):
  """One-query step ``z' = update(z, z_ref, P pi_t, eta, beta)``: OMD explicit, MMD implicit."""

  def step(hp: Mapping[str, Any], state: LogitState, operator: Operator, key: PRNGKey | None):
    eta = schedule_value(hp["step_size"], state.count)
    g = operator(state.policy, key)
    logits, policy = normalize(update(state.logits, state.ref_logits, g, eta, hp["kl_coef"]))
    return _played(state, policy, logits), {"win_rates": g}

  return step


def _mwu_step(hp: Mapping[str, Any], state: LogitState, operator: Operator, key: PRNGKey | None):
  eta = schedule_value(hp["step_size"], state.count)
  g = operator(state.policy, key)
  logits, policy = normalize(state.logits + eta * g)
  return _played(state, policy, logits), {"win_rates": g}


_omd_step = _regularized_step(explicit_step)
_mmd_step = _regularized_step(implicit_step)


def _nash_md_step(
  hp: Mapping[str, Any], state: LogitState, operator: Operator, key: PRNGKey | None
):
  beta = hp["kl_coef"]
  step_size = hp["step_size"]
  if step_size is None:  # NLHF's decaying step
    count = state.count.astype(state.logits.dtype)
    eta = jnp.minimum(1.0 / beta, 2.0 / (beta * (count + 2.0)))
  else:
    eta = schedule_value(step_size, state.count)
  mix_logits, mix = normalize((1.0 - eta * beta) * state.logits + eta * beta * state.ref_logits)
  g = operator(mix, key)
  logits, policy = normalize(mix_logits + eta * g)
  return _played(state, policy, logits), {"win_rates": g}


def mwu(*, step_size: ScalarOrSchedule = 0.1) -> Solver:
  r"""Multiplicative weights (Hedge) in self-play: exact SPPO / SPO.

  .. math:: z_{t+1} = z_t + \eta_t\, P\pi_t .

  Converges to a Nash equilibrium of the unregularized game **in the average** of
  :math:`\pi_0,\dots,\pi_{T-1}`: in self-play the exploitability of the average equals the average
  regret, so with :math:`\eta = \sqrt{8\log n / T}` the gap is at most
  :math:`2\sqrt{\log n/(2T)}`. The last iterate does not converge (it cycles away from an interior
  equilibrium; Bailey and Piliouras 2018).

  Args:
    step_size: :math:`\eta` (SPPO code: ``eta = 1 / beta``; DNO: ``1 / eta``).

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (one query per step).

  References:
    Freund & Schapire, Adaptive game playing using multiplicative weights, GEB 1999;
    Wu et al., Self-Play Preference Optimization, ICLR 2025, https://arxiv.org/abs/2405.00675;
    Swamy et al., A Minimaximalist Approach to RLHF, ICML 2024, https://arxiv.org/abs/2401.04056
  """
  check_hyperparameter("step_size", step_size)
  return Solver(logit_init, _mwu_step, hparams={"step_size": step_size}, name="mwu")


def online_mirror_descent(*, step_size: ScalarOrSchedule = 0.5, kl_coef: float = 0.1) -> Solver:
  r"""Online mirror descent on the KL-regularized game: online IPO (exact) and INPO.

  .. math:: z_{t+1} = (1-\eta_t\beta) z_t + \eta_t\beta z_{\mathrm{ref}} + \eta_t P\pi_t .

  Converges to the regularized equilibrium :math:`\pi^*_\beta` in the **last iterate**: linearly for
  a small constant step (``docs/solvers.md``, 'Convergence rates'), and with INPO's decaying step
  :math:`\eta_t = 2/(\beta(t+2))` at
  :math:`\mathrm{KL}(\pi^*_\beta\|\pi_T) \le 32C^2/(\beta^2(T+1))`
  (INPO Thm. 4). Requires :math:`\eta\beta \le 1`.

  Args:
    step_size: :math:`\eta` (INPO's :math:`\eta` is ``1 / step_size``, see
      :func:`~jaxpref.equilibria.from_inpo`).
    kl_coef: :math:`\beta` (INPO's / NLHF's :math:`\tau`).

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (one query per step).

  References:
    Calandriello et al., Human Alignment of LLMs through Online Preference Optimisation, ICML 2024,
    https://arxiv.org/abs/2403.08635; Zhang et al., Iterative Nash Policy Optimization, ICLR 2025,
    https://arxiv.org/abs/2407.00617
  """
  _check_explicit(step_size, kl_coef, "online_mirror_descent")
  hparams = {"step_size": step_size, "kl_coef": kl_coef}
  return Solver(logit_init, _omd_step, hparams=hparams, name="omd")


def nash_md_schedule(*, kl_coef: float) -> ScalarOrSchedule:
  r"""NLHF's decaying step :math:`\eta_t = \min(1/\beta,\ 2/(\beta(t+2)))` for Nash-MD.

  Args:
    kl_coef: :math:`\beta > 0`.

  Returns:
    A schedule ``count -> step_size``.
  """
  check_hyperparameter("kl_coef", kl_coef)
  return lambda t: jnp.minimum(1.0 / kl_coef, 2.0 / (kl_coef * (t + 2.0)))


def nash_md(*, kl_coef: float = 0.1, step_size: ScalarOrSchedule | None = None) -> Solver:
  r"""Nash mirror descent (Nash-MD): a mirror step against the geometric mixture with the reference.

  .. math::
    z^\mu_t = (1-\eta_t\beta) z_t + \eta_t\beta z_{\mathrm{ref}}, \qquad
    z_{t+1} = z^\mu_t + \eta_t\, P\,\mathrm{softmax}(z^\mu_t).

  Converges to :math:`\pi^*_\beta` in the **last iterate**; with the default decaying step
  :math:`\eta_t = 2/(\beta(t+2))` NLHF Thm. 1 gives
  :math:`\mathrm{KL}(\pi^*_\beta\|\pi_T) \le 8/(\beta^2 (T+1))`, independent of :math:`n`. A
  constant step only reaches a floor of order :math:`\eta/\beta`.

  Args:
    kl_coef: :math:`\beta > 0` (NLHF's :math:`\tau`).
    step_size: :math:`\eta` or a schedule; :func:`nash_md_schedule`'s decaying step (computed
      from the possibly traced ``kl_coef``) when ``None``.

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (one query per step).

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024, Sec. 5,
    https://arxiv.org/abs/2312.00886
  """
  check_hyperparameter("kl_coef", kl_coef)
  if step_size is not None:
    _check_explicit(step_size, kl_coef, "nash_md")
  hparams = {"step_size": step_size, "kl_coef": kl_coef}
  return Solver(logit_init, _nash_md_step, hparams=hparams, name="nash_md")


def magnetic_mirror_descent(
  *, kl_coef: float = 0.1, step_size: ScalarOrSchedule | None = None
) -> Solver:
  r"""Magnetic mirror descent (MMD) with the reference as magnet.

  .. math:: z_{t+1} = \frac{z_t + \eta\beta z_{\mathrm{ref}} + \eta P\pi_t}{1 + \eta\beta}.

  Converges linearly to :math:`\pi^*_\beta` (the logit QRE) in the **last iterate**, contracting the
  KL by :math:`1/(1+\eta\beta)` per step for :math:`\eta \le \beta/L^2`, where
  :math:`L = \max|P - 1/2| \le 1/2`; the default step is :math:`\beta / L^2 = 4\beta` with
  :math:`L = 1/2`. With payoff ``A`` and OpenSpiel's ``alpha``, the same iteration on
  :math:`P = 1/2 + A/(2\max|A|)` uses ``kl_coef = alpha / (2 max|A|)`` and
  ``step_size = 2 max|A| * eta_A``.

  Args:
    kl_coef: :math:`\beta > 0` (MMD's :math:`\alpha` in P units).
    step_size: :math:`\eta`; ``4 * kl_coef`` when ``None``.

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (one query per step).

  References:
    Sokota et al., A Unified Approach to RL, Quantal Response Equilibria, and Two-Player Zero-Sum
    Games, ICLR 2023, https://arxiv.org/abs/2206.05825
  """
  check_hyperparameter("kl_coef", kl_coef)
  step_size = 4.0 * kl_coef if step_size is None else step_size
  check_hyperparameter("step_size", step_size)

  hparams = {"step_size": step_size, "kl_coef": kl_coef}
  return Solver(logit_init, _mmd_step, hparams=hparams, name="mmd")


class OptimisticState(NamedTuple):
  """:class:`LogitState` plus the previous win-rate vector :math:`g_{t-1}`."""

  policy: Array
  logits: Array
  ref_logits: Array
  average: IterateAverage
  count: Array
  prev_win_rates: Array


def _optimistic_init(
  hparams: Mapping[str, Any], policy: ArrayLike, ref_policy: ArrayLike | None = None
) -> OptimisticState:
  s = logit_init(hparams, policy, ref_policy)
  return OptimisticState(*s, prev_win_rates=jnp.zeros_like(s.policy))


def _optimistic_step(
  hp: Mapping[str, Any], state: OptimisticState, operator: Operator, key: PRNGKey | None
):
  eta = schedule_value(hp["step_size"], state.count)
  g = operator(state.policy, key)
  g_prev = jnp.where(state.count == 0, g, state.prev_win_rates)
  logits = explicit_step(state.logits, state.ref_logits, 2.0 * g - g_prev, eta, hp["kl_coef"])
  logits, policy = normalize(logits)
  return _played(state, policy, logits)._replace(prev_win_rates=g), {"win_rates": g}


def optimistic_mwu(*, step_size: ScalarOrSchedule = 1.0, kl_coef: float = 0.0) -> Solver:
  r"""Optimistic multiplicative weights (OMWU, optimistic OMD) in self-play.

  .. math::
    z_{t+1} = (1-\eta\beta) z_t + \eta\beta z_{\mathrm{ref}} + \eta\,(2 g_t - g_{t-1}),
    \qquad g_t = P\pi_t,\ g_{-1} = g_0 .

  With ``kl_coef = 0`` it converges to a Nash equilibrium of the unregularized game in the **last
  iterate** (Daskalakis and Panageas 2019), linearly with a constant step when the equilibrium is
  unique (Wei et al. 2021) and, for preference games, after a burn-in whenever a full-support
  equilibrium exists (arXiv 2512.24818). One query per step.

  Args:
    step_size: :math:`\eta`.
    kl_coef: :math:`\beta` (0: unregularized).

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (one query per step).

  References:
    Daskalakis & Panageas, Last-Iterate Convergence: Zero-Sum Games and Constrained Min-Max
    Optimization, ITCS 2019, https://arxiv.org/abs/1807.04252; Wei, Lee, Zhang, Luo, Linear
    Last-iterate Convergence in Constrained Saddle-point Optimization, ICLR 2021,
    https://arxiv.org/abs/2006.09517
  """
  _check_explicit(step_size, kl_coef, "optimistic_mwu")
  hparams = {"step_size": step_size, "kl_coef": kl_coef}
  return Solver(_optimistic_init, _optimistic_step, hparams=hparams, name="omwu")
