"""A hyperparameter sweep as one compiled program vs a Python loop vs one process per point.

  python benchmarks/sweep.py [--experiment nash_sweep|policy_objectives|all] [--processes K]
      nash_sweep:        [--step_sizes 0.5,2 --kl_coefs 0.01,0.1 --seeds 16 --n 20 --steps 1000]
      policy_objectives: [--learning_rates 1e-3,3e-3,1e-2,3e-2 --po_seeds 16 --loss online_ipo
                          --queries 6400]

The same points are run three ways, in one run of this script, for either experiment:

- ``nash_sweep``: step_size x kl_coef x seed, Mirror Prox on uniform random games of n items;
- ``policy_objectives``: learning_rate x seed, one loss (online IPO by default) training an MLP
  policy with Adam on the neural contextual bandit (``configs/policy_objectives.py``), ``queries``
  oracle queries per point (``queries // prompts`` updates).

1. **vmapped**: ``jaxpref.training.run_sweep``: every point in one ``jit`` (hyperparameters and
   seeds vmapped, no checkpoints), end to end including compilation;
2. **Python loop**: one jitted single-point function (hyperparameters traced, so it compiles once:
   every point has the same shapes) called point after point, how a sweep looks when written as a
   loop in one process;
3. **one process per point**: ``python -m experiments.train`` per point with a one-point config
   (``vmap.seeds=1``, ``vmap.seed_offset=s``, the point's values), how MODPO, SPPO, EGPO and
   MORL-Baselines sweep (bash loops over runs). ``--processes K`` runs only the first K and
   extrapolates the rest linearly from their mean (printed as such); by default every point for
   ``nash_sweep`` and 8 for ``policy_objectives``.

Every way must reproduce the vmapped final metrics on the points it ran (checked: the regularized
gap for nash_sweep; regularized gap, duality gap, win rate and loss for policy_objectives). Prints
wall time and ratios.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import nash_sweep as nash_sweep_config
from configs import policy_objectives as policy_objectives_config
from experiments import nash_sweep, policy_objectives, train_lib
from jaxpref import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_config(args: argparse.Namespace):
  """The benchmark's sweep config (no logging overhead, one chunk)."""
  config = nash_sweep_config.get_config(f"n={args.n},seeds={args.seeds},steps={args.steps}")
  config.vmap.axes.solver.step_size = tuple(float(v) for v in args.step_sizes.split(","))
  config.vmap.axes.solver.kl_coef = tuple(float(v) for v in args.kl_coefs.split(","))
  config.log.every = max(args.steps // 10, 1)  # the rate of chunks 2..10 excludes compilation
  config.log.tensorboard = False
  config.log.progress_seconds = -1.0
  config.checkpoint.every = 0
  config.plot = False
  return config


def make_sweep(config) -> training.Sweep:
  """The typed sweep of the config (``nash_sweep.Hyper`` points)."""
  return train_lib.sweep_from_config(config, nash_sweep.hyperparameters(config), nash_sweep.FIELDS)


def run_vmapped(config) -> tuple[float, float, np.ndarray]:
  """All points in one compiled program; returns (seconds, compute seconds, final gaps [N])."""
  with tempfile.TemporaryDirectory() as workdir:
    t = time.perf_counter()
    program, sweep = nash_sweep.make_program(config), make_sweep(config)
    result = training.run_sweep(program, sweep, workdir=workdir, **train_lib.run_options(config))
    seconds = time.perf_counter() - t
  compute = int(config.steps) / result.steps_per_second
  return seconds, compute, result.history["regularized_gap"][..., -1].reshape(-1)


def run_loop(config) -> tuple[float, float, np.ndarray]:
  """One jitted point function called once per point (compiled once: hyperparameters traced)."""
  program = nash_sweep.make_program(config)
  sweep = make_sweep(config)
  hparams, seeds = training.sweep_points(sweep)
  keys = training.seed_keys(sweep.seed, seeds)
  steps = int(config.steps)

  @jax.jit
  def run_point(hp, key):
    state = program.init(hp, key)
    state = jax.lax.fori_loop(0, steps, lambda t, s: program.step(s, hp, t), state)
    return program.metrics(state, hp)["regularized_gap"]

  def point(i):
    hp = jax.tree.map(lambda v: np.float32(v[i]), hparams)  # a Hyper, traced: compiled once
    return float(run_point(hp, keys[i]))

  t = time.perf_counter()
  gaps = [point(0)]
  t_compute = time.perf_counter()
  gaps += [point(i) for i in range(1, sweep.num_points)]
  end = time.perf_counter()
  compute = (end - t_compute) * sweep.num_points / max(sweep.num_points - 1, 1)
  return end - t, compute, np.asarray(gaps)


def run_cli_per_point(
  limit: int, num_points: int, flags: Callable[[int, str], list[str]], read: Callable[[str], Any]
) -> tuple[float, int, list[Any]]:
  """``python -m experiments.train`` once per point in its own workdir (way 3).

  Args:
    limit: how many points to run (< 1: all).
    num_points: the sweep's points.
    flags: ``(point, workdir) -> the CLI's arguments`` for that point.
    read: ``workdir -> what the run produced`` (read before the workdir is deleted).

  Returns:
    ``(seconds, points run, [read(workdir) per point])``.
  """
  count = num_points if limit < 1 else min(limit, num_points)
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  out = []
  t = time.perf_counter()
  with tempfile.TemporaryDirectory() as root:
    for i in range(count):
      workdir = os.path.join(root, str(i))
      cmd = [sys.executable, "-m", "experiments.train", *flags(i, workdir)]
      subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
      out.append(read(workdir))
  return time.perf_counter() - t, count, out


def run_processes(config, limit: int) -> tuple[float, int, np.ndarray]:
  """``experiments.train`` once per point; returns (seconds, points run, their final gaps)."""
  sweep = make_sweep(config)
  hparams, seeds = training.sweep_points(sweep)

  def flags(i: int, workdir: str) -> list[str]:
    return [
      "--config",
      f"configs/nash_sweep.py:n={config.game.n},seeds=1,steps={config.steps}",
      "--workdir",
      workdir,
      f"--config.solver.step_size={hparams.step_size[i]}",
      f"--config.solver.kl_coef={hparams.kl_coef[i]}",
      f"--config.vmap.axes.solver.step_size=({hparams.step_size[i]},)",
      f"--config.vmap.axes.solver.kl_coef=({hparams.kl_coef[i]},)",
      f"--config.vmap.seed_offset={seeds[i]}",
      f"--config.log.every={config.steps}",
      "--config.checkpoint.every=0",
      "--config.log.tensorboard=False",
      "--config.plot=False",
    ]

  def read(workdir: str) -> float:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      last = json.loads(f.read().strip().splitlines()[-1])
    return np.ravel(last["metrics"]["regularized_gap"])[0]

  seconds, count, gaps = run_cli_per_point(limit, sweep.num_points, flags, read)
  return seconds, count, np.asarray(gaps)


# --- policy_objectives: learning_rate x seed, one loss ----------------------------------------


def po_config(args: argparse.Namespace):
  """The policy_objectives sweep config: one loss, ``learning_rates x po_seeds``, no logging."""
  config = policy_objectives_config.get_config(f"seeds={args.po_seeds},plot=False")
  config.losses = args.loss
  config.queries = int(args.queries)
  config.evals = 10  # Chunks of steps // 10 updates: the rate of chunks 2..10 excludes compilation.
  config.vmap.axes.learning_rate = tuple(float(v) for v in args.learning_rates.split(","))
  config.log.tensorboard = False
  config.log.progress_seconds = -1.0
  config.checkpoint.every = 0
  policy_objectives.validate(config)
  return config


def po_sweep(config) -> training.Sweep:
  """The typed sweep of the config (``policy_objectives.Hyper`` points)."""
  hparams = train_lib.config_hparams(config, policy_objectives.FIELDS, policy_objectives.Hyper)
  return train_lib.sweep_from_config(config, hparams, policy_objectives.FIELDS)


def po_objective(config):
  """``(name, Objective, run config)`` of the one configured loss (its steps and log cadence)."""
  ((name, objective),) = policy_objectives.objectives(config).items()
  return name, objective, policy_objectives.loss_config(config, objective)


def po_run_vmapped(config) -> tuple[float, float, dict[str, np.ndarray]]:
  """All points in one ``run_sweep``; returns (seconds, compute seconds, final metrics [N])."""
  _, objective, one = po_objective(config)
  options = train_lib.run_options(one)
  with tempfile.TemporaryDirectory() as workdir:
    t = time.perf_counter()
    program = policy_objectives.make_program(config, objective)
    result = training.run_sweep(program, po_sweep(config), workdir=workdir, **options)
    seconds = time.perf_counter() - t
  compute = int(one.steps) / result.steps_per_second
  final = {k: result.history[k][..., -1].reshape(-1) for k in policy_objectives.METRICS}
  return seconds, compute, final


def po_run_loop(config) -> tuple[float, float, dict[str, np.ndarray]]:
  """One jitted point function called once per point (compiled once: ``Hyper`` traced)."""
  _, objective, one = po_objective(config)
  t = time.perf_counter()
  program = policy_objectives.make_program(config, objective)
  sweep = po_sweep(config)
  hparams, seeds = training.sweep_points(sweep)
  keys = training.seed_keys(sweep.seed, seeds)
  steps = int(one.steps)

  @jax.jit
  def run_point(hp, key):
    state = program.init(hp, key)
    state = jax.lax.fori_loop(0, steps, lambda i, s: program.step(s, hp, i), state)
    return program.metrics(state, hp)

  def point(i):
    hp = jax.tree.map(lambda v: np.float32(v[i]), hparams)  # A Hyper, traced: compiled once.
    return {k: float(v) for k, v in run_point(hp, keys[i]).items()}

  out = [point(0)]
  t_compute = time.perf_counter()
  out += [point(i) for i in range(1, sweep.num_points)]
  end = time.perf_counter()
  compute = (end - t_compute) * sweep.num_points / max(sweep.num_points - 1, 1)
  assert run_point._cache_size() == 1, "the loop recompiled"
  final = {k: np.asarray([o[k] for o in out]) for k in policy_objectives.METRICS}
  return end - t, compute, final


def po_run_processes(config, limit: int) -> tuple[float, int, dict[str, np.ndarray]]:
  """``experiments.train`` once per point; returns (seconds, points run, their final metrics)."""
  name, _, _ = po_objective(config)
  sweep = po_sweep(config)
  hparams, seeds = training.sweep_points(sweep)

  def flags(i: int, workdir: str) -> list[str]:
    return [
      "--config",
      "configs/policy_objectives.py:seeds=1,plot=False",
      "--workdir",
      workdir,
      f"--config.losses={name}",
      f"--config.queries={config.queries}",
      f"--config.evals={config.evals}",
      f"--config.learning_rate={float(hparams.learning_rate[i])!r}",
      "--config.vmap.seeds=1",
      f"--config.vmap.seed_offset={seeds[i]}",
      "--config.checkpoint.every=0",
      "--config.log.tensorboard=False",
    ]

  def read(workdir: str) -> dict[str, float]:
    with open(os.path.join(workdir, "results.json")) as f:
      last = json.load(f)[name]["final"]
    return {k: np.ravel(last[k]["values"])[0] for k in policy_objectives.METRICS}

  seconds, count, out = run_cli_per_point(limit, sweep.num_points, flags, read)
  return seconds, count, {k: np.asarray([o[k] for o in out]) for k in policy_objectives.METRICS}


# --- Running and reporting --------------------------------------------------------------------


def print_rows(rows: list[tuple[str, float, float]]) -> None:
  """The table: wall and compute seconds of each way and their ratios to the vmapped run."""
  t_vmap, c_vmap = rows[0][1], rows[0][2]
  print(f"\n{'way':52s} {'wall s':>8s} {'x vmapped':>10s} {'compute s':>10s} {'x vmapped':>10s}")
  for name, seconds, compute in rows:
    print(
      f"{name:52s} {seconds:8.2f} {seconds / t_vmap:10.1f} {compute:10.3f} {compute / c_vmap:10.1f}"
    )
  print("wall: end to end including compilation (and process start-up); compute: compiled steps")


def process_row(t_proc: float, count: int, n_points: int) -> tuple[str, float, float]:
  """The one-process-per-point row, extrapolated linearly from ``count`` processes if fewer."""
  if count == n_points:
    return ("one process per point", t_proc, float("nan"))
  print(
    f"one process per point: EXTRAPOLATED: {count} of {n_points} processes took {t_proc:.2f} s "
    f"({t_proc / count:.2f} s each); x {n_points} = {t_proc / count * n_points:.2f} s"
  )
  return (f"one process per point (extrapolated from {count})", t_proc / count * n_points, np.nan)


def bench_nash_sweep(args: argparse.Namespace) -> None:
  """The nash_sweep comparison (Mirror Prox, step_size x kl_coef x seed)."""
  config = make_config(args)
  sweep = make_sweep(config)
  n_points = sweep.num_points
  print(
    f"nash_sweep: {n_points} points ({' x '.join(map(str, sweep.shape))}: "
    f"{' x '.join(sweep.names)} x seed), Mirror Prox, n = {args.n}, {args.steps} steps, float32, "
    f"{jax.device_count()} device(s) {jax.devices()[0].device_kind}, {os.cpu_count()} CPU cores"
  )
  t_vmap, c_vmap, gaps = run_vmapped(config)
  t_loop, c_loop, gaps_loop = run_loop(config)
  limit = -1 if args.processes is None else args.processes
  t_proc, count, gaps_proc = run_processes(config, limit)
  np.testing.assert_allclose(gaps_loop, gaps, rtol=1e-3, atol=1e-6)
  np.testing.assert_allclose(gaps_proc, gaps[:count], rtol=1e-3, atol=1e-6)
  print_rows(
    [
      ("vmapped, one compiled program (run_sweep)", t_vmap, c_vmap),
      ("Python loop over points, one jit", t_loop, c_loop),
      process_row(t_proc, count, n_points),
    ]
  )
  print(
    "\nfinal regularized gaps agree across the three ways (rtol 1e-3; largest gap "
    f"{np.max(np.abs(gaps)):.1e})"
  )


def bench_policy_objectives(args: argparse.Namespace) -> None:
  """The policy_objectives comparison (one loss, learning_rate x seed)."""
  config = po_config(args)
  sweep = po_sweep(config)
  name, _, one = po_objective(config)
  n_points = sweep.num_points
  print(
    f"\npolicy_objectives: {n_points} points ({' x '.join(map(str, sweep.shape))}: "
    f"{' x '.join(sweep.names)} x seed), loss {name}, {config.queries} queries = {one.steps} "
    f"Adam updates of an MLP ({config.hidden}) on {config.prompts} prompts x {config.responses} "
    f"responses, float32, {jax.device_count()} device(s) {jax.devices()[0].device_kind}, "
    f"{os.cpu_count()} CPU cores"
  )
  # make_program builds the task and an MLP eagerly: its first call compiles dozens of small
  # primitives (seconds), which would then be cached for whichever way runs second. Warm them up
  # first so both in-process ways are timed alike (every process of way 3 pays them itself).
  t = time.perf_counter()
  policy_objectives.make_program(config, po_objective(config)[1])
  print(f"eager set-up compiles (warmed up, untimed in ways 1-2): {time.perf_counter() - t:.2f} s")
  t_vmap, c_vmap, final = po_run_vmapped(config)
  t_loop, c_loop, final_loop = po_run_loop(config)
  limit = 8 if args.processes is None else args.processes
  t_proc, count, final_proc = po_run_processes(config, limit)
  worst = 0.0
  for k in policy_objectives.METRICS:
    for other, n in ((final_loop, n_points), (final_proc, count)):
      np.testing.assert_allclose(other[k], final[k][:n], rtol=1e-3, atol=1e-5, err_msg=k)
      rel = np.abs(other[k] - final[k][:n]) / np.maximum(np.abs(final[k][:n]), 1e-5)
      worst = max(worst, float(np.max(rel)))
  print_rows(
    [
      ("vmapped, one compiled program (run_sweep)", t_vmap, c_vmap),
      ("Python loop over points, one jit (compiled once)", t_loop, c_loop),
      process_row(t_proc, count, n_points),
    ]
  )
  gap = final["regularized_gap"].reshape(sweep.shape)
  means = ", ".join(
    f"lr {lr:g}: {m:.4f}" for lr, m in zip(sweep.values[0], gap.mean(-1), strict=True)
  )
  print(
    f"\nfinal {', '.join(policy_objectives.METRICS)} agree across the three ways on the points "
    f"they share (max relative difference {worst:.1e}); mean final regularized gap {means}"
  )


def main() -> None:
  """Runs the three ways for the chosen experiment(s) and prints the comparison."""
  parser = argparse.ArgumentParser(
    description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    "--experiment", default="nash_sweep", choices=("nash_sweep", "policy_objectives", "all")
  )
  parser.add_argument(
    "--processes",
    type=int,
    default=None,
    help="processes to run for way 3, the rest extrapolated (< 1: all; default: all for "
    "nash_sweep, 8 for policy_objectives)",
  )
  nash = parser.add_argument_group("nash_sweep")
  nash.add_argument("--step_sizes", default="0.5,2")
  nash.add_argument("--kl_coefs", default="0.01,0.1")
  nash.add_argument("--seeds", type=int, default=16)
  nash.add_argument("--n", type=int, default=20)
  nash.add_argument("--steps", type=int, default=1000)
  po = parser.add_argument_group("policy_objectives")
  po.add_argument("--learning_rates", default="1e-3,3e-3,1e-2,3e-2")
  po.add_argument("--po_seeds", type=int, default=16)
  po.add_argument("--loss", default="online_ipo", help="one loss of jaxpref.losses.OBJECTIVES")
  po.add_argument("--queries", type=int, default=6400, help="oracle queries per point")
  args = parser.parse_args()
  if args.experiment in ("nash_sweep", "all"):
    bench_nash_sweep(args)
  if args.experiment in ("policy_objectives", "all"):
    bench_policy_objectives(args)


if __name__ == "__main__":
  main()
