r"""Equilibria of preference games: the exact maximal lottery and iterative solvers.

Iterative solvers share one optax-like interface (:class:`Solver`: ``init`` / ``step`` pure
functions, ``NamedTuple`` states, an operator returning :math:`P\pi`, keyword-only
hyperparameters that are the solver's pytree leaves), and :func:`solve` runs any of them on a batch
of games to a certified duality gap (:func:`run_tiled` is its straggler scheduling, reusable for
other per-item loops).
"""

from jaxpref.equilibria._apo import apo_iteration
from jaxpref.equilibria._base import (
  IterateAverage,
  Operator,
  Solver,
  average_value,
  matrix_operator,
  sampled_operator,
)
from jaxpref.equilibria._fictitious_play import FictitiousPlayState, fictitious_play
from jaxpref.equilibria._hyperparams import (
  from_dno,
  from_egpo,
  from_inpo,
  from_mmd,
  from_nlhf,
  from_sppo,
  from_trl,
  ipo_target,
)
from jaxpref.equilibria._logit_state import LogitState
from jaxpref.equilibria._maximal_lottery import maximal_lottery
from jaxpref.equilibria._mirror_descent import (
  OptimisticState,
  magnetic_mirror_descent,
  mwu,
  nash_md,
  nash_md_schedule,
  online_mirror_descent,
  optimistic_mwu,
)
from jaxpref.equilibria._mirror_prox import extragradient, mirror_prox
from jaxpref.equilibria._projected_extragradient import (
  ProjectedExtragradientState,
  project_to_simplex,
  projected_extragradient,
)
from jaxpref.equilibria._solve import (
  AVERAGE,
  LAST,
  POLISHED,
  CertifiedLoop,
  SolveHistory,
  SolveResult,
  SolveState,
  certified_gap,
  certified_loop,
  solve,
  support_polish,
)
from jaxpref.equilibria._tiling import run_tiled

__all__ = [
  "AVERAGE",
  "LAST",
  "POLISHED",
  "CertifiedLoop",
  "FictitiousPlayState",
  "IterateAverage",
  "LogitState",
  "Operator",
  "OptimisticState",
  "ProjectedExtragradientState",
  "SolveHistory",
  "SolveResult",
  "SolveState",
  "Solver",
  "apo_iteration",
  "average_value",
  "certified_gap",
  "certified_loop",
  "extragradient",
  "fictitious_play",
  "from_dno",
  "from_egpo",
  "from_inpo",
  "from_mmd",
  "from_nlhf",
  "from_sppo",
  "from_trl",
  "ipo_target",
  "magnetic_mirror_descent",
  "matrix_operator",
  "maximal_lottery",
  "mirror_prox",
  "mwu",
  "nash_md",
  "nash_md_schedule",
  "online_mirror_descent",
  "optimistic_mwu",
  "project_to_simplex",
  "projected_extragradient",
  "run_tiled",
  "sampled_operator",
  "solve",
  "support_polish",
]
