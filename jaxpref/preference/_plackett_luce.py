r"""The Plackett-Luce model of rankings and K-wise choices, fitted by L-BFGS under ``jit``.

With strengths :math:`\theta`, a row whose choice set lists items :math:`\pi_1, \dots, \pi_K`
(best first) with its first :math:`k` places ordered has log-likelihood

.. math:: \log p = \sum_{j=1}^{k} \Big[\theta_{\pi_j} - \log \sum_{m=j}^{K} e^{\theta_{\pi_m}}\Big],

a product of successive choices among the items not yet placed (Luce's choice axiom). A K-wise
choice is :math:`k = 1`; a full ranking :math:`k = K - 1` (the last factor is 1); with :math:`K = 2`
the model is Bradley-Terry on the pair. The MAP objective adds ``l2`` :math:`\|\theta\|^2`, as
:class:`~jaxpref.preference.BradleyTerry` does (choix's ``alpha``).

Ties (Davidson-Luce, ``ties="davidson"``): a ranking with tied places is a sequence of tiers; at
each stage a tier :math:`T` (:math:`|T| = t \le D`, ``max_tie``) leaves the remaining set
:math:`S` with probability

.. math::
  \frac{\delta_t \exp(\bar\theta_T)}{\sum_{t'=1}^{\min(D, |S|)} \delta_{t'}
  \sum_{U \subseteq S, |U| = t'} \exp(\bar\theta_U)},

:math:`\bar\theta_U` the mean strength of :math:`U` (the geometric mean of the worths
:math:`g = e^\theta`), :math:`\delta_1 = 1` and free :math:`\delta_2, \delta_3 > 0` (fitted as
logs, unpenalized). With :math:`\delta_t \to 0` it is Plackett-Luce; on a pair it is Davidson's
model, so its pairwise link is ``"davidson"`` with the same tie parameter as
``BradleyTerry(ties="davidson")``. The denominator enumerates subsets: each row costs
:math:`O(K^{D+1})`, so ``max_tie`` is 2 or 3.

Item features: :math:`\theta_i = \theta^{free}_i + x_i^\top \beta` as in
:class:`~jaxpref.preference.BradleyTerry` (``item_features``, ``free_scores``), so items never
ranked still get a strength from their features.

References:
  Luce, Individual Choice Behavior, 1959; Plackett, The analysis of permutations, JRSS C 1975;
  Hunter, MM algorithms for generalized Bradley-Terry models, Ann. Stat. 2004; Firth, Kosmidis,
  Turner, Davidson-Luce model for multi-item choice with ties, arXiv 1909.07123 (2019).
"""

import functools
import itertools

import jax
import jax.numpy as jnp
from flax import struct

from jaxpref.preference._fit import Fit, map_fit
from jaxpref.preference._models import Params, _check_common
from jaxpref.preference._rankings import Rankings, check_rankings
from jaxpref.types import Array, PRNGKey

_NEG = -1e30  # A finite -inf for masked entries: no NaN in gradients.


