"""``train_and_evaluate(config, workdir)``: sets up the run and dispatches to the experiment."""

import json
import os
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
from absl import logging

from experiments import (
  lm_online,
  nash_convergence,
  nash_games,
  nash_sweep,
  pareto_front,
  policy_objectives,
  preference_models,
  social_choice,
)
from jaxpref import training

EXPERIMENTS: dict[str, Callable[[ml_collections.ConfigDict, str], dict[str, Any]]] = {
  "lm_online": lm_online.run,
  "nash_convergence": nash_convergence.run,
  "nash_games": nash_games.run,
  "nash_sweep": nash_sweep.run,
  "pareto_front": pareto_front.run,
  "policy_objectives": policy_objectives.run,
  "preference_models": preference_models.run,
  "social_choice": social_choice.run,
}
# Checks run before anything compiles (shapes, names, swept values).
VALIDATORS: dict[str, Callable[[ml_collections.ConfigDict], Any]] = {
  "lm_online": lm_online.validate,
  "nash_sweep": nash_sweep.validate,
  "pareto_front": pareto_front.validate,
  "policy_objectives": policy_objectives.validate,
  "preference_models": preference_models.validate,
  "social_choice": social_choice.validate,
}


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
    training.check_run_config(config)
  if name in VALIDATORS:
    VALIDATORS[name](config)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the experiment ``config.experiment`` and writes its outputs into ``workdir``.

  Args:
    config: the experiment config (``configs/<name>.py``).
    workdir: output directory, created if needed; ``config.json`` is written there first.
      Experiments without a ``vmap`` section get ``metrics.jsonl`` (the config at step 0, then
      every numeric result) and TensorBoard files there too; sweeps log through ``run_sweep``.

  Returns:
    The experiment's results (also written to ``workdir/results.json``).

  Raises:
    ValueError: if the config fails :func:`validate_config`.
  """
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
  if writes:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json(indent=2))
  logging.info(
    "experiment %s, process %d/%d, devices %s",
    name,
    jax.process_index(),
    jax.process_count(),
    jax.devices(),
  )
  if "vmap" in config:  # run_sweep logs hyperparameters and metrics itself
    results = EXPERIMENTS[name](config, workdir)
  else:
    tensorboard = bool(config.get("tensorboard", True))
    with training.MetricWriter(workdir, tensorboard=tensorboard) as writer:
      writer.write_hparams(json.loads(config.to_json()))
      results = EXPERIMENTS[name](config, workdir)
      writer.write_scalars(1, _numeric_leaves(results))
  if writes:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  return results
