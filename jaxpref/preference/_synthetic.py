"""Synthetic comparison data from known preference games (for recovery tests and experiments)."""

import jax
import jax.numpy as jnp

from jaxpref.preference._models import GeneralPreference, Params
from jaxpref.preference._pairs import Pairs, make_pairs
from jaxpref.types import Array, ArrayLike, PRNGKey


def cyclic_gpm(
  key: PRNGKey, num_items: int, *, dim: int = 2, radius: float = 2.0, score_scale: float = 0.0
) -> tuple[GeneralPreference, Params]:
  r"""A General Preference Model with strongly cyclic preferences.

  In every 2-D plane :math:`l` the items sit on a circle of radius ``radius`` at random angles
  :math:`\omega_{il}`, so the skew part of the logit is
  :math:`\sum_l r^2 \sin(\omega_{bl} - \omega_{al})`: item ``a`` beats the items just ahead of it
  around each circle and loses to those behind, a rock-paper-scissors structure that no
  Bradley-Terry model can express. ``score_scale`` adds transitive strengths
  :math:`\theta \sim N(0, s^2)`.

  Args:
    key: PRNG key.
    num_items: number of items ``n``.
    dim: embedding width ``2k``.
    radius: circle radius ``r``.
    score_scale: standard deviation of the transitive strengths.

  Returns:
    ``(model, params)``; ``preference_matrix(model, params)`` is the generating game.
  """
  model = GeneralPreference(num_items, dim=dim)
  k_angle, k_score = jax.random.split(key)
  angles = jax.random.uniform(k_angle, (num_items, dim // 2), maxval=2 * jnp.pi)
  embed = radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1).reshape(num_items, dim)
  scores = score_scale * jax.random.normal(k_score, (num_items,))
  return model, {"scores": scores - scores.mean(), "embed": embed}


def sample_comparisons(
  key: PRNGKey,
  games: ArrayLike,
  *,
  per_annotator: int,
  groups: ArrayLike | None = None,
  num_annotators: int = 1,
) -> Pairs:
  """Samples comparisons of uniformly random distinct pairs from preference games.

  Annotator ``u`` judges ``per_annotator`` pairs under the game ``games[groups[u]]`` (or the single
  game ``games``); the first item wins with probability ``P[a, b]`` (no ties).

  Args:
    key: PRNG key.
    games: ``[n, n]`` preference matrix, or ``[G, n, n]`` with ``groups``.
    per_annotator: comparisons per annotator.
    groups: ``[U]`` group of each annotator (required with ``[G, n, n]`` games).
    num_annotators: ``U`` when ``groups`` is ``None``.

  Returns:
    ``[U * per_annotator]`` pairs with annotator ids.

  Raises:
    ValueError: if ``games`` has three axes and ``groups`` is missing.
  """
  games = jnp.asarray(games)
  if games.ndim == 3:
    if groups is None:
      raise ValueError("[G, n, n] games need `groups` (the group of each annotator).")
    groups = jnp.asarray(groups, jnp.int32)
  else:
    games = games[None]
    groups = jnp.zeros(num_annotators, jnp.int32)
  n = games.shape[-1]
  u = groups.shape[0]
  annotator = jnp.repeat(jnp.arange(u), per_annotator)
  k_a, k_b, k_y = jax.random.split(key, 3)
  a = jax.random.randint(k_a, annotator.shape, 0, n)
  b = (a + jax.random.randint(k_b, annotator.shape, 1, n)) % n  # uniform over b != a
  p = games[groups[annotator], a, b]
  outcome = jax.random.bernoulli(k_y, p).astype(games.dtype)
  return make_pairs(a, b, outcome, annotator=annotator)


def bt_mixture_games(key: PRNGKey, num_items: int, num_groups: int, *, scale: float = 2.0) -> Array:
  """``[G, n, n]`` Bradley-Terry games of independent N(0, scale^2) strengths per group."""
  scores = scale * jax.random.normal(key, (num_groups, num_items))
  return jax.nn.sigmoid(scores[:, :, None] - scores[:, None, :])
