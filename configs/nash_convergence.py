"""Every iterative solver on the 3-item canonical games and on the LLMFAO crowd game, over seeds.

Runs each solver of :mod:`jaxpref.equilibria` through ``certified_loop`` (the certified loop of
``solve``: one certificate period of 16 solver steps per engine step, per-game stopping) at every
point of ``kl_coef x seed`` in one compiled program per solver and game set; each seed starts
every game from its own Dirichlet(1) policy. ``results.json`` holds the worst game's certified gap
per point (``[*axes, seed]``), its mean and 95% interval, the share of games certified and the
queries spent; ``convergence.png`` plots the worst-game gap against queries (mean, 95% band).

  python -m experiments.train --config configs/nash_convergence.py --workdir /tmp/nash_convergence

Variants: ``games=canonical|llmfao|all`` (default ``all``); ``--config.vmap.seeds=16``;
``--config.vmap.axes.kl_coef="(0.05,0.1,0.2)"`` sweeps beta in the same program. Expected (8
seeds, about 45 s on 2 cores): the regularized solvers (Mirror Prox, extragradient, OMD, MMD)
certify the regularized gap to 1e-10 on every seed; Nash-MD with its decaying step and smooth
fictitious play converge more slowly; on the unregularized game the restarted projected
extragradient with support polish certifies 1e-10, and the support polish also finishes OMWU, MWU
and fictitious play on the small canonical games.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``nash_convergence`` experiment."""
  arg = common.parse_arg(arg, games="all", seeds=8)
  if arg.games not in ("all", "canonical", "llmfao"):
    raise ValueError(f"games must be 'all', 'canonical' or 'llmfao'; got {arg.games!r}.")
  config = ml_collections.ConfigDict()
  config.experiment = "nash_convergence"  # Which experiment train_lib runs.
  config.x64 = True  # Float64, so that linear rates are visible down to 1e-12.
  config.seed = 0  # Key of the random starting policies.
  config.canonical = arg.games in ("all", "canonical")  # The 3-item canonical games.
  config.llmfao = arg.games in ("all", "llmfao")  # The LLMFAO crowd game (unseen pairs = ties).
  config.kl_coef = 0.1  # beta of the regularized solvers (vmappable: vmap.axes.kl_coef).
  config.tol = 1e-10  # Certified gap at which a game stops.
  config.plot = True  # Write convergence.png.
  # 250 certificate periods of 16 steps = 4000 solver steps per game; log every 5 periods.
  common.add_run_sections(config, steps=250, log_every=5, seeds=arg.seeds)
  config.log.progress_seconds = -1.0  # One short program per solver: no progress lines.
  return config
