"""Synthetic comparison data from known preference games (for recovery tests and experiments)."""

import functools

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


@functools.partial(jax.jit, static_argnames=("per_annotator", "num_annotators"))
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


@functools.partial(jax.jit, static_argnames=("num_items", "num_people", "kind", "components"))
def latent_user_rewards(
  key: PRNGKey,
  num_items: int,
  num_people: int,
  *,
  kind: str = "groups",
  components: int = 2,
  scale: float = 1.5,
  shares: ArrayLike | None = None,
  concentration: float = 0.5,
) -> tuple[Array, Array]:
  r"""Per-person rewards from a known latent-user model (the personalization benchmarks' truth).

  ``kind="groups"``: ``components`` groups with strengths :math:`s_g \sim N(0, \mathrm{scale}^2)`,
  person :math:`u` in group :math:`g_u \sim` ``shares`` (uniform when ``None``), rewards
  :math:`s_{g_u}`. ``kind="rank"``: a basis :math:`V \sim N(0, \mathrm{scale}^2)` of
  ``components`` reward functions and Dirichlet(``concentration``) weights :math:`w_u` (LoRe's
  generator), rewards :math:`V w_u`.

  Args:
    key: PRNG key.
    num_items: ``n``.
    num_people: ``U``.
    kind: ``"groups"`` or ``"rank"``.
    components: groups or rank.
    scale: standard deviation of the strengths / basis.
    shares: group probabilities (``"groups"``).
    concentration: Dirichlet concentration of the weights (``"rank"``).

  Returns:
    ``(rewards [U, n], latent)``: the latent is each person's group id (``[U]``) or weights
    (``[U, components]``).

  Raises:
    ValueError: on an unknown ``kind``.
  """
  k_items, k_people = jax.random.split(key)
  basis = scale * jax.random.normal(k_items, (components, num_items))
  if kind == "groups":
    p = jnp.full(components, 1.0 / components) if shares is None else jnp.asarray(shares)
    group = jax.random.choice(k_people, components, (num_people,), p=p)
    return basis[group], group
  if kind == "rank":
    alpha = jnp.full(components, concentration)
    weights = jax.random.dirichlet(k_people, alpha, (num_people,))
    return weights @ basis, weights
  raise ValueError(f'kind must be "groups" or "rank"; got {kind!r}.')


@functools.partial(jax.jit, static_argnames=("per_person",))
def sample_person_comparisons(key: PRNGKey, rewards: ArrayLike, *, per_person: int) -> Pairs:
  """``per_person`` comparisons of random distinct pairs by each person (Bradley-Terry labels).

  Args:
    key: PRNG key.
    rewards: ``[U, n]`` each person's rewards.
    per_person: comparisons per person.

  Returns:
    ``U * per_person`` pairs, person-major, ``annotator`` the person.
  """
  rewards = jnp.asarray(rewards)
  people, n = rewards.shape
  k_a, k_b, k_o = jax.random.split(key, 3)
  # Flat draws: the same numbers as [people, per_person] draws, a much smaller XLA program.
  a = jax.random.randint(k_a, (people * per_person,), 0, n)
  b = (a + jax.random.randint(k_b, (people * per_person,), 1, n)) % n
  person = jnp.repeat(jnp.arange(people), per_person)
  d = rewards[person, a] - rewards[person, b]
  outcome = jax.random.bernoulli(k_o, jax.nn.sigmoid(d)).astype(rewards.dtype)
  return make_pairs(a, b, outcome, annotator=person)
