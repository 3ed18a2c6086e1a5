"""Tables and plots of ``experiments/policy_objectives.py``: mean ± 95% interval over seeds."""

from typing import Any

import numpy as np

from jaxpref import training
from jaxpref.training import _plots

METRICS = ("regularized_gap", "duality_gap", "win_rate_vs_ref")  # The table's columns.
# The papers' claims as paired comparisons (same seeds: same initial policy): (method, baseline).
PAIRED = (
  ("inpo_iterative", "inpo"),  # INPO: its rounds, against the re-anchored form
  ("sppo_iterative", "sppo"),  # SPPO: pi_t held for a round, against one step per anchor
  ("apo", "sppo_iterative"),  # APO: momentum against plain iterative SPPO (alpha = 0)
  ("nash_mp", "egpo"),  # Nash-MP: proximal extragradient against explicit extragradient
  ("nash_mp", "online_ipo"),
  ("ipo_md", "online_ipo"),  # IPO-MD against online IPO (the paper: no significant difference)
  ("active_dpo", "online_dpo"),  # uncertainty sampling against on-policy pairs
  ("dno", "sppo_iterative"),  # DNO's pairwise regression against SPPO's at equal rounds
)


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


def paired_differences(results: dict[str, Any], fractions: tuple[float, ...]) -> dict[str, Any]:
  """Method minus baseline per seed for every pair of :data:`PAIRED` that ran: final and early.

  Returns ``{"method-baseline": {"final": {metric: stats}, "<fraction>": {metric: stats}}}``,
  stats as :func:`experiments.common.stats` (mean and 95% interval over seeds of the difference).
  """
  from experiments import common  # common imports training's plotting; keep this module light.

  out = {}
  for method, base in PAIRED:
    if method not in results or base not in results:
      continue
    one = {}
    for where in ("final", *(f"{f:g}" for f in fractions)):
      a = results[method]["final" if where == "final" else "at_fraction"]
      b = results[base]["final" if where == "final" else "at_fraction"]
      if where != "final":
        a, b = a[where], b[where]
      one[where] = {
        m: common.stats(np.asarray(a[m]["values"]) - np.asarray(b[m]["values"])) for m in METRICS
      }
    out[f"{method}-{base}"] = one
  return out


def print_paired(paired: dict[str, Any], fraction: float) -> None:
  """The paired differences at the end and at ``fraction`` of the queries (first point)."""
  if not paired:
    return
  print("Paired differences, method - baseline (same seeds), of the regularized / duality gap:")
  print(f"  {'':<28}{'final':>40}{f'at {fraction:g} of the queries':>42}")
  for name, one in paired.items():
    cells = "".join(
      f"  {_cell(one[w]['regularized_gap'], 0):>18} / {_cell(one[w]['duality_gap'], 0):<18}"
      for w in ("final", f"{fraction:g}")
    )
    print(f"  {name:<28}{cells}")
