r"""Curry-DPO's curriculum: pairs built from rated lists, ordered from easy to hard.

Curry-DPO trains plain DPO (:func:`~jaxpref.losses.dpo`) on several pairs per prompt built from
K rated responses and presents them as a curriculum: pairs with a large rating gap (easy) first,
small gaps (hard) last. Its iterative variant trains one difficulty bucket per iteration and
resets the reference to the previous iteration's policy; the caller's training loop does that
with :func:`curriculum_buckets` (bucket b at iteration b).

- :func:`curriculum_pairs`: the pairs of one list (``best_vs_rest``: the best response against
  each other one, K - 1 pairs, as the paper pairs UltraFeedback's 4 rated responses; ``all``:
  every ordered pair with distinct ratings), sorted by decreasing gap.
- :func:`curriculum_order`: a permutation of a dataset of pairs, easy bucket first, shuffled within
  each bucket (so the curriculum is over difficulty, not over the order of prompts).

References:
  Pattnaik et al., Enhancing alignment using curriculum learning & ranked preferences
  (Curry-DPO), Findings of EMNLP 2024.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpref.types import Array, PRNGKey

PAIRINGS = ("best_vs_rest", "all")


class CurriculumPairs(NamedTuple):
  """The pairs of one list, easy (large gap) first; masked pairs come last.

  Attributes:
    chosen: ``[P]`` index (into the list) of each pair's preferred response.
    rejected: ``[P]`` index of its dispreferred response.
    gap: ``[P]`` rating gap ``score[chosen] - score[rejected]`` (0 where masked).
    mask: ``[P]`` whether the pair exists (distinct ratings, both responses present).
  """

  chosen: Array
  rejected: Array
  gap: Array
  mask: Array


def curriculum_pairs(
  score: Array, valid: Array | None = None, *, pairing: str = "best_vs_rest"
) -> CurriculumPairs:
  """Pairs of a rated list sorted by decreasing rating gap (jittable, static shapes).

  Args:
    score: ``[K]`` ratings (larger is better).
    valid: ``[K]`` mask of present responses (padded lists); all present when ``None``.
    pairing: ``"best_vs_rest"`` (``P = K - 1`` pairs) or ``"all"`` (``P = K (K - 1) / 2``).

  Returns:
    :class:`CurriculumPairs`; ties in the ratings give no pair (masked).

  Raises:
    ValueError: on an unknown ``pairing`` or a ``score`` that is not ``[K]`` with K >= 2.
  """
  if pairing not in PAIRINGS:
    raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}; got {pairing!r}.")
  score = jnp.asarray(score)
  if score.ndim != 1 or score.shape[0] < 2:
    raise ValueError(f"score must be [K] with K >= 2; got shape {score.shape}.")
  K = score.shape[0]
  valid = jnp.ones(K, bool) if valid is None else jnp.asarray(valid, bool)
  low = jnp.finfo(score.dtype).min
  if pairing == "best_vs_rest":
    best = jnp.argmax(jnp.where(valid, score, low))
    others = jnp.arange(K - 1)
    others = others + (others >= best)  # Every index but the best.
    chosen, rejected = jnp.full(K - 1, best), others
  else:
    i, j = jnp.triu_indices(K, 1)
    higher = score[i] >= score[j]
    chosen, rejected = jnp.where(higher, i, j), jnp.where(higher, j, i)
  gap = score[chosen] - score[rejected]
  mask = valid[chosen] & valid[rejected] & (gap > 0)
  gap = jnp.where(mask, gap, 0.0)
  order = jnp.argsort(jnp.where(mask, -gap, jnp.inf), stable=True)
  return CurriculumPairs(chosen[order], rejected[order], gap[order], mask[order])


def curriculum_buckets(gap: Array, *, buckets: int = 3, mask: Array | None = None) -> Array:
  """``[N]`` difficulty bucket of each pair: 0 the largest gaps (easy) ... ``buckets - 1``.

  Buckets are gap quantiles over the present pairs (equal counts up to rounding; equal gaps keep
  their dataset order); masked pairs get ``buckets`` (never trained).

  Args:
    gap: ``[N]`` rating gaps of a dataset's pairs.
    buckets: number of difficulty levels (static, >= 1).
    mask: ``[N]`` present pairs; all when ``None``.

  Returns:
    ``[N]`` int buckets.
  """
  if int(buckets) < 1:
    raise ValueError(f"buckets must be >= 1; got {buckets}.")
  gap = jnp.asarray(gap)
  mask = jnp.ones(gap.shape, bool) if mask is None else jnp.asarray(mask, bool)
  order = jnp.argsort(jnp.where(mask, -gap, jnp.inf), stable=True)
  rank = jnp.zeros(gap.shape[0], jnp.int32).at[order].set(jnp.arange(gap.shape[0], dtype=jnp.int32))
  count = jnp.maximum(jnp.sum(mask), 1)
  bucket = (rank * buckets) // count
  return jnp.where(mask, bucket, buckets)


def curriculum_order(
  key: PRNGKey, gap: Array, *, buckets: int = 3, mask: Array | None = None
) -> Array:
  """A permutation of a dataset's pairs: easy bucket first, random order within each bucket.

  Args:
    key: PRNG key of the within-bucket shuffle.
    gap: ``[N]`` rating gaps.
    buckets: number of difficulty levels (1: a plain shuffle).
    mask: ``[N]`` present pairs; masked pairs go last.

  Returns:
    ``[N]`` indices: feed pairs in this order (one epoch of the curriculum).
  """
  bucket = curriculum_buckets(gap, buckets=buckets, mask=mask)
  noise = jax.random.uniform(key, bucket.shape)
  return jnp.lexsort((noise, bucket))
