r"""Aggregating the preferences of several groups: utilitarian, max-min (egalitarian), group-robust.

Given groups :math:`g = 1..G` with preference games :math:`P_g` (e.g. the components of a fitted
:class:`~jaxpref.preference.Mixture`):

* utilitarian: the population game :math:`\bar P = \sum_g w_g P_g`, whose maximal lottery is the
  minimax winner of the pooled population (what a single model on pooled data targets);
* egalitarian: the lottery maximizing the worst group's guaranteed win rate,
  :math:`\max_{x \in \Delta} \min_g \min_j (x^\top P_g)_j` (an LP; the max-min idea of MaxMin-RLHF
  applied to preference games). Its value is at most 1/2, with equality iff some lottery is an
  equilibrium of every group's game at once;
* group-robust fitting: one model minimizing the worst group's mean log-loss,
  :math:`\min_\phi \max_{\alpha \in \Delta_G} \sum_g \alpha_g L_g(\phi)` (GRPO's objective for a
  reward model), solved through the smooth maximum :math:`\tau \log\sum_g e^{L_g/\tau}` with
  :math:`\tau \to 0`.

References:
  Chakraborty et al., MaxMin-RLHF, ICML 2024; Ramesh et al., Group robust preference optimization in
  reward-free RLHF, NeurIPS 2024; Fishburn, Probabilistic social choice based on simple voting
  comparisons, 1984.
"""

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from jaxpref.games import validate_preference_matrix
from jaxpref.preference._fit import log_likelihood, minimize
from jaxpref.preference._models import Params, PreferenceModel
from jaxpref.preference._pairs import Pairs, check_pairs
from jaxpref.types import Array, ArrayLike, HostArray, PRNGKey


def utilitarian_matrix(games: ArrayLike, weights: ArrayLike) -> Array:
  r"""Population game :math:`\sum_g w_g P_g` for group weights ``w`` on the simplex.

  Args:
    games: ``[G, n, n]`` preference matrices.
    weights: ``[G]`` non-negative group weights (normalized here).

  Returns:
    ``[n, n]`` preference matrix.
  """
  w = jnp.asarray(weights)
  return jnp.einsum("g,gij->ij", w / jnp.sum(w), jnp.asarray(games))


class MaxMinLottery(NamedTuple):
  r"""Result of :func:`maxmin_lottery`.

  Attributes:
    lottery: ``[n]`` the egalitarian lottery.
    value: its guaranteed win rate against every item for the worst-off group.
    group_values: ``[G]`` each group's guaranteed win rate :math:`\min_j (x^\top P_g)_j`.
  """

  lottery: HostArray
  value: float
  group_values: HostArray


def maxmin_lottery(games: ArrayLike, *, atol: float = 1e-6) -> MaxMinLottery:
  r"""Egalitarian lottery :math:`\arg\max_x \min_{g, j} (x^\top P_g)_j` (LP, HiGHS, host side).

  Solves :math:`\max v` s.t. :math:`\sum_i x_i P_{g,ij} \ge v` for all groups ``g`` and items
  ``j``, :math:`x \in \Delta_n`. With one group this is an equilibrium (not necessarily the
  max-entropy one: use :func:`jaxpref.equilibria.maximal_lottery` for that).

  Args:
    games: ``[G, n, n]`` preference matrices (each validated).
    atol: tolerance of the preference-matrix validation.

  Returns:
    The :class:`MaxMinLottery` (float64).

  Raises:
    ValueError: if ``games`` is not ``[G, n, n]`` or some ``P_g`` is not a preference matrix.
    RuntimeError: if the LP solver fails.
  """
  games = np.asarray(games, dtype=np.float64)
  if games.ndim != 3:
    raise ValueError(f"games must be [G, n, n]; got shape {games.shape}.")
  for g in range(games.shape[0]):
    validate_preference_matrix(games[g], atol=atol)
  n_groups, n = games.shape[:2]
  # Variables (x_1..x_n, v); minimize -v.
  cost = np.zeros(n + 1)
  cost[-1] = -1.0
  a_ub = np.concatenate(
    [-games.transpose(0, 2, 1).reshape(n_groups * n, n), np.ones((n_groups * n, 1))], axis=1
  )
  a_eq = np.concatenate([np.ones((1, n)), np.zeros((1, 1))], axis=1)
  res = scipy.optimize.linprog(
    cost,
    A_ub=a_ub,
    b_ub=np.zeros(n_groups * n),
    A_eq=a_eq,
    b_eq=[1.0],
    bounds=[(0, None)] * n + [(None, None)],
    method="highs",
  )
  if res.status != 0:
    raise RuntimeError(f"max-min lottery LP failed: {res.message}")
  x = np.clip(res.x[:n], 0.0, None)
  x /= x.sum()
  group_values = np.einsum("i,gij->gj", x, games).min(axis=1)
  return MaxMinLottery(lottery=x, value=float(group_values.min()), group_values=group_values)


