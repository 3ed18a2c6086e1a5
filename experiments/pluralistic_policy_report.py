"""Tables and the figure of ``experiments/pluralistic_policy.py`` (host side, from results)."""

from typing import Any

import matplotlib.pyplot as plt
import ml_collections
import numpy as np

COLUMNS = ("worst_win", "welfare", "welfare_gap", "egalitarian_gap", "kl")
PAIRED = ("minority_win", "worst_win", "welfare")


def _cell(stat: dict[str, Any] | None, index: tuple[int, ...]) -> str:
  if stat is None:  # e.g. the tiny LM has no exact optimum, so no gaps
    return "—"
  mean, half = np.asarray(stat["mean"])[index], np.asarray(stat["ci95"])[index]
  return f"{mean:.3f} ± {half:.3f}"


def _points(results: dict[str, Any]) -> list[tuple[tuple[int, ...], str]]:
  """Every swept point's index and label (``kl_coef=0.5, ...``)."""
  axes = results["axes"]
  shape = tuple(len(v) for v in axes.values())
  return [
    (idx, ", ".join(f"{n}={v[i]:g}" for (n, v), i in zip(axes.items(), idx, strict=True)))
    for idx in np.ndindex(shape)
  ]


def print_report(config: ml_collections.ConfigDict, results: dict[str, Any]) -> None:
  """Per scenario and point: each group's win rate, worst group, welfare, gaps, KL; paired diffs."""
  del config
  for scenario, entry in results.items():
    if scenario == "axes":
      continue
    G = entry["groups"]
    print(f"\n{scenario}: {G} groups, shares {', '.join(f'{s:.2f}' for s in entry['shares'])}")
    for idx, label in _points(results):
      print(f"  {label or 'defaults'} (mean ± 95% interval over seeds)")
      head = [f"win g{g}" for g in range(G)] + list(COLUMNS)
      print("  | method | " + " | ".join(head) + " |")
      for method, summary in entry["methods"].items():
        final = summary["final"]
        cells = [_cell(final[f"win/g{g}"], idx) for g in range(G)]
        cells += [_cell(final.get(c), idx) for c in COLUMNS]
        print(f"  | {method} | " + " | ".join(cells) + " |")
      beta = results["axes"].get("kl_coef")
      key = f"{beta[idx[list(results['axes']).index('kl_coef')]]:g}" if beta else None
      for name, row in (entry["exact"].get(key, {}) if key else {}).items():
        cells = [f"{row[f'win/g{g}']:.3f}" for g in range(G)] + [
          f"{row[c]:.3f}" if c in row else "—" for c in COLUMNS
        ]
        print(f"  | exact {name} | " + " | ".join(cells) + " |")
      for method, summary in entry["methods"].items():
        if "minus_dpo" in summary:
          diffs = ", ".join(
            f"{k} {_cell(summary['minus_dpo'][k], idx)}"
            for k in PAIRED
            if k in summary["minus_dpo"]
          )
          print(f"  {method} - dpo (paired): {diffs}")


def plot(results: dict[str, Any], path: str) -> str:
  """Each group's win rate against the reference per method (first point), 95% error bars."""
  scenarios = [s for s in results if s != "axes"]
  fig, axes = plt.subplots(1, max(len(scenarios), 1), figsize=(5.5 * max(len(scenarios), 1), 4))
  axes = np.atleast_1d(axes)
  for ax, scenario in zip(axes, scenarios, strict=False):
    entry = results[scenario]
    methods = list(entry["methods"])
    exact = next(iter(entry["exact"].values()), {})  # the first kl_coef's exact optima
    extra = [n for n in ("utilitarian", "egalitarian") if n in exact]
    G = entry["groups"]
    width = 0.8 / G
    for g in range(G):
      stat = [entry["methods"][m]["final"][f"win/g{g}"] for m in methods]
      mean = [float(np.ravel(s["mean"])[0]) for s in stat] + [exact[n][f"win/g{g}"] for n in extra]
      half = [float(np.ravel(s["ci95"])[0]) for s in stat] + [0.0] * len(extra)
      share = entry["shares"][g]
      ax.bar(
        np.arange(len(mean)) + g * width, mean, width, yerr=half, label=f"group {g} ({share:.2f})"
      )
    ax.axhline(0.5, color="gray", lw=0.8, ls="--")
    labels = methods + [f"exact {n}" for n in extra]
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=30, ha="right")
    ax.set_ylabel("win rate against the reference")
    ax.set_title(f"{scenario} (first point, 95% intervals)")
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path
