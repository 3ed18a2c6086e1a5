"""Pareto fronts from one preference-conditioned model against per-weight baselines, over seeds.

Config: ``configs/pareto_front.py``. Each part (ff and llmfao: ``experiments/pareto_programs.py``,
kl: ``experiments/pareto_kl.py``, one run per method in ``workdir/kl/<method>``) runs through
``jaxpref.training.run_sweep`` in ``workdir/<part>`` (``metrics.jsonl``, TensorBoard,
checkpoints, resumption) at every ``[*axes, seed]`` point, vmapped and sharded. The exact
hypervolumes are computed afterwards on the host, per point, from the final states
(``pareto.hypervolume_host`` is NumPy code, so it cannot run inside the compiled program).
Reports every metric as an ``[*axes, seed]`` array with its mean and 95% interval over seeds,
prints them and writes PNGs of the fronts (seed mean and per-seed points) and of the curves.
"""

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from experiments import common, pareto_kl, train_lib
from experiments.pareto_programs import (
  FF_EXACT_HV,
  FIELDS,
  HYPERS,
  PARTS,
  ff_true_front,
  fonseca_fleming,
  make_ff,
  make_llmfao,
)
from jaxpref import models, pareto, training
from jaxpref.training import _plots

__all__ = ["FF_EXACT_HV", "fonseca_fleming", "part_sweep", "run", "validate"]
MAKERS = {"ff": make_ff, "llmfao": make_llmfao}  # kl: one part per method (pareto_kl.make_kl)


