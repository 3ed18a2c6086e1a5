r"""Converters from each paper's symbols to jaxpref's ``step_size`` / ``kl_coef`` / ``mixture``.

The same Greek letter means different things across the NLHF literature (``docs/solvers.md``,
'Vocabulary and symbol table'): NLHF's :math:`\beta` is a mixture weight while EGPO's is a KL
coefficient; DNO's and INPO's :math:`\eta` is an *inverse* step; SPPO's code ``beta`` is the
inverse of its step. Each converter returns a dict of jaxpref keyword arguments.
"""


def _positive(name: str, value: float) -> float:
  value = float(value)
  if not value > 0:
    raise ValueError(f"{name} must be > 0, got {value}")
  return value


def from_nlhf(
  *, tau: float, eta: float | None = None, beta: float | None = None
) -> dict[str, float]:
  r"""NLHF / Nash-MD: KL weight :math:`\tau`, step :math:`\eta`, mixture weight :math:`\beta`.

  Args:
    tau: NLHF's KL coefficient (our ``kl_coef``).
    eta: NLHF's step (our ``step_size``), optional.
    beta: NLHF's geometric-mixture weight on the reference (our ``mixture``), optional.

  Returns:
    ``{"kl_coef": tau, "step_size": eta, "mixture": beta}`` without the omitted keys.

  Examples:
    >>> from_nlhf(tau=0.008, beta=0.125)
    {'kl_coef': 0.008, 'mixture': 0.125}
  """
  out = {"kl_coef": _positive("tau", tau)}
  if eta is not None:
    out["step_size"] = _positive("eta", eta)
  if beta is not None:
    out["mixture"] = float(beta)
  return out


def from_inpo(*, eta: float, tau: float) -> dict[str, float]:
  r"""INPO (and DNO): inverse step :math:`\eta`, KL weight :math:`\tau`.

  INPO's update :math:`z_{t+1} = (1-\tau/\eta) z_t + (\tau/\eta) z_{\mathrm{ref}} + P\pi_t/\eta` is
  :func:`~jaxpref.equilibria.online_mirror_descent` with ``step_size = 1/eta``, ``kl_coef = tau``.

  Args:
    eta: INPO's inverse step (bigger is more conservative).
    tau: INPO's KL coefficient.

  Returns:
    ``{"step_size": 1 / eta, "kl_coef": tau}``.

  Examples:
    >>> from_inpo(eta=0.005, tau=0.005 / 3)["step_size"]
    200.0
  """
  return {"step_size": 1.0 / _positive("eta", eta), "kl_coef": float(tau)}


def from_dno(*, eta: float) -> dict[str, float]:
  r"""DNO: :math:`\pi_{t+1} \propto \pi_t \exp(r_t/\eta)` is MWU with ``step_size = 1/eta``.

  Args:
    eta: DNO's KL-to-:math:`\pi_t` temperature.

  Returns:
    ``{"step_size": 1 / eta}``.
  """
  return {"step_size": 1.0 / _positive("eta", eta)}


def from_sppo(*, beta: float) -> dict[str, float]:
  r"""SPPO code: ``beta`` is the inverse of the multiplicative-weights step (``eta = 1/beta``).

  Args:
    beta: the ``beta`` of SPPO's training scripts (1e-3 there, i.e. a step of 1000).

  Returns:
    ``{"step_size": 1 / beta}``.

  Examples:
    >>> from_sppo(beta=1e-3)
    {'step_size': 1000.0}
  """
  return {"step_size": 1.0 / _positive("beta", beta)}


def from_egpo(*, lr: float, beta: float, num_actions: int) -> dict[str, float]:
  r"""EGPO's tabular SGD learning rate on the pairwise online-IPO loss to a mirror step.

  One SGD step with learning rate ``lr`` on the all-pairs loss equals the mirror step
  :math:`\eta = 4\,\mathrm{lr}/(\beta n)` (``docs/solvers.md``, 'Tabular equivalences').

  Args:
    lr: EGPO's learning rate.
    beta: EGPO's KL coefficient (our ``kl_coef``).
    num_actions: :math:`n`.

  Returns:
    ``{"step_size": 4 lr / (beta n), "kl_coef": beta}``.

  Examples:
    >>> from_egpo(lr=0.1, beta=0.1, num_actions=10)
    {'step_size': 0.4, 'kl_coef': 0.1}
  """
  beta = _positive("beta", beta)
  return {"step_size": 4.0 * _positive("lr", lr) / (beta * int(num_actions)), "kl_coef": beta}


def from_mmd(*, alpha: float, eta: float, max_abs_payoff: float) -> dict[str, float]:
  r"""MMD on a payoff matrix ``A`` to the same iteration on :math:`P = 1/2 + A/(2\max|A|)`.

  Args:
    alpha: MMD's regularization weight on the payoff scale of ``A``.
    eta: MMD's step on that scale (OpenSpiel default ``alpha / max|A|**2``).
    max_abs_payoff: :math:`\max|A|`.

  Returns:
    ``{"step_size": 2 max|A| eta, "kl_coef": alpha / (2 max|A|)}``.

  Examples:
    >>> from_mmd(alpha=0.1, eta=0.1 / 9, max_abs_payoff=3.0)["kl_coef"]
    0.016666666666666666
  """
  scale = 2.0 * _positive("max_abs_payoff", max_abs_payoff)
  return {"step_size": scale * _positive("eta", eta), "kl_coef": float(alpha) / scale}


def ipo_target(*, kl_coef: float) -> float:
  r"""IPO's regression target :math:`1/(2\tau)` for the log-ratio margin.

  Args:
    kl_coef: IPO's KL weight :math:`\tau`.

  Returns:
    The target margin.

  Examples:
    >>> ipo_target(kl_coef=0.5)
    1.0
  """
  return 1.0 / (2.0 * _positive("kl_coef", kl_coef))


def from_trl(*, mixture_coef: float) -> dict[str, float]:
  r"""TRL's ``mixture_coef`` (weight of the reference logits) is our ``mixture`` :math:`\lambda`.

  Args:
    mixture_coef: TRL NashMDTrainer's mixture coefficient in ``[0, 1]``.

  Returns:
    ``{"mixture": mixture_coef}``.
  """
  if not 0.0 <= mixture_coef <= 1.0:
    raise ValueError(f"mixture_coef must lie in [0, 1], got {mixture_coef}")
  return {"mixture": float(mixture_coef)}
