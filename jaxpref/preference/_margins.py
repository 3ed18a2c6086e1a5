r"""Disagreement-aware Bradley-Terry: a margin per comparison from how much annotators agree.

"Beyond the binary" (Padmakumar et al.): when several annotators judge the same pair, their
agreement tells a clear preference from a matter of taste. The winner's reward must then exceed the
loser's by a margin that grows with the agreement,

.. math:: \ell_k = -\log \sigma\big(r(y_w) - r(y_l) - m_k\big), \qquad
   m_k = \kappa\,(2\hat p_k - 1),

with :math:`\hat p_k` the share of the pair's judgments that agree with row :math:`k`'s verdict and
``scale`` :math:`\kappa` (the mapping from agreement to margin is pluggable: pass any ``margins``
to :func:`fit_with_margins`). A tie row keeps the plain likelihood (half a win each way).
:func:`agreement_margins` computes the margins of a table of repeated judgments.

References:
  Padmakumar et al., Beyond the binary: capturing diverse preferences with reward regularization,
  2024.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.preference._fit import minimize
from jaxpref.preference._models import BradleyTerry, Params
from jaxpref.preference._pairs import Pairs, check_pairs
from jaxpref.types import Array


def agreement_margins(pairs: Pairs, *, scale: float = 1.0) -> Array:
  r"""``[R]`` margins :math:`\kappa(2\hat p - 1)` from repeated judgments of the same pair.

  Judgments are grouped by unordered item pair and context row (host-side); :math:`\hat p` is
  the share of the group's outcome mass on the row's winner (1 for a pair judged once). Tie rows
  get margin 0.

  Args:
    pairs: the comparisons (repeated judgments of a pair appear as several rows).
    scale: :math:`\kappa \ge 0`.

  Returns:
    ``[R]`` non-negative margins.

  Raises:
    ValueError: on a negative ``scale``.
  """
  if scale < 0:
    raise ValueError(f"scale must be >= 0; got {scale}.")
  a, b = np.asarray(pairs.item_a), np.asarray(pairs.item_b)
  o = np.asarray(pairs.outcome, np.float64)
  lo, hi = np.minimum(a, b), np.maximum(a, b)
  context = np.asarray(pairs.context).reshape(len(o), -1)
  keys = [(lo[i], hi[i], context[i].tobytes()) for i in range(len(o))]
  wins_lo = o * (a == lo) + (1 - o) * (b == lo)  # outcome mass on the lower-id item
  totals: dict = {}
  for key, w in zip(keys, wins_lo, strict=True):
    s, c = totals.get(key, (0.0, 0))
    totals[key] = (s + w, c + 1)
  share_lo = np.array([totals[k][0] / totals[k][1] for k in keys])
  winner_is_lo = np.where(o > 0.5, a == lo, b == lo)
  agree = np.where(winner_is_lo, share_lo, 1.0 - share_lo)
  margin = np.where(o == 0.5, 0.0, scale * (2.0 * agree - 1.0))
  return jnp.asarray(np.maximum(margin, 0.0), pairs.outcome.dtype)


def fit_with_margins(
  model: BradleyTerry, pairs: Pairs, margins: Array, *, max_steps: int = 500, tol: float = 1e-9
) -> Params:
  """MAP Bradley-Terry strengths with the winner's reward pushed ``margins`` above the loser's.

  Args:
    model: a plain :class:`BradleyTerry` (no ties model, no advantage, no features).
    pairs: the comparisons.
    margins: ``[R]`` non-negative margins (:func:`agreement_margins` or any mapping).
    max_steps: L-BFGS iteration cap (static).
    tol: relative gradient tolerance.

  Returns:
    The fitted parameters (``{"scores": [n]}``, centred).

  Raises:
    ValueError: for malformed concrete pairs, a model with ties, advantage or features, or
      margins of the wrong shape.
  """
  check_pairs(pairs, model.num_items)
  if model.ties is not None or model.advantage or model.item_features is not None:
    raise ValueError("fit_with_margins takes a plain BradleyTerry (no ties, advantage, features).")
  if jnp.shape(margins) != pairs.outcome.shape:
    raise ValueError(f"margins must have shape {pairs.outcome.shape}; got {jnp.shape(margins)}.")
  return _fit_with_margins(model, pairs, jnp.asarray(margins), max_steps=max_steps, tol=tol)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _fit_with_margins(model, pairs, margins, *, max_steps, tol):
  o = pairs.outcome
  tie = o == 0.5

  def objective(scores):
    d = scores[pairs.item_a] - scores[pairs.item_b]
    signed = jnp.where(o > 0.5, d, -d)  # the winner's reward minus the loser's
    ll = jnp.where(
      tie,
      0.5 * (jax.nn.log_sigmoid(d) + jax.nn.log_sigmoid(-d)),
      jax.nn.log_sigmoid(signed - margins),
    )
    return -jnp.sum(pairs.weight * ll) + model.l2 * jnp.sum(scores**2)

  scores = jnp.zeros(model.num_items, o.dtype)
  threshold = tol * (1.0 + jnp.sum(pairs.weight))
  scores, *_ = minimize(objective, scores, max_steps=max_steps, threshold=threshold)
  return {"scores": scores - jnp.mean(scores)}
