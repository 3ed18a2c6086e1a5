"""Comparison data as device arrays: the batch every preference model is fitted on."""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxpref.data import Comparisons
from jaxpref.types import Array, ArrayLike


class Pairs(NamedTuple):
  """Pairwise comparisons as a pytree of ``[K]``-leading arrays (jit and vmap friendly).

  Attributes:
    item_a: ``[K]`` int ids of the first item.
    item_b: ``[K]`` int ids of the second item.
    outcome: ``[K]`` score of ``item_a``: 1 won, 0 lost, 1/2 tie.
    weight: ``[K]`` non-negative weight of each comparison in the likelihood (1 by default; 0
      masks a row, which keeps shapes static; EM puts responsibilities here).
    annotator: ``[K]`` int annotator of each row (0 where the data names none).
    context: ``[K, c]`` features of each comparison (annotator covariates, prompt features);
      ``c = 0`` when there are none.
    advantage: ``[K]`` which side has the position / home advantage, as a float: ``+1`` the
      first-listed item (``item_a``), ``-1`` the second, ``0`` neither (a neutral venue). A model
      with an advantage adds ``advantage * h`` to the logit. :func:`make_pairs` fills ``+1``
      where the data records none (the first-listed item is the home / left / first-shown one).
  """

  item_a: Array
  item_b: Array
  outcome: Array
  weight: Array
  annotator: Array
  context: Array
  advantage: Array


def make_pairs(
  item_a: ArrayLike,
  item_b: ArrayLike,
  outcome: ArrayLike,
  *,
  weight: ArrayLike | None = None,
  annotator: ArrayLike | None = None,
  context: ArrayLike | None = None,
  advantage: ArrayLike | None = None,
  dtype: jnp.dtype | None = None,
) -> Pairs:
  """Builds :class:`Pairs`, filling defaults (weight 1, annotator 0, no context, advantage +1).

  Args:
    item_a: ``[K]`` ids of the first items.
    item_b: ``[K]`` ids of the second items.
    outcome: ``[K]`` scores of ``item_a`` in ``[0, 1]``.
    weight: ``[K]`` row weights; ones when ``None``.
    annotator: ``[K]`` annotator ids; zeros when ``None``.
    context: ``[K, c]`` comparison features; ``[K, 0]`` when ``None``.
    advantage: ``[K]`` advantage indicators in ``{-1, 0, 1}`` (``+1``: ``item_a`` has it, ``-1``:
      ``item_b``, ``0``: neutral); ``+1`` for every row when ``None``.
    dtype: float dtype of the outcome, weights, context and advantage (JAX's default float when
      ``None``).

  Returns:
    The pairs.
  """
  outcome = jnp.asarray(outcome, dtype=dtype)
  k = outcome.shape[0]
  weight = jnp.ones(k, outcome.dtype) if weight is None else jnp.asarray(weight, outcome.dtype)
  annotator = jnp.zeros(k, jnp.int32) if annotator is None else jnp.asarray(annotator, jnp.int32)
  context = jnp.zeros((k, 0), outcome.dtype) if context is None else jnp.asarray(context)
  advantage = (
    jnp.ones(k, outcome.dtype) if advantage is None else jnp.asarray(advantage, outcome.dtype)
  )
  return Pairs(
    item_a=jnp.asarray(item_a, jnp.int32),
    item_b=jnp.asarray(item_b, jnp.int32),
    outcome=outcome,
    weight=weight,
    annotator=annotator,
    context=context.astype(outcome.dtype),
    advantage=advantage,
  )


