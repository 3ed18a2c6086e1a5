"""A hyperparameter sweep as one compiled program vs a Python loop vs one process per point.

  python benchmarks/sweep.py [--step_sizes 0.5,2 --kl_coefs 0.01,0.1 --seeds 16 --n 20
                              --steps 1000 --processes -1]

The same points (step_size x kl_coef x seed: Mirror Prox on uniform random games of n items, the
``nash_sweep`` experiment) are run three ways, in one run of this script:

1. **vmapped**: ``jaxpref.training.run_sweep``: every point in one ``jit`` (hyperparameters and
   seeds vmapped, one chunk, no checkpoints), end to end including compilation;
2. **Python loop**: one jitted single-point function (hyperparameters traced, so it compiles once)
   called point after point, how a sweep looks when written as a loop in one process;
3. **one process per point**: ``python -m experiments.train`` per point with a one-point config,
   how MODPO, SPPO, EGPO and MORL-Baselines sweep (bash loops over runs). ``--processes K`` runs
   only the first K and extrapolates the rest from their mean (printed as such).

Every way must reproduce the vmapped final gaps (checked). Prints wall time and ratios.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import nash_sweep as nash_sweep_config
from experiments import nash_sweep, train_lib
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


def run_processes(config, limit: int) -> tuple[float, int, np.ndarray]:
  """``experiments.train`` once per point; returns (seconds, points run, their final gaps)."""
  sweep = make_sweep(config)
  hparams, seeds = training.sweep_points(sweep)
  count = sweep.num_points if limit < 0 else min(limit, sweep.num_points)
  gaps = []
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  t = time.perf_counter()
  with tempfile.TemporaryDirectory() as root:
    for i in range(count):
      workdir = os.path.join(root, str(i))
      cmd = [
        sys.executable,
        "-m",
        "experiments.train",
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
      subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
      with open(os.path.join(workdir, "metrics.jsonl")) as f:
        last = json.loads(f.read().strip().splitlines()[-1])
      gaps.append(np.ravel(last["metrics"]["regularized_gap"])[0])
  return time.perf_counter() - t, count, np.asarray(gaps)


def main() -> None:
  """Runs the three ways and prints the comparison."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--step_sizes", default="0.5,2")
  parser.add_argument("--kl_coefs", default="0.01,0.1")
  parser.add_argument("--seeds", type=int, default=16)
  parser.add_argument("--n", type=int, default=20)
  parser.add_argument("--steps", type=int, default=1000)
  parser.add_argument("--processes", type=int, default=-1, help="-1: one process per point")
  args = parser.parse_args()
  config = make_config(args)
  sweep = make_sweep(config)
  n_points = sweep.num_points
  print(
    f"{n_points} points ({' x '.join(map(str, sweep.shape))}: {' x '.join(sweep.names)} x seed), "
    f"Mirror Prox, n = {args.n}, {args.steps} steps, float32, {jax.device_count()} device(s) "
    f"{jax.devices()[0].device_kind}, {os.cpu_count()} CPU cores"
  )
  t_vmap, c_vmap, gaps = run_vmapped(config)
  t_loop, c_loop, gaps_loop = run_loop(config)
  t_proc, count, gaps_proc = run_processes(config, args.processes)
  np.testing.assert_allclose(gaps_loop, gaps, rtol=1e-3, atol=1e-6)
  np.testing.assert_allclose(gaps_proc, gaps[:count], rtol=1e-3, atol=1e-6)
  per_process = t_proc / count
  t_proc_all = per_process * n_points
  note = "" if count == n_points else f" (extrapolated from {count} processes)"
  rows = [
    ("vmapped, one compiled program (run_sweep)", t_vmap, c_vmap),
    ("Python loop over points, one jit", t_loop, c_loop),
    (f"one process per point{note}", t_proc_all, float("nan")),
  ]
  print(f"\n{'way':52s} {'wall s':>8s} {'x vmapped':>10s} {'compute s':>10s} {'x vmapped':>10s}")
  for name, seconds, compute in rows:
    print(
      f"{name:52s} {seconds:8.2f} {seconds / t_vmap:10.1f} {compute:10.3f} {compute / c_vmap:10.1f}"
    )
  print("wall: end to end including compilation (and process start-up); compute: compiled steps")
  print(f"\nfinal regularized gaps agree across the three ways (max {np.max(np.abs(gaps)):.1e})")


if __name__ == "__main__":
  main()