@struct.dataclass
class PlackettLuce:
  r"""Plackett-Luce strengths :math:`\theta_i` with an L2 prior.

  Its pairwise marginal is Bradley-Terry (Davidson with ties), so
  :func:`~jaxpref.preference.preference_matrix` and :func:`~jaxpref.preference.fit` (on pairs)
  accept it too: ``P_ij = sigmoid(theta_i - theta_j)`` without ties.

  Attributes:
    num_items: number of items ``n``.
    l2: L2 strength on the free strengths and feature coefficients (may be traced, e.g. vmapped).
    ties: ``None`` (rows must not carry ties) or ``"davidson"`` (Davidson-Luce tiers).
    max_tie: the largest tie :math:`D` the model allows (2 or 3; used with ties).
    item_features: optional ``[n, f]`` item features :math:`x_i`.
    free_scores: fit free strengths (turn off for a purely feature-based model).
  """

  num_items: int = struct.field(pytree_node=False)
  l2: float | Array = struct.field(default=1e-6, kw_only=True)
  ties: str | None = struct.field(pytree_node=False, default=None, kw_only=True)
  max_tie: int = struct.field(pytree_node=False, default=2, kw_only=True)
  item_features: Array | None = struct.field(default=None, kw_only=True)
  free_scores: bool = struct.field(pytree_node=False, default=True, kw_only=True)
  # The pair-model interface (preference_matrix, fit on pairs): no advantage or context.
  advantage: bool = struct.field(pytree_node=False, default=False, kw_only=True)
  context_dim: int = struct.field(pytree_node=False, default=0, kw_only=True)

  def __post_init__(self):
    """Checks the static structure (and ``l2`` when concrete)."""
    _check_common(self.num_items, None, self.l2)
    if self.ties not in (None, "davidson"):
      raise ValueError(f'PlackettLuce ties must be None or "davidson"; got {self.ties!r}.')
    if self.ties is not None and self.max_tie not in (2, 3):
      raise ValueError(f"max_tie must be 2 or 3; got {self.max_tie}.")
    if self.advantage or self.context_dim:
      raise ValueError("PlackettLuce models no advantage or context.")
    if self.item_features is not None and jnp.shape(self.item_features)[0] != self.num_items:
      raise ValueError(
        f"item_features must have num_items={self.num_items} rows; got shape "
        f"{jnp.shape(self.item_features)}."
      )
    if not self.free_scores and self.item_features is None:
      raise ValueError("free_scores=False needs item_features (no strength would be fitted).")

  @property
  def link(self) -> str:
    """The pairwise outcome model: Bradley-Terry, or Davidson with ties."""
    return self.ties or "bt"

  def init(self, key: PRNGKey | None = None, dtype: jnp.dtype | None = None) -> Params:
    """Zero parameters (the objective is convex in them; ``key`` is accepted for a uniform API)."""
    del key
    dtype = dtype or jnp.zeros(()).dtype
    params = {}
    if self.free_scores:
      params["scores"] = jnp.zeros(self.num_items, dtype)
    if self.item_features is not None:
      params["beta"] = jnp.zeros(jnp.shape(self.item_features)[1], dtype)
    if self.ties is not None:
      params["tie"] = jnp.zeros((), dtype)  # log delta_2, as BradleyTerry's Davidson "tie".
      if self.max_tie == 3:
        params["tie3"] = jnp.zeros((), dtype)  # log delta_3.
    return params

  def strengths(self, params: Params) -> Array:
    r"""``[n]`` strengths :math:`\theta_i` (free part plus features)."""
    theta = jnp.zeros(self.num_items, jax.tree.leaves(params)[0].dtype)
    if self.free_scores:
      theta = theta + params["scores"]
    if self.item_features is not None:
      theta = theta + jnp.asarray(self.item_features) @ params["beta"]
    return theta

  def logit(
    self, params: Params, a: Array, b: Array, context: Array, advantage: Array | float = 1.0
  ) -> Array:
    """Pairwise logit ``theta_a - theta_b`` (PL on a pair is Bradley-Terry)."""
    del context, advantage
    theta = self.strengths(params)
    return theta[a] - theta[b]

  def penalty(self, params: Params) -> Array:
    """``l2`` times the squared norm of the free strengths and feature coefficients."""
    return self.l2 * sum(jnp.sum(params[k] ** 2) for k in ("scores", "beta") if k in params)

  def canonicalize(self, params: Params) -> Params:
    """Centres the free strengths (the likelihood is invariant to a common shift)."""
    if not self.free_scores:
      return params
    return {**params, "scores": params["scores"] - jnp.mean(params["scores"])}

  def log_tie_weights(self, params: Params) -> Array:
    r"""``[D]`` :math:`\log\delta_t` for t = 1..D (:math:`\delta_1 = 1`); ``[1]`` without ties."""
    if self.ties is None:
      return jnp.zeros(1, self.strengths(params).dtype)
    logs = [jnp.zeros_like(params["tie"]), params["tie"]]
    return jnp.stack(logs + ([params["tie3"]] if self.max_tie == 3 else []))


def ranking_log_likelihood(model: PlackettLuce, params: Params, rankings: Rankings) -> Array:
  """``[R]`` Plackett-Luce (or Davidson-Luce) log-likelihood of each row (weights not applied).

  Args:
    model: the model.
    params: its parameters.
    rankings: the rows (validated when concrete, see :func:`check_rankings`).

  Returns:
    ``[R]`` values of the module's formulas.

  Raises:
    ValueError: for malformed concrete rankings, or tied rows under a tie-free model.
  """
  check_rankings(rankings, model.num_items, max_tie=model.max_tie if model.ties else 1)
  return _ranking_log_likelihood(model, params, rankings)


