r"""``run_sweep``: a program run at every sweep point in one compiled, sharded, resumable loop.

A :class:`Program` is written for **one** point: ``init(hparams, key)`` builds its state,
``step(state, hparams, t)`` advances it one iteration and ``metrics(state, hparams)`` reads what
to log. :func:`run_sweep` ``vmap``\s it over the sweep's ``N`` points (hyperparameters outer, seeds
inner), shards the point axis over the devices of ``config.mesh``, and runs ``config.steps``
iterations as a ``lax.scan`` in chunks of ``config.log.every`` steps. Between chunks the host logs
metrics (JSONL, TensorBoard), reports progress with steps/s and ETA (logged, and passed to the
:func:`progress_hook` a caller such as the CLI installs to print it) and saves checkpoints.

The chunk boundaries depend only on the config, never on where a run was interrupted, so a run
resumed from a checkpoint executes the same compiled chunks in the same order as an uninterrupted
one and ends bit for bit identical (tested on CPU). Metric history lives in the checkpointed state,
so curves survive a restart too.

Config fields read (``configs/common.py::add_run_sections`` documents and fills them): ``seed``,
``steps``, ``vmap.{seeds, seed_offset, axes}``, ``mesh.{backend, devices}``,
``log.{every, tensorboard, progress_seconds}``, ``checkpoint.{every, max_to_keep, async_save}``.
"""

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from jaxpref.training._checkpoint import Checkpointer, IncompatibleCheckpointError
from jaxpref.training._metric_writer import MetricWriter
from jaxpref.training._report import report
from jaxpref.training._sharding import BACKENDS, PointMapper
from jaxpref.training._sweep import Sweep, seed_keys, sweep_from_config, sweep_points, unflatten
from jaxpref.types import Array, HostArray, PRNGKey, PyTree

# Config sections that may change between a run and its resumption (they do not change results).
RESUMABLE_CHANGES = ("log", "checkpoint", "mesh", "plot")


class Program(NamedTuple):
  """What runs at one sweep point.

  Attributes:
    init: ``init(hparams, key) -> state``; ``hparams`` maps each swept config path to a scalar.
    step: ``step(state, hparams, t) -> state`` for iteration ``t`` (a traced int32).
    metrics: ``metrics(state, hparams) -> {name: scalar}``, read at every log step.
  """

  init: Callable[[dict[str, Array], PRNGKey], PyTree]
  step: Callable[[PyTree, dict[str, Array], Array], PyTree]
  metrics: Callable[[PyTree, dict[str, Array]], dict[str, Array]]


class SweepResult(NamedTuple):
  """Results of :func:`run_sweep`, with leading ``[*axes, seed]`` axes (host NumPy arrays).

  Attributes:
    state: the final per-point state (PRNG keys as raw data).
    history: ``{metric: [*axes, seed, num_logs]}``.
    log_steps: ``[num_logs]`` the step of each logged value.
    sweep: the grid.
    resumed_from: the checkpoint step the run resumed from, or ``None``.
    steps_per_second: iterations per second of the last uninterrupted stretch (all points).
  """

  state: PyTree
  history: dict[str, HostArray]
  log_steps: HostArray
  sweep: Sweep
  resumed_from: int | None
  steps_per_second: float


class _Carry(NamedTuple):
  state: PyTree
  history: dict[str, Array]


@dataclasses.dataclass(frozen=True)
class _Schedule:
  steps: int
  log_every: int
  checkpoint_every: int

  @property
  def log_steps(self) -> HostArray:
    ends = [*range(self.log_every, self.steps, self.log_every), self.steps]
    return np.asarray(ends, np.int64)


def _schedule(config: ml_collections.ConfigDict) -> _Schedule:
  steps, every = int(config.steps), int(config.log.every)
  ckpt = int(config.checkpoint.every)
  if steps < 1:
    raise ValueError(f"config.steps must be >= 1, got {steps}.")
  if every < 1:
    raise ValueError(f"config.log.every must be >= 1, got {every}.")
  if ckpt < 0 or (ckpt and ckpt % every):
    raise ValueError(
      f"config.checkpoint.every={ckpt} must be 0 (off) or a multiple of config.log.every={every}."
    )
  return _Schedule(steps, every, ckpt)


