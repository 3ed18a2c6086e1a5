"""Experiment machinery: vectorized sweeps, sharding backends, checkpoints, metric logs, plots.

:func:`run_sweep` runs a per-point :class:`Program` at every point of a :class:`Sweep` (a typed
hyperparameter pytree x swept axes x seeds, :func:`make_sweep`) inside one compiled program, reads
no config, shards the points over a device mesh (``jit`` + ``NamedSharding``, ``shard_map`` or
``pmap``; within a point, ``data`` / ``fsdp`` axes split a large model's batch and parameters:
:func:`shard_batch`, :func:`shard_params`), resumes exactly from Orbax checkpoints, and logs
JSONL + TensorBoard (through ``tensorboardX``). The library prints nothing: progress lines are
logged with absl ``logging`` and handed to a :func:`progress_hook` that an application (the
experiment CLI) installs to show them.
"""

from jaxpref.training._checkpoint import (
  Checkpointer,
  CheckpointError,
  IncompatibleCheckpointError,
  fingerprint,
)
from jaxpref.training._loop import (
  Program,
  SweepResult,
  check_run_options,
  log_schedule,
  run_sweep,
)
from jaxpref.training._metric_writer import METRICS_FILE, MetricWriter, read_metrics
from jaxpref.training._plots import plot_interval_bars, plot_sweep_curves
from jaxpref.training._report import progress_hook
from jaxpref.training._sharding import (
  BACKENDS,
  PointMapper,
  param_spec,
  shard_batch,
  shard_params,
)
from jaxpref.training._sweep import (
  Summary,
  Sweep,
  hparam_fields,
  make_sweep,
  point_sweep,
  seed_keys,
  summarize,
  sweep_points,
  unflatten,
)

__all__ = [
  "BACKENDS",
  "METRICS_FILE",
  "CheckpointError",
  "Checkpointer",
  "IncompatibleCheckpointError",
  "MetricWriter",
  "PointMapper",
  "Program",
  "Summary",
  "Sweep",
  "SweepResult",
  "check_run_options",
  "fingerprint",
  "hparam_fields",
  "log_schedule",
  "make_sweep",
  "param_spec",
  "plot_interval_bars",
  "plot_sweep_curves",
  "point_sweep",
  "progress_hook",
  "read_metrics",
  "run_sweep",
  "seed_keys",
  "shard_batch",
  "shard_params",
  "summarize",
  "sweep_points",
  "unflatten",
]
