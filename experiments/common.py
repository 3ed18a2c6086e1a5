"""Small helpers the experiments share: config name lists, result statistics, partial results."""

import json
import os
from typing import Any

import jax
import numpy as np

from jaxpref import training


def names(text: str) -> list[str]:
  """A config's list of names: ``"a+b"`` or ``"a, b"`` -> ``["a", "b"]``."""
  return [w.strip() for w in str(text).replace("+", ",").split(",") if w.strip()]


def floats(text: Any) -> list[float]:
  """A config's list of numbers: ``"1, 2,1e+3"`` -> ``[1.0, 2.0, 1000.0]`` (commas only)."""
  return [float(v) for v in str(text).split(",") if v.strip()]


def stats(values: Any) -> dict[str, Any]:
  """``{"values", "mean", "ci95"}`` of ``[*axes, seed]`` values, for a results.json."""
  values = np.asarray(values)
  s = training.summarize(values)
  return {"values": values.tolist(), "mean": s.mean.tolist(), "ci95": s.half_width.tolist()}


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
