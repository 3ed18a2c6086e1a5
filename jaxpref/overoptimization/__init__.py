r"""Reward over-optimization: best-of-n, scaling-law fits, constraints and reward transforms.

Optimizing a learned (proxy) reward far enough lowers the true (gold) one. This subpackage holds
the pieces to measure and counter it, all pure and jittable:

- best-of-n (:mod:`._best_of_n`): the analytic KL :func:`best_of_n_kl`, the exact policy on a
  categorical :func:`best_of_n_policy`, and the unbiased pooled estimator
  :func:`best_of_n_estimate` for sampled responses;
- Gao et al.'s laws of gold reward along :math:`\sqrt{\mathrm{KL}}`: :func:`fit_scaling_law`,
  :func:`scaling_law`;
- constrained RLHF (Moskovitz et al.): :func:`lagrange_init` / :func:`lagrange_step` (dual
  ascent), :func:`lagrangian_reward` (the mixed reward any trainer maximizes),
  :func:`constrained_policy` (the exact tabular optimum), :func:`kl_regularized_policy`;
- reward transforms (Wang et al.): :func:`log_sigmoid_transform`, :func:`and_combine` (a soft
  AND of several rewards), :func:`reference_reward`.

``docs/overoptimization.md`` relates them to the papers and to ``configs/overoptimization.py``.
"""

from jaxpref.overoptimization._best_of_n import best_of_n_estimate, best_of_n_kl, best_of_n_policy
from jaxpref.overoptimization._constrained import (
  SENSES,
  Constrained,
  Lagrange,
  check_thresholds,
  constrained_policy,
  kl_regularized_policy,
  lagrange_init,
  lagrange_step,
  lagrangian_reward,
)
from jaxpref.overoptimization._scaling_laws import (
  FORMS,
  ScalingFit,
  fit_scaling_law,
  scaling_law,
)
from jaxpref.overoptimization._transforms import (
  and_combine,
  log_sigmoid_transform,
  reference_reward,
)

__all__ = [
  "FORMS",
  "SENSES",
  "Constrained",
  "Lagrange",
  "ScalingFit",
  "and_combine",
  "best_of_n_estimate",
  "best_of_n_kl",
  "best_of_n_policy",
  "check_thresholds",
  "constrained_policy",
  "fit_scaling_law",
  "kl_regularized_policy",
  "lagrange_init",
  "lagrange_step",
  "lagrangian_reward",
  "log_sigmoid_transform",
  "reference_reward",
  "scaling_law",
]
