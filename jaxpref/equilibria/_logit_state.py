r"""State and update helpers shared by the softmax (entropic mirror) solvers.

All entropic solvers (``docs/solvers.md``, 'Entropic mirror solvers') are written on normalized
logits :math:`z = \log\pi`. Two regularized mirror steps cover them all:

- explicit (OMD, extragradient, Nash-MD, OMWU):
  :math:`z' = (1 - \eta\beta) z + \eta\beta z_{\mathrm{ref}} + \eta g`, needs
  :math:`\eta\beta\le 1`;
- implicit or proximal (MMD, Mirror Prox):
  :math:`z' = (z + \eta\beta z_{\mathrm{ref}} + \eta g) / (1 + \eta\beta)`, stable for any
  :math:`\eta > 0`.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp

from jaxpref.equilibria._base import (
  IterateAverage,
  as_float_array,
  average_init,
  log_policy,
  normalize,
)
from jaxpref.types import Array, ArrayLike


class LogitState(NamedTuple):
  r"""State of a one-policy softmax solver.

  Attributes:
    policy: ``[n]`` last iterate :math:`\pi_t`.
    logits: ``[n]`` its normalized logits :math:`\log \pi_t`.
    ref_logits: ``[n]`` :math:`\log \pi_{\mathrm{ref}}`.
    average: running average of the iterates the method's guarantee is stated for.
    count: number of steps taken.
  """

  policy: Array
  logits: Array
  ref_logits: Array
  average: IterateAverage
  count: Array


def logit_init(
  hparams: Mapping[str, Any], policy: ArrayLike, ref_policy: ArrayLike | None = None
) -> LogitState:
  """Starts at ``policy``; the reference defaults to the start (``hparams`` unused)."""
  del hparams
  policy = as_float_array(policy)
  logits, policy = normalize(log_policy(policy))
  ref_logits = (
    logits
    if ref_policy is None
    else normalize(log_policy(jnp.asarray(ref_policy, policy.dtype)))[0]
  )
  return LogitState(policy, logits, ref_logits, average_init(policy), jnp.zeros((), jnp.int32))


def explicit_step(z: Array, z_ref: Array, g: Array, eta: Array, beta: Array) -> Array:
  """Explicit KL-regularized mirror step (unnormalized logits)."""
  return (1.0 - eta * beta) * z + eta * beta * z_ref + eta * g


def implicit_step(z: Array, z_ref: Array, g: Array, eta: Array, beta: Array) -> Array:
  """Proximal (magnetic) KL-regularized mirror step (unnormalized logits)."""
  return (z + eta * beta * z_ref + eta * g) / (1.0 + eta * beta)
