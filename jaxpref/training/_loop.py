r"""``run_sweep``: a program run at every sweep point in one compiled, sharded, resumable loop.

A :class:`Program` is written for **one** point: ``init(hparams, key)`` builds its state,
``step(state, hparams, t)`` advances it one iteration and ``metrics(state, hparams)`` reads what
to log; ``hparams`` is the sweep's typed hyperparameter pytree with scalar (traced) leaves.
:func:`run_sweep` ``vmap``\s it over the sweep's ``N`` points (hyperparameters outer, seeds
inner), shards the point axis over a device mesh, and runs ``steps`` iterations as ``fori_loop``
chunks of ``log_every`` steps. Between chunks host-side hooks log metrics (JSONL, TensorBoard),
report progress with steps/s and an ETA that excludes compilation (logged, and passed to the
:func:`progress_hook` a caller such as the CLI installs to print it) and save checkpoints.

The chunk boundaries depend only on ``steps`` and ``log_every``, never on where a run was
interrupted, so a run resumed from a checkpoint executes the same compiled chunks in the same order
as an uninterrupted one and ends bit for bit identical (tested on CPU). Metric history lives in the
checkpointed state, so curves survive a restart too. The engine reads no config: an application
(the experiment runner) turns its config into these arguments once, and passes a JSON-able
``provenance`` that a resumed run must match.
"""

import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxpref.training._checkpoint import Checkpointer, IncompatibleCheckpointError
from jaxpref.training._metric_writer import MetricWriter
from jaxpref.training._report import report
from jaxpref.training._sharding import BACKENDS, PointMapper
from jaxpref.training._sweep import Sweep, seed_keys, sweep_points, unflatten
from jaxpref.types import Array, HostArray, PRNGKey, PyTree


