"""Every iterative solver on the 3-item canonical games and on the LLMFAO crowd game.

Runs each solver of :mod:`jaxpref.equilibria` through ``solve`` (certified gap, per-game stopping)
and plots the certified gap against operator queries, one panel per game set, into
``convergence.png``; ``results.json`` holds the final gaps, queries and steps.

  python -m experiments.train --config configs/nash_convergence.py --workdir /tmp/nash_convergence

Variants: ``games=canonical|llmfao|all`` (default ``all``). Expected (about 20 s on 2 cores):
regularized solvers (Mirror Prox, extragradient, OMD, MMD) certify the regularized gap to 1e-10 in
tens to hundreds of steps, Nash-MD (decaying step) and smooth fictitious play stall near 1e-3; on
the unregularized game the restarted projected extragradient with support polish certifies 1e-9,
OMWU converges in the last iterate, MWU and fictitious play only in the average at O(1/sqrt(T)).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``nash_convergence`` experiment."""
  arg = common.parse_arg(arg, games="all")
  if arg.games not in ("all", "canonical", "llmfao"):
    raise ValueError(f"games must be 'all', 'canonical' or 'llmfao'; got {arg.games!r}.")
  config = ml_collections.ConfigDict()
  config.experiment = "nash_convergence"  # Which experiment train_lib runs.
  config.x64 = True  # Float64, so that linear rates are visible down to 1e-12.
  config.seed = 0  # Key for sampled operators (unused with exact win rates).
  config.canonical = arg.games in ("all", "canonical")  # The 3-item canonical games.
  config.llmfao = arg.games in ("all", "llmfao")  # The LLMFAO crowd game (unseen pairs = ties).
  config.kl_coef = 0.1  # beta of the regularized solvers.
  config.tol = 1e-10  # Certified gap at which a game stops.
  config.max_steps = 4000  # Step budget per game and solver.
  config.plot = True  # Write convergence.png.
  return config
