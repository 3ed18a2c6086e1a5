"""Runs a config's static sweep: one ``experiments.train`` process per listed combination.

  python -m experiments.launch --config configs/<name>.py[:arg] --workdir DIR [--print_only]
      [-- --config.a.b=value ...]

The config module's ``sweep(add, arg)`` calls ``add(**{"solver.name": "extragradient"})`` once
per static combination (anything that changes shapes or code and so cannot be vmapped). Each
combination runs in ``DIR/<key=value,...>`` with ``--config.<key>=<value>`` overrides, one after
the other; ``--print_only`` prints the commands instead, one per line, for a cluster scheduler.
Flags after ``--`` are passed to every run. Each run is resumable on its own workdir.
"""

import os
import shlex
import subprocess
import sys
from typing import Any

from absl import app, flags

from configs import common

_CONFIG = flags.DEFINE_string("config", None, "configs/<name>.py[:arg] with a sweep() function.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Parent directory; each run gets a subdirectory.")
_PRINT_ONLY = flags.DEFINE_bool("print_only", False, "Print one command per line; run nothing.")
flags.mark_flags_as_required(["config", "workdir"])


def sweep_runs(spec: str) -> list[dict[str, Any]]:
  """The static combinations listed by the ``sweep`` function of config ``spec``.

  Args:
    spec: ``path/to/config.py[:arg]``.

  Returns:
    One ``{dotted.key: value}`` dict per run.

  Raises:
    ValueError: if the file has no ``sweep`` function or lists no run.
  """
  module, arg = common.load_config_module(spec)
  if not hasattr(module, "sweep"):
    raise ValueError(f"{spec} has no sweep(add, arg) function; run it with experiments.train.")
  runs: list[dict[str, Any]] = []
  module.sweep(lambda **overrides: runs.append(overrides), arg or None)
  if not runs:
    raise ValueError(f"{spec}: sweep() listed no run.")
  return runs


def commands(spec: str, workdir: str, extra: list[str]) -> list[list[str]]:
  """One ``python -m experiments.train`` command per static combination."""
  out = []
  for overrides in sweep_runs(spec):
    name = ",".join(f"{k}={v}" for k, v in overrides.items())
    out.append(
      [
        sys.executable,
        "-m",
        "experiments.train",
        "--config",
        spec,
        "--workdir",
        os.path.join(workdir, name),
        *(f"--config.{k}={v}" for k, v in overrides.items()),
        *extra,
      ]
    )
  return out


def main(argv: list[str]) -> None:
  """Runs or prints the static sweep."""
  cmds = commands(_CONFIG.value, _WORKDIR.value, list(argv[1:]))
  for cmd in cmds:
    print(shlex.join(cmd), flush=True)
    if not _PRINT_ONLY.value:
      proc = subprocess.run(cmd, check=False)
      if proc.returncode:
        sys.exit(proc.returncode)


if __name__ == "__main__":
  app.run(main)
