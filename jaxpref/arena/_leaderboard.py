r"""Arena leaderboards with uncertainty: bootstrapped Bradley-Terry, online Elo and its order.

- :func:`resample_weights`: bootstrap resamples of comparisons (or of groups of them: the pairs
  of one K-wise vote, one annotator's judgments) as count weights, so every resample has the same
  shape and a whole bootstrap is one ``vmap`` over weights.
- :func:`bootstrap_leaderboard`: a preference model's MAP fit on all comparisons plus its refit
  on every resample (warm-started from the full fit), in one compiled program: percentile
  intervals of the strengths and of the ranks.
- :func:`elo_ratings`: online Elo over the comparisons in a given order (one ``lax.scan``), with
  ``passes`` over the data; :func:`elo_permutations` runs it over random orders (vmapped), which
  shows how much the order alone moves an Elo leaderboard.
- :func:`comparison_game`: the empirical preference matrix of weighted comparisons on device
  (:func:`jaxpref.games.game_from_comparisons` with weights), so the maximal lottery can be
  recomputed per resample.

Conventions are FastChat's where they exist: Elo from 1000 with ``k_factor`` 4 and scale 400,
ties as half a win, Bradley-Terry strengths shown on the Elo scale
:math:`400 \log_{10}(e)\,\theta + 1000` by the caller if wanted.

References:
  Efron & Tibshirani, An Introduction to the Bootstrap, 1993 (percentile intervals);
  Elo, The Rating of Chessplayers, 1978; Chiang et al., Chatbot Arena: an open platform for
  evaluating LLMs by human preference, ICML 2024 (BT with bootstrap intervals, Elo's order
  dependence); Fishburn, Probabilistic social choice based on simple voting comparisons, 1984.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpref import preference as pm
from jaxpref.types import Array, PRNGKey

RESAMPLING = ("multinomial", "poisson")


def _check_count(name: str, value: int) -> int:
  value = int(value)
  if value < 1:
    raise ValueError(f"{name} must be >= 1; got {value}.")
  return value


def resample_weights(
  key: PRNGKey,
  num_rows: int,
  num_resamples: int,
  *,
  groups: Array | None = None,
  num_groups: int | None = None,
  method: str = "multinomial",
) -> Array:
  """``[B, rows]`` bootstrap count weights: how often each row is drawn in each resample.

  ``multinomial`` draws as many units (rows, or groups of rows) as there are, uniformly with
  replacement (Efron's bootstrap; FastChat's); ``poisson`` gives each unit an independent
  Poisson(1) count (the Poisson bootstrap: no fixed total, the same in the large-sample limit).
  With ``groups``, whole groups are drawn and every row of a group gets its group's count, as
  needed when rows are not independent (the pairs read off one K-wise vote, one judge's rows).

  Args:
    key: PRNG key.
    num_rows: rows of the table (static).
    num_resamples: B (static, >= 1).
    groups: optional ``[rows]`` int group of each row, in ``[0, num_groups)``.
    num_groups: the number of groups (static; required with ``groups``).
    method: ``"multinomial"`` or ``"poisson"``.

  Returns:
    ``[B, rows]`` float counts.

  Raises:
    ValueError: on ``num_resamples < 1``, an unknown method or ``groups`` without ``num_groups``.
  """
  B = _check_count("num_resamples", num_resamples)
  if method not in RESAMPLING:
    raise ValueError(f"method must be one of {', '.join(RESAMPLING)}; got {method!r}.")
  if groups is not None and num_groups is None:
    raise ValueError("groups needs num_groups (static).")
  units = int(num_rows) if groups is None else _check_count("num_groups", num_groups)
  dtype = jnp.zeros(()).dtype
  if method == "poisson":
    counts = jax.random.poisson(key, 1.0, (B, units)).astype(dtype)
  else:
    draws = jax.random.randint(key, (B, units), 0, units)
    counts = jax.vmap(lambda d: jnp.zeros(units, dtype).at[d].add(1.0))(draws)
  return counts if groups is None else counts[:, jnp.asarray(groups)]


class BootstrapLeaderboard(NamedTuple):
  """A leaderboard with bootstrap intervals (ranks: 1 is best).

  Attributes:
    scores: ``[n]`` strengths of the fit on all comparisons (centred).
    low: ``[n]`` lower percentile bound of each strength.
    high: ``[n]`` upper percentile bound.
    rank: ``[n]`` rank of each item under ``scores``.
    rank_low: ``[n]`` best rank within the interval (lower percentile of the resampled ranks).
    rank_high: ``[n]`` worst rank within the interval.
    samples: ``[B, n]`` the resampled strengths (centred).
    converged: ``[B]`` whether each refit converged.
    params: the full fit's parameters (ties, advantage, ... included).
  """

  scores: Array
  low: Array
  high: Array
  rank: Array
  rank_low: Array
  rank_high: Array
  samples: Array
  converged: Array
  params: Any


def ranks(scores: Array) -> Array:
  """``[..., n]`` rank of each item, 1 for the highest score (ties share the better rank)."""
  return 1 + jnp.sum(scores[..., None, :] > scores[..., :, None], axis=-1)


def bootstrap_leaderboard(
  model: pm.PreferenceModel,
  pairs: pm.Pairs,
  key: PRNGKey,
  *,
  num_resamples: int = 1000,
  level: float = 0.95,
  groups: Array | None = None,
  num_groups: int | None = None,
  method: str = "multinomial",
  max_steps: int = 500,
  tol: float = 1e-6,
) -> BootstrapLeaderboard:
  r"""Percentile bootstrap intervals of a preference model's strengths and ranks.

  The model is fitted once on all comparisons; each of the ``num_resamples`` resamples
  (:func:`resample_weights`) multiplies the rows' weights by their counts and is refitted from the
  full fit (L-BFGS, vmapped: one compiled program for all resamples). The interval of strength
  :math:`\theta_i` is the :math:`((1 - \text{level})/2,\ (1 + \text{level})/2)` quantiles of its
  resampled values (centred, so the scale is fixed); ranks likewise.

  Args:
    model: a pair model with free strengths (``BradleyTerry``, ``PlackettLuce``...); its ties,
      advantage and context are fitted and resampled with the strengths.
    pairs: the comparisons (validated).
    key: PRNG key of the resampling.
    num_resamples: B (static, >= 1).
    level: the intervals' nominal coverage, in (0, 1).
    groups: optional ``[rows]`` groups resampled as units (see :func:`resample_weights`).
    num_groups: their number (static).
    method: ``"multinomial"`` or ``"poisson"``.
    max_steps: L-BFGS iteration cap per fit.
    tol: relative gradient tolerance of every fit. L-BFGS stalls near 1e-7 on large tables
      (LLMFAO: gradient norms ~1e-3 for 8,931 rows) with strengths already within ~1e-5 of a
      cold-started fit, far inside the bootstrap spread; 1e-6 flags those fits as converged.

  Returns:
    The :class:`BootstrapLeaderboard`.

  Raises:
    ValueError: on malformed pairs, ``num_resamples < 1`` or ``level`` outside (0, 1).
  """
  if not 0.0 < float(level) < 1.0:
    raise ValueError(f"level must be in (0, 1); got {level}.")
  pm.check_pairs(pairs, model.num_items, context_dim=model.context_dim)
  weights = resample_weights(
    key,
    pairs.item_a.shape[0],
    num_resamples,
    groups=groups,
    num_groups=num_groups,
    method=method,
  )
  return leaderboard_from_weights(model, pairs, weights, level=level, max_steps=max_steps, tol=tol)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def leaderboard_from_weights(
  model: pm.PreferenceModel,
  pairs: pm.Pairs,
  weights: Array,
  *,
  level: float | Array = 0.95,
  max_steps: int = 500,
  tol: float | Array = 1e-6,
) -> BootstrapLeaderboard:
  """:func:`bootstrap_leaderboard` on given ``[B, rows]`` resample weights (jittable, vmappable).

  Args:
    model: the pair model.
    pairs: the comparisons (not validated here: traced inside programs).
    weights: ``[B, rows]`` count weights (:func:`resample_weights`).
    level: the intervals' nominal coverage.
    max_steps: L-BFGS iteration cap per fit (static).
    tol: relative gradient tolerance.

  Returns:
    The :class:`BootstrapLeaderboard`.
  """
  full = pm.fit(model, pairs, max_steps=max_steps, tol=tol)

  def refit(w):
    weighted = pairs._replace(weight=pairs.weight * w)
    return pm.fit(model, weighted, None, full.params, max_steps=max_steps, tol=tol)

  fits = jax.vmap(refit)(weights)
  samples = fits.params["scores"]
  samples = samples - jnp.mean(samples, axis=-1, keepdims=True)
  q = jnp.stack([(1 - level) / 2, (1 + level) / 2]).astype(samples.dtype)
  low, high = jnp.quantile(samples, q, axis=0)
  sample_ranks = ranks(samples).astype(samples.dtype)
  rank_low, rank_high = jnp.quantile(sample_ranks, q, axis=0, method="nearest")
  scores = full.params["scores"]
  return BootstrapLeaderboard(
    scores,
    low,
    high,
    ranks(scores),
    rank_low.astype(jnp.int32),
    rank_high.astype(jnp.int32),
    samples,
    fits.converged,
    full.params,
  )


def elo_ratings(
  pairs: pm.Pairs,
  num_items: int,
  *,
  k_factor: float | Array = 4.0,
  scale: float = 400.0,
  base: float = 1000.0,
  order: Array | None = None,
  passes: int = 1,
) -> Array:
  r"""Online Elo ratings after the comparisons in ``order`` (``passes`` times over them).

  Each comparison of a (first) and b with outcome :math:`y` (1 win, 1/2 tie, 0 loss) and weight
  :math:`w` updates :math:`R_a \mathrel{+}= k w (y - E_a)`, :math:`R_b \mathrel{-}= k w (y - E_a)`,
  :math:`E_a = 1 / (1 + 10^{(R_b - R_a)/s})`: stochastic gradient ascent on the Bradley-Terry
  log-likelihood with strengths :math:`\theta = R \ln 10 / s`, one comparison at a time. With
  many passes and a small ``k_factor`` it approaches the Bradley-Terry maximum-likelihood order
  (tested); one pass depends on the order (:func:`elo_permutations`).

  Args:
    pairs: the comparisons (weights 0 skip a row).
    num_items: n (static).
    k_factor: the step ``k`` (FastChat: 4).
    scale: ``s`` (400: ten-fold odds per 400 points).
    base: the initial rating of every item.
    order: ``[rows]`` the order of the comparisons; the table's when ``None``.
    passes: passes over the comparisons (static, >= 1).

  Returns:
    ``[n]`` ratings.
  """
  _check_count("passes", passes)
  rows = pairs.item_a.shape[0]
  order = jnp.arange(rows) if order is None else jnp.asarray(order)
  a, b = pairs.item_a[order], pairs.item_b[order]
  y, w = pairs.outcome[order], pairs.weight[order]
  dtype = jnp.zeros(()).dtype

  def update(ratings, row):
    ia, ib, yy, ww = row
    expected = 1.0 / (1.0 + 10.0 ** ((ratings[ib] - ratings[ia]) / scale))
    delta = k_factor * ww * (yy - expected)
    return ratings.at[ia].add(delta).at[ib].add(-delta), None

  def one_pass(ratings, _):
    return jax.lax.scan(update, ratings, (a, b, y, w))[0], None

  start = jnp.full(int(num_items), base, dtype)
  return jax.lax.scan(one_pass, start, None, length=int(passes))[0]


def elo_permutations(
  key: PRNGKey,
  pairs: pm.Pairs,
  num_items: int,
  *,
  num_permutations: int = 100,
  k_factor: float | Array = 4.0,
  scale: float = 400.0,
  base: float = 1000.0,
) -> Array:
  """``[P, n]`` one-pass Elo ratings over ``num_permutations`` random orders of the comparisons.

  The spread of each item's rating (or rank) across the rows is the order dependence that
  Chatbot Arena moved to Bradley-Terry to remove.

  Args:
    key: PRNG key of the orders.
    pairs: the comparisons.
    num_items: n (static).
    num_permutations: P (static, >= 1).
    k_factor: the step ``k``.
    scale: the logistic scale.
    base: initial rating.

  Returns:
    ``[P, n]`` ratings.
  """
  P = _check_count("num_permutations", num_permutations)
  rows = pairs.item_a.shape[0]
  orders = jax.vmap(lambda k: jax.random.permutation(k, rows))(jax.random.split(key, P))
  elo = functools.partial(elo_ratings, pairs, num_items, k_factor=k_factor, scale=scale, base=base)
  return jax.vmap(lambda o: elo(order=o))(orders)


def comparison_game(pairs: pm.Pairs, num_items: int, *, prior: float | Array = 0.0) -> Array:
  r"""``[n, n]`` empirical preference matrix of weighted comparisons (jittable, vmappable).

  :math:`P_{ij} = (W_{ij} + \alpha/2) / (N_{ij} + \alpha)`, :math:`W_{ij}` the weighted score
  of i against j (ties half), :math:`N_{ij}` the weighted count, :math:`\alpha` = ``prior``;
  unseen pairs (and the diagonal) are 1/2, the margin-0 convention of maximal lotteries on
  incomplete data (as :func:`jaxpref.games.game_from_comparisons` with ``unseen="tie"``).

  Args:
    pairs: the comparisons (weights count).
    num_items: n (static).
    prior: symmetric pseudo-count.

  Returns:
    ``[n, n]`` with ``P + P^T = 1``.
  """
  n = int(num_items)
  dtype = pairs.outcome.dtype
  W = jnp.zeros((n, n), dtype)
  W = W.at[pairs.item_a, pairs.item_b].add(pairs.weight * pairs.outcome)
  W = W.at[pairs.item_b, pairs.item_a].add(pairs.weight * (1 - pairs.outcome))
  N = W + W.T
  seen = N + prior > 0
  P = jnp.where(seen, (W + prior / 2) / jnp.where(seen, N + prior, 1.0), 0.5)
  return P.at[jnp.arange(n), jnp.arange(n)].set(0.5)
