"""The one entry point of jaxpref experiments.

  python -m experiments.train --config configs/<name>.py[:arg] --workdir DIR [--config.a.b=value]

Kept thin so the logic (``train_lib.train_and_evaluate``) can be imported and tested. Config
overrides are checked against the config before anything runs: an unknown key is an error that
names it and lists the valid keys next to it, a value of the wrong type is a flag-parsing error,
and the experiment's own checks (swept fields, solver names, ...) run before anything compiles.

Several processes (hosts, or local processes for testing) form one JAX runtime with
``jax.distributed.initialize``: pass ``--coordinator_address host:port --num_processes N
--process_id i`` to each (or ``--distributed`` where JAX detects the cluster: Cloud TPU, SLURM,
Open MPI). Every process runs the same command; process 0 writes logs and results.

The library prints nothing; this entry point prints ``jaxpref.training``'s progress lines and
resume message to stdout (they are also logged). A bad config, bad data (a missing file or
column, a custom loss that fails) or a workdir whose checkpoint belongs to another config, or
whose checkpoints are all unreadable, ends with one line ``error: <what and how to fix it>`` and
exit code 2, before anything is written; ``--verbose`` (or ``JAXPREF_VERBOSE=1``) adds the
traceback.
"""

import ast
import logging as std_logging
import os
import pathlib
import sys
import traceback
from typing import Any

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from configs import common
from experiments import train_lib
from jaxpref import training

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Experiment config: configs/<name>.py[:arg].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for results, plots and logs.")
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address", None, "host:port of process 0, to run as one of several processes."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in a multi-process run.")
_PROCESS_ID = flags.DEFINE_integer(
  "process_id", None, "This process's index in [0, num_processes)."
)
_DISTRIBUTED = flags.DEFINE_bool(
  "distributed", False, "Call jax.distributed.initialize() with cluster auto-detection."
)
_VERBOSE = flags.DEFINE_bool(
  "verbose", False, "Show tracebacks and other libraries' INFO logs (or set JAXPREF_VERBOSE=1)."
)
flags.mark_flags_as_required(["config", "workdir"])


class ConfigError(ValueError):
  """A bad --config flag or override."""


def _flag_values(argv: list[str], name: str) -> list[tuple[str, str | None]]:
  """Returns ``(flag, value)`` for each ``--name...`` flag in argv (value None if absent)."""
  out = []
  for k, a in enumerate(argv):
    for prefix in (f"--{name}", f"-{name}"):
      if a.startswith(prefix) and (len(a) == len(prefix) or a[len(prefix)] in "=."):
        flag, sep, value = a.partition("=")
        if not sep:
          value = argv[k + 1] if k + 1 < len(argv) and not argv[k + 1].startswith("-") else None
        out.append((flag[len(prefix) :], value))
        break
  return out


def _load_config(spec: str):
  try:
    module, arg = common.load_config_module(spec)
    return module.get_config(arg) if arg else module.get_config()
  except (ValueError, TypeError, AttributeError) as e:
    raise ConfigError(f"--config {spec}: {e}") from e


def check_config_flags(argv: list[str]) -> None:
  """Raises ``ConfigError`` if ``--config`` is missing or an override names an unknown key."""
  specs = [v for name, v in _flag_values(argv, "config") if name == ""]
  if not specs or specs[-1] is None:
    raise ConfigError("--config is required: --config configs/<name>.py[:arg].")
  config = _load_config(specs[-1])
  for name, _ in _flag_values(argv, "config"):
    if not name:
      continue
    node, path = config, []
    for key in name[1:].split("."):
      if not hasattr(node, "keys") or key not in node:
        where = ".".join(path) or "the config"
        valid = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "(a leaf)"
        raise ConfigError(
          f"--config{name}: unknown config key {key!r} in {where}; valid keys: {valid}."
        )
      node, path = node[key], [*path, key]


_AXES_FLAG = "--config.vmap.axes."
# Vectorized axes given on the command line (``--config.vmap.axes.<path>=(v1,v2)``): any numeric
# config field may be swept, so these keys need not exist in the config; applied in main().
_AXES: dict[str, tuple[Any, ...]] = {}


