"""Hyperparameter sweep of an iterative solver on random games, as one compiled program.

Config: ``configs/nash_sweep.py``. Each point of ``step_size x kl_coef x seed`` draws its game from
its seed's key, starts at the uniform policy and runs the solver; ``jaxpref.training.run_sweep``
vmaps the points, shards them over devices, logs, checkpoints and resumes. Returns the final
metrics per hyperparameter point (mean and 95% interval over seeds).
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import train_lib
from jaxpref import equilibria, games, metrics, training
from jaxpref.types import Array, PRNGKey

SOLVERS = {"mirror_prox": equilibria.mirror_prox, "extragradient": equilibria.extragradient}
GAMES = ("uniform", "bradley_terry")


class Hyper(NamedTuple):
  """The swept hyperparameters (traced scalars at each point)."""

  step_size: float
  kl_coef: float


# Config fields that can be vmap axes, and where they land in Hyper.
FIELDS = {"solver.step_size": "step_size", "solver.kl_coef": "kl_coef"}


def hyperparameters(config: ml_collections.ConfigDict) -> Hyper:
  """The typed hyperparameters at their config values."""
  return train_lib.config_hparams(config, FIELDS, Hyper)


class PointState(NamedTuple):
  """State at one sweep point: its game and the solver's state."""

  P: Array
  solver: Any


def validate(config: ml_collections.ConfigDict) -> training.Sweep:
  """Checks the static fields and every swept value before anything is compiled."""
  if config.solver.name not in SOLVERS:
    raise ValueError(
      f"config.solver.name must be one of {sorted(SOLVERS)}; got {config.solver.name!r}."
    )
  if config.game.family not in GAMES:
    raise ValueError(f"config.game.family must be one of {GAMES}; got {config.game.family!r}.")
  if config.game.n < 2:
    raise ValueError(f"config.game.n must be >= 2; got {config.game.n}.")
  sweep = train_lib.sweep_from_config(config, hyperparameters(config), FIELDS)
  points, _ = training.sweep_points(sweep)
  combos = set(zip(points.step_size.tolist(), points.kl_coef.tolist(), strict=True))
  for step_size, kl_coef in sorted(combos):
    try:
      SOLVERS[config.solver.name](step_size=float(step_size), kl_coef=float(kl_coef))  # Checks.
    except ValueError as e:
      raise ValueError(f"sweep point step_size={step_size}, kl_coef={kl_coef}: {e}") from None
  return sweep


def make_program(config: ml_collections.ConfigDict) -> training.Program:
  """The per-point program: draw a game, start uniform, step the solver, report gaps."""
  factory = SOLVERS[config.solver.name]
  n = int(config.game.n)

  def solver(hp: Hyper) -> equilibria.Solver:
    return factory(step_size=hp.step_size, kl_coef=hp.kl_coef)

  def init(hparams: Hyper, key: PRNGKey) -> PointState:
    if config.game.family == "uniform":
      P = games.uniform_random_game(key, n)
    else:
      P = games.bradley_terry_game(jax.random.normal(key, (n,)))
    return PointState(P, solver(hparams).init(jnp.full((n,), 1.0 / n, P.dtype)))

  def step(state: PointState, hparams: Hyper, t: Array) -> PointState:
    del t  # The exact operator needs no per-step key.
    operator = equilibria.matrix_operator(state.P)
    return state._replace(solver=solver(hparams).step(state.solver, operator))

  def point_metrics(state: PointState, hparams: Hyper) -> dict[str, Array]:
    kl_coef = hparams.kl_coef
    policy = state.solver.policy
    gap = metrics.duality_gap(state.P, policy)
    return {
      "gap": gap,
      "gap_average": metrics.duality_gap(state.P, equilibria.average_value(state.solver.average)),
      "regularized_gap": equilibria.certified_gap(state.P, policy, kl_coef=kl_coef),
    }

  return training.Program(init, step, point_metrics)


def summary_table(result: training.SweepResult) -> list[dict[str, Any]]:
  """Final value of every metric per hyperparameter point: mean and 95% half-width over seeds."""
  rows = []
  labels = result.sweep.labels()
  for name, values in result.history.items():
    s = training.summarize(values[..., -1])
    for label, mean, half in zip(labels, np.ravel(s.mean), np.ravel(s.half_width), strict=True):
      rows.append({"point": label, "metric": name, "mean": float(mean), "ci95": float(half)})
  return rows


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the sweep (resuming from ``workdir``), prints the summary table and plots curves."""
  # train_lib.validate_config has validated the config once; the engine gets typed arguments.
  sweep = train_lib.sweep_from_config(config, hyperparameters(config), FIELDS)
  result = training.run_sweep(
    make_program(config),
    sweep,
    workdir=workdir,
    name=config.solver.name,
    **train_lib.run_options(config),
  )
  sweep = result.sweep
  table = summary_table(result)
  if jax.process_index() == 0:
    print(
      f"\n{config.solver.name} on {config.game.family} games, n = {config.game.n}, "
      f"{sweep.num_seeds} seeds, {config.steps} steps: final value, mean ± 95% interval"
    )
    by_point: dict[str, dict[str, str]] = {}
    for row in table:
      by_point.setdefault(row["point"], {})[row["metric"]] = (
        f"{row['mean']:.2e} ± {row['ci95']:.1e}"
      )
    names = list(result.history)
    print(f"  {'point':28s} " + " ".join(f"{m:>20s}" for m in names))
    for point, cells in by_point.items():
      print(f"  {point:28s} " + " ".join(f"{cells[m]:>20s}" for m in names))
    if config.plot:
      path = training.plot_sweep_curves(
        result.history,
        result.log_steps,
        result.sweep,
        os.path.join(workdir, "convergence.png"),
        metrics=["regularized_gap", "gap_average"],
        xlabel="solver step",
        ylabels={
          "regularized_gap": "Gap_beta of the last iterate (win prob.)",
          "gap_average": "Gap of the average iterate (win prob.)",
        },
      )
      print(f"\nWrote {path}")
  return {
    "solver": config.solver.name,
    "points": sweep.num_points,
    "shape": list(sweep.shape),
    "resumed_from": result.resumed_from,
    "steps_per_second": result.steps_per_second,
    "final": table,
  }
