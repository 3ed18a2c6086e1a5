"""Convergence of every iterative solver: certified gap against operator queries, over seeds.

Config: ``configs/nash_convergence.py``. For each solver (a static axis: one compiled program per
solver and game set) and each game set (the 3-item canonical games, the LLMFAO crowd game), the
engine (``jaxpref.training.run_sweep``) runs :func:`jaxpref.equilibria.certified_loop` -- the
certified loop of ``solve``, one certificate period per engine step -- at every point of
``kl_coef x seed``: each seed starts every game from its own random policy (a Dirichlet(1) draw).
Reports, per solver, the worst game's certified gap (mean and 95% interval over seeds), the
share of games certified and the operator queries spent; plots the worst-game gap against
queries (mean with a band) into ``convergence.png``.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import train_lib
from jaxpref import data, equilibria, games, training
from jaxpref.training import _plots
from jaxpref.types import Array, PRNGKey

# name -> factory of the solver from the (possibly traced) kl_coef.
SOLVERS = {
  "mirror_prox (Nash-MP)": lambda b: equilibria.mirror_prox(step_size=2.0, kl_coef=b),
  "extragradient (EGPO)": lambda b: equilibria.extragradient(step_size=0.5, kl_coef=b),
  "online_mirror_descent": lambda b: equilibria.online_mirror_descent(step_size=0.5, kl_coef=b),
  "magnetic_mirror_descent": lambda b: equilibria.magnetic_mirror_descent(kl_coef=b, step_size=0.5),
  "nash_md (decaying)": lambda b: equilibria.nash_md(kl_coef=b),
  "smooth fictitious_play": lambda b: equilibria.fictitious_play(kl_coef=b),
  "projected_extragradient": lambda b: equilibria.projected_extragradient(),
  "optimistic_mwu": lambda b: equilibria.optimistic_mwu(step_size=1.0),
  "mwu": lambda b: equilibria.mwu(step_size=0.1),
  "fictitious_play": lambda b: equilibria.fictitious_play(),
}
# Solvers of the regularized game (they read kl_coef; the others ignore it).
REGULARIZED = tuple(list(SOLVERS)[:6])
CHECK_EVERY = 16


class Hyper(NamedTuple):
  """Swept hyperparameters."""

  kl_coef: float


FIELDS = {"kl_coef": "kl_coef"}


def hyperparameters(config: ml_collections.ConfigDict) -> Hyper:
  """The typed hyperparameters at their config values."""
  return train_lib.config_hparams(config, FIELDS, Hyper)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the game sets, the budget and every swept ``kl_coef`` before anything compiles."""
  if not (config.canonical or config.llmfao):
    raise ValueError("Choose at least one game set (canonical and/or llmfao).")
  if config.steps < 1 or not config.tol > 0:
    raise ValueError(f"steps >= 1 and tol > 0 are required; got {config.steps}, {config.tol}.")
  sweep = train_lib.sweep_from_config(config, hyperparameters(config), FIELDS)
  points, _ = training.sweep_points(sweep)
  for beta in sorted(set(points.kl_coef.tolist())):
    if not beta > 0:
      raise ValueError(f"kl_coef must be > 0 (the regularized solvers need it); got {beta}.")


