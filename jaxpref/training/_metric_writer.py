"""Metric logs: one JSON line per log step plus TensorBoard event files, written by process 0.

``metrics.jsonl`` starts with a ``{"step": 0, "hparams": config, "sweep": axes}`` line. Each log
step then writes the raw per-point values with their ``[*axes, seed]`` shape, the mean over seeds
and the half-width of its 95% interval; TensorBoard gets the means, one tag per metric and
hyperparameter point (``gap/step_size=0.5 kl_coef=0.1``), and the config as text at step 0.
"""

import json
import os
import time
from typing import Any

import jax
import numpy as np

from jaxpref.training._sweep import Sweep, summarize
from jaxpref.training._tensorboard import EventFileWriter
from jaxpref.types import HostArray

METRICS_FILE = "metrics.jsonl"


def _jsonable(x: Any) -> Any:
  if isinstance(x, np.ndarray | np.generic):
    return np.where(np.isfinite(x), x, np.nan).tolist() if x.dtype.kind == "f" else x.tolist()
  return x


class MetricWriter:
  """Writes metrics of a run into ``workdir``; a no-op on processes other than 0.

  Args:
    workdir: the run's directory.
    tensorboard: also write TensorBoard event files under ``workdir/tensorboard``.
  """

  def __init__(self, workdir: str, *, tensorboard: bool = True):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, METRICS_FILE)
    self._tb = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      if tensorboard:
        self._tb = EventFileWriter(os.path.join(workdir, "tensorboard"))

  def _append(self, record: dict[str, Any]) -> None:
    with open(self.path, "a") as f:
      f.write(json.dumps(record, allow_nan=True) + "\n")

  def write_hparams(self, config: dict[str, Any], sweep: Sweep | None = None) -> None:
    """Logs the resolved config (and the sweep's axes) at step 0."""
    if not self.enabled:
      return
    record = {"step": 0, "time": time.time(), "hparams": config}
    if sweep is not None:
      record["sweep"] = sweep.to_json()
    self._append(record)
    if self._tb is not None:
      self._tb.text(0, "hparams", "```\n" + json.dumps(config, indent=2) + "\n```")
      self._tb.flush()

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    """Logs plain scalars (runs without a sweep)."""
    if not self.enabled:
      return
    self._append({"step": int(step), "time": time.time(), "scalars": scalars})
    if self._tb is not None:
      self._tb.scalars(step, scalars)
      self._tb.flush()

  def write_sweep(self, step: int, metrics: dict[str, HostArray], sweep: Sweep) -> None:
    """Logs per-point metrics shaped ``[*axes, seed]`` with their seed means and 95% intervals."""
    if not self.enabled:
      return
    record: dict[str, Any] = {"step": int(step), "time": time.time()}
    record["metrics"] = {k: _jsonable(np.asarray(v)) for k, v in metrics.items()}
    summaries = {k: summarize(v) for k, v in metrics.items()}
    record["mean"] = {k: _jsonable(s.mean) for k, s in summaries.items()}
    record["ci95"] = {k: _jsonable(s.half_width) for k, s in summaries.items()}
    self._append(record)
    if self._tb is not None:
      labels = sweep.labels()
      scalars = {}
      for name, s in summaries.items():
        means = np.asarray(s.mean).reshape(len(labels), -1)
        for label, row in zip(labels, means, strict=True):
          tag = name if len(labels) == 1 else f"{name}/{label}"
          if row.size == 1:
            scalars[tag] = float(row[0])
      self._tb.scalars(step, scalars)
      self._tb.flush()

  def reset(self) -> None:
    """Removes a previous run's ``metrics.jsonl`` (a fresh start overwrites its logs)."""
    if self.enabled and os.path.exists(self.path):
      os.remove(self.path)

  def truncate_after(self, step: int) -> None:
    """Drops logged lines past ``step`` (a resumed run rewrites them)."""
    if not self.enabled or not os.path.exists(self.path):
      return
    with open(self.path) as f:
      lines = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(self.path, "w") as f:
      f.writelines(lines)

  def close(self) -> None:
    """Closes the TensorBoard file."""
    if self._tb is not None:
      self._tb.close()


def read_metrics(path: str) -> list[dict[str, Any]]:
  """Reads a ``metrics.jsonl`` file (or the one in a workdir) into a list of records."""
  if os.path.isdir(path):
    path = os.path.join(path, METRICS_FILE)
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
