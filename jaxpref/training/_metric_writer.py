"""Metric logs: one JSON line per log step plus TensorBoard event files, written by process 0.

``metrics.jsonl`` starts with a ``{"step": 0, "hparams": config, "sweep": axes}`` line. Each log
step then writes the raw per-point values with their ``[*axes, seed]`` shape, the mean over seeds
and the half-width of its 95% interval.

TensorBoard files are written by ``tensorboardX.SummaryWriter`` under ``workdir/tensorboard``:
the seed means, one scalar tag per metric and hyperparameter point, and the config as text at
step 0 (tag ``hparams/text_summary``). Tags keep TensorBoard's character set (letters, digits,
``_-./``), every other character becomes ``_``: the point ``kl_coef=0.1 step_size=2`` of
``gap`` is the tag ``gap/kl_coef_0.1_step_size_2``. A resumed run's new event file hides the
previous files' events past the resumed step (``purge_step``), as ``metrics.jsonl`` drops them.
"""

import json
import os
import re
import time
from typing import Any

import jax
import numpy as np
import tensorboardX

from jaxpref.training._sweep import Sweep, summarize
from jaxpref.types import HostArray

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
_NOT_IN_TAGS = re.compile(r"[^-/\w.]")


def _tensorboard_tag(name: str) -> str:
  """``name`` with every character TensorBoard does not allow in a tag replaced by ``_``.

  Args:
    name: a metric name, possibly with a ``/``-separated point label.

  Returns:
    The tag the scalars are written under.
  """
  return _NOT_IN_TAGS.sub("_", name).lstrip("/")


def _jsonable(x: Any) -> Any:
  if isinstance(x, np.ndarray | np.generic):
    return np.where(np.isfinite(x), x, np.nan).tolist() if x.dtype.kind == "f" else x.tolist()
  return x


class MetricWriter:
  """Writes metrics of a run into ``workdir``; a no-op on processes other than 0.

  Use it as a context manager (or call :meth:`close`): closing writes the TensorBoard events still
  queued in ``tensorboardX``'s writer thread.

  Args:
    workdir: the run's directory.
    tensorboard: also write TensorBoard event files under ``workdir/tensorboard``.
  """

  def __init__(self, workdir: str, *, tensorboard: bool = True):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, METRICS_FILE)
    self.tensorboard_dir = os.path.join(workdir, TENSORBOARD_DIR) if tensorboard else None
    self._tb: tensorboardX.SummaryWriter | None = None
    self._purge_step: int | None = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)

  def _tensorboard(self) -> tensorboardX.SummaryWriter | None:
    """The event-file writer, opened at the first write (after any :meth:`truncate_after`)."""
    if self._tb is None and self.enabled and self.tensorboard_dir is not None:
      self._tb = tensorboardX.SummaryWriter(
        self.tensorboard_dir,
        purge_step=self._purge_step,
        flush_secs=10,
        # Unique and in time order, so TensorBoard reads a resumed run's file after the old ones.
        filename_suffix=f".{time.time_ns()}",
      )
    return self._tb

  def __enter__(self) -> "MetricWriter":
    return self

  def __exit__(self, *exc_info: object) -> None:
    self.close()

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
    tb = self._tensorboard()
    if tb is not None:
      tb.add_text("hparams", "```\n" + json.dumps(config, indent=2) + "\n```", 0)
      tb.flush()

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    """Logs plain scalars (runs without a sweep)."""
    if not self.enabled:
      return
    self._append({"step": int(step), "time": time.time(), "scalars": scalars})
    self._write_tensorboard(step, scalars)

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
    if self.tensorboard_dir is not None:
      labels = sweep.labels()
      scalars = {}
      for name, s in summaries.items():
        means = np.asarray(s.mean).reshape(len(labels), -1)
        for label, row in zip(labels, means, strict=True):
          tag = name if len(labels) == 1 else f"{name}/{label}"
          if row.size == 1:
            scalars[tag] = float(row[0])
      self._write_tensorboard(step, scalars)

  def _write_tensorboard(self, step: int, scalars: dict[str, float]) -> None:
    tb = self._tensorboard()
    if tb is None:
      return
    for name, value in scalars.items():
      tb.add_scalar(_tensorboard_tag(name), float(value), int(step))
    tb.flush()

  def reset(self) -> None:
    """Starts the logs afresh: removes ``metrics.jsonl``, hides earlier TensorBoard events.

    Call it before the first write: TensorBoard drops the events of earlier files in the
    directory (they stay on disk) once it reads the new file.
    """
    self._purge_step = 0
    if self.enabled and os.path.exists(self.path):
      os.remove(self.path)

  def truncate_after(self, step: int) -> None:
    """Drops logged lines past ``step`` and hides later TensorBoard events (a resumed run).

    Call it before the first write; the resumed run logs those steps again.

    Args:
      step: the last step to keep (the checkpoint resumed from).
    """
    self._purge_step = int(step) + 1
    if not self.enabled or not os.path.exists(self.path):
      return
    with open(self.path) as f:
      lines = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(self.path, "w") as f:
      f.writelines(lines)

  def close(self) -> None:
    """Writes pending TensorBoard events and closes the file (idempotent)."""
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def read_metrics(path: str) -> list[dict[str, Any]]:
  """Reads a ``metrics.jsonl`` file (or the one in a workdir) into a list of records."""
  if os.path.isdir(path):
    path = os.path.join(path, METRICS_FILE)
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