def check_run_config(config: ml_collections.ConfigDict) -> Sweep:
  """Validates the sections :func:`run_sweep` reads, compiling nothing.

  Args:
    config: an experiment config with ``steps``, ``vmap``, ``mesh``, ``log`` and ``checkpoint``.

  Returns:
    The config's :class:`Sweep`.

  Raises:
    ValueError: naming the first invalid field.
  """
  _schedule(config)
  if config.mesh.backend not in BACKENDS:
    raise ValueError(
      f"Unknown mesh backend {config.mesh.backend!r}; choose one of {', '.join(BACKENDS)}."
    )
  if int(config.mesh.devices) == 0 or int(config.mesh.devices) < -1:
    raise ValueError(f"config.mesh.devices must be -1 (all) or >= 1, got {config.mesh.devices}.")
  return sweep_from_config(config)


def _config_diff(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
  out = []
  for key in sorted(set(saved) | set(current)):
    path = f"{prefix}{key}"
    if not prefix and key in RESUMABLE_CHANGES:
      continue
    a, b = saved.get(key), current.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      out.extend(_config_diff(a, b, path + "."))
    elif a != b:
      out.append(f"{path}: checkpoint {a!r}, now {b!r}")
  return out


def _progress(name: str, step: int, total: int, rate: float, points: int, extra: str) -> str:
  eta = (total - step) / rate if rate > 0 else float("nan")
  return (
    f"[{name}] step {step}/{total} ({100 * step / total:.0f}%)  {rate:,.0f} steps/s  "
    f"{rate * points:,.0f} point-steps/s  ETA {eta:.1f}s  {extra}"
  )


def run_sweep(
  program: Program,
  config: ml_collections.ConfigDict,
  workdir: str,
  *,
  name: str = "run",
  stop_after: int | None = None,
) -> SweepResult:
  """Runs ``program`` at every point of the config's sweep, resuming from ``workdir`` if possible.

  Args:
    program: the per-point :class:`Program`.
    config: the experiment config (see the module docstring for the fields read).
    workdir: output directory: ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/``.
    name: the label of progress lines.
    stop_after: stop (as if preempted) after the chunk that reaches this step, once its
      checkpoint is written; used to test resumption.

  Returns:
    A :class:`SweepResult` (also complete when the run resumed).

  Raises:
    ValueError: on an invalid config (before anything compiles), or when ``workdir`` holds a
      checkpoint of a different config.
    jaxpref.training.CheckpointError: when checkpoints exist but none is readable.
  """
  sweep = check_run_config(config)
  schedule = _schedule(config)
  hparams_host, seeds = sweep_points(sweep)
  mapper = PointMapper(config.mesh.backend, sweep.num_points, int(config.mesh.devices))
  # Hyperparameters in the run's float dtype; keys as raw data so every backend can place them.
  dtype = jnp.zeros(()).dtype
  hparams_host = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in hparams_host.items()}
  keys = jax.random.key_data(seed_keys(sweep.seed, seeds))
  points = (mapper.put(hparams_host), mapper.put(keys))
  num_logs = len(schedule.log_steps)

  def init_carry(args):
    hp, key = args
    state = program.init(hp, jax.random.wrap_key_data(key))
    values = program.metrics(state, hp)
    history = jax.tree.map(lambda v: jnp.zeros((num_logs, *v.shape), v.dtype), values)
    return _Carry(state, history)

  def chunk_point(length):
    def run(args, start, log_index):
      (state, history), hp = args
      state = jax.lax.fori_loop(
        0, length, lambda i, s: program.step(s, hp, start + i), state, unroll=False
      )
      values = program.metrics(state, hp)
      history = jax.tree.map(lambda h, v: h.at[log_index].set(v), history, values)
      return _Carry(state, history), values

    return run

  init_fn = mapper.map(init_carry)
  chunk_fns: dict[int, Callable[..., Any]] = {}
  # Traced, not compiled: the checks below and the tree checkpoints are restored into.
  abstract = mapper.to_canonical(jax.eval_shape(init_fn, points))
  not_scalar = [k for k, h in abstract.history.items() if h.ndim > 2]  # [points, logs, ...]
  if not_scalar:
    raise ValueError(f"Program.metrics must return scalars; {not_scalar} are not.")

  with contextlib.ExitStack() as stack:
    ckpt = None
    if schedule.checkpoint_every:
      ckpt = Checkpointer(
        os.path.join(workdir, "checkpoints"),
        max_to_keep=int(config.checkpoint.max_to_keep),
        async_save=bool(config.checkpoint.async_save),
      )
      # Closed however the loop ends (an error, Ctrl-C): pending saves finish, so a rerun resumes.
      stack.callback(ckpt.close)
    writer = stack.enter_context(MetricWriter(workdir, tensorboard=bool(config.log.tensorboard)))
    config_dict = json.loads(config.to_json())
    restored = None
    if ckpt is not None:
      abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=mapper.canonical_sharding()),
        abstract,
      )

      def check(meta: dict[str, Any]) -> None:
        diff = _config_diff(meta["config"], config_dict)
        if diff:
          raise IncompatibleCheckpointError(
            f"{workdir} holds a checkpoint of a different run ({'; '.join(diff)}); "
            "use a new --workdir or restore the config."
          )
        if meta["padded_points"] != mapper.padded:
          raise IncompatibleCheckpointError(
            f"The checkpoint in {workdir} has {meta['padded_points']} padded points but this mesh "
            f"pads to {mapper.padded}; resume with the same number of devices."
          )

      restored = ckpt.restore(abstract, check=check)
    if restored is None:
      step, resumed_from = 0, None
      writer.reset()
      carry = init_fn(points)
      writer.write_hparams(config_dict, sweep)
    else:
      step, carry, _ = restored
      carry = mapper.from_canonical(carry)
      resumed_from = step
      writer.truncate_after(step)
      report(f"[{name}] resumed from checkpoint step {step} in {workdir}")
    logging.info(
      "%s: %d points (%s), backend %s on %d device(s), %d steps",
      name,
      sweep.num_points,
      "x".join(map(str, sweep.shape)),
      mapper.backend,
      mapper.num_devices,
      schedule.steps,
    )

    # The rate excludes the first chunk (it includes compilation) once a later one has run.
    t0, steps_done, rate, last_report = time.perf_counter(), 0, 0.0, -float("inf")
    log_steps = schedule.log_steps
    first_log = int(np.searchsorted(log_steps, step, side="right"))
    for log_index in range(first_log, num_logs):
      end = int(log_steps[log_index])
      length = end - step
      if length not in chunk_fns:
        chunk_fns[length] = mapper.map(chunk_point(length), num_broadcast=2)
      carry, values = chunk_fns[length](
        (carry, points[0]), mapper.broadcast(np.int32(step)), mapper.broadcast(np.int32(log_index))
      )
      values = unflatten(mapper.to_host(values), sweep)
      now = time.perf_counter()
      if log_index == first_log:
        rate = length / (now - t0)
        t0 = now
      else:
        steps_done += length
        rate = steps_done / (now - t0)
      step = end
      writer.write_sweep(step, values, sweep)
      every = float(config.log.progress_seconds)
      due_report = every >= 0 and (now - last_report >= every or step == schedule.steps)
      if due_report and jax.process_index() == 0:
        last_report = now
        first = next(iter(values), None)
        extra = f"{first} {float(np.nanmean(values[first])):.3e} (mean)" if first else ""
        report(_progress(name, step, schedule.steps, rate, sweep.num_points, extra))
      due = ckpt is not None and (step % schedule.checkpoint_every == 0 or step == schedule.steps)
      if due:
        meta = {
          "config": config_dict,
          "sweep": sweep.to_json(),
          "padded_points": mapper.padded,
          "data_position": step,
        }
        ckpt.save(step, mapper.to_canonical(carry), meta)
      if stop_after is not None and step >= stop_after:
        break
  state, history = mapper.to_host(carry)
  history = {k: np.moveaxis(v, 1, -1) for k, v in history.items()}
  return SweepResult(
    state=unflatten(state, sweep),
    history=unflatten(history, sweep),
    log_steps=log_steps,
    sweep=sweep,
    resumed_from=resumed_from,
    steps_per_second=rate,
  )