def _axis_paths(node: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  out = []
  for key in node:
    if isinstance(node[key], ml_collections.ConfigDict):
      out.extend(_axis_paths(node[key], f"{prefix}{key}."))
    else:
      out.append(f"{prefix}{key}")
  return out


def part_sweep(config: ml_collections.ConfigDict, part: str) -> training.Sweep:
  """The sweep of one part: its hyperparameters, its own ``config.vmap.axes.<part>``, the seeds."""
  own = ml_collections.ConfigDict(config.to_dict())
  axes = config.vmap.axes
  own.vmap.axes = ml_collections.ConfigDict({part: axes[part].to_dict()} if part in axes else {})
  hparams = train_lib.config_hparams(config, FIELDS[part], HYPERS[part])
  return train_lib.sweep_from_config(own, hparams, FIELDS[part])


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks parts, static choices, sizes and every swept value before anything compiles."""
  parts = common.names(config.parts)
  if not parts:
    raise ValueError("parts is empty; choose from " + ", ".join(PARTS) + ".")
  for part in parts:
    if part not in PARTS:
      raise ValueError(
        f"Unknown part {part!r} in parts={config.parts!r}; known: {', '.join(PARTS)}."
      )
  for c in common.names(config.ff.conditionings):
    if c not in models.CONDITIONINGS:
      raise ValueError(f"Unknown conditioning {c!r}; known: {', '.join(models.CONDITIONINGS)}.")
  for m in common.names(config.ff.methods):
    if m not in pareto.SCALARIZATIONS:
      raise ValueError(f"Unknown scalarization {m!r}; known: {', '.join(pareto.SCALARIZATIONS)}.")
  m = config.kl.num_objectives
  if m not in (2, 3):
    raise ValueError(f"kl.num_objectives must be 2 or 3; got {m}.")
  if not -1 / (m - 1) < config.kl.correlation < 1:  # Equicorrelated matrices need c > -1/(m-1).
    raise ValueError(
      f"kl.correlation must lie in ({-1 / (m - 1):.3g}, 1) for {m} objectives; "
      f"got {config.kl.correlation}."
    )
  if config.grid < 2 or config.kl.sweep < 1:
    raise ValueError("grid must be >= 2 and kl.sweep >= 1.")
  if "kl" in parts or common.names(config.kl.methods):
    common.known_names(config.kl.methods, pareto_kl.METHODS, field="kl.methods", what="method")
  kl = config.kl
  if kl.cpo_temperature < 0 or kl.dpa_samples < 1 or kl.dpa_rounds < 1 or kl.map_samples < 2:
    raise ValueError(
      "kl needs cpo_temperature >= 0, dpa_samples >= 1, dpa_rounds >= 1 and map_samples >= 2; "
      f"got {kl.cpo_temperature}, {kl.dpa_samples}, {kl.dpa_rounds}, {kl.map_samples}."
    )
  if not 0 <= kl.pama_radius <= 1 or kl.dynamic_every < 1 or kl.dynamic_mu <= 0:
    raise ValueError(
      "kl needs pama_radius in [0, 1], dynamic_every >= 1 and dynamic_mu > 0; got "
      f"{kl.pama_radius}, {kl.dynamic_every}, {kl.dynamic_mu}."
    )
  vmappable = sorted(p for fields in FIELDS.values() for p in fields)
  for path in _axis_paths(config.vmap.axes):
    if path not in vmappable:
      raise ValueError(
        f"config.vmap.axes.{path}: {path} is not a vmappable hyperparameter of this experiment; "
        f"vmappable: {vmappable}."
      )
  for part in parts:
    points, _ = training.sweep_points(part_sweep(config, part))
    for path, name in FIELDS[part].items():  # Every field is a rate or a KL weight: > 0.
      values = np.asarray(getattr(points, name))
      if not np.all(values > 0):
        swept = " (config.vmap.axes." + path + ")" if path in _axis_paths(config.vmap.axes) else ""
        raise ValueError(f"{path} must be > 0; got {sorted(set(values.tolist()))}{swept}.")


def _fronts(part, result: training.SweepResult) -> dict[str, np.ndarray]:
  """``{name: [N, k, m]}``: every point's fronts from its final state (vmapped, on the host)."""
  sweep = result.sweep
  flat = jax.tree.map(
    lambda x: x.reshape(sweep.num_points, *x.shape[len(sweep.shape) :]), result.state
  )
  hps = jax.tree.map(lambda v: v.astype(np.float32), training.sweep_points(sweep)[0])
  return jax.tree.map(np.asarray, jax.jit(jax.vmap(part.fronts))(flat, hps))


def _host_metrics(name: str, part, F: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Exact hypervolumes (and front statistics) per point: ``{metric: [N]}``."""
  out: dict[str, list[float]] = {}
  add = lambda k, v: out.setdefault(k, []).append(float(v))  # noqa: E731
  num = next(iter(F.values())).shape[0]
  for i in range(num):
    if name == "ff":
      for combo in (k for k in F if "/logp" not in k):
        hv = pareto.hypervolume_host(F[combo][i], ref_point=[1, 1])
        add(f"{combo}/hv_ratio", hv / FF_EXACT_HV)
        add(f"{combo}/distinct_points", len(np.unique(np.round(F[combo][i], 3), axis=0)))
      continue
    if name == "kl":  # One method: its front against the closed form of the same seed.
      exact = F["closed_form_grid"][i]
      ref = exact.min(0) - 0.1 * (exact.max(0) - exact.min(0))
      hv = lambda P, ref=ref: pareto.hypervolume_host(P, ref_point=ref, sense="max")  # noqa: E731
      closed, front = hv(F["closed_form"][i]), F["front"][i]
      add("hv", hv(front))
      add("hv_ratio", hv(front) / closed)
      add("closed_form/hv", closed)
      add("igd_plus", pareto.igd_plus(front, exact, sense="max"))
      add("controllability", np.min(pareto.controllability(part.info["sweep"], front)))
      continue
    exact = F["closed_form"][i]
    hv = lambda P: pareto.hypervolume_host(P, ref_point=part.info["scores"].min(0), sense="max")  # noqa: E731
    closed = hv(exact)
    add("closed_form/hv", closed)
    add("conditioned/hv", hv(F["conditioned"][i]))
    add("conditioned/hv_ratio", hv(F["conditioned"][i]) / closed)
    add(
      "conditioned/controllability",
      np.min(pareto.controllability(part.info["grid"], F["conditioned"][i])),
    )
  return {k: np.asarray(v) for k, v in out.items()}


def _plot(name: str, part, F: dict[str, np.ndarray], sweep: training.Sweep, path: str) -> None:
  """Fronts of the first hyperparameter point: mean over seeds (line) and every seed (dots).

  On the ff panels linear scalarization (LS) is drawn last, as hollow circles at every point of
  its front, so that its points (which gather at the ends of the front) stay visible over the
  TCH/STCH curves, whose markers (every 15th point) only tell them apart.
  """
  S = sweep.num_seeds
  groups = sorted({k.split("/")[0] for k in F if "/logp" not in k}) if name == "ff" else [name]
  with _plots.styled():
    fig, axes = _plots.subplots(len(groups), cols=3, panel=(4.4, 4.0), extra_width=2.4)
    for ax, group in zip(axes, groups, strict=True):
      if name == "ff":
        ax.plot(*ff_true_front(2001).T, color="0.75", lw=5, label=f"true front (HV {FF_EXACT_HV})")
      if name == "llmfao":
        ax.scatter(*part.info["scores"].T, s=10, color="0.6", label="59 LLMs (BT strengths)")
      keys = [k for k in F if "/logp" not in k]
      if name == "ff":
        keys = [k for k in keys if k.startswith(group + "/")]
        keys.sort(key=lambda k: k.endswith("/ls"))  # LS last, on top.
      for i, key in enumerate(keys):
        method = key.split("/", 1)[1] if name == "ff" else key
        front = F[key][:S, :, :2]  # [seed, k, 2] at the first hyperparameter point
        st = _plots.style(i)
        if method == "ls":
          kw = {"marker": "o", "ms": 7, "mfc": "none", "mew": 1.1, "lw": 0, "zorder": 6}
        elif method == "closed_form":
          kw = {"marker": "none", "lw": 1.6, "zorder": 3}
        else:
          every = max(1, front.shape[1] // 15)  # Markers name the curve; the line is the front.
          kw = {"marker": st["marker"], "ms": 5, "lw": 1.2, "zorder": 4}
          kw["markevery"] = ((i * every // 3) % every, every)
        label = method.upper() if name == "ff" else method
        ax.plot(*front.mean(0).T, color=st["color"], ls=st["linestyle"], label=label, **kw)
        for f in front:
          ax.plot(*f.T, ".", ms=2.5, alpha=0.3, color=st["color"], zorder=kw["zorder"] - 1)
      if name == "ff":
        ax.set(xlabel="f1 (minimized)", ylabel="f2 (minimized)", title=f"ff: {group} conditioning")
      else:
        ax.set(
          xlabel="J1 = E r1 - kl_coef KL (maximized)",
          ylabel="J2 = E r2 - kl_coef KL (maximized)",
          title=f"{name} fronts ({sweep.labels()[0]})",
        )
    _plots.legend_outside(fig, title="method" if name == "ff" else None)
    fig.suptitle(f"lines and markers: mean over {S} seed(s) per weight; small dots: each seed")
    _plots.save(fig, path)


def _report(name: str, metrics: dict[str, dict[str, Any]], sweep: training.Sweep) -> None:
  print(f"\n{name}: final values, mean ± 95% interval over {sweep.num_seeds} seeds")
  for j, label in enumerate(sweep.labels()):
    for metric, s in metrics.items():
      mean, ci = np.ravel(s["mean"])[j], np.ravel(s["ci95"])[j]
      print(f"  {label:24s} {metric:36s} {mean:10.4g} ± {ci:.2g}")


def _run_one(config, part, name: str, sweep, sub: str, stop_after):
  """One ``run_sweep`` and its host-side fronts and metrics: ``(result, F, values, seconds)``."""
  start = time.perf_counter()
  result = training.run_sweep(
    part.program, sweep, workdir=sub, name=name, stop_after=stop_after,
    **train_lib.run_options(config),
  )  # fmt: skip
  F = _fronts(part, result)
  seconds = time.perf_counter() - start
  values = {k: v[..., -1] for k, v in result.history.items()}
  part_name = name.split("/")[0]
  host = _host_metrics(part_name, part, F)
  values.update({k: v.reshape(sweep.shape) for k, v in host.items()})
  return result, F, values, seconds


def _run_kl(config, workdir: str, stop_after) -> tuple[dict[str, Any], dict, training.Sweep]:
  """Every method of part (b) in ``workdir/kl/<method>``; results keyed by method."""
  sweep = part_sweep(config, "kl")
  methods: dict[str, Any] = {}
  fronts, closed = {}, None
  for method, part in pareto_kl.make_kl(config).items():
    sub = os.path.join(workdir, "kl", method)
    result, F, values, seconds = _run_one(config, part, f"kl/{method}", sweep, sub, stop_after)
    fronts[method] = F
    closed = values.pop("closed_form/hv")  # the same task per seed: every method's is the same
    methods[method] = {
      "metrics": {k: common.stats(v) for k, v in values.items()},
      "models_trained": part.info["models"],
      "wall_time_s": seconds,
      "steps_per_second": result.steps_per_second,
      "resumed_from": result.resumed_from,
    }
    if jax.process_index() == 0:
      _report(f"kl/{method}", methods[method]["metrics"], sweep)
  out = {
    "axes": sweep.to_json(),
    "labels": sweep.labels(),
    "closed_form": {"hv": common.stats(closed)},
    "methods": methods,
  }
  return out, fronts, sweep


def _plot_kl(fronts: dict, sweep: training.Sweep, path: str) -> None:
  """Part (b): every method's front (seed mean, first hyperparameter point) on the closed form."""
  S = sweep.num_seeds
  groups = [
    [m for m in fronts if m not in pareto_kl.GRADIENT_METHODS],
    [m for m in fronts if m in pareto_kl.GRADIENT_METHODS],
  ]
  groups = [g for g in groups if g]
  titles = ["conditioned, per-weight losses, soups, MAP", "policy-gradient combinations"]
  with _plots.styled():
    fig, axes = _plots.subplots(len(groups), cols=2, panel=(5.0, 4.4), extra_width=2.4)
    first = next(iter(fronts.values()))
    for ax, group, title in zip(axes, groups, titles, strict=False):
      exact = first["closed_form_grid"][:S].mean(0)
      ax.plot(*exact[:, :2].T, color="0.75", lw=5, label="closed form", zorder=1)
      for method in group:
        st = _plots.style(pareto_kl.METHODS.index(method))  # one style per method, both panels
        front = fronts[method]["front"][:S, :, :2]
        ax.plot(*front.mean(0).T, color=st["color"], ls=st["linestyle"], marker=st["marker"],
                ms=4, lw=1.2, label=method, zorder=4)  # fmt: skip
        for f in front:
          ax.plot(*f.T, ".", ms=2.5, alpha=0.3, color=st["color"], zorder=3)
      ax.set(
        xlabel="J1 = E r1 - kl_coef KL (maximized)",
        ylabel="J2 = E r2 - kl_coef KL (maximized)",
        title=f"kl: {title}",
      )
    _plots.legend_outside(fig)
    fig.suptitle(f"lines: mean over {S} seed(s) per weight ({sweep.labels()[0]}); dots: each seed")
    _plots.save(fig, path)


def run(
  config: ml_collections.ConfigDict, workdir: str, *, stop_after: int | None = None
) -> dict[str, Any]:
  """Runs the configured parts (resuming from ``workdir/<part>``); returns their results.

  Args:
    config: the ``pareto_front`` config (validated by ``train_lib.validate_config``).
    workdir: output directory.
    stop_after: stop every part after this step, as if preempted (tests resumption).

  Returns:
    ``{part: {"metrics": {name: {"values": [*axes, seed], "mean", "ci95"}}, "axes", ...}}``;
    the kl part is ``{"methods": {method: {"metrics", "models_trained", "wall_time_s", ...}},
    "closed_form": ...}``; ``None`` for llmfao when its GPT-4 file is missing.
  """
  results: dict[str, Any] = {}
  for name in common.names(config.parts):
    if name == "llmfao" and not os.path.isfile(config.llmfao.gpt4):
      print(
        f"skipping llmfao: no GPT-4 judgments at {config.llmfao.gpt4!r} (--config.llmfao.gpt4=FILE)"
      )
      results[name] = None
      continue
    if name == "kl":
      results[name], fronts, sweep = _run_kl(config, workdir, stop_after)
      common.write_results(workdir, results)
      if jax.process_index() == 0 and config.plot:
        path = os.path.join(workdir, "kl_fronts.png")
        _plot_kl(fronts, sweep, path)
        print("Wrote " + path)
      continue
    part = MAKERS[name](config)
    sweep = part_sweep(config, name)
    result, F, values, _ = _run_one(
      config, part, name, sweep, os.path.join(workdir, name), stop_after
    )
    out = {
      "axes": sweep.to_json(),
      "labels": sweep.labels(),
      "resumed_from": result.resumed_from,
      "steps_per_second": result.steps_per_second,
      "metrics": {k: common.stats(v) for k, v in values.items()},
    }
    if name == "llmfao":
      S, items = part.info["scores"], part.info["items"]
      nd = np.flatnonzero(np.asarray(pareto.nondominated_mask(S, sense="max")))
      out["pareto_optimal"] = [items[i] for i in nd[np.argsort(-S[nd, 0])]]
      out["judge_correlation"] = float(np.corrcoef(S[:, 0], S[:, 1])[0, 1])
      out["comparisons"] = part.info["counts"]
    results[name] = out
    common.write_results(workdir, results)  # A later part's failure keeps this one.
    if jax.process_index() == 0:
      _report(name, out["metrics"], sweep)
      if config.plot:
        paths = [
          os.path.join(workdir, f"{name}_fronts.png"),
          os.path.join(workdir, f"{name}_curves.png"),
        ]
        _plot(name, part, F, sweep, paths[0])
        training.plot_sweep_curves(result.history, result.log_steps, sweep, paths[1])
        print("Wrote " + ", ".join(paths))
  return results
