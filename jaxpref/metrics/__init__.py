"""Equilibrium metrics: pure, jittable, batched over leading axes, differentiable where defined."""

from jaxpref.metrics._divergences import kl_divergence, win_rate
from jaxpref.metrics._duality_gap import (
  duality_gap,
  exploitability,
  regularized_duality_gap,
  regularized_exploitability,
)
from jaxpref.metrics._policy import policy_metrics

__all__ = [
  "duality_gap",
  "exploitability",
  "kl_divergence",
  "policy_metrics",
  "regularized_duality_gap",
  "regularized_exploitability",
  "win_rate",
]
