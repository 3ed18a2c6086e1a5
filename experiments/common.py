"""Small helpers the experiments share: config name lists and result statistics."""

from typing import Any

import numpy as np

from jaxpref import training


def names(text: str) -> list[str]:
  """A config's list of names: ``"a+b"`` or ``"a, b"`` -> ``["a", "b"]``."""
  return [w.strip() for w in str(text).replace("+", ",").split(",") if w.strip()]


def stats(values: Any) -> dict[str, Any]:
  """``{"values", "mean", "ci95"}`` of ``[*axes, seed]`` values, for a results.json."""
  values = np.asarray(values)
  s = training.summarize(values)
  return {"values": values.tolist(), "mean": s.mean.tolist(), "ci95": s.half_width.tolist()}
