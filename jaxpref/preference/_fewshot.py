"""Few-shot evaluation masks: reveal k of a person's comparisons, score the others.

A new person's model is inferred from ``k`` of their comparisons (the context) and scored on their
remaining ones. :func:`person_ranks` gives every row its place in a random order of its person's
rows (jittable: a sort by person plus uniform noise); :func:`few_shot_masks` turns it into the
context and scored masks of a set of people and checks, on concrete inputs, that every one of
them has the comparisons the protocol needs.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike, PRNGKey


def person_ranks(annotator: ArrayLike, num_people: int, key: PRNGKey) -> Array:
  """``[R]`` each row's place (0, 1, ...) in a uniformly random order of its person's rows.

  Args:
    annotator: ``[R]`` the person of each row, in ``[0, num_people)``.
    num_people: the number of people (static).
    key: PRNG key of the orders.

  Returns:
    ``[R]`` int32 places.
  """
  annotator = jnp.asarray(annotator)
  rows = annotator.shape[0]
  order = jnp.argsort(annotator + jax.random.uniform(key, (rows,)))
  first = jnp.searchsorted(annotator[order], jnp.arange(int(num_people)))
  place = jnp.arange(rows, dtype=jnp.int32) - first[annotator[order]].astype(jnp.int32)
  return jnp.zeros(rows, jnp.int32).at[order].set(place)


def few_shot_masks(
  annotator: ArrayLike,
  people: ArrayLike,
  k: int,
  key: PRNGKey,
  *,
  num_people: int,
  score_after: int | None = None,
) -> tuple[Array, Array]:
  """``(context, scored)`` row masks: k random comparisons of each person in ``people`` revealed.

  Each listed person's rows are put in a random order (:func:`person_ranks`); the first ``k`` are
  the context and the rows from place ``score_after`` on (``k`` by default; pass the largest k of
  a curve to score the same rows for every k) are scored. Rows of other people are in neither.

  Args:
    annotator: ``[R]`` the person of each row.
    people: the ids of the people to evaluate (e.g. those held out of the fit).
    k: comparisons revealed per person (``>= 0``).
    key: PRNG key of the orders.
    num_people: the number of people (static).
    score_after: the first scored place (``>= k``); ``k`` when None.

  Returns:
    ``([R] bool context, [R] bool scored)``.

  Raises:
    ValueError: for ``k < 0`` or ``score_after < k``; and, on concrete inputs, for a person id
      outside ``[0, num_people)``, a listed person with no comparisons, or one with fewer than
      ``score_after + 1`` comparisons (k larger than what the person has: nothing left to score).
  """
  k = int(k)
  after = k if score_after is None else int(score_after)
  if k < 0 or after < k:
    raise ValueError(f"few_shot_masks: need 0 <= k <= score_after; got k={k}, {after}.")
  if not any(isinstance(x, jax.core.Tracer) for x in (annotator, people)):
    ann, ids = np.asarray(annotator), np.unique(np.asarray(people))
    for name, values in (("annotator", ann), ("people", ids)):
      if values.size and (values.min() < 0 or values.max() >= int(num_people)):
        raise ValueError(
          f"few_shot_masks: {name} ids must lie in [0, num_people={num_people}); got "
          f"{values.min()}..{values.max()}."
        )
    counts = np.bincount(ann, minlength=int(num_people))[ids]
    if np.any(counts == 0):
      raise ValueError(
        f"few_shot_masks: person {int(ids[counts == 0][0])} has no comparisons in these rows."
      )
    if np.any(counts <= after):
      short = int(np.argmin(counts))
      raise ValueError(
        f"few_shot_masks: person {int(ids[short])} has {int(counts[short])} comparisons; "
        f"revealing k={k} and scoring from place {after} needs at least {after + 1}."
      )
  annotator = jnp.asarray(annotator)
  member = jnp.zeros(int(num_people), bool).at[jnp.asarray(people)].set(True)[annotator]
  rank = person_ranks(annotator, num_people, key)
  return member & (rank < k), member & (rank >= after)
