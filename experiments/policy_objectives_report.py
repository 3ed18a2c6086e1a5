"""Tables and plots of ``experiments/policy_objectives.py``: mean ± 95% interval over seeds."""

from typing import Any

import numpy as np

from jaxpref import training
from jaxpref.training import _plots

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
  """Gaps against oracle queries, one curve per loss and point, band = 95% interval over seeds.

  Log y axes: a loss whose mean gap reaches 0 is named under the panel; the legend (every loss,
  each in its own colour, line style and marker) sits right of the panels.
  """
  ylabels = {
    "regularized_gap": "KL-regularized gap Gap_beta (win prob.)",
    "duality_gap": "duality gap (win prob.)",
  }
  with _plots.styled():
    fig, axes = _plots.subplots(2, cols=2, panel=(5.0, 3.6), extra_width=2.4)
    for ax, (metric, ylabel) in zip(axes, ylabels.items(), strict=True):
      reached, i = [], 0
      for name, (queries, history) in curves.items():
        s = training.summarize(history[metric], axis=-2)
        mean = s.mean.reshape(-1, len(queries))
        half = np.nan_to_num(s.half_width).reshape(mean.shape)
        for label, m, h in zip(sweep.labels(), mean, half, strict=True):
          curve = name if label == "all" else f"{name} {label}"
          if _plots.draw_curve(ax, queries, m, i, label=curve, low=m - h, high=m + h, log=True):
            reached.append(curve)
          i += 1
      ax.set(xlabel="oracle queries", ylabel=ylabel, title=metric)
      ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
      _plots.note_not_drawn(ax, reached)
    _plots.legend_outside(fig, title="loss")
    fig.suptitle(f"mean over {sweep.num_seeds} seed(s), band = 95% interval")
    return _plots.save(fig, path)
