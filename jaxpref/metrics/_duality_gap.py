r"""Duality gap and exploitability of a symmetric profile, unregularized and KL-regularized.

Conventions (they differ between papers; see docs/solvers.md, 'Gap conventions'):

- **Duality gap** of the symmetric profile :math:`(\pi, \pi)`:
  :math:`\mathrm{Gap}(\pi) = \max_q P(q \succ \pi) - \min_q P(\pi \succ q)`, which for a valid
  preference matrix equals :math:`2 \max_i (P\pi)_i - 1`. It equals OpenSpiel's ``nash_conv`` on the
  matrix game with payoff :math:`P - 1/2`; SPPO, INPO and OMWU-NLHF report this quantity.
- **Exploitability** is half the gap: :math:`\max_i (P\pi)_i - 1/2`, how far a best response beats
  a fair coin. OpenSpiel's MMD docs note "gap = 2 x exploitability".
- **Regularized** versions use the game :math:`J_\beta(\pi, \pi') = P(\pi \succ \pi') -
  \beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{ref}}) + \beta\,\mathrm{KL}(\pi'\|\pi_{\mathrm{ref}})` of
  NLHF,
  Nash-MP and EGPO, whose unique equilibrium :math:`\pi^*_\beta` has regularized gap 0 while its
  unregularized gap can be as large as :math:`2\beta \log n`. EGPO, INPO and Nash-MP plot the
  regularized gap; OMWU-NLHF, MPO and COMAL the unregularized one. Log both.
"""

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from jaxpref.games import is_preference_matrix
from jaxpref.metrics._checks import check_game_and_policies
from jaxpref.metrics._divergences import kl_divergence
from jaxpref.types import Array, ArrayLike


def _row_col(P: Array, x: Array, assume_valid: bool) -> tuple[Array, Array]:
  """``(P x, x^T P)``; with ``P + P^T = 1`` the second is ``sum(x) - P x`` (one product)."""
  row = jnp.einsum("...ij,...j->...i", P, x, precision=jax.lax.Precision.HIGHEST)
  if assume_valid:
    return row, jnp.sum(x, axis=-1, keepdims=True) - row
  col = jnp.einsum("...i,...ij->...j", x, P, precision=jax.lax.Precision.HIGHEST)
  return row, col


def _unless_invalid(P: Array, gap: Array, assume_valid: bool) -> Array:
  """NaN where ``P`` is not a preference matrix (checked in the graph, so also under ``jit``)."""
  if assume_valid:
    return gap
  return jnp.where(is_preference_matrix(P), gap, jnp.nan)


def duality_gap(P: ArrayLike, x: ArrayLike, *, assume_valid: bool = False) -> Array:
  r"""Duality gap of the symmetric profile :math:`(x, x)` in the preference game.

  .. math::
    \mathrm{Gap}(x) = \max_i (P x)_i - \min_j (x^\top P)_j = 2 \max_i (P x)_i - 1
    \quad (\text{when } P + P^\top = 1).

  Zero exactly at the Nash equilibria (maximal lotteries). Equal to OpenSpiel's NashConv of the
  matrix game with payoff :math:`P - 1/2`. Differentiable almost everywhere (a subgradient at ties
  of the max).

  Args:
    P: ``[..., n, n]`` preference matrices.
    x: ``[..., n]`` policies on the simplex.
    assume_valid: ``P + P^T = 1`` is known (e.g. validated): one matrix-vector product instead
      of two, the column term taken as ``sum(x) - P x``, and no check. Otherwise a matrix that is
      not a preference matrix (``games.is_preference_matrix``) gets a NaN gap.

  Returns:
    ``[...]`` duality gaps, in ``[0, 1]`` for valid inputs, NaN for invalid ones.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024, https://arxiv.org/abs/2312.00886;
    Lanctot et al., OpenSpiel, 2019, ``exploitability.nash_conv``, https://arxiv.org/abs/1908.09453

  Examples:
    >>> import jax.numpy as jnp
    >>> P = jnp.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    >>> float(duality_gap(P, jnp.array([1.0, 0.0, 0.0])))  # a pure strategy is beaten for sure
    1.0
  """
  P, x = check_game_and_policies("duality_gap", P, x)
  row, col = _row_col(P, x, assume_valid)  # (P x)_i: item i against x; (x^T P)_j: x against j
  return _unless_invalid(P, jnp.max(row, axis=-1) - jnp.min(col, axis=-1), assume_valid)


def exploitability(P: ArrayLike, x: ArrayLike) -> Array:
  r"""Exploitability of ``x``: half the duality gap.

  .. math:: \mathrm{Expl}(x) = \tfrac12 \mathrm{Gap}(x) = \max_i (P x)_i - \tfrac12.

  Args:
    P: ``[..., n, n]`` preference matrices.
    x: ``[..., n]`` policies.

  Returns:
    ``[...]`` exploitabilities, in ``[0, 1/2]`` for valid inputs.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024. https://arxiv.org/abs/2312.00886

  Examples:
    >>> import jax.numpy as jnp
    >>> P = jnp.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    >>> float(exploitability(P, jnp.ones(3) / 3))
    0.0
  """
  return 0.5 * duality_gap(P, x)


