r"""Pareto toolkit: scalarizations, weights, dominance, hypervolume, indicators, aggregators.

Pure functions that jit and vmap, with static shapes (a boolean ``valid`` mask marks the real rows
where front sizes vary) and an explicit ``sense`` (``"min"`` for losses, ``"max"`` for rewards;
metrics negate internally to minimisation, as pymoo and moocore do). Host-side exact
hypervolume for any number of objectives is :func:`hypervolume_host`.

One vocabulary: a weight (preference) vector is ``weights`` everywhere (the papers'
:math:`\lambda`, UPGrad's and DualProj's p), the hypervolume's reference point is ``ref_point``,
an ideal or utopia point is ``ideal``; hyperparameters (``ref_point``, ``ideal``, ``rho``, ``mu``,
``alpha``, ``ridge``, ``sweeps``, ``num_samples``, ...) are keyword-only.
"""

from jaxpref.pareto._aggregators import (
  dualproj_weights,
  mean_weights,
  mgda_weights,
  pcgrad_weights,
  upgrad_weights,
)
from jaxpref.pareto._dominance import dominance_matrix, front_ranks, nondominated_mask
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
from jaxpref.pareto._policies import (
  closed_form_policy,
  interpolate_params,
  modpo_population_loss,
  policy_kl,
  policy_values,
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
  "SCALARIZATIONS",
  "Egalitarian",
  "aggregate",
  "closed_form_policy",
  "combine",
  "controllability",
  "das_dennis",
  "dirichlet",
  "dominance_matrix",
  "dualproj_weights",
  "egalitarian_policy",
  "front_ranks",
  "gd",
  "gd_plus",
  "gramian",
  "gramian_and_values",
  "hypervolume",
  "hypervolume_contributions",
  "hypervolume_host",
  "hypervolume_mc",
  "igd",
  "igd_plus",
  "interpolate_params",
  "linear",
  "mean_weights",
  "mgda_weights",
  "modpo_population_loss",
  "nondominated_mask",
  "pcgrad_weights",
  "policy_kl",
  "policy_values",
  "r2",
  "scalarize",
  "smooth_tchebycheff",
  "spacing",
  "sparsity",
  "tchebycheff",
  "unit_directions",
  "upgrad_weights",
]
