"""Equilibrium metrics (pure, jittable, batched, differentiable) and intervals over seeds."""

from jaxpref.metrics._divergences import kl_divergence, win_rate
from jaxpref.metrics._duality_gap import (
  duality_gap,
  exploitability,
  regularized_duality_gap,
  regularized_exploitability,
)
from jaxpref.metrics._intervals import Summary, summarize
from jaxpref.metrics._policy import policy_metrics

__all__ = [
  "Summary",
  "duality_gap",
  "exploitability",
  "kl_divergence",
  "policy_metrics",
  "regularized_duality_gap",
  "regularized_exploitability",
  "summarize",
  "win_rate",
]
