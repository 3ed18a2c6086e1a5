"""Experiment machinery: vectorized sweeps, sharding backends, checkpoints, metric logs, plots.

:func:`run_sweep` runs a per-point :class:`Program` at every point of the config's sweep
(hyperparameter axes x seeds) inside one compiled program, shards the points over a device mesh
(``jit`` + ``NamedSharding``, ``shard_map`` or ``pmap``), resumes exactly from Orbax checkpoints,
and logs JSONL + TensorBoard (through ``tensorboardX``). The library prints nothing: progress
lines are logged with absl ``logging`` and handed to a :func:`progress_hook` that an application
(the experiment CLI) installs to show them.
"""

from jaxpref.training._checkpoint import (
  Checkpointer,
  CheckpointError,
  IncompatibleCheckpointError,
  fingerprint,
)
from jaxpref.training._loop import (
  RESUMABLE_CHANGES,
  Program,
  SweepResult,
  check_run_config,
  run_sweep,
)
from jaxpref.training._metric_writer import METRICS_FILE, MetricWriter, read_metrics
from jaxpref.training._plots import plot_sweep_curves
from jaxpref.training._report import progress_hook
from jaxpref.training._sharding import BACKENDS, PointMapper
from jaxpref.training._sweep import (
  Summary,
  Sweep,
  point_config,
  seed_keys,
  summarize,
  sweep_from_config,
  sweep_points,
  unflatten,
)

__all__ = [
  "BACKENDS",
  "METRICS_FILE",
  "RESUMABLE_CHANGES",
  "CheckpointError",
  "Checkpointer",
  "IncompatibleCheckpointError",
  "MetricWriter",
  "PointMapper",
  "Program",
  "Summary",
  "Sweep",
  "SweepResult",
  "check_run_config",
  "fingerprint",
  "plot_sweep_curves",
  "point_config",
  "progress_hook",
  "read_metrics",
  "run_sweep",
  "seed_keys",
  "summarize",
  "sweep_from_config",
  "sweep_points",
  "unflatten",
]
