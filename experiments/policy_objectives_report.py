"""Tables and plots of ``experiments/policy_objectives.py``: mean ± 95% interval over seeds."""

from typing import Any

import numpy as np

from jaxpref import training

METRICS = ("regularized_gap", "duality_gap", "win_rate_vs_ref")  # The table's columns.


def _cell(stats: dict[str, Any], index: int) -> str:
  mean, half = np.ravel(stats["mean"])[index], np.ravel(stats["ci95"])[index]
  return f"{mean:.4f} ± {half:.4f}" if np.isfinite(half) else f"{mean:.4f}"


def print_table(config, sweep: training.Sweep, results: dict[str, Any]) -> None:
  """Final metrics per loss (and hyperparameter point): mean ± 95% interval over seeds."""
  print(
    f"{config.oracle} oracle, n = {config.responses}, {config.prompts} prompts, kl_coef "
    f"{config.kl_coef}, {config.queries} queries per loss, {sweep.num_seeds} seeds: mean ± 95% CI"
  )
  cols = METRICS
  print(f"  {'loss':<20} {'point':<22}" + "".join(f"{c:>20}" for c in cols) + f"{'updates':>9}")
  rows = [("(initial policy)", next(iter(results.values()))["initial"], "")] if results else []
  rows += [(name, r["final"], r["updates"]) for name, r in results.items()]
  for name, stats, updates in rows:
    for i, label in enumerate(sweep.labels()):
      cells = "".join(f"{_cell(stats[c], i):>20}" for c in cols)
      print(f"  {name:<20} {label:<22}{cells}{updates:>9}")


def plot_losses(curves: dict[str, Any], sweep: training.Sweep, path: str) -> str:
  """Gaps against oracle queries, one curve per loss and point, band = 95% interval over seeds."""
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for ax, metric in zip(axes, ("regularized_gap", "duality_gap"), strict=True):
    for name, (queries, history) in curves.items():
      s = training.summarize(history[metric], axis=-2)
      mean = s.mean.reshape(-1, len(queries))
      half = np.nan_to_num(s.half_width).reshape(mean.shape)
      for label, m, h in zip(sweep.labels(), mean, half, strict=True):
        (line,) = ax.plot(queries, m, label=name if label == "all" else f"{name} {label}")
        ax.fill_between(
          queries, np.maximum(m - h, 1e-6), m + h, color=line.get_color(), alpha=0.2, lw=0
        )
    ax.set(xlabel="oracle queries", yscale="log", title=metric)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
  axes[0].legend(fontsize=7)
  fig.suptitle(f"mean over {sweep.num_seeds} seed(s), band = 95% interval", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
