"""Small helpers the experiments share: config name lists, result statistics, partial results."""

import json
import os
from typing import Any

import jax
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from jaxpref import training


def names(text: str) -> list[str]:
  """A config's list of names: ``"a+b"`` or ``"a, b"`` -> ``["a", "b"]``."""
  return [w.strip() for w in str(text).replace("+", ",").split(",") if w.strip()]


def known_names(text: str, known: tuple[str, ...], *, field: str, what: str = "name") -> list[str]:
  """``names(text)``, each checked against ``known``; a ``ValueError`` names the config field.

  Raises:
    ValueError: when the list is empty or holds a name outside ``known``.
  """
  chosen = names(text)
  if not chosen:
    raise ValueError(f"config.{field} is empty; known: {', '.join(known)}.")
  for value in chosen:
    if value not in known:
      raise ValueError(f"Unknown {what} {value!r} in config.{field}; known: {', '.join(known)}.")
  return chosen


def floats(text: Any) -> list[float]:
  """A config's list of numbers: ``"1, 2,1e+3"`` -> ``[1.0, 2.0, 1000.0]`` (commas only)."""
  return [float(v) for v in str(text).split(",") if v.strip()]


def stats(values: Any) -> dict[str, Any]:
  """``{"values", "mean", "ci95"}`` of ``[*axes, seed]`` values, for a results.json."""
  values = np.asarray(values)
  s = training.summarize(values)
  return {"values": values.tolist(), "mean": s.mean.tolist(), "ci95": s.half_width.tolist()}


def sweep_summary(out: training.SweepResult, *, first: bool = False) -> dict[str, Any]:
  """The results.json fields of a sweep: its axes, resumption, speed, final values and curves.

  ``final`` (and with ``first`` the first log's) values of every metric as :func:`stats`,
  ``curve`` the seed-mean of every metric at each log step.
  """
  history, sweep = out.history, out.sweep
  summary = {
    "shape": list(sweep.shape),
    "labels": sweep.labels(),
    "resumed_from": out.resumed_from,
    "steps_per_second": out.steps_per_second,
  }
  if first:
    summary["first"] = {k: stats(v[..., 0]) for k, v in history.items()}
  summary["final"] = {k: stats(v[..., -1]) for k, v in history.items()}
  summary["curve"] = {
    "steps": out.log_steps.tolist(),
    **{k: training.summarize(v, axis=-2).mean.tolist() for k, v in history.items()},
  }
  return summary


def axes_of(sweep: training.Sweep) -> dict[str, list[Any]]:
  """``{axis name: values}`` of a sweep's vectorized axes, outermost first (for results.json)."""
  return {k: np.asarray(v).tolist() for k, v in zip(sweep.names, sweep.values, strict=True)}


def write_results(workdir: str, results: dict[str, Any]) -> None:
  """Writes ``workdir/results.json`` atomically (process 0).

  Experiments with several parts call it after each one, so a later failure keeps the finished
  parts; the runner writes the complete results at the end.
  """
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "results.json")
  with open(path + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
  os.replace(path + ".tmp", path)


def plot_panels(
  curves: dict[tuple[str, str], tuple[Any, Any]],
  path: str,
  *,
  xlabel: str,
  ylabel: str,
  log2_x: bool = False,
) -> str:
  """One panel per ``curves`` key's first part, a line per second part, with 95% bands.

  Args:
    curves: ``{(panel, line): (x [T], values [*axes, seed, T])}``; the first swept point is drawn.
    path: the PNG to write.
    xlabel: the x axis' label.
    ylabel: the y axis' label.
    log2_x: a base-2 logarithmic x axis.

  Returns:
    ``path``.
  """
  panels = list(dict.fromkeys(p for p, _ in curves))
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
  for ax, panel in zip(axes[0], panels, strict=True):
    for (p, line), (x, values) in curves.items():
      if p != panel:
        continue
      first = np.asarray(values).reshape(-1, values.shape[-2], values.shape[-1])[0]  # [seed, T]
      s = training.summarize(first, axis=0)
      ax.plot(x, s.mean, label=line)
      ax.fill_between(x, s.mean - s.half_width, s.mean + s.half_width, alpha=0.2)
    if log2_x:
      ax.set_xscale("log", base=2)
      ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(panel)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path
