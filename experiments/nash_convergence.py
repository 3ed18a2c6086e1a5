"""Convergence of every iterative solver: certified gap against operator queries.

Config: ``configs/nash_convergence.py``. Writes ``convergence.png`` into the workdir and returns
per-solver final gaps, steps and queries (written to ``results.json`` by ``train_lib``).
"""

import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import ml_collections
import numpy as np

from jaxpref import data, equilibria, games


def _solvers(*, kl_coef: float) -> dict[str, equilibria.Solver]:
  return {
    "mirror_prox (Nash-MP)": equilibria.mirror_prox(step_size=2.0, kl_coef=kl_coef),
    "extragradient (EGPO)": equilibria.extragradient(step_size=0.5, kl_coef=kl_coef),
    "online_mirror_descent": equilibria.online_mirror_descent(step_size=0.5, kl_coef=kl_coef),
    "magnetic_mirror_descent": equilibria.magnetic_mirror_descent(kl_coef=kl_coef, step_size=0.5),
    "nash_md (decaying)": equilibria.nash_md(kl_coef=kl_coef),
    "smooth fictitious_play": equilibria.fictitious_play(kl_coef=kl_coef),
    "projected_extragradient": equilibria.projected_extragradient(),
    "optimistic_mwu": equilibria.optimistic_mwu(step_size=1.0),
    "mwu": equilibria.mwu(step_size=0.1),
    "fictitious_play": equilibria.fictitious_play(),
  }


def _game_sets(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
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


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs every solver on every game set; returns final gaps (also printed and plotted)."""
  results: dict[str, Any] = {}
  sets = _game_sets(config)
  fig, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets), 4.5), squeeze=False)
  for ax, (set_name, P) in zip(axes[0], sets.items(), strict=True):
    results[set_name] = {}
    print(f"\n{set_name}: {P.shape[0]} game(s), n = {P.shape[-1]}")
    print(f"  {'solver':26s} {'target':>8s} {'worst gap':>10s} {'steps':>6s} {'queries':>8s}")
    for name, solver in _solvers(kl_coef=config.kl_coef).items():
      # Start away from the uniform reference, which already solves the cyclic canonical games.
      init = np.linspace(2.0, 1.0, P.shape[-1])
      r = equilibria.solve(
        P,
        solver,
        tol=config.tol,
        max_steps=config.max_steps,
        num_logs=config.max_steps // 16,
        init=init / init.sum(),
      )
      target = "Gap_beta" if solver.kl_coef > 0 else "Gap"
      worst = float(np.max(r.gap))
      results[set_name][name] = {
        "target": target,
        "worst_gap": worst,
        "converged": int(np.sum(r.converged)),
        "max_steps": int(np.max(r.num_steps)),
        "mean_queries": float(np.mean(r.num_queries)),
      }
      print(
        f"  {name:26s} {target:>8s} {worst:10.2e} {int(np.max(r.num_steps)):6d} "
        f"{float(np.mean(r.num_queries)):8.0f}"
      )
      best = np.fmax.reduce(np.asarray(r.history.best), axis=0)  # worst game of the set
      queries = np.asarray(r.history.steps) * solver.queries_per_step
      ax.semilogy(queries, np.maximum(best, 1e-17), label=f"{name} [{target}]")
    ax.set(title=set_name, xlabel="operator queries", ylabel="certified gap (worst game)")
    ax.axhline(config.tol, color="k", lw=0.5, ls=":")
    ax.grid(alpha=0.3)
  axes[0][-1].legend(fontsize=7, loc="upper right")
  if config.plot:
    path = os.path.join(workdir, "convergence.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nWrote {path}")
  plt.close(fig)
  return results