def _log_ref(ref_policy: ArrayLike | None, n: int, dtype) -> Array:
  if ref_policy is None:
    return jnp.full((n,), -jnp.log(n), dtype=dtype)
  return jnp.log(jnp.asarray(ref_policy, dtype=dtype))


def regularized_duality_gap(
  P: ArrayLike,
  x: ArrayLike,
  *,
  kl_coef: ArrayLike,
  ref_policy: ArrayLike | None = None,
  assume_valid: bool = False,
) -> Array:
  r"""Duality gap of :math:`(x, x)` in the KL-regularized preference game.

  With :math:`J_\beta(\pi, \pi') = \pi^\top P \pi' - \beta\,\mathrm{KL}(\pi\|\rho) +
  \beta\,\mathrm{KL}(\pi'\|\rho)` and reference :math:`\rho`, both best responses are closed-form
  softmaxes, giving

  .. math::
    \mathrm{Gap}_\beta(x) = \max_q J_\beta(q, x) - \min_q J_\beta(x, q)
    = \beta \log \sum_y \rho_y e^{(Px)_y/\beta} + \beta \log \sum_y \rho_y e^{-(P^\top x)_y/\beta}
    + 2\beta\,\mathrm{KL}(x\|\rho),

  which for :math:`P + P^\top = 1` is :math:`2\beta \log Z_\beta(x) + 2\beta\,\mathrm{KL}(x\|\rho)
  - 1`
  with :math:`Z_\beta(x) = \sum_y \rho_y e^{(Px)_y/\beta}`. It is zero only at the regularized
  equilibrium :math:`\pi^*_\beta = \mathrm{softmax}(\log\rho + P\pi^*_\beta/\beta)` and tends to
  :func:`duality_gap` as :math:`\beta \to 0`. Computed with log-sum-exp, stable for small
  ``kl_coef``.

  Args:
    P: ``[..., n, n]`` preference matrices.
    x: ``[..., n]`` policies.
    kl_coef: ``[...]`` KL coefficient :math:`\beta > 0` (NLHF's :math:`\tau`).
    ref_policy: ``[..., n]`` reference policy :math:`\rho` (:math:`\pi_{\mathrm{ref}}`); uniform
      when ``None``.
    assume_valid: ``P + P^T = 1`` is known: one matrix-vector product instead of two, and no
      check (otherwise NaN for a matrix that is not a preference matrix).

  Returns:
    ``[...]`` regularized duality gaps (twice :func:`regularized_exploitability`).

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024, https://arxiv.org/abs/2312.00886;
    Zhou, Fazel, Du, Extragradient Preference Optimization, COLM 2025,
    https://arxiv.org/abs/2503.08942

  Examples:
    >>> import jax.numpy as jnp
    >>> P = jnp.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    >>> abs(float(regularized_duality_gap(P, jnp.ones(3) / 3, kl_coef=0.1))) < 1e-6
    True
  """
  P, x = check_game_and_policies("regularized_duality_gap", P, x)
  beta = jnp.asarray(kl_coef, dtype=jnp.result_type(P.dtype, x.dtype))
  log_rho = _log_ref(ref_policy, P.shape[-1], beta.dtype)
  row, col = _row_col(P, x, assume_valid)
  b = beta[..., None]
  best_vs_x = beta * logsumexp(log_rho + row / b, axis=-1)
  x_vs_worst = -beta * logsumexp(log_rho - col / b, axis=-1)
  gap = best_vs_x - x_vs_worst + 2.0 * beta * kl_divergence(x, jnp.exp(log_rho))
  return _unless_invalid(P, gap, assume_valid)


def regularized_exploitability(
  P: ArrayLike, x: ArrayLike, *, kl_coef: ArrayLike, ref_policy: ArrayLike | None = None
) -> Array:
  r"""Exploitability of ``x`` in the KL-regularized game: half of :func:`regularized_duality_gap`.

  .. math::
    \mathrm{Expl}_\beta(x) = \beta \log \sum_y \rho_y e^{(Px)_y/\beta} + \beta\,\mathrm{KL}(x\|\rho)
    - \tfrac12 \quad (\text{when } P + P^\top = 1).

  Args:
    P: ``[..., n, n]`` preference matrices.
    x: ``[..., n]`` policies.
    kl_coef: ``[...]`` KL coefficient :math:`\beta > 0`.
    ref_policy: ``[..., n]`` reference policy; uniform when ``None``.

  Returns:
    ``[...]`` regularized exploitabilities.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024. https://arxiv.org/abs/2312.00886

  Examples:
    >>> import jax.numpy as jnp
    >>> P = jnp.array([[0.5, 0.8], [0.2, 0.5]])
    >>> bool(regularized_exploitability(P, jnp.array([0.5, 0.5]), kl_coef=1.0) > 0)
    True
  """
  return 0.5 * regularized_duality_gap(P, x, kl_coef=kl_coef, ref_policy=ref_policy)
