"""Step size x KL coefficient x seeds for Mirror Prox or extragradient, in one compiled program.

Every seed draws a uniform random preference game (``P = (1 + U - U^T) / 2``) of ``game.n`` items;
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
10 s on 2 CPU cores): with kl_coef 0.01 and 0.1 the regularized gap of the last iterate falls
to float32 round-off (<= 1e-6) for every step size; with kl_coef 0 the last iterate of Mirror
Prox keeps cycling (gap ~1e-2) while its average converges at O(1/T); larger steps converge faster.
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