class GroupRobustFit(NamedTuple):
  r"""Result of :func:`fit_group_robust`.

  Attributes:
    params: the fitted parameters.
    group_losses: ``[G]`` mean negative log-likelihood of each group at the end.
    group_weights: ``[G]`` adversarial weights :math:`\alpha` (softmax of the losses at the last
      temperature): the groups that bind.
  """

  params: Params
  group_losses: Array
  group_weights: Array


def group_losses(
  model: PreferenceModel, params: Params, pairs: Pairs, groups: Array, num_groups: int
) -> Array:
  """``[G]`` weighted mean negative log-likelihood of each group's comparisons.

  Args:
    model: the preference model.
    params: its parameters.
    pairs: the comparisons.
    groups: ``[R]`` group id of every comparison, in ``[0, num_groups)``.
    num_groups: ``G``.

  Returns:
    ``[G]`` mean losses (0 for a group without comparisons).
  """
  nll = -pairs.weight * log_likelihood(model, params, pairs)
  total = jax.ops.segment_sum(nll, groups, num_groups)
  size = jax.ops.segment_sum(pairs.weight, groups, num_groups)
  return total / jnp.maximum(size, jnp.finfo(nll.dtype).tiny)


def fit_group_robust(
  model: PreferenceModel,
  pairs: Pairs,
  groups: ArrayLike,
  num_groups: int,
  key: PRNGKey | None = None,
  *,
  temperatures: Sequence[float] = (1.0, 0.1, 0.01, 1e-3, 1e-4),
  max_steps: int = 500,
) -> GroupRobustFit:
  r"""One model minimizing the worst group's mean log-loss (plus the model's prior).

  Minimizes :math:`\tau \log \sum_g \exp(L_g(\phi)/\tau) + \mathrm{penalty}(\phi) / \sum_k w_k`
  for each temperature in turn, warm-started (continuation); as :math:`\tau \to 0` this tends to
  :math:`\max_g L_g(\phi)` plus the prior, and :math:`\alpha = \mathrm{softmax}(L / \tau)` to the
  adversary's weights. The per-row scale of the prior matches :func:`fit` divided by the data size.

  Args:
    model: the preference model.
    pairs: the comparisons.
    groups: ``[R]`` group id of each comparison (e.g. the arg-max component of its annotator).
    num_groups: ``G``.
    key: PRNG key for the initialization (GPM).
    temperatures: decreasing smoothing temperatures.
    max_steps: L-BFGS cap per temperature.

  Returns:
    The :class:`GroupRobustFit`.

  Raises:
    ValueError: for malformed pairs or group ids out of range.
  """
  check_pairs(pairs, model.num_items, context_dim=model.context_dim)
  groups = jnp.asarray(groups, jnp.int32)
  g = np.asarray(groups)
  if g.shape != pairs.outcome.shape or g.min() < 0 or g.max() >= num_groups:
    raise ValueError(f"groups must be [R] ids in [0, {num_groups}); got shape {g.shape}.")
  return _fit_group_robust(
    model, pairs, groups, key, num_groups, tuple(float(t) for t in temperatures), max_steps
  )


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _fit_group_robust(model, pairs, groups, key, num_groups, temperatures, max_steps):
  params = model.init(key, pairs.outcome.dtype)
  scale = 1.0 / jnp.sum(pairs.weight)

  def loss(p, tau):
    losses = group_losses(model, p, pairs, groups, num_groups)
    return tau * jax.nn.logsumexp(losses / tau) + scale * model.penalty(p)

  for tau in temperatures:
    fun = functools.partial(loss, tau=tau)
    params = minimize(fun, params, max_steps=max_steps, threshold=1e-10)[0]
  losses = group_losses(model, params, pairs, groups, num_groups)
  return GroupRobustFit(
    params=model.canonicalize(params),
    group_losses=losses,
    group_weights=jax.nn.softmax(losses / temperatures[-1]),
  )
