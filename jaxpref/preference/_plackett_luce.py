r"""The Plackett-Luce model of rankings and K-wise choices, fitted by L-BFGS under ``jit``.

With strengths :math:`\theta`, a row whose choice set lists items :math:`\pi_1, \dots, \pi_K`
(best first) with its first :math:`k` places ordered has log-likelihood

.. math:: \log p = \sum_{j=1}^{k} \Big[\theta_{\pi_j} - \log \sum_{m=j}^{K} e^{\theta_{\pi_m}}\Big],

a product of successive choices among the items not yet placed (Luce's choice axiom). A K-wise
choice is :math:`k = 1`; a full ranking :math:`k = K - 1` (the last factor is 1); with :math:`K = 2`
the model is Bradley-Terry on the pair. The MAP objective adds ``l2`` :math:`\|\theta\|^2`, as
:class:`~jaxpref.preference.BradleyTerry` does (choix's ``alpha``).

References:
  Luce, Individual Choice Behavior, 1959; Plackett, The analysis of permutations, JRSS C 1975;
  Hunter, MM algorithms for generalized Bradley-Terry models, Ann. Stat. 2004.
"""

import functools

import jax
import jax.numpy as jnp
from flax import struct

from jaxpref.preference._fit import Fit, map_fit
from jaxpref.preference._models import Params, _check_common
from jaxpref.preference._rankings import Rankings, check_rankings
from jaxpref.types import Array, PRNGKey


@struct.dataclass
class PlackettLuce:
  r"""Plackett-Luce strengths :math:`\theta_i` with an L2 prior.

  Its pairwise marginal is Bradley-Terry, so :func:`~jaxpref.preference.preference_matrix` and
  :func:`~jaxpref.preference.fit` (on pairs) accept it too: ``P_ij = sigmoid(theta_i - theta_j)``.

  Attributes:
    num_items: number of items ``n``.
    l2: L2 strength on :math:`\theta` (may be traced, e.g. vmapped).
  """

  num_items: int = struct.field(pytree_node=False)
  l2: float | Array = struct.field(default=1e-6, kw_only=True)
  # The pair-model interface (preference_matrix, fit on pairs): no ties, advantage or context.
  ties: None = struct.field(pytree_node=False, default=None, kw_only=True)
  advantage: bool = struct.field(pytree_node=False, default=False, kw_only=True)
  context_dim: int = struct.field(pytree_node=False, default=0, kw_only=True)

  def __post_init__(self):
    """Checks ``num_items`` and ``l2``; ties, advantage and context are not modelled."""
    _check_common(self.num_items, None, self.l2)
    if self.ties is not None or self.advantage or self.context_dim:
      raise ValueError("PlackettLuce models no ties, advantage or context (yet).")

  @property
  def link(self) -> str:
    """The pairwise outcome model: Bradley-Terry."""
    return "bt"

  def init(self, key: PRNGKey | None = None, dtype: jnp.dtype | None = None) -> Params:
    """Zero strengths (the objective is convex; ``key`` is accepted for a uniform API)."""
    del key
    return {"scores": jnp.zeros(self.num_items, dtype or jnp.zeros(()).dtype)}

  def logit(
    self, params: Params, a: Array, b: Array, context: Array, advantage: Array | float = 1.0
  ) -> Array:
    """Pairwise logit ``theta_a - theta_b`` (PL on a pair is Bradley-Terry)."""
    del context, advantage
    return params["scores"][a] - params["scores"][b]

  def penalty(self, params: Params) -> Array:
    """``l2 * |theta|^2``."""
    return self.l2 * jnp.sum(params["scores"] ** 2)

  def canonicalize(self, params: Params) -> Params:
    """Centres the strengths (the likelihood is invariant to a common shift)."""
    return {"scores": params["scores"] - jnp.mean(params["scores"])}


def ranking_log_likelihood(model: PlackettLuce, params: Params, rankings: Rankings) -> Array:
  """``[R]`` Plackett-Luce log-likelihood of each row (weights not applied).

  Args:
    model: the model.
    params: its parameters.
    rankings: the rows.

  Returns:
    ``[R]`` values of the module's formula.
  """
  del model
  K = rankings.items.shape[1]
  pos = jnp.arange(K)
  valid = pos[None, :] < rankings.size[:, None]
  s = params["scores"][jnp.maximum(rankings.items, 0)]
  masked = jnp.where(valid, s, -1e30)  # Finite: padded slots carry no NaN into gradients.
  # log sum_{m >= j} exp(theta_{pi_m}) over the set: a reversed cumulative log-sum-exp.
  tail = jnp.flip(jax.lax.cumlogsumexp(jnp.flip(masked, axis=1), axis=1), axis=1)
  ordered = pos[None, :] < rankings.num_ranked[:, None]
  return jnp.sum(jnp.where(ordered, s - jnp.where(ordered, tail, 0.0), 0.0), axis=1)


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
    ValueError: for malformed concrete rankings.
  """
  check_rankings(rankings, model.num_items)
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
