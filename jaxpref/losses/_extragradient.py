r"""EGPO's extragradient update as a wrapper over any optax optimizer.

A loss ``loss_fn(params, opponent_params)`` depends on the parameters being trained and on an
opponent (whose win rates define the targets, e.g. :func:`jaxpref.losses.online_ipo`). One EGPO
update makes two optimizer calls from the same state:

1. extrapolate: gradient of ``loss_fn(theta_t, theta_t)``; an optimizer step gives theta_{t+1/2};
2. update: restore theta_t *and the optimizer state*, take the gradient of
   ``loss_fn(theta_t, theta_{t+1/2})`` (opponent at the extrapolated point) and step.

For a tabular softmax policy, SGD and the exact online-IPO loss this is the extragradient step
:math:`z_{t+1} = (1 - \eta\beta) z_t + \eta\beta z_{ref} + \eta P\,\mathrm{softmax}(z_{t+1/2})`
with ``kl_coef`` :math:`\beta` of :func:`~jaxpref.losses.online_ipo` and ``step_size``
:math:`\eta = 4\,\mathrm{lr}/(\beta n)` (tested). It costs two preference queries per update:
compare methods at equal queries.

References:
  Zhou, Fazel, Du, Extragradient preference optimization (EGPO), COLM 2025.
  https://arxiv.org/abs/2503.08942
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from jaxpref.optim import gradient_step
from jaxpref.types import Array, PyTree


class ExtragradientStep(NamedTuple):
  """Result of one EGPO update."""

  params: PyTree
  opt_state: Any
  loss: Array
  extrapolated: PyTree


def extragradient_step(
  loss_fn: Callable[[PyTree, PyTree], Array],
  tx: optax.GradientTransformation,
  params: PyTree,
  opt_state: Any,
) -> ExtragradientStep:
  """One extragradient update (two optimizer calls, the state restored between them).

  Args:
    loss_fn: ``(params, opponent_params) -> scalar``; the opponent is not differentiated.
    tx: any optax optimizer.
    params: theta_t.
    opt_state: the optimizer state at theta_t.

  Returns:
    The new parameters and optimizer state, the loss at theta_t against the extrapolated
    opponent, and the extrapolated parameters.
  """

  def against(opponent):  # The loss at theta_t's optimizer state, opponent held fixed.
    return gradient_step(loss_fn, tx, params, opt_state, jax.lax.stop_gradient(opponent))

  half = against(params)  # Its optimizer state is discarded (restored).
  full = against(half.params)
  return ExtragradientStep(full.params, full.opt_state, full.loss, half.params)