def pairs_from_table(
  table: Comparisons, *, annotator_features: ArrayLike | None = None, dtype: jnp.dtype | None = None
) -> Pairs:
  """Device arrays for a :class:`~jaxpref.data.Comparisons` table.

  Args:
    table: the comparisons.
    annotator_features: optional ``[num_annotators, c]`` features (e.g. from
      :func:`jaxpref.data.covariate_matrix`); row ``k`` gets its annotator's features as context.
    dtype: float dtype (JAX's default float when ``None``).

  Returns:
    The pairs; rows without an annotator get annotator 0. The table's advantage column is carried
    over (``+1`` for every row when the table has none).

  Raises:
    ValueError: if features are given but some row has no annotator, or their row count is not the
      number of annotators.
  """
  annotator = np.asarray(table.annotator)
  context = None
  if annotator_features is not None:
    features = np.asarray(annotator_features)
    if features.ndim != 2 or features.shape[0] != table.num_annotators:
      raise ValueError(
        f"annotator_features must be [num_annotators={table.num_annotators}, c]; got shape "
        f"{features.shape}."
      )
    if np.any(annotator < 0):
      raise ValueError("annotator_features given, but some comparisons name no annotator.")
    context = features[annotator]
  return make_pairs(
    table.item_a,
    table.item_b,
    table.outcome,
    annotator=np.maximum(annotator, 0),
    context=context,
    advantage=table.advantage,
    dtype=dtype,
  )


def check_pairs(
  pairs: Pairs,
  num_items: int,
  *,
  context_dim: int | None = None,
  num_annotators: int | None = None,
) -> None:
  """Raises ``ValueError`` naming the first problem in concrete ``pairs``; skips tracers.

  Args:
    pairs: the comparisons.
    num_items: number of items the model scores.
    context_dim: the context width the model expects (unchecked when ``None``).
    num_annotators: annotator ids must lie in ``[0, num_annotators)`` (unchecked when ``None``).

  Raises:
    ValueError: on empty or mismatched arrays, ids out of range, self-comparisons, outcomes outside
      ``[0, 1]``, negative or non-finite weights, non-finite context, a wrong context width,
      annotator ids out of range, or advantage indicators other than -1, 0 and 1.
  """
  try:
    a, b, y, w, u, c, h = (np.asarray(x) for x in pairs)
  except Exception:  # tracers: checked where the data is concrete
    return
  k = y.shape[0] if y.ndim == 1 else -1
  if k <= 0:
    raise ValueError(f"No comparisons given (outcome has shape {y.shape}).")
  if any(x.shape != (k,) for x in (a, b, w, u, h)) or c.ndim != 2 or c.shape[0] != k:
    raise ValueError(
      "Pairs fields must share the leading length K; got shapes "
      f"{dict(zip(Pairs._fields, (np.shape(x) for x in pairs), strict=True))}."
    )
  for name, ids in (("item_a", a), ("item_b", b)):
    bad = (ids < 0) | (ids >= num_items)
    if bad.any():
      i = int(np.argmax(bad))
      raise ValueError(f"{name}[{i}] = {ids[i]} is outside [0, {num_items}).")
  if np.any(a == b):
    i = int(np.argmax(a == b))
    raise ValueError(f"Row {i} compares item {a[i]} with itself.")
  bad = ~np.isfinite(y) | (y < 0) | (y > 1)
  if bad.any():
    i = int(np.argmax(bad))
    raise ValueError(f"outcome[{i}] = {y[i]} must be a score of item_a in [0, 1].")
  if np.any(~np.isfinite(w) | (w < 0)):
    raise ValueError("weights must be finite and non-negative.")
  if not np.all(np.isfinite(c)):
    raise ValueError("context has non-finite values.")
  bad = ~np.isin(h, (-1.0, 0.0, 1.0))  # also catches nan and inf
  if bad.any():
    i = int(np.argmax(bad))
    raise ValueError(
      f"advantage[{i}] = {h[i]} must be 1 (item_a has the advantage), -1 (item_b has it) or 0 "
      "(neutral)."
    )
  if context_dim is not None and c.shape[1] != context_dim:
    raise ValueError(
      f"The model expects {context_dim} context features; the pairs have {c.shape[1]}."
    )
  if num_annotators is not None and (u.min() < 0 or u.max() >= num_annotators):
    raise ValueError(f"annotator ids must be in [0, {num_annotators}); got [{u.min()}, {u.max()}].")
