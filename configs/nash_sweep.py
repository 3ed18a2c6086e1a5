"""Step size x KL coefficient x seeds for Mirror Prox or extragradient, in one compiled program.

Every seed draws a random preference game of ``game.n`` items (EGPO's uniform family by default);
the solver starts at the uniform policy (also the KL reference) and runs ``steps`` iterations at
every (step_size, kl_coef, seed) point, vmapped and sharded over the available devices. Writes
``metrics.jsonl``, TensorBoard files, checkpoints, ``convergence.png`` (mean and 95% band over
seeds) and a summary table into the workdir.

  python -m experiments.train --config configs/nash_sweep.py --workdir /tmp/nash_sweep
  python -m experiments.train --config configs/nash_sweep.py:solver=extragradient --workdir DIR
  python -m experiments.launch --config configs/nash_sweep.py --workdir /tmp/nash_sweeps

The last line runs both solvers (the static axis listed by ``sweep``) one after the other; add
``--print_only`` to get one command per line for a cluster. Re-running a command on the same
workdir resumes from its latest checkpoint.

Expected (4 step sizes x 3 KL coefficients x 16 seeds = 192 points, n = 20, 2000 steps; about
4 s on 2 CPU cores, Mirror Prox): with kl_coef 0.1 the regularized gap of the last iterate is at
float32 round-off (mean |gap| <= 5e-8 for every step size), with kl_coef 0.01 for step sizes >= 0.5
(2.2e-6 at 0.25); with kl_coef 0 the last iterate keeps cycling (gap 1e-2 to 8e-2) while the
average converges at O(1/T), to 6.7e-4 (step 2) ... 5.9e-3 (step 0.25), intervals over seeds
about 12% of the mean (``tests/experiments/test_train.py`` checks these numbers).
"""

import ml_collections

from configs import common

SOLVERS = ("mirror_prox", "extragradient")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``nash_sweep`` experiment."""
  arg = common.parse_arg(arg, solver="mirror_prox", n=20, seeds=16, steps=2000)
  if arg.solver not in SOLVERS:
    raise ValueError(f"solver must be one of {SOLVERS}; got {arg.solver!r}.")
  config = ml_collections.ConfigDict()
  config.experiment = "nash_sweep"  # Which experiment train_lib runs.
  config.x64 = False  # Float32, the dtype of accelerator runs.
  config.seed = 0  # Base PRNG seed; seed s of the sweep uses fold_in(key(seed), s).
  config.game = ml_collections.ConfigDict()
  config.game.family = "uniform"  # Random game family (static): "uniform" or "bradley_terry".
  config.game.n = arg.n  # Items per game (static: it sets array shapes).
  config.solver = ml_collections.ConfigDict()
  config.solver.name = arg.solver  # "mirror_prox" or "extragradient" (static: selects the code).
  config.solver.step_size = 1.0  # eta, when not swept.
  config.solver.kl_coef = 0.01  # beta, when not swept (0 = the unregularized game).
  common.add_run_sections(
    config, steps=arg.steps, log_every=100, checkpoint_every=500, seeds=arg.seeds
  )
  config.vmap.axes.solver = ml_collections.ConfigDict()
  config.vmap.axes.solver.step_size = (0.25, 0.5, 1.0, 2.0)  # Swept eta (traced).
  config.vmap.axes.solver.kl_coef = (0.0, 0.01, 0.1)  # Swept beta (traced).
  config.plot = True  # Write convergence.png.
  return config


def sweep(add, arg: str | None = None) -> None:
  """Lists the static runs: one per solver (different code, so not vmappable)."""
  del arg
  for solver in SOLVERS:
    add(**{"solver.name": solver})