def split_axis_flags(argv: list[str]) -> tuple[list[str], dict[str, tuple[Any, ...]]]:
  """Removes ``--config.vmap.axes.<path>=values`` flags from ``argv`` and parses their values.

  Args:
    argv: the command line.

  Returns:
    ``(argv without them, {path: tuple of values})``.

  Raises:
    ConfigError: a value that is not a number or a tuple of numbers.
  """
  rest, axes, k = [], {}, 0
  while k < len(argv):
    arg = argv[k]
    if not arg.startswith(_AXES_FLAG):
      rest.append(arg)
      k += 1
      continue
    path, sep, text = arg[len(_AXES_FLAG) :].partition("=")
    if not sep:
      text = argv[k + 1] if k + 1 < len(argv) else ""
      k += 1
    k += 1
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      raise ConfigError(
        f"--config.vmap.axes.{path}: expected a number or a tuple of numbers such as "
        f"'(1e-3,3e-3)', got {text!r}."
      ) from None
    axes[path] = tuple(value) if isinstance(value, tuple | list) else (value,)
  return rest, axes


def _apply_axes(config: Any, axes: dict[str, tuple[Any, ...]]) -> None:
  if axes and "vmap" not in config:
    raise ConfigError(
      f"--config.vmap.axes.{next(iter(axes))}: this experiment has no vmap section to sweep."
    )
  for path, values in axes.items():
    config.unlock()  # the config flag locks its keys; axes are new keys by design
    node = config.vmap.axes
    *parents, leaf = path.split(".")
    for part in parents:
      if part not in node:
        node[part] = ml_collections.ConfigDict()
      node = node[part]
    node[leaf] = values
  if axes:
    config.lock()


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    argv, axes = split_axis_flags(argv)
    sys.argv[:] = argv  # ml_collections' config flag reads overrides from sys.argv too
    check_config_flags(argv)
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  _AXES.update(axes)
  return app.parse_flags_with_usage(argv)


def _initialize_distributed() -> None:
  # Arguments left as None are auto-detected by JAX (Cloud TPU, SLURM, Open MPI).
  if _COORDINATOR.value is not None or _DISTRIBUTED.value:
    jax.distributed.initialize(
      coordinator_address=_COORDINATOR.value,
      num_processes=_NUM_PROCESSES.value,
      process_id=_PROCESS_ID.value,
    )


def _print_line(line: str) -> None:
  """Shows a progress line of the library (``training.progress_hook``) on stdout."""
  print(line, flush=True)


class _OwnInfoOnly(std_logging.Filter):
  """Passes warnings and errors, and INFO only from jaxpref, the experiments and the configs.

  Orbax logs every save and restore step at INFO (about 150 lines for a short sweep); JAX logs
  its backend probing. ``--verbose`` shows them.
  """

  _OURS = tuple(os.sep + name + os.sep for name in ("jaxpref", "experiments", "configs"))

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or any(p in record.pathname for p in self._OURS)


def main(argv: list[str]) -> None:
  """Runs the experiment named by the config."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not (_VERBOSE.value or os.environ.get("JAXPREF_VERBOSE")):
    logging.get_absl_handler().addFilter(_OwnInfoOnly())
  _initialize_distributed()
  logging.info("workdir: %s", _WORKDIR.value)
  try:
    _apply_axes(_CONFIG.value, _AXES)
    train_lib.validate_config(_CONFIG.value)
    with training.progress_hook(_print_line):
      train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value, validated=True)
  except USER_ERRORS as e:
    fail(e)
  if jax.process_index() == 0:
    print(written(_WORKDIR.value))


def written(workdir: str) -> str:
  """The closing line: where the results, plots and logs of the run are."""
  root = pathlib.Path(workdir)
  pngs = sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))
  logs = sorted(str(p.relative_to(root)) for p in root.rglob("metrics.jsonl"))
  parts = [f"results {root / 'results.json'}"]
  if pngs:
    parts.append(f"plots {', '.join(pngs)}")
  if logs:
    parts.append(f"logs {', '.join(logs)} (+ TensorBoard files)")
  return "Wrote " + "; ".join(parts) + "."


# The documented errors of a bad config, bad data or a refused workdir; anything else is a bug and
# keeps its traceback. (IncompatibleCheckpointError is a ValueError.)
USER_ERRORS = (ValueError, FileNotFoundError, training.CheckpointError)


def fail(error: BaseException) -> None:
  """Prints ``error: <message>`` on one line (the traceback too with --verbose) and exits 2."""
  if _VERBOSE.value or os.environ.get("JAXPREF_VERBOSE"):
    traceback.print_exception(error)
  print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
  sys.exit(2)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
