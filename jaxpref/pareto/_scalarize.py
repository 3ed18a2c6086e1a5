r"""Scalarizations of a vector of objectives under a weight vector :math:`\lambda \in \Delta^{m-1}`.

All three are written for minimisation of losses :math:`L \in \mathbb{R}^m` with an ideal point
:math:`z^*` (usually :math:`z^*_i = \min L_i - \epsilon`). With ``sense="max"`` the values are
rewards :math:`J` to maximise, ``ideal`` is the utopia point :math:`u`, and each function returns
the negated minimisation form on :math:`(-J, -u)`, a score to maximise:
e.g. :math:`\mathrm{TCH} = -\max_i \lambda_i (u_i - J_i)`.

Names: the papers' :math:`\lambda` is the argument ``weights``, :math:`z^*` (or :math:`u`) is
``ideal``, the augmentation :math:`\rho` is ``rho`` and the STCH temperature :math:`\mu` is ``mu``;
``ideal``, ``rho``, ``mu`` and ``sense`` are keyword-only.
"""

import jax.numpy as jnp
from jax.nn import logsumexp

from jaxpref.pareto._checks import check_points, check_simplex, to_min
from jaxpref.types import Array, ArrayLike


def _prepare(values, weights, ideal, sense, where):
  values = check_points("values", values, ndim=None, where=where)
  weights = check_simplex("weights", weights, where=where)
  m = values.shape[-1]
  if weights.shape[-1] != m:
    raise ValueError(
      f"{where}: values have {m} objectives but weights have {weights.shape[-1]}; "
      "the number of objectives must match."
    )
  L = to_min(values, sense)
  if ideal is None:
    return L, weights, None
  z = to_min(check_points("ideal", ideal, ndim=None, m=m, where=where), sense)
  return L, weights, z


def _signed(value: Array, sense: str) -> Array:
  return value if sense == "min" else -value


def linear(values: ArrayLike, weights: ArrayLike, *, sense: str = "min") -> Array:
  r"""Linear scalarization (weighted sum), :math:`g_{LS}(L \mid \lambda) = \sum_i \lambda_i L_i`.

  Minimisers with every :math:`\lambda_i > 0` are Pareto optimal, but only *supported* points
  (on the convex hull of the front) are reachable: on a concave front (Fonseca-Fleming) every
  weight lands near an endpoint.

  Args:
    values: ``[..., m]`` objective values.
    weights: ``[..., m]`` weights on the simplex (broadcast against ``values``).
    sense: ``"min"`` (losses) or ``"max"`` (rewards; returns :math:`\sum_i \lambda_i J_i`).

  Returns:
    ``[...]`` scalarized values (minimised for ``"min"``, maximised for ``"max"``).

  References:
    Miettinen, Nonlinear Multiobjective Optimization, Kluwer 1999, Sec. 3.1.

  Examples:
    >>> round(float(linear(jnp.array([0.2, 0.5]), jnp.array([0.5, 0.5]))), 6)
    0.35
  """
  L, w, _ = _prepare(values, weights, None, sense, "linear")
  return _signed(jnp.sum(w * L, axis=-1), sense)


def tchebycheff(
  values: ArrayLike,
  weights: ArrayLike,
  *,
  ideal: ArrayLike,
  rho: float = 0.0,
  sense: str = "min",
) -> Array:
  r"""(Augmented) Tchebycheff scalarization.

  .. math:: g_{TCH}(L \mid \lambda) = \max_i \lambda_i (L_i - z^*_i)
     + \rho \sum_i \lambda_i (L_i - z^*_i).

  With :math:`\rho = 0` every Pareto-optimal point minimises :math:`g_{TCH}` for some
  :math:`\lambda` (given :math:`z^*` strictly better than the front); minimisers are weakly Pareto
  optimal. A small :math:`\rho` (1e-3 to 1e-2) removes the weakly optimal ties.

  Args:
    values: ``[..., m]`` objective values.
    weights: ``[..., m]`` weights on the simplex.
    ideal: ``[..., m]`` ideal point :math:`z^*` (``"min"``) or utopia :math:`u` (``"max"``).
    rho: augmentation coefficient (0 = plain Tchebycheff).
    sense: ``"min"`` or ``"max"`` (returns :math:`-\max_i \lambda_i (u_i - J_i) - \rho \ldots`).

  Returns:
    ``[...]`` scalarized values.

  References:
    Bowman, On the relationship of the Tchebycheff norm and the efficient frontier of
    multiple-criteria objectives, 1976; Steuer & Choo, Math. Programming 1983 (augmented form).

  Examples:
    >>> float(tchebycheff(jnp.array([0.2, 0.5]), jnp.array([0.5, 0.5]), ideal=jnp.zeros(2)))
    0.25
  """
  L, w, z = _prepare(values, weights, ideal, sense, "tchebycheff")
  gap = w * (L - z)
  return _signed(jnp.max(gap, axis=-1) + rho * jnp.sum(gap, axis=-1), sense)


