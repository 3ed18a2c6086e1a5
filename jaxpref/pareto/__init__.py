r"""Pareto toolkit: scalarizations, weights, dominance, hypervolume, indicators, aggregators.

Pure functions that jit and vmap, with static shapes (a boolean ``valid`` mask marks the real rows
where front sizes vary) and an explicit ``sense`` (``"min"`` for losses, ``"max"`` for rewards;
metrics negate internally to minimisation, as pymoo and moocore do). Host-side evaluation of
large fronts (moocore when installed, jaxpref's exact code otherwise): :func:`hypervolume_host`
(any number of objectives), :func:`front_ranks_host`, :func:`nondominated_mask_host`.

Multi-objective alignment methods as pure functions: KL-regularized categorical policies and
their closed-form front (:func:`closed_form_policy`, :func:`policy_values`), MODPO's population
loss, Rewarded Soups (:func:`interpolate_params`), CPO's and DPA's prompt conditioning
(:func:`cpo_scores`, :func:`directional_rewards`, :func:`rejection_sampling_targets`), PAMA's
advantage and dynamic reward weighting (:func:`pama_advantage`, :func:`mirror_weights`,
:func:`hypervolume_meta_reward`), MAP's palette (:func:`palette_weights`), and named gradient
aggregators for training (:data:`AGGREGATORS`, :func:`aggregator_weighting`, :func:`aggregate`).

One vocabulary: a weight (preference) vector is ``weights`` everywhere (the papers'
:math:`\lambda`, UPGrad's and DualProj's p), the hypervolume's reference point is ``ref_point``,
an ideal or utopia point is ``ideal``; hyperparameters (``ref_point``, ``ideal``, ``rho``, ``mu``,
``alpha``, ``ridge``, ``sweeps``, ``num_samples``, ...) are keyword-only.
"""

from jaxpref.pareto._adaptive import hypervolume_meta_reward, mirror_weights, pama_advantage
from jaxpref.pareto._aggregators import (
  AGGREGATORS,
  aggregator_weighting,
  dualproj_weights,
  mean_weights,
  mgda_weights,
  pcgrad_weights,
  upgrad_weights,
)
from jaxpref.pareto._dominance import (
  dominance_matrix,
  front_ranks,
  front_ranks_host,
  nondominated_mask,
  nondominated_mask_host,
)
from jaxpref.pareto._egalitarian import Egalitarian, egalitarian_policy
from jaxpref.pareto._hypervolume import (
  hypervolume,
  hypervolume_contributions,
  hypervolume_host,
  hypervolume_mc,
)
from jaxpref.pareto._indicators import (
  controllability,
  gd,
  gd_plus,
  igd,
  igd_plus,
  r2,
  spacing,
  sparsity,
)
from jaxpref.pareto._jacobian import aggregate, combine, gramian, gramian_and_values
from jaxpref.pareto._palette import Palette, palette_weights
from jaxpref.pareto._policies import (
  closed_form_policy,
  interpolate_params,
  modpo_population_loss,
  policy_kl,
  policy_values,
)
from jaxpref.pareto._prompted import (
  cpo_preference,
  cpo_scores,
  directional_rewards,
  rejection_sampling_targets,
)
from jaxpref.pareto._scalarize import (
  SCALARIZATIONS,
  linear,
  scalarize,
  smooth_tchebycheff,
  tchebycheff,
)
from jaxpref.pareto._weights import das_dennis, dirichlet, unit_directions

__all__ = [
  "AGGREGATORS",
  "SCALARIZATIONS",
  "Egalitarian",
  "Palette",
  "aggregate",
  "aggregator_weighting",
  "closed_form_policy",
  "combine",
  "controllability",
  "cpo_preference",
  "cpo_scores",
  "das_dennis",
  "directional_rewards",
  "dirichlet",
  "dominance_matrix",
  "dualproj_weights",
  "egalitarian_policy",
  "front_ranks",
  "front_ranks_host",
  "gd",
  "gd_plus",
  "gramian",
  "gramian_and_values",
  "hypervolume",
  "hypervolume_contributions",
  "hypervolume_host",
  "hypervolume_mc",
  "hypervolume_meta_reward",
  "igd",
  "igd_plus",
  "interpolate_params",
  "linear",
  "mean_weights",
  "mgda_weights",
  "mirror_weights",
  "modpo_population_loss",
  "nondominated_mask",
  "nondominated_mask_host",
  "palette_weights",
  "pama_advantage",
  "pcgrad_weights",
  "policy_kl",
  "policy_values",
  "r2",
  "rejection_sampling_targets",
  "scalarize",
  "smooth_tchebycheff",
  "spacing",
  "sparsity",
  "tchebycheff",
  "unit_directions",
  "upgrad_weights",
]
