r"""Held-out evaluation under ``jit`` and ``vmap``: random split masks and masked metrics.

Splits are boolean masks over a fixed set of rows (or annotators) drawn from a PRNG key, so every
seed's split has the same shapes and a fit on ``pairs._replace(weight=pairs.weight * train)``
vmaps over seeds. Metrics read only the masked rows.

``logloss`` is the mean binary log-loss of the winner on decisive comparisons
(:math:`-\log p(\text{winner} \mid \text{not a tie})`), so models with and without a tie model
compare on the same footing; ``accuracy`` the share of decisive comparisons whose winner had
probability > 1/2; ``logloss3`` the three-outcome (win / tie / loss) log-loss.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.preference._aggregate import fit_group_robust, group_losses
from jaxpref.preference._fit import outcome_probabilities
from jaxpref.preference._mixture import Mixture, MixtureFit, prior_log_weights
from jaxpref.preference._models import Params, PreferenceModel
from jaxpref.preference._pairs import Pairs
from jaxpref.types import Array, PRNGKey


def split_masks(key: PRNGKey, size: int, *fractions: float) -> tuple[Array, ...]:
  """Disjoint random parts of ``size`` members, as ``[size]`` boolean masks (jittable).

  One random permutation is cut in order: part ``i`` is the next
  ``round(fractions[i] * remaining)`` members, where ``remaining`` is what the earlier parts
  left. Sizes are static, so the masks of different keys vmap.

  Args:
    key: PRNG key of the permutation.
    size: number of members (static).
    *fractions: share of what is left taken by each part, each in ``(0, 1)``.

  Returns:
    One mask per fraction.

  Raises:
    ValueError: if a fraction is not in ``(0, 1)`` or leaves a part (or the rest) empty.

  Examples:
    >>> import jax
    >>> test, val = split_masks(jax.random.key(0), 10, 0.2, 0.25)
    >>> int(test.sum()), int(val.sum()), bool((test & val).any())
    (2, 2, False)
  """
  order = jax.random.permutation(key, size)
  masks, start, remaining = [], 0, size
  for fraction in fractions:
    count = round(fraction * remaining)
    if not 0.0 < fraction < 1.0 or not 0 < count < remaining:
      raise ValueError(
        f"fraction {fraction} must leave both parts of {remaining} members non-empty."
      )
    masks.append(jnp.zeros(size, bool).at[order[start : start + count]].set(True))
    start, remaining = start + count, remaining - count
  return tuple(masks)


def mixture_outcome_probabilities(
  model: Mixture,
  fit: MixtureFit,
  pairs: Pairs,
  *,
  new_people: bool,
  covariates: Array | None = None,
) -> Array:
  """``[R, 3]`` (win, tie, loss) probabilities of each row under a fitted mixture.

  Args:
    model: the :class:`~jaxpref.preference.Mixture`.
    fit: its fit.
    pairs: the rows to score.
    new_people: weigh the components by each annotator's prior (people unseen in training, from
      their covariates if the mixture has any) instead of their responsibilities.
    covariates: ``[U, covariate_dim]`` annotator covariates (iff the mixture has any).

  Returns:
    ``[R, 3]`` probabilities.
  """
  if new_people:
    weights = jnp.exp(prior_log_weights(model, fit.params, covariates))
  else:
    weights = fit.responsibilities
  per_component = jax.vmap(outcome_probabilities, in_axes=(None, 0, None))(
    model.component, fit.params.components, pairs
  )  # [K, R, 3]
  return jnp.einsum("rk,krc->rc", weights[pairs.annotator], per_component)


def heldout_metrics(
  probs: Array, outcome: Array, mask: Array, *, tie_model: bool = False
) -> dict[str, Array]:
  """Decisive log-loss and accuracy (and the 3-outcome log-loss) over the masked rows.

  Args:
    probs: ``[R, 3]`` (win, tie, loss) probabilities of the first item.
    outcome: ``[R]`` observed score of the first item (1, 1/2 or 0).
    mask: ``[R]`` boolean, the rows evaluated.
    tie_model: also return ``logloss3`` (meaningful for models with a tie probability).

  Returns:
    ``{"logloss", "accuracy"[, "logloss3"]}`` scalars (NaN if no row qualifies).
  """
  decisive = mask & (outcome != 0.5)
  win = probs[:, 0] / (probs[:, 0] + probs[:, 2])
  won = outcome == 1.0
  tiny = jnp.finfo(probs.dtype).tiny
  loss = -jnp.where(won, jnp.log(jnp.maximum(win, tiny)), jnp.log(jnp.maximum(1.0 - win, tiny)))
  count = jnp.sum(decisive)
  out = {
    "logloss": jnp.sum(jnp.where(decisive, loss, 0.0)) / count,
    "accuracy": jnp.sum(decisive & ((win > 0.5) == won)) / count,
  }
  if tie_model:
    col = jnp.where(outcome == 1.0, 0, jnp.where(outcome == 0.5, 1, 2))
    p = jnp.take_along_axis(probs, col[:, None], axis=1)[:, 0]
    out["logloss3"] = -jnp.sum(jnp.where(mask, jnp.log(p), 0.0)) / jnp.sum(mask)
  return out


def group_accuracy(
  probs: Array, outcome: Array, mask: Array, groups: Array, num_groups: int
) -> tuple[Array, Array]:
  """Accuracy on each group's masked decisive rows (jittable, vmappable).

  Args:
    probs: ``[R, 3]`` (win, tie, loss) probabilities of the first item.
    outcome: ``[R]`` observed score of the first item (1, 1/2 or 0).
    mask: ``[R]`` boolean, the rows evaluated.
    groups: ``[R]`` group of each row, in ``[0, num_groups)``.
    num_groups: ``G`` (static).

  Returns:
    ``([G] accuracy, [G] decisive row count)``; the accuracy is NaN for a group without rows.

  Examples:
    >>> import jax.numpy as jnp
    >>> probs = jnp.array([[0.9, 0.0, 0.1], [0.2, 0.0, 0.8], [0.6, 0.0, 0.4]])
    >>> acc, n = group_accuracy(probs, jnp.array([1.0, 1.0, 0.0]), jnp.ones(3, bool),
    ...                         jnp.array([0, 1, 1]), 3)
    >>> acc.tolist(), n.tolist()
    ([1.0, 0.0, nan], [1, 2, 0])
  """
  decisive = mask & (outcome != 0.5)
  win = probs[:, 0] / (probs[:, 0] + probs[:, 2])
  right = decisive & ((win > 0.5) == (outcome == 1.0))
  count = jax.ops.segment_sum(decisive.astype(jnp.int32), groups, num_groups)
  hits = jax.ops.segment_sum(right.astype(probs.dtype), groups, num_groups)
  return hits / jnp.where(count > 0, count, jnp.nan), count


def mixture_groups_report(
  pooled: PreferenceModel,
  pooled_params: Params,
  model: Mixture,
  fit: MixtureFit,
  pairs: Pairs,
  train: Array,
  held: Array,
  *,
  covariates: Array | None = None,
) -> dict[str, Any]:
  """The mixture's groups on held-out rows: per-group accuracy, and pooled vs group-robust loss.

  Groups are the arg-max component of each annotator's responsibilities. Runs on the host (one
  fitted point; call it per seed).

  Args:
    pooled: the pooled model (e.g. BT) fitted to the same training rows.
    pooled_params: its parameters.
    model: the mixture.
    fit: its fit.
    pairs: all rows.
    train: ``[R]`` boolean, the rows both were fitted to (the group-robust fit uses them too).
    held: ``[R]`` boolean, the held-out rows scored.
    covariates: ``[U, covariate_dim]`` annotator covariates (iff the mixture has any).

  Returns:
    ``{"K", "rows", "mixture_accuracy", "pooled_accuracy", "worst_pooled", "worst_robust"}``:
    decisive held-out rows and accuracy (NaN without rows) of each group under the mixture and
    the pooled model, and the worst group's held-out log-loss under the pooled model and under
    :func:`fit_group_robust` fitted to the groups (NaN for K = 1).
  """
  k = model.num_components
  groups = jnp.argmax(fit.responsibilities, axis=1)[pairs.annotator]
  mixture_probs = mixture_outcome_probabilities(
    model, fit, pairs, new_people=False, covariates=covariates
  )
  out: dict[str, Any] = {"K": k}
  for name, probs in (
    ("mixture", mixture_probs),
    ("pooled", outcome_probabilities(pooled, pooled_params, pairs)),
  ):
    acc, rows = group_accuracy(probs, pairs.outcome, held, groups, k)
    out[f"{name}_accuracy"], out["rows"] = np.asarray(acc).tolist(), np.asarray(rows).tolist()
  out["worst_pooled"] = out["worst_robust"] = float("nan")
  if k > 1:
    robust = fit_group_robust(pooled, pairs._replace(weight=pairs.weight * train), groups, k)
    test = pairs._replace(weight=pairs.weight * held)
    seen = np.asarray(out["rows"]) > 0
    for tag, params in (("pooled", pooled_params), ("robust", robust.params)):
      losses = np.asarray(group_losses(pooled, params, test, groups, k))
      out[f"worst_{tag}"] = float(np.max(losses[seen]))
  return out