def smooth_tchebycheff(
  values: ArrayLike,
  weights: ArrayLike,
  *,
  ideal: ArrayLike,
  mu: float = 0.1,
  sense: str = "min",
) -> Array:
  r"""Smooth Tchebycheff scalarization (STCH), the log-sum-exp surrogate of :func:`tchebycheff`.

  .. math:: g_\mu(L \mid \lambda) = \mu \log \sum_i \exp\big(\lambda_i (L_i - z^*_i) / \mu\big),
     \qquad g_{TCH} \le g_\mu \le g_{TCH} + \mu \log m.

  Smooth for :math:`\mu > 0`, so plain gradient descent applies; :math:`\mu \to 0` recovers TCH.

  Args:
    values: ``[..., m]`` objective values.
    weights: ``[..., m]`` weights on the simplex.
    ideal: ``[..., m]`` ideal point (``"min"``) or utopia point (``"max"``).
    mu: smoothing temperature, > 0.
    sense: ``"min"`` or ``"max"``.

  Returns:
    ``[...]`` scalarized values.

  References:
    Lin, Zhang, Liu, Zhang, Kwong, Smooth Tchebycheff scalarization for multi-objective
    optimization, ICML 2024. https://arxiv.org/abs/2402.19078

  Examples:
    >>> L, w = jnp.array([0.2, 0.5]), jnp.array([0.5, 0.5])
    >>> round(float(smooth_tchebycheff(L, w, ideal=jnp.zeros(2), mu=0.1)), 6)
    0.270141
  """
  if not isinstance(mu, jnp.ndarray) and mu <= 0:
    raise ValueError(f"smooth_tchebycheff: mu must be > 0; got {mu}.")
  L, w, z = _prepare(values, weights, ideal, sense, "smooth_tchebycheff")
  return _signed(mu * logsumexp(w * (L - z) / mu, axis=-1), sense)


SCALARIZATIONS = ("ls", "tch", "stch")


def scalarize(
  values: ArrayLike,
  weights: ArrayLike,
  method: str,
  *,
  ideal: ArrayLike | None = None,
  mu: float = 0.1,
  rho: float = 0.0,
  sense: str = "min",
) -> Array:
  """Dispatches to a scalarization by name: ``"ls"``, ``"tch"`` or ``"stch"``.

  Args:
    values: ``[..., m]`` objective values.
    weights: ``[..., m]`` weights on the simplex.
    method: ``"ls"`` (:func:`linear`), ``"tch"`` (:func:`tchebycheff`, with ``rho``) or
      ``"stch"`` (:func:`smooth_tchebycheff`, with ``mu``).
    ideal: ideal (or utopia) point, required by ``"tch"`` and ``"stch"``.
    mu: STCH temperature.
    rho: TCH augmentation.
    sense: ``"min"`` or ``"max"``.

  Returns:
    ``[...]`` scalarized values.
  """
  if method not in SCALARIZATIONS:
    raise ValueError(f"Unknown scalarization {method!r}; known: {', '.join(SCALARIZATIONS)}.")
  if method == "ls":
    return linear(values, weights, sense=sense)
  if ideal is None:
    raise ValueError(f"scalarization {method!r} needs an ideal point.")
  if method == "tch":
    return tchebycheff(values, weights, ideal=ideal, rho=rho, sense=sense)
  return smooth_tchebycheff(values, weights, ideal=ideal, mu=mu, sense=sense)
