"""Helpers shared by the experiment configs."""

import importlib.util
import os
import types
from typing import Any

import ml_collections


def load_config_module(spec: str) -> tuple[types.ModuleType, str]:
  """Imports the config file of ``--config path/to/name.py[:arg]``.

  Args:
    spec: the file path, optionally followed by ``:arg``.

  Returns:
    ``(module, arg)``: the executed module and the text after the colon (``""`` if none).

  Raises:
    ValueError: if no file exists at the path.
  """
  path, _, arg = spec.partition(":") if ".py:" in spec else (spec, "", "")
  if not os.path.isfile(path):
    raise ValueError(f"no config file at {path!r}.")
  module_spec = importlib.util.spec_from_file_location("_jaxpref_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module, arg


def _parse_value(key: str, text: str, default: Any) -> Any:
  if isinstance(default, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise ValueError(f"Config argument {key}={text!r}: expected a boolean.")
  try:
    return type(default)(text)
  except ValueError as e:
    raise ValueError(
      f"Config argument {key}={text!r}: expected {type(default).__name__} ({e})."
    ) from None


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
  """Parses the string after the colon of ``--config file.py:arg`` into a typed ConfigDict.

  ``arg`` is a comma-separated list of ``key=value`` pairs; a bare ``key`` sets a boolean to True.
  Values are converted to the type of the default; unknown keys are an error (so a typo never
  silently runs the default experiment).

  Args:
    arg: e.g. ``"games=canonical,top_k=5"``; ``None`` or ``""`` keeps the defaults.
    **defaults: every accepted key with its default value.

  Returns:
    A ConfigDict holding the defaults updated by ``arg``.

  Raises:
    ValueError: on an unknown key or a value that does not convert to the default's type.

  Examples:
    >>> parse_arg("top_k=5,plot", top_k=10, plot=False, games="all").top_k
    5
  """
  out = ml_collections.ConfigDict(defaults)
  if not arg:
    return out
  for item in arg.split(","):
    key, sep, text = item.partition("=")
    key = key.strip()
    if key not in defaults:
      raise ValueError(
        f"Unknown config argument {key!r} in {arg!r}; known: {', '.join(sorted(defaults))}."
      )
    if not sep:
      if not isinstance(defaults[key], bool):
        raise ValueError(f"Config argument {key!r} needs a value ({key}=...).")
      out[key] = True
    else:
      out[key] = _parse_value(key, text.strip(), defaults[key])
  return out


def add_run_sections(
  config: ml_collections.ConfigDict,
  *,
  steps: int,
  log_every: int,
  checkpoint_every: int = 0,
  seeds: int = 1,
  backend: str = "jit",
) -> ml_collections.ConfigDict:
  """Adds the sections ``jaxpref.training.run_sweep`` reads, each field commented.

  The vectorized axes start empty: a config sets e.g.
  ``config.vmap.axes.solver.step_size = (0.5, 1.0, 2.0)`` (axes mirror the config's fields).

  Args:
    config: the experiment config, modified in place.
    steps: iterations at every sweep point.
    log_every: steps per compiled chunk (metrics are logged and progress printed between chunks).
    checkpoint_every: save every this many steps (a multiple of ``log_every``; 0 = never).
    seeds: seeds per hyperparameter point.
    backend: how the point axis is sharded (``jit``, ``shard_map``, ``pmap`` or ``none``).

  Returns:
    ``config``.
  """
  config.steps = steps  # Iterations at every sweep point.
  config.vmap = ml_collections.ConfigDict()
  config.vmap.seeds = seeds  # Seeds per hyperparameter point (the innermost vmapped axis).
  config.vmap.seed_offset = 0  # First seed index (rerun seed s alone: seeds=1, seed_offset=s).
  # Vectorized hyperparameter axes, mirroring the config: axes.solver.step_size = (0.5, 1.0).
  config.vmap.axes = ml_collections.ConfigDict()
  config.mesh = ml_collections.ConfigDict()
  config.mesh.backend = backend  # "jit" (NamedSharding), "shard_map", "pmap" or "none".
  config.mesh.devices = -1  # Devices for the point axis (-1 = all, at most one per point).
  config.log = ml_collections.ConfigDict()
  config.log.every = log_every  # Steps per compiled chunk; metrics are logged at chunk ends.
  config.log.tensorboard = True  # Also write TensorBoard event files (workdir/tensorboard).
  config.log.progress_seconds = 5.0  # Seconds between progress lines (0: every chunk, <0: none).
  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every = checkpoint_every  # Save every this many steps (0 = off).
  config.checkpoint.max_to_keep = 3  # Most recent checkpoints kept.
  config.checkpoint.async_save = True  # Save in the background (awaited before exit).
  return config