class Program(NamedTuple):
  """What runs at one sweep point.

  Attributes:
    init: ``init(hparams, key) -> state``; ``hparams`` is the sweep's hyperparameter pytree
      with scalar leaves.
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


def log_schedule(steps: int, log_every: int) -> HostArray:
  """The steps at which metrics are logged: every ``log_every`` and the last step."""
  return np.asarray([*range(log_every, steps, log_every), steps], np.int64)


def check_run_options(
  *, steps: int, log_every: int, checkpoint_every: int, backend: str, devices: int
) -> None:
  """Raises ``ValueError`` naming the first invalid run option (compiles nothing)."""
  if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
    raise ValueError(f"steps must be an integer >= 1, got {steps!r}.")
  if log_every < 1:
    raise ValueError(f"log_every must be >= 1, got {log_every}.")
  if checkpoint_every < 0 or (checkpoint_every and checkpoint_every % log_every):
    raise ValueError(
      f"checkpoint_every={checkpoint_every} must be 0 (off) or a multiple of log_every={log_every}."
    )
  if backend not in BACKENDS:
    raise ValueError(f"Unknown mesh backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
  if int(devices) == 0 or int(devices) < -1:
    raise ValueError(f"devices must be -1 (all) or >= 1, got {devices}.")
  available = len(jax.local_devices() if backend == "pmap" else jax.devices())
  if int(devices) > available:
    raise ValueError(f"devices={devices}: only {available} device(s) available (-1 = all).")


def _provenance_diff(saved: Any, current: Any, prefix: str = "") -> list[str]:
  out = []
  if isinstance(saved, dict) and isinstance(current, dict):
    for key in sorted(set(saved) | set(current)):
      path = f"{prefix}{key}"
      a, b = saved.get(key), current.get(key)
      if isinstance(a, dict) and isinstance(b, dict):
        out.extend(_provenance_diff(a, b, path + "."))
      elif a != b:
        out.append(f"{path}: checkpoint {a!r}, now {b!r}")
  elif saved != current:
    out.append(f"{prefix or 'run'}: checkpoint {saved!r}, now {current!r}")
  return out


def _progress(name: str, step: int, total: int, rate: float, points: int, extra: str) -> str:
  eta = (total - step) / rate if rate > 0 else float("nan")
  return (
    f"[{name}] step {step}/{total} ({100 * step / total:.0f}%)  {rate:,.0f} steps/s  "
    f"{rate * points:,.0f} point-steps/s  ETA {eta:.1f}s  {extra}"
  )


def _compile_point_fns(program: Program, num_logs: int, mapper: PointMapper):
  """The mapped init and a cache of mapped chunk runners (one per chunk length)."""

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

  cache: dict[int, Callable[..., Any]] = {}

  def chunk(length: int) -> Callable[..., Any]:
    if length not in cache:
      cache[length] = mapper.map(chunk_point(length), num_broadcast=2)
    return cache[length]

  return mapper.map(init_carry), chunk


class _Hooks:
  """Host-side work between chunks: metric logs, progress lines, checkpoints."""

  def __init__(self, *, name, writer, ckpt, mapper, sweep, steps, checkpoint_every, every, meta):
    self.name, self.writer, self.ckpt, self.mapper, self.sweep = name, writer, ckpt, mapper, sweep
    self.steps, self.checkpoint_every, self.every, self.meta = steps, checkpoint_every, every, meta
    self.last_report = -float("inf")

  def after_chunk(self, step: int, values: dict[str, HostArray], carry: _Carry, rate: float):
    self.writer.write_sweep(step, values, self.sweep)
    now = time.perf_counter()
    due_report = self.every >= 0 and (now - self.last_report >= self.every or step == self.steps)
    if due_report and jax.process_index() == 0:
      self.last_report = now
      first = next(iter(values), None)
      extra = f"{first} {float(np.nanmean(values[first])):.3e} (mean)" if first else ""
      report(_progress(self.name, step, self.steps, rate, self.sweep.num_points, extra))
    due = self.ckpt is not None and (step % self.checkpoint_every == 0 or step == self.steps)
    if due:
      meta = {**self.meta, "data_position": step}
      self.ckpt.save(step, self.mapper.to_canonical(carry), meta)


def run_sweep(
  program: Program,
  sweep: Sweep,
  *,
  steps: int,
  workdir: str,
  log_every: int | None = None,
  checkpoint_every: int = 0,
  max_to_keep: int = 3,
  async_save: bool = True,
  backend: str = "jit",
  devices: int = -1,
  data: int = 1,
  fsdp: int = 1,
  tensorboard: bool = True,
  progress_seconds: float = 10.0,
  provenance: Any = None,
  name: str = "run",
  stop_after: int | None = None,
) -> SweepResult:
  """Runs ``program`` at every point of ``sweep``, resuming from ``workdir`` if possible.

  Args:
    program: the per-point :class:`Program`.
    sweep: the points (:func:`~jaxpref.training.make_sweep`).
    steps: iterations per point.
    workdir: output directory: ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/``.
    log_every: steps between metric logs (and chunk boundaries); ``steps // 10`` when ``None``.
    checkpoint_every: steps between checkpoints, a multiple of ``log_every``; 0 disables them.
    max_to_keep: checkpoints kept.
    async_save: save checkpoints in the background.
    backend: how points map onto devices, one of :data:`~jaxpref.training.BACKENDS`.
    devices: devices to shard the points over (``-1``: all, at most one per point).
    data: mesh axis splitting each point's batch (``jit`` backend; the program marks its batch
      with :func:`~jaxpref.training.shard_batch`); the points axis gets ``devices / (data fsdp)``.
    fsdp: mesh axis splitting each point's parameters and optimizer state along their largest
      dimension (marked with :func:`~jaxpref.training.shard_params`).
    tensorboard: also write TensorBoard files.
    progress_seconds: seconds between progress lines (negative: none).
    provenance: a JSON-able description of the run (e.g. its config without logging options);
      a checkpoint of a different provenance or sweep is refused.
    name: the label of progress lines.
    stop_after: stop (as if preempted) after the chunk that reaches this step, once its
      checkpoint is written; used to test resumption.

  Returns:
    A :class:`SweepResult` (also complete when the run resumed).

  Raises:
    ValueError: on invalid options (before anything compiles).
    jaxpref.training.IncompatibleCheckpointError: ``workdir`` holds a checkpoint of another run.
    jaxpref.training.CheckpointError: checkpoints exist but none is readable.
  """
  log_every = max(1, steps // 10) if log_every is None else int(log_every)
  check_run_options(
    steps=steps,
    log_every=log_every,
    checkpoint_every=checkpoint_every,
    backend=backend,
    devices=devices,
  )
  try:  # As a checkpoint stores it (tuples become lists), so that the same run compares equal.
    provenance = json.loads(json.dumps(provenance))
  except (TypeError, ValueError) as e:
    raise ValueError(f"provenance must be JSON-able: {e}") from None
  points_host, seeds = sweep_points(sweep)
  mapper = PointMapper(backend, sweep.num_points, int(devices), data=data, fsdp=fsdp)
  # Hyperparameters in the run's float dtype; keys as raw data so every backend can place them.
  dtype = jnp.zeros(()).dtype
  points_host = jax.tree.map(lambda v: v.astype(dtype) if v.dtype.kind == "f" else v, points_host)
  keys = jax.random.key_data(seed_keys(sweep.seed, seeds))
  points = (mapper.put(points_host), mapper.put(keys))
  log_steps = log_schedule(steps, log_every)
  num_logs = len(log_steps)
  init_fn, chunk_fn = _compile_point_fns(program, num_logs, mapper)
  # Traced, not compiled: the checks below and the tree checkpoints are restored into.
  abstract = mapper.to_canonical(jax.eval_shape(init_fn, points))
  not_scalar = [k for k, h in abstract.history.items() if h.ndim > 2]  # [points, logs, ...]
  if not_scalar:
    raise ValueError(f"Program.metrics must return scalars; {not_scalar} are not.")
  run_meta = {
    "provenance": provenance,
    "sweep": sweep.to_json(),
    "steps": int(steps),
    "log_every": log_every,
  }

  with contextlib.ExitStack() as stack:
    ckpt = None
    if checkpoint_every:
      ckpt = Checkpointer(
        os.path.join(workdir, "checkpoints"), max_to_keep=int(max_to_keep), async_save=async_save
      )
      # Closed however the loop ends (an error, Ctrl-C): pending saves finish, so a rerun resumes.
      stack.callback(ckpt.close)
    restored = _restore(ckpt, abstract, mapper, run_meta, workdir)
    # Opened only once the workdir is accepted: a refused run leaves it as it was.
    writer = stack.enter_context(MetricWriter(workdir, tensorboard=bool(tensorboard)))
    if restored is None:
      writer.reset()
      step, carry, resumed_from = 0, init_fn(points), None
      writer.write_hparams(run_meta["provenance"] or {}, sweep)
    else:
      step, carry, _ = restored
      writer.truncate_after(step)
      report(f"[{name}] resumed from checkpoint step {step} in {workdir}")
      carry, resumed_from = mapper.from_canonical(carry), step
    hooks = _Hooks(
      name=name,
      writer=writer,
      ckpt=ckpt,
      mapper=mapper,
      sweep=sweep,
      steps=steps,
      checkpoint_every=checkpoint_every,
      every=float(progress_seconds),
      meta={**run_meta, "padded_points": mapper.padded},
    )
    logging.info(
      "%s: %d points (%s), backend %s on %d device(s), %d steps",
      name,
      sweep.num_points,
      "x".join(map(str, sweep.shape)),
      mapper.backend,
      mapper.num_devices,
      steps,
    )
    carry, rate = _run_chunks(
      chunk_fn, carry, points, mapper, sweep, log_steps, step, hooks, stop_after
    )
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


def _restore(ckpt, abstract, mapper, run_meta, workdir):
  """``(step, carry, meta)`` of the latest good checkpoint of the same run, or ``None``.

  Raises:
    IncompatibleCheckpointError: the checkpoint belongs to another run or mesh padding.
  """
  if ckpt is None:
    return None
  abstract = jax.tree.map(
    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=mapper.canonical_sharding()),
    abstract,
  )

  def check(meta: dict[str, Any]) -> None:
    saved = {k: meta.get(k) for k in run_meta}
    diff = _provenance_diff(saved, run_meta)
    if diff:
      raise IncompatibleCheckpointError(
        f"{workdir} holds a checkpoint of a different run ({'; '.join(diff)}); "
        "use a new workdir or restore the settings."
      )
    if meta["padded_points"] != mapper.padded:
      raise IncompatibleCheckpointError(
        f"The checkpoint in {workdir} has {meta['padded_points']} padded points but this mesh "
        f"pads to {mapper.padded}; resume with the same number of devices."
      )

  return ckpt.restore(abstract, check=check)


def _run_chunks(chunk_fn, carry, points, mapper, sweep, log_steps, step, hooks, stop_after):
  """Runs the remaining chunks; returns the carry and the steps/s excluding compilation."""
  # The rate excludes the first chunk (it includes compilation) once a later one has run.
  t0, steps_done, rate = time.perf_counter(), 0, 0.0
  first_log = int(np.searchsorted(log_steps, step, side="right"))
  for log_index in range(first_log, len(log_steps)):
    end = int(log_steps[log_index])
    length = end - step
    carry, values = chunk_fn(length)(
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
    hooks.after_chunk(step, values, carry, rate)
    if stop_after is not None and step >= stop_after:
      break
  return carry, rate
