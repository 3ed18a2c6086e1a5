r"""K-Sort Arena's Thurstone (TrueSkill-style) K-wise rating update, and online Elo.

Each item has a Gaussian skill :math:`\theta_i \sim \mathcal{N}(\mu_i, \sigma_i^2)` and shows a
performance :math:`X_i \sim \mathcal{N}(\theta_i, \beta^2)`; ``i`` beats ``q`` when
:math:`X_i > X_q`, so :math:`P(i \succ q) = \Phi((\mu_i - \mu_q) / c_{iq})` (Thurstone's case V).
One K-wise vote is read as the pairwise outcomes it implies (every pair of a full ranking, the
pick against each other item of a best-pick vote) and every shown item is updated at once from
the pre-vote ratings, with :math:`V(t) = \phi(t)/\Phi(t)` and :math:`W(t) = V(t)(V(t) + t)`:

.. math::
  \mu_i &\leftarrow \mu_i + \sigma_i^2 \Big[\sum_{q \prec i} \frac{V(t_{iq})}{c_{iq}}
          - \sum_{q \succ i} \frac{V(t_{qi})}{c_{iq}}\Big], \qquad
          t_{iq} = \frac{\mu_i - \mu_q}{c_{iq}}, \\
  \sigma_i^2 &\leftarrow \sigma_i^2 \max\Big(1 - \sum_{q \prec i} \frac{\sigma_i^2}{c_{iq}^2}
          W(t_{iq}) - \sum_{q \succ i} \frac{\sigma_i^2}{c_{iq}^2} W(t_{qi}),\ \kappa\Big).

The pair scale is TrueSkill's :math:`c_{iq}^2 = 2\beta^2 + \sigma_i^2 + \sigma_q^2` by default
(``pair_scale="trueskill"``); ``pair_scale="paper"`` uses the formula K-Sort Arena prints,
:math:`c_{iq}^2 = \beta^2 + \sigma_i^2`. With two items and the TrueSkill scale the update is
exactly TrueSkill's two-player update without a draw margin. The floor
:math:`\kappa` (``min_variance_ratio``) is ours, not the paper's: summing K - 1 pairwise
shrinkages can push the bracket below 0 (e.g. an upset against several opponents early on),
where a variance would turn negative.

The leaderboard is the conservative score :math:`S_i = \mu_i - \eta \sigma_i`, :math:`\eta = 3`
(``num_sigmas``). The paper does not give the prior; the defaults are TrueSkill's
:math:`\mu_0 = 25`, :math:`\sigma_0 = 25/3`, :math:`\beta = 25/6`.

Online Elo (the paper's baseline) is one SGD pass on the Bradley-Terry likelihood:
:math:`R_a \leftarrow R_a + k (S_a - E_a)`, :math:`E_a = 1 / (1 + 10^{(R_b - R_a)/400})`.

References:
  Herbrich, Minka, Graepel, TrueSkill: a Bayesian skill rating system, NeurIPS 2007;
  Li et al., K-Sort Arena: efficient and reliable benchmarking for generative models via K-wise
  human preferences, CVPR 2025 (arXiv 2408.14468); Elo, The Rating of Chessplayers, 1978.
"""

from typing import NamedTuple

import jax.numpy as jnp
from jax.scipy.stats import norm

from jaxpref.arena._kwise import beats_matrix
from jaxpref.types import Array, ArrayLike

PAIR_SCALES = ("trueskill", "paper")
MU0 = 25.0
SIGMA0 = 25.0 / 3.0
PERFORMANCE_NOISE = 25.0 / 6.0


class ThurstoneState(NamedTuple):
  """Gaussian skill beliefs.

  Attributes:
    mu: ``[n]`` skill means.
    sigma2: ``[n]`` skill variances.
  """

  mu: Array
  sigma2: Array


def thurstone_init(
  num_items: int, *, mu0: float = MU0, sigma0: float = SIGMA0, dtype=None
) -> ThurstoneState:
  """Every item at the prior ``N(mu0, sigma0^2)`` (TrueSkill's defaults)."""
  dtype = dtype or jnp.zeros(()).dtype
  return ThurstoneState(jnp.full(num_items, mu0, dtype), jnp.full(num_items, sigma0**2, dtype))


def v_function(t: ArrayLike) -> Array:
  r""":math:`V(t) = \phi(t) / \Phi(t)`, evaluated in log space (stable for large negative t)."""
  return jnp.exp(norm.logpdf(t) - norm.logcdf(t))


def w_function(t: ArrayLike) -> Array:
  r""":math:`W(t) = V(t)(V(t) + t) \in (0, 1)`."""
  v = v_function(t)
  return v * (v + t)


