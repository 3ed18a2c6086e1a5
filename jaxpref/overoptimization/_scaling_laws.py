r"""Gao et al.'s functional forms of the gold reward along the KL distance, fitted and peaked.

Gao, Schulman and Hilton (Scaling laws for reward model overoptimization, 2023) measure the gold
reward gain :math:`R` of a policy optimized against a proxy as a function of
:math:`d = \sqrt{\mathrm{KL}(\pi \,\|\, \pi_{\mathrm{init}})}` and find

.. math:: R_{\mathrm{BoN}}(d) = d(\alpha - \beta d), \qquad
   R_{\mathrm{RL}}(d) = d(\alpha - \beta\log d),

peaking at :math:`d^* = \alpha / (2\beta)` (:math:`R^* = \alpha^2/(4\beta)`) for best-of-n and
at :math:`d^* = e^{\alpha/\beta - 1}` (:math:`R^* = \beta d^*`) for RL. Here :math:`\alpha` is
``slope`` and :math:`\beta` is ``decay`` (not a KL weight). Both laws are linear in
:math:`(\alpha, \beta)`, so the fit is least squares through the origin.
"""

from typing import NamedTuple

import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike

FORMS = ("bon", "rl")


class ScalingFit(NamedTuple):
  """A fitted law ``R(d)``.

  Attributes:
    slope: alpha, the linear coefficient.
    decay: beta, the over-optimization coefficient (> 0 for a law that peaks).
    peak_distance: d* (``inf`` when ``decay <= 0``: no peak in range of the form).
    peak_value: R(d*) (``inf`` likewise).
    form: ``"bon"`` or ``"rl"``.
  """

  slope: Array
  decay: Array
  peak_distance: Array
  peak_value: Array
  form: str


def scaling_law(distance: ArrayLike, *, slope: ArrayLike, decay: ArrayLike, form: str) -> Array:
  """``R(d)`` of the ``form`` law (``"bon"`` or ``"rl"``; ``R(0) = 0``), alpha = ``slope``."""
  d = jnp.asarray(distance)
  if form == "bon":
    return d * (slope - decay * d)
  if form == "rl":
    return d * (slope - decay * jnp.log(jnp.where(d > 0, d, 1.0)))
  raise ValueError(f"Unknown scaling-law form {form!r}; known: {', '.join(FORMS)}.")


def fit_scaling_law(distance: ArrayLike, gain: ArrayLike, *, form: str) -> ScalingFit:
  r"""Least-squares fit of ``R(d)`` to measured ``(d, R)`` points, and its peak.

  Args:
    distance: ``[k]`` :math:`d = \sqrt{\mathrm{KL}}` of each policy (``>= 0``).
    gain: ``[k]`` its gold reward minus the initial policy's.
    form: ``"bon"`` (``d(alpha - beta d)``) or ``"rl"`` (``d(alpha - beta log d)``).

  Returns:
    A :class:`ScalingFit`.

  Raises:
    ValueError: on an unknown form, mismatched shapes or fewer than 2 points with ``d > 0``.

  Examples:
    >>> import jax.numpy as jnp
    >>> d = jnp.linspace(0.1, 3.0, 20)
    >>> fit = fit_scaling_law(d, d * (1.0 - 0.25 * d), form="bon")
    >>> round(float(fit.peak_distance), 6), round(float(fit.peak_value), 6)
    (2.0, 1.0)
  """
  if form not in FORMS:
    raise ValueError(f"Unknown scaling-law form {form!r}; known: {', '.join(FORMS)}.")
  d, R = jnp.asarray(distance, jnp.result_type(float)), jnp.asarray(gain, jnp.result_type(float))
  if d.shape != R.shape or d.ndim != 1:
    raise ValueError(f"distance and gain must be matching [k] vectors; got {d.shape}, {R.shape}.")
  if int(jnp.sum(d > 0)) < 2:
    raise ValueError("fit_scaling_law needs at least 2 points with distance > 0.")
  second = d**2 if form == "bon" else d * jnp.log(jnp.where(d > 0, d, 1.0))
  A = jnp.stack([d, -second], axis=1)
  (alpha, beta), *_ = jnp.linalg.lstsq(A, R)
  peaked = beta > 0
  if form == "bon":
    d_star = jnp.where(peaked, alpha / (2 * jnp.where(peaked, beta, 1.0)), jnp.inf)
  else:
    d_star = jnp.where(peaked, jnp.exp(alpha / jnp.where(peaked, beta, 1.0) - 1.0), jnp.inf)
  r_star = jnp.where(peaked, scaling_law(d_star, slope=alpha, decay=beta, form=form), jnp.inf)
  return ScalingFit(alpha, beta, d_star, r_star, form)
