"""Convergence curves of a sweep: the mean over seeds with its 95% interval as a band."""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from jaxpref.training._sweep import Sweep, summarize
from jaxpref.types import HostArray


def plot_sweep_curves(
  history: dict[str, HostArray],
  log_steps: HostArray,
  sweep: Sweep,
  path: str,
  *,
  metrics: list[str] | None = None,
  log_scale: bool = True,
  xlabel: str = "step",
) -> str:
  """Plots each metric against steps, one curve per hyperparameter point, bands over seeds.

  With two or more hyperparameter axes, each value of the first axis gets its own panel and the
  curves in a panel are the combinations of the other axes.

  Args:
    history: ``{metric: [*axes, seed, num_logs]}`` (``SweepResult.history``).
    log_steps: ``[num_logs]`` steps of the logged values.
    sweep: the grid (names and values of the axes).
    path: the PNG to write.
    metrics: which metrics to plot (default: all).
    log_scale: logarithmic y axis (values <= 0 are clipped to the smallest positive one).
    xlabel: label of the x axis.

  Returns:
    ``path``.
  """
  metrics = list(history) if metrics is None else metrics
  short = [n.rsplit(".", 1)[-1] for n in sweep.names]
  panel_values = sweep.values[0].tolist() if len(sweep.names) >= 2 else [None]
  rows, cols = len(metrics), len(panel_values)
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
  for r, metric in enumerate(metrics):
    values = np.asarray(history[metric], np.float64)
    summary = summarize(values, axis=-2)  # [*axes, num_logs]
    for c, panel in enumerate(panel_values):
      ax = axes[r][c]
      mean, half = summary.mean, summary.half_width
      names, grids = short, [v.tolist() for v in sweep.values]
      if panel is not None:
        mean, half = mean[c], half[c]
        names, grids = short[1:], grids[1:]
      for combo in itertools.product(*[range(len(g)) for g in grids]):
        m, h = mean[combo], np.nan_to_num(half[combo])
        label = " ".join(f"{n}={g[i]:g}" for n, g, i in zip(names, grids, combo, strict=True))
        low, high = m - h, m + h
        if log_scale:
          floor = np.nanmin(np.where(values > 0, values, np.inf))
          floor = floor if np.isfinite(floor) else 1e-300
          m, low, high = (np.maximum(a, floor) for a in (m, low, high))
        (line,) = ax.plot(log_steps, m, label=label or "mean")
        ax.fill_between(log_steps, low, high, color=line.get_color(), alpha=0.2, lw=0)
      if log_scale:
        ax.set_yscale("log")
      title = metric if panel is None else f"{metric}, {short[0]}={panel:g}"
      ax.set(title=title, xlabel=xlabel)
      ax.grid(alpha=0.3)
      if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=7)
  fig.suptitle(f"mean over {sweep.num_seeds} seed(s), band = 95% interval", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_interval_bars(
  panels: dict[str, dict[str, dict[str, tuple[float, float]]]],
  path: str,
  *,
  ylabel: str = "",
  cols: int = 2,
  title: str = "bars = mean over seeds, error bars = 95% interval",
) -> str:
  """Grouped bar charts with error bars: one panel per entry, one bar colour per series.

  Args:
    panels: ``{panel title: {series: {category: (mean, half_width)}}}``; a category a series
      lacks gets no bar, a NaN half-width no error bar.
    path: the PNG to write.
    ylabel: label of every y axis.
    cols: panels per row.
    title: the figure's title.

  Returns:
    ``path``.
  """
  cols = max(1, min(cols, len(panels)))
  rows = -(-len(panels) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.4 * rows), squeeze=False)
  for ax, (name, series) in zip(axes.ravel(), panels.items(), strict=False):
    categories = list(dict.fromkeys(c for bars in series.values() for c in bars))
    width = 0.8 / max(len(series), 1)
    for i, (label, bars) in enumerate(series.items()):
      x = [categories.index(c) + (i - (len(series) - 1) / 2) * width for c in bars]
      mean, half = (np.asarray([v[j] for v in bars.values()], np.float64) for j in (0, 1))
      ax.bar(x, mean, width, yerr=np.where(np.isfinite(half), half, 0.0), capsize=2, label=label)
    ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=7)
    ax.set(title=name, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    if series:
      ax.legend(fontsize=7)
  for ax in axes.ravel()[len(panels) :]:
    ax.axis("off")
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
