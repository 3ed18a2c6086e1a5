r"""Fictitious play and smooth fictitious play in self-play."""

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpref.equilibria._base import (
  IterateAverage,
  Operator,
  Solver,
  as_float_array,
  average_add,
  average_init,
  average_value,
  check_hyperparameter,
  is_number,
  log_policy,
  normalize,
)
from jaxpref.types import Array, ArrayLike, PRNGKey


class FictitiousPlayState(NamedTuple):
  r"""State of fictitious play.

  Attributes:
    policy: ``[n]`` the empirical average :math:`\bar\pi_t` (the iterate that converges).
    ref_logits: ``[n]`` :math:`\log\pi_{\mathrm{ref}}` (smooth fictitious play only).
    average: sum of the start and the best responses played so far.
    count: number of steps taken.
  """

  policy: Array
  ref_logits: Array
  average: IterateAverage
  count: Array


def _init(
  hp: Mapping[str, Any], policy: ArrayLike, ref_policy: ArrayLike | None = None
) -> FictitiousPlayState:
  del hp
  policy = as_float_array(policy)
  policy = policy / jnp.sum(policy)
  ref = policy if ref_policy is None else jnp.asarray(ref_policy, policy.dtype)
  ref_logits = normalize(log_policy(ref))[0]
  average = average_add(average_init(policy), policy)
  return FictitiousPlayState(policy, ref_logits, average, jnp.zeros((), jnp.int32))


def _step(
  hp: Mapping[str, Any], state: FictitiousPlayState, operator: Operator, key: PRNGKey | None
):
  kl_coef = hp["kl_coef"]
  g = operator(state.policy, key)
  best = jax.nn.one_hot(jnp.argmax(g), g.shape[-1], dtype=state.policy.dtype)
  if is_number(kl_coef):
    response = normalize(state.ref_logits + g / kl_coef)[1] if kl_coef > 0 else best
  else:  # traced beta (a sweep axis): both responses, selected per value
    smooth = normalize(state.ref_logits + g / jnp.where(kl_coef > 0, kl_coef, 1.0))[1]
    response = jnp.where(kl_coef > 0, smooth, best)
  response = jnp.where(jnp.all(jnp.isfinite(g)), response, jnp.nan)
  average = average_add(state.average, response)
  new = state._replace(policy=average_value(average), average=average, count=state.count + 1)
  return new, {"win_rates": g}


def fictitious_play(*, kl_coef: float = 0.0) -> Solver:
  r"""Fictitious play: best-respond to the empirical average of past play.

  .. math::
    \bar\pi_{t+1} = \frac{(t+1)\,\bar\pi_t + \mathrm{BR}(\bar\pi_t)}{t+2},\qquad
    \mathrm{BR}(\bar\pi) = e_{\arg\max_y (P\bar\pi)_y}
    \ \ \text{or}\ \ \mathrm{softmax}(z_{\mathrm{ref}} + P\bar\pi/\beta)\ (\beta > 0).

  Converges to a Nash equilibrium in zero-sum games (Robinson 1951), slowly in the worst case; the
  iterate is itself an average (``policy`` and ``average`` coincide). With ``kl_coef > 0`` it is
  smooth fictitious play, whose fixed point is the regularized equilibrium :math:`\pi^*_\beta`;
  Nash-EMA-PG (NLHF Sec. 2.4) is its parametric approximation.

  Args:
    kl_coef: :math:`\beta \ge 0`; 0 gives the exact best response (ties go to the first item).

  Returns:
    A :class:`~jaxpref.equilibria.Solver` (one query per step).

  References:
    Brown, Iterative solution of games by fictitious play, 1951; Robinson, An iterative method of
    solving a game, Ann. Math. 1951; Fudenberg & Levine, The Theory of Learning in Games, 1998.
  """
  check_hyperparameter("kl_coef", kl_coef, positive=False)
  return Solver(_init, _step, hparams={"kl_coef": kl_coef}, name="fictitious_play")
