"""Plots of the experiments: one look for every figure, and the sweep plots built on it.

Every figure of the experiments goes through the pieces here, so they read the same way:

- :func:`styled` (a ``matplotlib.rc_context``): fonts of 8-10 pt;
- :func:`subplots`: a grid of panels in a figure at most :data:`MAX_WIDTH` inches wide (about
  1000-1800 px at :data:`DPI`), with constrained layout;
- :func:`style`: a distinct (colour, line style, marker) per series, so overlapping curves stay
  distinguishable; :func:`draw_curve` draws one curve in it, with an optional band;
- :func:`legend_outside`: the legend right of or below the axes, never over the data;
- :func:`note_not_drawn`: on a log axis, names the series that reached 0 (and so are not drawn),
  under the axes (:func:`note` writes any such note);
- :func:`save`: writes the PNG at :data:`DPI` and closes the figure.
"""

import contextlib
import itertools
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from jaxpref.training._sweep import Sweep, summarize
from jaxpref.types import HostArray

DPI = 110  # PNG resolution: 8 pt text is 12 px high.
MAX_WIDTH = 15.0  # Widest figure in inches (1650 px at DPI), legend included.
PANEL = (4.6, 3.4)  # Default (width, height) of one panel in inches.
RC = {
  "font.size": 9,
  "axes.titlesize": 10,
  "axes.labelsize": 9,
  "xtick.labelsize": 8,
  "ytick.labelsize": 8,
  "legend.fontsize": 8,
  "legend.title_fontsize": 8,
  "figure.titlesize": 10,
  "axes.grid": True,
  "grid.alpha": 0.3,
}
COLORS = (
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
)
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
NOT_DRAWN = "reached 0 (not drawn on the log scale)"


def style(i: int) -> dict[str, Any]:
  """The ``i``-th series' ``color``, ``linestyle`` and ``marker`` (distinct for i < 140).

  Colours cycle with period 10, line styles with 4 and markers with 7, so two series differ in at
  least one of them even where their colours repeat.
  """
  return {
    "color": COLORS[i % len(COLORS)],
    "linestyle": LINESTYLES[i % len(LINESTYLES)],
    "marker": MARKERS[i % len(MARKERS)],
  }


def styled() -> contextlib.AbstractContextManager:
  """A context in which figures get the shared fonts (:data:`RC`); draw a figure inside it."""
  return plt.rc_context(RC)


