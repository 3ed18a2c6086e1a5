"""Exact maximal lotteries of the canonical games and of the LLMFAO crowd game.

For each game: the max-entropy equilibrium (``jaxpref.equilibria.maximal_lottery``), its support,
its top items, its certified duality gap (``jaxpref.metrics.duality_gap`` in float64) and, for the
canonical games, the distance to the closed-form answer. Writes a table to stdout,
``results.json`` (via ``train_lib``) and ``equilibria.png``.
"""

import os
import time
from typing import Any

import matplotlib
import ml_collections
import numpy as np
from absl import logging

from jaxpref import data, equilibria, games, metrics

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _summarize(
  P: np.ndarray, items: list[str], x: np.ndarray, top_k: int, seconds: float
) -> dict[str, Any]:
  order = np.argsort(-x, kind="stable")
  support = int(np.sum(x > 0))
  top = [(items[i], float(x[i])) for i in order[: min(top_k, support)]]
  return {
    "n": int(P.shape[0]),
    "support": support,
    "duality_gap": float(metrics.duality_gap(P, x)),
    "top": top,
    "equilibrium": {items[i]: float(x[i]) for i in range(len(items))},
    "seconds": seconds,
  }


def _solve(P: np.ndarray, tol: float) -> tuple[np.ndarray, float]:
  start = time.perf_counter()
  x = np.asarray(equilibria.maximal_lottery(P, tol=tol))
  return x, time.perf_counter() - start


def _table(results: dict[str, dict[str, Any]]) -> str:
  lines = [f"{'game':<22} {'n':>3} {'supp':>4} {'gap':>8} {'|x-known|':>9}  top items (mass)"]
  for name, r in results.items():
    known = r.get("error_vs_known")
    known_s = f"{known:9.1e}" if known is not None else f"{'-':>9}"
    top = ", ".join(f"{item} {mass:.3f}" for item, mass in r["top"][:5])
    lines.append(
      f"{name:<22} {r['n']:>3} {r['support']:>4} {r['duality_gap']:8.1e} {known_s}  {top}"
    )
  return "\n".join(lines)


def _plot(results: dict[str, dict[str, Any]], path: str) -> None:
  canonical = [k for k in results if k != "llmfao"]
  has_llmfao = "llmfao" in results
  cols = 4
  rows = -(-len(canonical) // cols) if canonical else 0
  fig = plt.figure(figsize=(14, 2.2 * rows + (4.5 if has_llmfao else 0)))
  grid = fig.add_gridspec(rows + (2 if has_llmfao else 0), cols)
  if has_llmfao:
    ax = fig.add_subplot(grid[:2, :])
    r = results["llmfao"]
    names = [t[0] for t in r["top"]]
    masses = [t[1] for t in r["top"]]
    ax.barh(names[::-1], masses[::-1], color="tab:blue")
    ax.set_xlabel("mass in the maximal lottery")
    ax.set_title(
      f"LLMFAO crowd: max-entropy maximal lottery over {r['n']} LLMs "
      f"(support {r['support']}, gap {r['duality_gap']:.1e})"
    )
  for k, name in enumerate(canonical):
    ax = fig.add_subplot(grid[(2 if has_llmfao else 0) + k // cols, k % cols])
    x = list(results[name]["equilibrium"].values())
    ax.bar(range(len(x)), x, color="tab:orange")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(range(len(x)))
    ax.set_title(name, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Solves the configured games; returns the per-game results (also printed and plotted)."""
  results: dict[str, dict[str, Any]] = {}
  if config.canonical:
    for name, game in games.canonical_games().items():
      x, seconds = _solve(game.P, config.tol)
      items = [str(i) for i in range(game.P.shape[0])]
      r = _summarize(game.P, items, x, config.top_k, seconds)
      r["error_vs_known"] = float(np.max(np.abs(x - game.equilibrium)))
      results[name] = r
      logging.info("%s: gap %.2e, error %.2e", name, r["duality_gap"], r["error_vs_known"])
  if config.llmfao.enabled:
    table = data.load_llmfao(config.llmfao.path or None)
    n = len(table.items)
    P = games.game_from_comparisons(
      table.item_a,
      table.item_b,
      table.outcome,
      n,
      unseen=config.llmfao.unseen,
      prior=config.llmfao.prior,
    )
    _, counts = games.comparison_counts(table.item_a, table.item_b, table.outcome, n)
    x, seconds = _solve(P, config.tol)
    r = _summarize(P, list(table.items), x, config.top_k, seconds)
    r["comparisons"] = int(table.outcome.size)
    r["unseen_pairs"] = int((np.sum(counts == 0) - n) // 2)
    results["llmfao"] = r
    logging.info("llmfao: %d items, support %d, gap %.2e", n, r["support"], r["duality_gap"])
  print(_table(results))
  if "llmfao" in results:
    r = results["llmfao"]
    print(
      f"\nLLMFAO crowd ({r['comparisons']} judgments, {r['n']} models, {r['unseen_pairs']} of "
      f"{r['n'] * (r['n'] - 1) // 2} pairs never compared, scored as "
      f"{'ties' if config.llmfao.prior == 0 else 'prior'}): maximal lottery"
    )
    for item, mass in r["top"]:
      print(f"  {mass:6.3f}  {item}")
  if config.plot:
    path = os.path.join(workdir, "equilibria.png")
    _plot(results, path)
    print(f"\nWrote {path}")
  return results
