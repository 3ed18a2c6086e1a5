"""KL divergence and win rates between policies."""

import jax.numpy as jnp
from jax.scipy.special import xlogy

from jaxpref.metrics._checks import check_game_and_policies
from jaxpref.types import Array, ArrayLike


def kl_divergence(p: ArrayLike, q: ArrayLike) -> Array:
  r"""Kullback-Leibler divergence over the last axis.

  .. math:: \mathrm{KL}(p \,\|\, q) = \sum_y p(y) \log \frac{p(y)}{q(y)},

  with :math:`0 \log 0 = 0`; it is :math:`+\infty` where :math:`p(y) > 0 = q(y)`. The NLHF papers
  use
  :math:`\mathrm{KL}(\pi \| \pi_{\mathrm{ref}})` in the game and :math:`\mathrm{KL}(\pi^* \| \pi_t)`
  (equilibrium first) as the convergence metric.

  Args:
    p: ``[..., n]`` probabilities.
    q: ``[..., n]`` probabilities.

  Returns:
    ``[...]`` divergences (broadcast over leading axes).

  References:
    Kullback & Leibler, On information and sufficiency, Ann. Math. Statist. 1951.

  Examples:
    >>> import jax.numpy as jnp
    >>> round(float(kl_divergence(jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]))), 6)
    0.693147
  """
  p = jnp.asarray(p)
  q = jnp.asarray(q)
  if p.ndim < 1 or q.ndim < 1 or p.shape[-1] != q.shape[-1]:
    raise ValueError(f"kl_divergence: p and q must share the last axis; got {p.shape}, {q.shape}.")
  return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=-1)


def win_rate(P: ArrayLike, x: ArrayLike, y: ArrayLike) -> Array:
  r"""Probability that a draw from policy ``x`` beats a draw from policy ``y``.

  .. math:: P(x \succ y) = x^\top P y = \sum_{i,j} x_i P_{ij} y_j.

  Note :math:`P(x \succ x) = 1/2` for every ``x``.

  Args:
    P: ``[..., n, n]`` preference matrices.
    x: ``[..., n]`` first policy.
    y: ``[..., n]`` second policy.

  Returns:
    ``[...]`` win rates.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024. https://arxiv.org/abs/2312.00886

  Examples:
    >>> import jax.numpy as jnp
    >>> P = jnp.array([[0.5, 0.8], [0.2, 0.5]])
    >>> round(float(win_rate(P, jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]))), 6)
    0.8
  """
  P, x, y = check_game_and_policies("win_rate", P, x, y)
  return jnp.einsum("...i,...ij,...j->...", x, P, y)