def subplots(
  n: int,
  *,
  cols: int = 3,
  panel: tuple[float, float] = PANEL,
  extra_width: float = 0.0,
  extra_height: float = 0.0,
) -> tuple[Figure, list[Axes]]:
  """A figure of ``n`` panels, ``cols`` per row, no wider than :data:`MAX_WIDTH` inches.

  Args:
    n: number of panels.
    cols: panels per row (at most ``n``).
    panel: (width, height) of one panel in inches; the width shrinks (to 2.8 at least) to fit.
    extra_width: inches to reserve beside the panels (a legend on the right).
    extra_height: inches to reserve below them (a legend below, notes).

  Returns:
    ``(figure, axes)``: the first ``n`` axes, row by row; the unused cells are hidden.
  """
  cols = max(1, min(cols, n))
  rows = -(-n // cols)
  width = max(2.8, min(panel[0], (MAX_WIDTH - extra_width) / cols))
  fig, grid = plt.subplots(
    rows,
    cols,
    figsize=(width * cols + extra_width, panel[1] * rows + extra_height),
    squeeze=False,
    layout="constrained",
  )
  axes = list(grid.ravel())
  for ax in axes[n:]:
    ax.set_visible(False)
  return fig, axes[:n]


def draw_curve(
  ax: Axes,
  x: Sequence[float] | HostArray,
  y: Sequence[float] | HostArray,
  i: int,
  *,
  label: str,
  low: Sequence[float] | HostArray | None = None,
  high: Sequence[float] | HostArray | None = None,
  log: bool = False,
  markers: int = 8,
) -> bool:
  """Draws one series in :func:`style` ``(i)``, with a band from ``low`` to ``high`` if given.

  About ``markers`` markers mark the curve, shifted along it by ``i`` and of sizes cycling with
  ``i``, so that curves lying on top of each other stay visible. On a log axis (``log=True``) a
  value <= 0 becomes a gap in the curve, and the band's lower edge is cut at a tenth of the
  curve's smallest positive value (a flat bottom is such a cut, not data).

  Returns:
    Whether some finite value was <= 0 and so is not drawn (name it with :func:`note_not_drawn`).
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  dropped = False
  if log:
    dropped = bool(np.any(np.isfinite(y) & (y <= 0)))
    y = np.where(y > 0, y, np.nan)
  every = max(1, len(x) // max(markers, 1))
  start = (i * max(1, every // 3)) % every
  size = 6.5 - 1.5 * (i % 3)  # A smaller marker on top leaves the one below it visible.
  (line,) = ax.plot(x, y, label=label, lw=1.4, ms=size, markevery=(start, every), **style(i))
  if low is not None and high is not None:
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    if log:
      positive = y[np.isfinite(y)]
      floor = positive.min() / 10 if positive.size else np.nan
      low = np.where(np.isfinite(y), np.maximum(low, floor), np.nan)
      high = np.where(np.isfinite(y), high, np.nan)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15, lw=0)
  if log:
    ax.set_yscale("log")
  return dropped


def note(ax: Axes, text: str, *, width: int | None = None) -> str:
  """Writes a small italic note under the axes' x label (kept clear of the data); returns it.

  Args:
    ax: the axes.
    text: the note.
    width: characters per line (default: from the axes' width).
  """
  if width is None:
    inches = ax.get_position().width * ax.get_figure().get_figwidth()
    width = max(30, int(inches * 72 / (0.55 * RC["legend.fontsize"])))
  text = "\n".join(textwrap.fill(part, width) for part in text.split("\n"))
  ax.annotate(
    text,
    xy=(0.5, 0.0),
    xycoords=ax.xaxis.label,
    xytext=(0, -3),
    textcoords="offset points",
    ha="center",
    va="top",
    fontsize=RC["legend.fontsize"],
    color="0.25",
    style="italic",
  )
  return text


def note_not_drawn(ax: Axes, labels: Iterable[str], *, width: int | None = None) -> str | None:
  """Writes "reached 0 (not drawn on the log scale): X, Y" under the axes' x label.

  Args:
    ax: the axes (with a log y axis).
    labels: the series that reached 0 (or below, by round-off); none: no note.
    width: characters per line (default: from the axes' width).

  Returns:
    The note's text, or ``None`` when ``labels`` is empty.
  """
  labels = list(dict.fromkeys(labels))
  if not labels:
    return None
  return note(ax, f"{NOT_DRAWN}: {', '.join(labels)}", width=width)


def _handles(axes: Iterable[Axes]) -> tuple[list[Any], list[str]]:
  seen: dict[str, Any] = {}
  for ax in axes:
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
      seen.setdefault(label, handle)
  return list(seen.values()), list(seen)


def legend_outside(
  target: Axes | Figure,
  *,
  where: str = "right",
  ncol: int | None = None,
  title: str | None = None,
) -> Legend | None:
  """Puts the legend outside the axes, so that it never covers data.

  Args:
    target: an axes (its own series) or a figure with constrained layout (one legend for the
      series of all its axes, each label once).
    where: ``"right"`` (top-aligned right of the axes / figure) or ``"below"``.
    ncol: columns (default: 1 on the right, up to 4 below).
    title: the legend's title.

  Returns:
    The legend, or ``None`` when nothing is labelled.
  """
  if where not in ("right", "below"):
    raise ValueError(f'where must be "right" or "below"; got {where!r}.')
  axes = target.get_axes() if isinstance(target, Figure) else [target]
  handles, labels = _handles(axes)
  if not labels:
    return None
  ncol = ncol or (1 if where == "right" else min(4, len(labels)))
  kw: dict[str, Any] = {"ncol": ncol, "title": title, "frameon": False}
  if isinstance(target, Figure):
    loc = "outside right upper" if where == "right" else "outside lower center"
    return target.legend(handles, labels, loc=loc, **kw)
  if where == "right":
    return target.legend(
      handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **kw
    )
  below = transforms.offset_copy(target.transAxes, target.get_figure(), y=-36, units="points")
  return target.legend(
    handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, **kw
  )


def save(fig: Figure, path: str) -> str:
  """Writes ``fig`` to ``path`` at :data:`DPI` (trimmed to its content), closes it; returns path.

  A log axis with nothing positive to show (every series reached 0) gets the range [0.1, 10]
  rather than failing; its note says why it is empty.
  """
  for ax in fig.get_axes():
    low, high = ax.dataLim.intervaly
    if ax.get_yscale() == "log" and not (np.isfinite(low) and np.isfinite(high) and high > 0):
      ax.set_ylim(0.1, 10.0)
  fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.08)
  plt.close(fig)
  return path


def plot_sweep_curves(
  history: dict[str, HostArray],
  log_steps: HostArray,
  sweep: Sweep,
  path: str,
  *,
  metrics: list[str] | None = None,
  log_scale: bool = True,
  xlabel: str = "step",
  ylabels: dict[str, str] | None = None,
) -> str:
  """Plots each metric against steps, one curve per hyperparameter point, bands over seeds.

  With two or more hyperparameter axes, each value of the first axis gets its own panel (one row
  of panels per metric) and the curves in a panel are the combinations of the other axes; with
  fewer, every metric is one panel of a grid three panels wide. One legend, outside the panels,
  names the curves.

  Args:
    history: ``{metric: [*axes, seed, num_logs]}`` (``SweepResult.history``).
    log_steps: ``[num_logs]`` steps of the logged values.
    sweep: the grid (names and values of the axes).
    path: the PNG to write.
    metrics: which metrics to plot (default: all).
    log_scale: logarithmic y axis: values <= 0 are not drawn, and a note under the panel names
      the curves that reached them; a band's lower edge is cut a decade below its curve.
    xlabel: label of the x axis.
    ylabels: label of the y axis per metric (default: the metric's name).

  Returns:
    ``path``.
  """
  metrics = list(history) if metrics is None else metrics
  ylabels = ylabels or {}
  short = [n.rsplit(".", 1)[-1] for n in sweep.names]
  panel_values = sweep.values[0].tolist() if len(sweep.names) >= 2 else [None]
  first = 1 if panel_values[0] is not None else 0  # The axes whose combinations are curves.
  names, grids = short[first:], [v.tolist() for v in sweep.values[first:]]
  combos = list(itertools.product(*[range(len(g)) for g in grids]))
  labels = [
    " ".join(f"{n}={g[i]:g}" for n, g, i in zip(names, grids, combo, strict=True)) or "mean"
    for combo in combos
  ]
  legend = labels != ["mean"]
  where = "right" if len(labels) <= 12 and max(map(len, labels)) <= 28 else "below"
  with styled():
    n = len(metrics) * len(panel_values)
    cols = len(panel_values) if panel_values[0] is not None else 3
    fig, axes = subplots(
      n,
      cols=cols,
      panel=(4.2, 3.0),
      extra_width=2.2 if legend and where == "right" else 0.0,
      extra_height=0.3 * (len(labels) // 4 + 1) if legend and where == "below" else 0.0,
    )
    for k, (metric, (c, panel)) in enumerate(itertools.product(metrics, enumerate(panel_values))):
      ax = axes[k]
      summary = summarize(np.asarray(history[metric], np.float64), axis=-2)  # [*axes, num_logs]
      mean, half = summary.mean, summary.half_width
      if panel is not None:
        mean, half = mean[c], half[c]
      reached = []
      for i, (combo, label) in enumerate(zip(combos, labels, strict=True)):
        m, h = mean[combo], np.nan_to_num(half[combo])
        if draw_curve(ax, log_steps, m, i, label=label, low=m - h, high=m + h, log=log_scale):
          reached.append(label)
      title = metric if panel is None else f"{metric}, {short[0]}={panel:g}"
      ax.set(title=title, xlabel=xlabel, ylabel=ylabels.get(metric, metric))
      if log_scale:
        note_not_drawn(ax, reached)
    if legend:
      legend_outside(fig, where=where)
    fig.suptitle(f"mean over {sweep.num_seeds} seed(s), band = 95% interval")
    return save(fig, path)


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
  with styled():
    series_names = list(dict.fromkeys(s for series in panels.values() for s in series))
    fig, axes = subplots(max(len(panels), 1), cols=cols, panel=(6.0, 3.4), extra_width=2.0)
    hatches = ("", "//", "..", "xx", "\\\\", "oo")
    for ax, (name, series) in zip(axes, panels.items(), strict=False):
      categories = list(dict.fromkeys(c for bars in series.values() for c in bars))
      width = 0.8 / max(len(series), 1)
      for i, (label, bars) in enumerate(series.items()):
        x = [categories.index(c) + (i - (len(series) - 1) / 2) * width for c in bars]
        mean, half = (np.asarray([v[j] for v in bars.values()], np.float64) for j in (0, 1))
        j = series_names.index(label)
        ax.bar(
          x,
          mean,
          width,
          yerr=np.where(np.isfinite(half), half, 0.0),
          capsize=2,
          label=label,
          color=style(j)["color"],
          hatch=hatches[j % len(hatches)],
          edgecolor="white",
          lw=0.5,
        )
      ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
      ax.set(title=name, ylabel=ylabel)
      ax.grid(axis="x", visible=False)
      if not series:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
    legend_outside(fig, where="right")
    fig.suptitle(title)
    return save(fig, path)