def thurstone_update(
  state: ThurstoneState,
  items: ArrayLike,
  num_ranked: ArrayLike,
  *,
  performance_noise: float | Array = PERFORMANCE_NOISE,
  pair_scale: str = "trueskill",
  min_variance_ratio: float | Array = 1e-3,
) -> ThurstoneState:
  r"""K-Sort Arena's K-wise update of the module's formulas, for one vote.

  Args:
    state: the ratings.
    items: ``[K]`` the shown items, best first (a :class:`~jaxpref.preference.Rankings` row).
    num_ranked: how many leading items are ordered (``K - 1``: a full ranking; 1: a best pick).
    performance_noise: :math:`\beta`, the performance noise scale.
    pair_scale: ``"trueskill"`` (:math:`2\beta^2 + \sigma_i^2 + \sigma_q^2`) or ``"paper"``
      (:math:`\beta^2 + \sigma_i^2`, as printed in K-Sort Arena).
    min_variance_ratio: the floor :math:`\kappa` of the variance multiplier.

  Returns:
    The updated :class:`ThurstoneState` (items not shown are unchanged).

  Raises:
    ValueError: on an unknown ``pair_scale``.
  """
  if pair_scale not in PAIR_SCALES:
    raise ValueError(f"Unknown pair_scale {pair_scale!r}; choose one of {', '.join(PAIR_SCALES)}.")
  items = jnp.asarray(items)
  K = items.shape[0]
  mu, s2 = state.mu[items], state.sigma2[items]  # [K]
  b2 = jnp.asarray(performance_noise, mu.dtype) ** 2
  if pair_scale == "trueskill":
    c2 = 2.0 * b2 + s2[:, None] + s2[None, :]  # [i, q]
  else:
    c2 = jnp.broadcast_to(b2 + s2[:, None], (K, K))
  c = jnp.sqrt(c2)
  beats = beats_matrix(num_ranked, K)  # [i, q]: i beat q
  lost = beats.T  # [i, q]: q beat i
  t = (mu[:, None] - mu[None, :]) / c  # t_iq, for i's wins; -t_iq for its losses
  v_win, v_loss = v_function(t), v_function(-t)
  w_win, w_loss = w_function(t), w_function(-t)
  gain = jnp.sum(jnp.where(beats, v_win / c, 0.0) - jnp.where(lost, v_loss / c, 0.0), axis=1)
  ratio = s2[:, None] / c2
  shrink = jnp.sum(jnp.where(beats, ratio * w_win, 0.0) + jnp.where(lost, ratio * w_loss, 0.0), 1)
  new_mu = mu + s2 * gain
  new_s2 = s2 * jnp.maximum(1.0 - shrink, min_variance_ratio)
  return ThurstoneState(state.mu.at[items].set(new_mu), state.sigma2.at[items].set(new_s2))


def conservative_score(state: ThurstoneState, *, num_sigmas: float | Array = 3.0) -> Array:
  r"""``[n]`` leaderboard score :math:`\mu_i - \eta\,\sigma_i`, :math:`\eta` = ``num_sigmas``."""
  return state.mu - num_sigmas * jnp.sqrt(state.sigma2)


def elo_update(
  ratings: ArrayLike,
  items: ArrayLike,
  num_ranked: ArrayLike,
  *,
  k_factor: float | Array = 4.0,
  scale: float = 400.0,
) -> Array:
  """Online Elo on the pairwise outcomes of one vote, all from the pre-vote ratings.

  For a pair vote this is FastChat's ``compute_elo`` step (``k_factor`` 4, ratings from 1000):
  ``R_a += k (S_a - E_a)``, ``E_a = 1 / (1 + 10^((R_b - R_a) / scale))``.

  Args:
    ratings: ``[n]`` ratings.
    items: ``[K]`` shown items, best first.
    num_ranked: how many leading items are ordered.
    k_factor: the step size ``k``.
    scale: the logistic scale (400: 10x odds per 400 points).

  Returns:
    ``[n]`` updated ratings.
  """
  ratings, items = jnp.asarray(ratings), jnp.asarray(items)
  K = items.shape[0]
  r = ratings[items]
  expected = 1.0 / (1.0 + 10.0 ** ((r[None, :] - r[:, None]) / scale))  # [i, q]: E_i vs q
  beats = beats_matrix(num_ranked, K)
  lost = beats.T
  delta = jnp.sum(jnp.where(beats, 1.0 - expected, 0.0) - jnp.where(lost, expected, 0.0), axis=1)
  return ratings.at[items].add(k_factor * delta)
