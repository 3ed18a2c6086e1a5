"""``train_and_evaluate(config, workdir)``: sets up the run and dispatches to the experiment."""

import json
import os
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
from absl import logging

from experiments import nash_convergence, nash_games, nash_sweep

EXPERIMENTS: dict[str, Callable[[ml_collections.ConfigDict, str], dict[str, Any]]] = {
  "nash_convergence": nash_convergence.run,
  "nash_games": nash_games.run,
  "nash_sweep": nash_sweep.run,
}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the experiment ``config.experiment`` and writes its outputs into ``workdir``.

  Args:
    config: the experiment config (``configs/<name>.py``).
    workdir: output directory, created if needed; ``config.json`` is written there first.

  Returns:
    The experiment's results (also written to ``workdir/results.json``).

  Raises:
    ValueError: if ``config.experiment`` names no known experiment.
  """
  name = config.experiment
  if name not in EXPERIMENTS:
    raise ValueError(f"Unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))}.")
  jax.config.update("jax_enable_x64", bool(config.get("x64", False)))
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json(indent=2))
  logging.info("experiment %s, devices %s", name, jax.devices())
  results = EXPERIMENTS[name](config, workdir)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  return results