def game_sets(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """``{name: [games, n, n]}`` of the configured game sets."""
  sets = {}
  if config.canonical:
    sets["canonical (3 items)"] = np.stack(
      [g.P for g in games.canonical_games().values() if g.P.shape[0] == 3]
    )
  if config.llmfao:
    t = data.load_llmfao()
    P = games.game_from_comparisons(t.item_a, t.item_b, t.outcome, len(t.items), unseen="tie")
    sets["LLMFAO crowd (59 models)"] = P[None]
  return sets


def make_program(name: str, P: np.ndarray, tol: float) -> training.Program:
  """The per-point program: every game of the set through the certified loop of ``solve``."""
  P = jnp.asarray(P)
  num_games, n = P.shape[0], P.shape[-1]

  def loop(hp: Hyper) -> equilibria.CertifiedLoop:
    return equilibria.certified_loop(SOLVERS[name](hp.kl_coef), tol=tol, check_every=CHECK_EVERY)

  def init(hp: Hyper, key: PRNGKey) -> equilibria.SolveState:
    starts = jax.random.dirichlet(key, jnp.ones(n, P.dtype), (num_games,))
    return jax.vmap(loop(hp).init)(P, starts)

  def step(state: equilibria.SolveState, hp: Hyper, t: Array) -> equilibria.SolveState:
    return jax.vmap(loop(hp).step, in_axes=(0, 0, None))(state, P, t)

  def metrics(state: equilibria.SolveState, hp: Hyper) -> dict[str, Array]:
    del hp
    return {
      "worst_gap": jnp.max(state.best_gap),
      "certified": jnp.mean(state.done.astype(P.dtype)),
      "queries": jnp.mean(state.queries.astype(P.dtype)),
    }

  return training.Program(init, step, metrics)


def _folder(name: str) -> str:
  return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _plot(
  curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
  tol: float,
  sweep: training.Sweep,
  path: str,
) -> str:
  """Worst-game gap against queries per game set; ``curves[set][solver] = (x, mean, half)``."""
  with _plots.styled():
    fig, axes = _plots.subplots(len(curves), cols=2, panel=(5.6, 4.0), extra_width=2.8)
    for ax, (set_name, by_solver) in zip(axes, curves.items(), strict=True):
      reached = []
      for i, (label, (queries, mean, half)) in enumerate(by_solver.items()):
        low, high = mean - half, mean + half
        if _plots.draw_curve(ax, queries, mean, i, label=label, low=low, high=high, log=True):
          reached.append(label.split(" [")[0])
      ax.axhline(tol, color="k", lw=0.8, ls=":", label=f"tolerance {tol:g}")
      ax.set(
        title=set_name,
        xlabel="operator queries (mean over seeds)",
        ylabel="worst-game certified gap (win prob.)",
      )
      _plots.note_not_drawn(ax, reached)
    _plots.legend_outside(fig, title="solver [certified gap]")
    point = f"{sweep.labels()[0]} (first point): " if sweep.names else ""
    fig.suptitle(f"{point}mean over {sweep.num_seeds} seed(s), band = 95% interval")
    return _plots.save(fig, path)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs every solver on every game set; returns final metrics over seeds (printed, plotted)."""
  sweep = train_lib.sweep_from_config(config, hyperparameters(config), FIELDS)
  options = train_lib.run_options(config)
  results: dict[str, Any] = {}
  sets = game_sets(config)
  curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
  for set_name, P in sets.items():
    results[set_name], curves[set_name] = {}, {}
    print(f"\n{set_name}: {P.shape[0]} game(s), n = {P.shape[-1]}, {sweep.num_seeds} seeds")
    print(f"  {'solver':26s} {'target':>8s} {'worst gap (mean ± 95%)':>24s} {'certified':>9s}")
    for name in SOLVERS:
      result = training.run_sweep(
        make_program(name, P, config.tol),
        sweep,
        workdir=os.path.join(workdir, _folder(set_name), _folder(name)),
        name=name,
        **options,
      )
      final = {k: v[..., -1] for k, v in result.history.items()}
      s = training.summarize(final["worst_gap"])
      target = "Gap_beta" if name in REGULARIZED else "Gap"
      results[set_name][name] = {
        "target": target,
        "worst_gap": final["worst_gap"].tolist(),
        "worst_gap_mean": np.asarray(s.mean).tolist(),
        "worst_gap_ci95": np.asarray(s.half_width).tolist(),
        "certified": float(np.mean(final["certified"])),
        "mean_queries": float(np.mean(final["queries"])),
        "shape": list(sweep.shape),
      }
      worst = float(np.max(final["worst_gap"]))
      print(
        f"  {name:26s} {target:>8s} {float(np.mean(s.mean)):11.2e} ± "
        f"{float(np.nanmean(s.half_width)):8.1e}   {results[set_name][name]['certified']:7.0%}"
        f"  (worst seed {worst:.1e})"
      )
      summary = training.summarize(result.history["worst_gap"], axis=-2)  # [*axes, logs]
      # The curves of the first hyperparameter point.
      num_logs = len(result.log_steps)
      queries = np.mean(result.history["queries"], axis=-2).reshape(-1, num_logs)[0]
      mean = np.reshape(summary.mean, (-1, num_logs))[0]
      half = np.nan_to_num(np.reshape(summary.half_width, (-1, num_logs))[0])
      curves[set_name][f"{name} [{target}]"] = (queries, mean, half)
  if config.plot:
    path = _plot(curves, config.tol, sweep, os.path.join(workdir, "convergence.png"))
    print(f"\nWrote {path}")
  return results
