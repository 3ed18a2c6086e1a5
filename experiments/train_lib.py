"""``train_and_evaluate(config, workdir)``: sets up the run and dispatches to the experiment."""

import json
import os
from types import ModuleType
from typing import Any

import jax
import ml_collections
from absl import logging

from experiments import (
  arena,
  common,
  curriculum,
  dueling_bandits,
  lm_offline,
  lm_online,
  nash_convergence,
  nash_games,
  nash_sweep,
  overoptimization,
  pareto_front,
  pareto_lm,
  personalization,
  pluralistic_policy,
  policy_objectives,
  preference_models,
  rankings,
  social_choice,
  spo_sequential,
)
from jaxpref import training

# Experiment modules by name: each has ``run(config, workdir)``. Their functions are looked up when
# called, not at import: nash_sweep imports this module for the config adaptor below, so it may be
# half-imported while this module runs (and a test can monkeypatch an experiment's functions).
EXPERIMENTS: dict[str, ModuleType] = {
  "arena": arena,
  "curriculum": curriculum,
  "dueling_bandits": dueling_bandits,
  "lm_offline": lm_offline,
  "lm_online": lm_online,
  "nash_convergence": nash_convergence,
  "nash_games": nash_games,
  "nash_sweep": nash_sweep,
  "overoptimization": overoptimization,
  "personalization": personalization,
  "pareto_front": pareto_front,
  "pareto_lm": pareto_lm,
  "pluralistic_policy": pluralistic_policy,
  "policy_objectives": policy_objectives,
  "preference_models": preference_models,
  "rankings": rankings,
  "social_choice": social_choice,
  "spo_sequential": spo_sequential,
}
# Experiments with a ``validate(config)`` check, run before anything compiles (shapes, names,
# swept values).
VALIDATED = (
  "arena",
  "curriculum",
  "dueling_bandits",
  "lm_offline",
  "lm_online",
  "nash_convergence",
  "nash_sweep",
  "overoptimization",
  "personalization",
  "pareto_front",
  "pareto_lm",
  "pluralistic_policy",
  "policy_objectives",
  "preference_models",
  "rankings",
  "social_choice",
  "spo_sequential",
)