@jax.jit
def _ranking_log_likelihood(model: PlackettLuce, params: Params, rankings: Rankings) -> Array:
  theta = model.strengths(params)
  if model.ties is not None:
    return _davidson_luce(model, params, theta, rankings)
  K = rankings.items.shape[1]
  pos = jnp.arange(K)
  valid = pos[None, :] < rankings.size[:, None]
  s = theta[jnp.maximum(rankings.items, 0)]
  masked = jnp.where(valid, s, _NEG)  # Finite: padded slots carry no NaN into gradients.
  # log sum_{m >= j} exp(theta_{pi_m}) over the set: a reversed cumulative log-sum-exp.
  tail = jnp.flip(jax.lax.cumlogsumexp(jnp.flip(masked, axis=1), axis=1), axis=1)
  ordered = pos[None, :] < rankings.num_ranked[:, None]
  return jnp.sum(jnp.where(ordered, s - jnp.where(ordered, tail, 0.0), 0.0), axis=1)


def _davidson_luce(model: PlackettLuce, params: Params, theta: Array, rankings: Rankings) -> Array:
  """Davidson-Luce log-likelihood of each row: one stage per tier of its ranked items."""
  R, K = rankings.items.shape
  pos = jnp.arange(K)
  valid = pos[None, :] < rankings.size[:, None]
  ordered = valid & (pos[None, :] < rankings.num_ranked[:, None])
  tier = jnp.broadcast_to(pos, (R, K)) if rankings.tier is None else rankings.tier
  tier = jnp.where(ordered, tier, K)  # The unranked remainder is never a tier of its own.
  s = jnp.where(valid, theta[jnp.maximum(rankings.items, 0)], 0.0)
  stage = pos[None, :, None]  # [1, stage, 1] against items [R, 1, K].
  in_set = valid[:, None, :] & (tier[:, None, :] >= stage)  # [R, stage, K]
  in_tier = tier[:, None, :] == stage
  size = jnp.sum(in_tier, axis=-1)  # [R, stage]
  log_delta = model.log_tie_weights(params)
  D = log_delta.shape[0]
  numer = jnp.take(log_delta, jnp.clip(size - 1, 0, D - 1)) + jnp.sum(
    jnp.where(in_tier, s[:, None, :], 0.0), axis=-1
  ) / jnp.maximum(size, 1)
  terms = []
  for t in range(1, D + 1):  # Every subset of t items of the remaining set, by index tuples.
    idx = jnp.asarray(list(itertools.combinations(range(K), t)), jnp.int32).reshape(-1, t)
    member = jnp.all(in_set[:, :, idx], axis=-1)  # [R, stage, subsets]
    mean = jnp.mean(s[:, idx], axis=-1)[:, None, :]
    lse = jax.nn.logsumexp(jnp.where(member, mean, _NEG), axis=-1)
    terms.append(log_delta[t - 1] + lse)
  log_z = jax.nn.logsumexp(jnp.stack(terms, -1), axis=-1)
  return jnp.sum(jnp.where(size > 0, numer - log_z, 0.0), axis=-1)


def ranking_objective(model: PlackettLuce, params: Params, rankings: Rankings) -> Array:
  """Penalized negative log-likelihood of weighted rows, a scalar."""
  ll = ranking_log_likelihood(model, params, rankings)
  return -jnp.sum(rankings.weight * ll) + model.penalty(params)


def fit_rankings(
  model: PlackettLuce,
  rankings: Rankings,
  params: Params | None = None,
  *,
  max_steps: int = 500,
  tol: float | Array = 1e-9,
) -> Fit:
  r"""Maximum-a-posteriori Plackett-Luce fit by L-BFGS, under ``jit``.

  Stops when :math:`\|\nabla\mathcal{L}\|_2 \le` ``tol`` :math:`(1 + \sum_r w_r)` or after
  ``max_steps`` iterations, as :func:`~jaxpref.preference.fit` does for pairs.

  Args:
    model: the model (``l2`` may be traced).
    rankings: the rows (validated when concrete, see :func:`check_rankings`).
    params: a warm start; zeros when ``None``.
    max_steps: iteration cap (static).
    tol: relative gradient tolerance.

  Returns:
    The :class:`~jaxpref.preference.Fit` (centred strengths in ``params["scores"]``).

  Raises:
    ValueError: for malformed concrete rankings, or tied rows under a tie-free model.
  """
  check_rankings(rankings, model.num_items, max_tie=model.max_tie if model.ties else 1)
  return _fit_rankings(model, rankings, params, max_steps=max_steps, tol=tol)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _fit_rankings(
  model: PlackettLuce,
  rankings: Rankings,
  params: Params | None,
  *,
  max_steps: int,
  tol: float | Array,
) -> Fit:
  if params is None:
    params = model.init(None, rankings.weight.dtype)
  fun = functools.partial(ranking_objective, model, rankings=rankings)
  return map_fit(model, fun, params, jnp.sum(rankings.weight), max_steps=max_steps, tol=tol)
