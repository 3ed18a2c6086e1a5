r"""K-wise votes from a known Plackett-Luce model, the PL leaderboard with uncertainty, ranks.

A K-wise arena shows K items and records one vote on them: a full ranking (``mode="rank"``) or
the best pick (``mode="best"``). Under a Plackett-Luce (PL) model with strengths :math:`\theta`, a
ranking of the shown set :math:`S` is drawn exactly by sorting :math:`\theta_i + G_i`, with
:math:`G_i` i.i.d. standard Gumbel (the Gumbel-max trick applied stage by stage), and its first
place is a draw of the K-wise choice
:math:`P(w \mid S) = e^{\theta_w} / \sum_{j \in S} e^{\theta_j}`.

The leaderboard is the PL maximum-a-posteriori fit
:math:`\hat\theta = \arg\min_\theta \mathcal{L}(\theta)`,
:math:`\mathcal{L} = -\sum_r w_r \log p(\text{row}_r \mid \theta) + \lambda \|\theta\|^2`
(:func:`jaxpref.preference.fit_rankings`), with the Laplace (observed-Fisher) approximation of
its uncertainty: :math:`\theta \approx \mathcal{N}(\hat\theta, H^{-1})`,
:math:`H = \nabla^2 \mathcal{L}(\hat\theta)`. For PL,
:math:`H = \sum_{\text{stages } e} w_e (\operatorname{diag} p_e - p_e p_e^\top) + 2 \lambda I`
with :math:`p_e` the softmax of :math:`\theta` over the items still unplaced at that stage, so the
likelihood part never sees a common shift of :math:`\theta`; the reported covariance is that of
the centred strengths :math:`C\theta`, :math:`C = I - \tfrac1n \mathbf{1}\mathbf{1}^\top`.

References:
  Luce, Individual Choice Behavior, 1959; Plackett, The analysis of permutations, JRSS C 1975;
  Li et al., K-Sort Arena: efficient and reliable benchmarking for generative models via K-wise
  human preferences, CVPR 2025 (arXiv 2408.14468).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.preference import PlackettLuce, Rankings, fit_rankings
from jaxpref.types import Array, ArrayLike, PRNGKey

MODES = ("rank", "best")


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_strengths(theta: ArrayLike, name: str = "theta") -> None:
  """Raises ``ValueError`` if concrete ``theta`` is not a finite ``[n]`` vector (n >= 2)."""
  if not _is_concrete(theta):
    return
  theta = np.asarray(theta)
  if theta.ndim != 1 or theta.shape[0] < 2:
    raise ValueError(f"{name} must be a [n] vector with n >= 2; got shape {theta.shape}.")
  if not np.all(np.isfinite(theta)):
    bad = int(np.argmin(np.isfinite(theta)))
    raise ValueError(f"{name} must be finite; item {bad} is {theta[bad]}.")


def check_mode(mode: str) -> None:
  """Raises ``ValueError`` for a vote mode other than ``"rank"`` or ``"best"``."""
  if mode not in MODES:
    raise ValueError(f"Unknown vote mode {mode!r}; choose one of {', '.join(MODES)}.")


def sample_kwise_vote(
  key: PRNGKey,
  theta: ArrayLike,
  shown: ArrayLike,
  *,
  mode: str = "rank",
  flip_prob: float | Array = 0.0,
) -> Rankings:
  r"""One vote on the K shown items under the Plackett-Luce model ``theta``, as a Rankings row.

  The order is :math:`\operatorname{argsort}(-(\theta_S + G))`, :math:`G_i` i.i.d. Gumbel(0, 1):
  an exact PL ranking of :math:`S`. With probability ``flip_prob`` the voter errs and the whole
  order is reversed (for ``mode="best"`` the worst item of the draw is then picked), the
  "flipped votes" noise of K-Sort Arena's simulation.

  Args:
    key: PRNG key.
    theta: ``[n]`` true log-strengths.
    shown: ``[K]`` distinct item ids shown (K >= 2, static).
    mode: ``"rank"`` (a full ranking: ``num_ranked = K - 1``) or ``"best"`` (the pick first, the
      rest of the set unordered after it: ``num_ranked = 1``).
    flip_prob: probability of a reversed vote (may be traced).

  Returns:
    A :class:`~jaxpref.preference.Rankings` row with unbatched leaves: ``items [K]`` best first,
    scalar ``size = K``, ``num_ranked`` and ``weight = 1``. ``jax.vmap`` over keys gives a batch.

  Raises:
    ValueError: on an unknown mode, fewer than 2 shown items, or non-finite concrete ``theta``.
  """
  check_mode(mode)
  check_strengths(theta)
  shown = jnp.asarray(shown)
  if shown.ndim != 1 or shown.shape[0] < 2:
    raise ValueError(f"shown must be a [K] vector with K >= 2; got shape {shown.shape}.")
  theta = jnp.asarray(theta)
  K = shown.shape[0]
  key_gumbel, key_flip = jax.random.split(key)
  noisy = theta[shown] + jax.random.gumbel(key_gumbel, (K,), theta.dtype)
  order = jnp.argsort(-noisy)
  flip = jax.random.uniform(key_flip, (), theta.dtype) < flip_prob
  order = jnp.where(flip, order[::-1], order)
  ranked = K - 1 if mode == "rank" else 1
  return Rankings(
    items=shown[order].astype(jnp.int32),
    size=jnp.asarray(K, jnp.int32),
    num_ranked=jnp.asarray(ranked, jnp.int32),
    weight=jnp.ones((), theta.dtype),
  )


def beats_matrix(num_ranked: ArrayLike, width: int) -> Array:
  """``[K, K]`` booleans: the item in position ``a`` of a vote beat the one in position ``b``.

  Position ``a`` beats ``b`` when ``a < b`` and ``a < num_ranked``: every pair of a full
  ranking, and the pick against each other item of a best-pick vote (the others are unordered).
  """
  pos = jnp.arange(width)
  return (pos[:, None] < pos[None, :]) & (pos[:, None] < num_ranked)


class PLLeaderboard(NamedTuple):
  """A Plackett-Luce leaderboard with Laplace uncertainty (:func:`pl_leaderboard`).

  Attributes:
    scores: ``[n]`` centred MAP log-strengths.
    stderr: ``[n]`` Laplace standard errors of the centred strengths.
    covariance: ``[n, n]`` their Laplace covariance :math:`C H^{-1} C`.
    rank: ``[n]`` rank of each item (1 = best; ties share the mean rank).
    rank_low: ``[n]`` best plausible rank: 1 + the number of items significantly better.
    rank_high: ``[n]`` worst plausible rank: n - the number of items significantly worse.
    converged: whether the fit reached its tolerance.
  """

  scores: Array
  stderr: Array
  covariance: Array
  rank: Array
  rank_low: Array
  rank_high: Array
  converged: Array


def laplace_covariance(model: PlackettLuce, params: dict, rankings: Rankings) -> Array:
  r"""``[n, n]`` Laplace covariance of the centred strengths at ``params``.

  :math:`C H^{-1} C` with :math:`H` the Hessian of the penalized negative log-likelihood
  (that of :func:`jaxpref.preference.ranking_objective` on the scores, in closed form by
  :func:`pl_derivatives`: the observed Fisher information plus the prior's
  :math:`2\lambda I`). Computed as
  :math:`(H + J)^{-1} - J / (1 + 2\lambda)`, :math:`J = \tfrac1n \mathbf{1}\mathbf{1}^\top`,
  which equals it exactly (the likelihood part of :math:`H` annihilates :math:`\mathbf{1}`) and
  stays well conditioned for a tiny ``l2``.

  Args:
    model: the PL model (its ``l2`` is the prior).
    params: ``{"scores": [n]}``.
    rankings: the rows the fit used.

  Returns:
    The ``[n, n]`` covariance.
  """
  n = model.num_items
  H = pl_derivatives(params["scores"], rankings, model.l2)[2]
  J = jnp.full((n, n), 1.0 / n, H.dtype)
  cov = jnp.linalg.inv(H + J) - J / (1.0 + 2.0 * model.l2)
  return 0.5 * (cov + cov.T)


def _stages(scores: Array, rankings: Rankings, l2: float | Array) -> tuple[Array, ...]:
  """The penalized NLL and, per row, stage and position, the choice probabilities."""
  K = rankings.items.shape[1]
  pos = jnp.arange(K)
  s = scores[jnp.maximum(rankings.items, 0)]  # [R, K]
  present = pos[None, :] < rankings.size[:, None]  # [R, K]
  active = (pos[None, :] < rankings.num_ranked[:, None]) & present  # [R, K] stages
  # [R, stage j, position m]: m is still unplaced at stage j.
  remaining = present[:, None, :] & (pos[None, None, :] >= pos[None, :, None])
  remaining = remaining & active[:, :, None]
  logits = jnp.where(remaining, s[:, None, :], -1e30)  # finite: no NaN from empty stages
  lse = jax.nn.logsumexp(logits, axis=-1)  # [R, K]
  p = jnp.where(remaining, jnp.exp(logits - lse[..., None]), 0.0)
  w = rankings.weight[:, None] * active  # [R, K]
  value = jnp.sum(jnp.where(active, w * (lse - s), 0.0)) + l2 * jnp.sum(scores**2)
  return value, present, w, p


def pl_value(scores: Array, rankings: Rankings, l2: float | Array) -> Array:
  """The penalized PL negative log-likelihood (:func:`pl_derivatives`' value alone)."""
  return _stages(scores, rankings, l2)[0]


def pl_derivatives(scores: Array, rankings: Rankings, l2: float | Array) -> tuple[Array, ...]:
  r"""Value, gradient and Hessian of the penalized PL negative log-likelihood, in closed form.

  With :math:`p_e` the softmax of the scores over the items still unplaced at stage :math:`e`
  (its winner :math:`\pi_e`): :math:`\mathcal{L} = \sum_e w_e (\log\sum e^{s} - s_{\pi_e}) +
  \lambda\|s\|^2`, :math:`\nabla\mathcal{L} = \sum_e w_e (p_e - e_{\pi_e}) + 2\lambda s`,
  :math:`H = \sum_e w_e (\operatorname{diag} p_e - p_e p_e^\top) + 2\lambda I`: the same values
  as :func:`jaxpref.preference.ranking_objective` and its ``jax.grad`` / ``jax.hessian``, at
  ``O(R K^3)`` cost with no nested autodiff through the cumulative log-sum-exp.

  Args:
    scores: ``[n]`` strengths.
    rankings: the rows.
    l2: the prior strength.

  Returns:
    ``(value, [n] gradient, [n, n] Hessian)``.
  """
  n = scores.shape[0]
  K = rankings.items.shape[1]
  idx = jnp.maximum(rankings.items, 0)  # [R, K]
  value, present, w, p = _stages(scores, rankings, l2)
  grad_pos = jnp.einsum("rj,rjm->rm", w, p) - w  # the stage-j winner sits at position j
  grad = jnp.zeros(n, scores.dtype).at[idx].add(jnp.where(present, grad_pos, 0.0))
  local = jnp.einsum("rj,rjm->rm", w, p)[:, :, None] * jnp.eye(K, dtype=scores.dtype)
  local = local - jnp.einsum("rj,rjm,rjq->rmq", w, p, p)  # [R, K, K]
  pair = present[:, :, None] & present[:, None, :]
  H = (
    jnp.zeros((n, n), scores.dtype)
    .at[idx[:, :, None], idx[:, None, :]]
    .add(jnp.where(pair, local, 0.0))
  )
  return value, grad + 2.0 * l2 * scores, H + 2.0 * l2 * jnp.eye(n, dtype=scores.dtype)


def _ranks(scores: Array) -> Array:
  """1 + number of strictly better items + half the number of tied others (mean ranks)."""
  diff = scores[None, :] - scores[:, None]  # [i, j] = s_j - s_i
  better = jnp.sum(diff > 0, axis=1)
  tied = jnp.sum(diff == 0, axis=1) - 1
  return 1.0 + better + 0.5 * tied


def pl_leaderboard(
  rankings: Rankings,
  num_items: int,
  *,
  l2: float | Array = 1e-2,
  params: dict | None = None,
  max_steps: int = 500,
  tol: float | Array = 1e-9,
  z: float = 1.96,
) -> PLLeaderboard:
  r"""Plackett-Luce MAP leaderboard with Laplace standard errors and rank intervals.

  Scores are :func:`jaxpref.preference.fit_rankings`'s centred MAP strengths; the covariance is
  :func:`laplace_covariance`. Item ``i``'s rank interval counts the items whose difference to it
  is significant at ``z`` standard errors of the difference,
  :math:`\mathrm{se}_{ij}^2 = \Sigma_{ii} + \Sigma_{jj} - 2\Sigma_{ij}`:
  ``rank_low = 1 + #{j: s_j - s_i > z se_ij}``, ``rank_high = n - #{j: s_i - s_j > z se_ij}``.
  The intervals are pairwise (not simultaneous) and, like every Laplace interval, ignore that the
  rows of one K-wise vote are not independent pairwise battles.

  Args:
    rankings: the votes (rows with weight 0 are ignored).
    num_items: ``n`` (static).
    l2: prior strength: the penalty ``l2 * |theta|^2`` (a prior variance ``1 / (2 l2)``).
    params: warm start ``{"scores": [n]}``.
    max_steps: L-BFGS iteration cap (static).
    tol: relative gradient tolerance.
    z: standard errors of a significant difference in the rank intervals.

  Returns:
    The :class:`PLLeaderboard`.

  Raises:
    ValueError: for malformed concrete rankings or ``l2 < 0``.

  Examples:
    >>> from jaxpref.preference import make_rankings
    >>> board = pl_leaderboard(make_rankings([[0, 1]] * 30 + [[1, 0]] * 10), 2, l2=1e-9)
    >>> round(float(board.scores[0] - board.scores[1]), 4)  # log(30 / 10)
    1.0986
    >>> round(float(board.stderr[0]), 4)  # 1 / sqrt(4 n p (1 - p)), n = 40, p = 3/4
    0.1826
  """
  model = PlackettLuce(num_items, l2=l2)
  fitted = fit_rankings(model, rankings, params, max_steps=max_steps, tol=tol)
  return _board(model, fitted.params["scores"], rankings, fitted.converged, z)


@jax.jit
def _board(
  model: PlackettLuce, scores: Array, rankings: Rankings, converged: Array, z
) -> PLLeaderboard:
  num_items = model.num_items
  cov = laplace_covariance(model, {"scores": scores}, rankings)
  var = jnp.diag(cov)
  se_diff = jnp.sqrt(jnp.maximum(var[:, None] + var[None, :] - 2.0 * cov, 0.0))
  diff = scores[None, :] - scores[:, None]  # [i, j] = s_j - s_i
  significantly_better = diff > z * se_diff
  significantly_worse = -diff > z * se_diff
  return PLLeaderboard(
    scores=scores,
    stderr=jnp.sqrt(jnp.maximum(var, 0.0)),
    covariance=cov,
    rank=_ranks(scores),
    rank_low=1 + jnp.sum(significantly_better, axis=1),
    rank_high=num_items - jnp.sum(significantly_worse, axis=1),
    converged=converged,
  )


def kendall_tau(a: ArrayLike, b: ArrayLike) -> Array:
  r"""Kendall's :math:`\tau_b` between two score vectors (jittable, ``O(n^2)``).

  .. math::
    \tau_b = \frac{C - D}{\sqrt{(N - T_a)(N - T_b)}}

  over the :math:`N = n(n-1)/2` pairs, :math:`C` / :math:`D` the concordant / discordant pairs,
  :math:`T_a` / :math:`T_b` the pairs tied in ``a`` / ``b``; as ``scipy.stats.kendalltau``
  (its default ``variant="b"``). NaN when either vector is constant.

  Args:
    a: ``[n]`` scores.
    b: ``[n]`` scores.

  Returns:
    Scalar :math:`\tau_b \in [-1, 1]`.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  sa = jnp.sign(a[:, None] - a[None, :])
  sb = jnp.sign(b[:, None] - b[None, :])
  upper = jnp.triu(jnp.ones(sa.shape, bool), 1)
  num = jnp.sum(jnp.where(upper, sa * sb, 0))
  na = jnp.sum(jnp.where(upper, sa != 0, 0))
  nb = jnp.sum(jnp.where(upper, sb != 0, 0))
  dtype = jnp.result_type(a.dtype, b.dtype, jnp.float32)
  return num.astype(dtype) / jnp.sqrt((na * nb).astype(dtype))


def rank_mse(scores: ArrayLike, truth: ArrayLike) -> Array:
  """Mean squared difference between the ranks of ``scores`` and of ``truth``.

  Ranks are 1 for the best, ties sharing their mean rank, so with a tie-free ``truth`` the value
  is 0 exactly when the estimated order is the true one (K-Sort Arena's convergence criterion).

  Args:
    scores: ``[n]`` estimated scores (larger = better).
    truth: ``[n]`` true scores.

  Returns:
    Scalar mean squared rank error.
  """
  return jnp.mean((_ranks(jnp.asarray(scores)) - _ranks(jnp.asarray(truth))) ** 2)