def _numeric_leaves(tree: Any, prefix: str = "") -> dict[str, float]:
  """``{"a/b/c": value}`` for every int/float leaf of nested dicts (for scalar logs)."""
  out: dict[str, float] = {}
  if isinstance(tree, dict):
    for key, value in tree.items():
      out.update(_numeric_leaves(value, f"{prefix}{key}/"))
  elif isinstance(tree, int | float) and not isinstance(tree, bool):
    out[prefix.rstrip("/")] = float(tree)
  return out


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` naming the problem if ``config`` cannot run; compiles nothing.

  Args:
    config: an experiment config.

  Raises:
    ValueError: on an unknown experiment, an invalid ``vmap`` section, or an experiment's own check.
  """
  name = config.get("experiment")
  if name not in EXPERIMENTS:
    raise ValueError(f"Unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))}.")
  if "vmap" in config:
    check_run_config(config)
  if name in VALIDATED:
    EXPERIMENTS[name].validate(config)


def train_and_evaluate(
  config: ml_collections.ConfigDict, workdir: str, *, validated: bool = False
) -> dict[str, Any]:
  """Runs the experiment ``config.experiment`` and writes its outputs into ``workdir``.

  Args:
    config: the experiment config (``configs/<name>.py``).
    workdir: output directory, created if needed; ``config.json`` is written there first (or,
      when the workdir already has one, after the run: a refused resumption changes nothing).
      Experiments without a ``vmap`` section get ``metrics.jsonl`` (the config at step 0, then
      every numeric result) and TensorBoard files there too; sweeps log through ``run_sweep``.
    validated: the caller has already run :func:`validate_config` on ``config`` (the CLI does, to
      report a bad config before anything starts), so it is not run twice.

  Returns:
    The experiment's results (also written to ``workdir/results.json``).

  Raises:
    ValueError: if the config fails :func:`validate_config`.
  """
  if not validated:
    validate_config(config)
  # The experiment's precision holds for this call only: an in-process caller (a test, a
  # notebook) gets its own setting back afterwards.
  previous_x64 = bool(jax.config.jax_enable_x64)
  jax.config.update("jax_enable_x64", bool(config.get("x64", False)))
  try:
    return _run(config, workdir)
  finally:
    jax.config.update("jax_enable_x64", previous_x64)


def _run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  name = config.experiment
  os.makedirs(workdir, exist_ok=True)
  writes = jax.process_index() == 0
  config_path = os.path.join(workdir, "config.json")
  # A workdir's config.json describes its checkpoints: an existing one is replaced only after the
  # run has been accepted (a refused run leaves the workdir as it was).
  deferred = os.path.exists(config_path)
  if writes and not deferred:
    with open(config_path, "w") as f:
      f.write(config.to_json(indent=2))
  logging.info(
    "experiment %s, process %d/%d, devices %s",
    name,
    jax.process_index(),
    jax.process_count(),
    jax.devices(),
  )
  if "vmap" in config:  # run_sweep logs hyperparameters and metrics itself
    results = EXPERIMENTS[name].run(config, workdir)
  else:
    tensorboard = bool(config.get("tensorboard", True))
    with training.MetricWriter(workdir, tensorboard=tensorboard) as writer:
      writer.write_hparams(json.loads(config.to_json()))
      results = EXPERIMENTS[name].run(config, workdir)
      writer.write_scalars(1, _numeric_leaves(results))
  if writes and deferred:
    with open(config_path, "w") as f:
      f.write(config.to_json(indent=2))
  common.write_results(workdir, results)  # The one writer of results.json (process 0, atomic).
  return results


# --- The one adaptor from an experiment config to the engine's typed arguments. ---------------

# Config sections that may change between a run and its resumption (they do not change results).
RESUMABLE_CHANGES = ("log", "checkpoint", "mesh", "plot")


def _leaves(node: ml_collections.ConfigDict, prefix: str = "") -> list[tuple[str, Any]]:
  out = []
  for key in node:
    value = node[key]
    path = f"{prefix}{key}"
    if isinstance(value, ml_collections.ConfigDict):
      out.extend(_leaves(value, path + "."))
    else:
      out.append((path, value))
  return out


def _config_field(config: ml_collections.ConfigDict, path: str) -> Any:
  node = config
  for part in path.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ValueError(
        f"config.vmap.axes.{path}: the config has no field {path!r} to sweep "
        "(axes mirror the config: vmap.axes.solver.step_size sweeps solver.step_size)."
      )
    node = node[part]
  return node


def config_hparams(config: ml_collections.ConfigDict, fields: dict[str, str], cls: Any) -> Any:
  """The typed hyperparameters ``cls(**{name: config.<path>})`` for ``fields = {path: name}``."""
  return cls(**{name: _config_field(config, path) for path, name in fields.items()})


def sweep_from_config(
  config: ml_collections.ConfigDict,
  hparams: Any = None,
  fields: dict[str, str] | None = None,
) -> training.Sweep:
  """Reads ``config.vmap`` into a :class:`~jaxpref.training.Sweep` (compiles nothing).

  Args:
    config: an experiment config with ``seed`` and an optional ``vmap`` section.
    hparams: the experiment's typed hyperparameters; ``None`` for a ``{config path: value}`` dict
      of the swept fields.
    fields: ``{config path: hyperparameter path}``: which config fields are vmappable and where
      they land in ``hparams`` (identity when ``None``).

  Returns:
    The sweep.

  Raises:
    ValueError: on a bad seed count or offset, an axis naming no config field or a field that is
      not vmappable (the vmappable ones are listed), a non-numeric field, an empty axis, values
      that are not finite numbers.
  """
  vmap = config.get("vmap")
  seed = int(config.get("seed", 0))
  if vmap is None:
    return training.make_sweep({} if hparams is None else hparams, seed=seed)
  seeds, offset = vmap.get("seeds", 1), vmap.get("seed_offset", 0)
  if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
    raise ValueError(f"config.vmap.seeds must be an integer >= 1, got {seeds!r}.")
  if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
    raise ValueError(f"config.vmap.seed_offset must be an integer >= 0, got {offset!r}.")
  axes_cfg = vmap.get("axes") or ml_collections.ConfigDict()
  leaves = _leaves(axes_cfg)
  for path, _ in leaves:
    default = _config_field(config, path)
    if isinstance(default, bool) or not isinstance(default, int | float):
      raise ValueError(
        f"config.vmap.axes.{path}: only numeric fields can be vmapped (got "
        f"{type(default).__name__}); sweep it as a static axis in the config's sweep()."
      )
    if fields is not None and path not in fields:
      raise ValueError(
        f"config.vmap.axes.{path}: {path} is not a vmappable hyperparameter of this experiment; "
        f"vmappable: {sorted(fields)}."
      )
  if hparams is None:
    hparams = {path: _config_field(config, path) for path, _ in leaves}
    fields = {path: path for path, _ in leaves}
  fields = fields or {path: path for path, _ in leaves}
  axes = {}
  for path, raw in leaves:
    if isinstance(raw, ml_collections.FieldReference):
      raw = raw.get()
    try:
      axes[fields[path]] = tuple(raw) if isinstance(raw, list) else raw
    except TypeError:
      axes[fields[path]] = raw
  try:
    return training.make_sweep(hparams, axes=axes, seeds=seeds, seed=seed, seed_offset=offset)
  except ValueError as e:
    names = {v: k for k, v in fields.items()}
    message = str(e)
    for name, path in names.items():
      message = message.replace(f"axis {name!r}", f"config.vmap.axes.{path}")
    raise ValueError(message) from None


def point_config(
  config: ml_collections.ConfigDict, sweep: training.Sweep, index: int, fields: dict[str, str]
) -> ml_collections.ConfigDict:
  """The config of point ``index`` alone: its values set, one seed, no vmapped axes.

  Args:
    config: the sweep's config.
    sweep: its sweep.
    index: a flat point index in ``[0, N)``.
    fields: ``{config path: hyperparameter path}`` as for :func:`sweep_from_config`.

  Returns:
    A new ConfigDict; its ``vmap.seed_offset`` holds the point's seed index.
  """
  points, seeds = training.sweep_points(sweep)
  values = training.hparam_fields(points)
  out = ml_collections.ConfigDict(config.to_dict())
  for path, name in fields.items():
    node = out
    *parents, leaf = path.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = type(node[leaf])(values[name][index].item())
  out.vmap.axes = ml_collections.ConfigDict()
  out.vmap.seeds = 1
  out.vmap.seed_offset = int(seeds[index])
  return out


def run_options(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The engine's keyword arguments from ``steps`` and the ``mesh``/``log``/``checkpoint`` sections.

  The provenance a resumed run must match is the config without the sections that may change
  between a run and its resumption (:data:`RESUMABLE_CHANGES`).
  """
  provenance = {k: v for k, v in json.loads(config.to_json()).items() if k not in RESUMABLE_CHANGES}
  return {
    "steps": int(config.steps),
    "log_every": int(config.log.every),
    "checkpoint_every": int(config.checkpoint.every),
    "max_to_keep": int(config.checkpoint.max_to_keep),
    "async_save": bool(config.checkpoint.async_save),
    "backend": str(config.mesh.backend),
    "devices": int(config.mesh.devices),
    "data": int(config.mesh.get("data", 1)),  # within-point axes (the language-model configs)
    "fsdp": int(config.mesh.get("fsdp", 1)),
    "tensorboard": bool(config.log.tensorboard),
    "progress_seconds": float(config.log.progress_seconds),
    "provenance": provenance,
  }


def check_run_config(config: ml_collections.ConfigDict) -> None:
  """Validates the run sections (steps, mesh, log, checkpoint, vmap) before anything compiles."""
  options = run_options(config)
  training.check_run_options(
    steps=options["steps"],
    log_every=options["log_every"],
    checkpoint_every=options["checkpoint_every"],
    backend=options["backend"],
    devices=options["devices"],
  )
  sweep_from_config(config)
