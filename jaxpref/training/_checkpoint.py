"""Checkpoints that really resume: one small wrapper around Orbax's ``CheckpointManager``.

Each checkpoint step holds two items: ``state`` (any pytree of arrays: solver or train state, PRNG
keys, metric history, sharded or not) and ``meta`` (JSON: step, data position, config, sweep axes,
and a fingerprint of ``state``). Saves are asynchronous; :meth:`Checkpointer.close` waits for them.

Restoring walks the steps from the latest down. A step whose files cannot be read, whose metadata
is missing, or whose restored arrays do not match the saved fingerprint is logged (a warning) and
skipped, so a checkpoint truncated by a preemption falls back to the previous good one. Save
directories that Orbax never committed (``*.orbax-checkpoint-tmp-*``) are logged and ignored. A
checkpoint of another run (the caller's ``check`` refuses it) is an error, never skipped.

Keeping Orbax behind this module means the move to Orbax v1 (``ocp.training.Checkpointer``)
touches one file.
"""

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from absl import logging

from jaxpref.training._sharding import is_key
from jaxpref.types import PyTree


class CheckpointError(RuntimeError):
  """No usable checkpoint where one was expected (every saved step is unreadable)."""


class IncompatibleCheckpointError(ValueError):
  """A readable checkpoint of a different run (raised by a ``check`` callback; never skipped)."""


def _leaf_words(x: jax.Array) -> jax.Array:
  """The bits of ``x`` as a flat uint32 vector."""
  if x.dtype == jnp.bool_ or x.dtype.itemsize < 4:
    if jnp.issubdtype(x.dtype, jnp.floating):
      x = jax.lax.bitcast_convert_type(x, jnp.uint16)
    return x.astype(jnp.uint32).reshape(-1)
  return jax.lax.bitcast_convert_type(x, jnp.uint32).reshape(-1)


@jax.jit
def _fingerprint(leaves: list[jax.Array]) -> jax.Array:
  total = jnp.zeros((), jnp.uint32)
  for k, leaf in enumerate(leaves):
    words = _leaf_words(leaf)
    position = jnp.arange(words.size, dtype=jnp.uint32)
    weights = position * jnp.uint32(2654435761) + jnp.uint32(2 * k + 1)
    mixed = words * weights
    total = total + jnp.sum(mixed ^ (mixed >> 15)) * jnp.uint32(2 * k + 3)
  return total


def fingerprint(tree: PyTree) -> int:
  """A position-sensitive 32-bit hash of every array's bits (sharded arrays included).

  It is computed on device (one reduction, all processes take part) and detects a corrupted or
  mismatched restore; it is not a cryptographic hash.

  Args:
    tree: a pytree of arrays (PRNG keys are hashed through their raw data).

  Returns:
    The hash as a Python ``int``.
  """
  return int(_fingerprint([jnp.asarray(x) for x in jax.tree.leaves(_raw(tree))]))


def _raw(tree: PyTree) -> PyTree:
  return jax.tree.map(lambda x: jax.random.key_data(x) if is_key(x) else x, tree)


def _raw_abstract(tree: PyTree) -> PyTree:
  def convert(x):
    if not is_key(x):
      return x
    raw = jax.eval_shape(jax.random.key_data, x)
    return jax.ShapeDtypeStruct(raw.shape, raw.dtype, sharding=getattr(x, "sharding", None))

  return jax.tree.map(convert, tree)


class Checkpointer:
  """Saves and restores ``(step, state, meta)`` in ``directory``, keeping the last few.

  Args:
    directory: where checkpoints live (created if needed).
    max_to_keep: how many recent steps to keep.
    async_save: save in a background thread (call :meth:`wait` or :meth:`close` before exit).
  """

  def __init__(self, directory: str, *, max_to_keep: int = 3, async_save: bool = True):
    if max_to_keep < 1:
      raise ValueError(f"config.checkpoint.max_to_keep must be >= 1, got {max_to_keep}.")
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save
    )
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def all_steps(self) -> list[int]:
    """Committed steps, oldest first."""
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: PyTree, meta: dict[str, Any]) -> None:
    """Saves ``state`` and ``meta`` (JSON-able) at ``step``; returns before the write finishes.

    Args:
      step: the step number (the directory name).
      state: arrays to save; PRNG keys are saved as raw data and re-wrapped on restore.
      meta: JSON-able metadata (data position, config, ...), returned by :meth:`restore`.
    """
    leaves = jax.tree.leaves(state)
    meta = {
      **meta,
      "step": int(step),
      "fingerprint": fingerprint(state),
      "key_impls": {str(k): str(jax.random.key_impl(x)) for k, x in enumerate(leaves) if is_key(x)},
    }
    self._manager.save(
      int(step),
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(_raw(state)), meta=ocp.args.JsonSave(meta)
      ),
    )

  def _uncommitted(self) -> list[str]:
    if not os.path.isdir(self.directory):
      return []
    return sorted(n for n in os.listdir(self.directory) if "tmp" in n)

  def _read_meta(self, step: int) -> dict[str, Any]:
    meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    if not isinstance(meta, dict) or "fingerprint" not in meta:
      raise CheckpointError("its metadata is missing or unreadable")
    return meta

  def _read_state(self, step: int, abstract_state: PyTree, meta: dict[str, Any]) -> PyTree:
    raw = self._manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_raw_abstract(abstract_state)))
    ).state
    impls = meta.get("key_impls", {})
    leaves, treedef = jax.tree.flatten(raw)
    leaves = [
      jax.random.wrap_key_data(x, impl=impls[str(k)]) if str(k) in impls else x
      for k, x in enumerate(leaves)
    ]
    state = jax.tree.unflatten(treedef, leaves)
    if jax.tree.structure(state) != jax.tree.structure(abstract_state):
      raise CheckpointError("its state has a different structure from this run's")
    got = fingerprint(state)
    if got != meta["fingerprint"]:
      raise CheckpointError(
        f"its arrays do not match the saved fingerprint ({got} != {meta['fingerprint']})"
      )
    return state

  def restore(
    self, abstract_state: PyTree, *, check: Callable[[dict[str, Any]], None] | None = None
  ) -> tuple[int, PyTree, dict[str, Any]] | None:
    """Restores the latest readable step, falling back past corrupt ones.

    Args:
      abstract_state: the state's structure as ``jax.ShapeDtypeStruct`` leaves (with the
        shardings to restore into).
      check: called with each step's metadata before its arrays are read; it raises
        :class:`IncompatibleCheckpointError` for a checkpoint of another run. Whatever it raises
        propagates: only unreadable files and mismatched arrays make a step fall back.

    Returns:
      ``(step, state, meta)``, or ``None`` if the directory holds no checkpoint (a fresh start).

    Raises:
      CheckpointError: if checkpoints exist but none can be restored.
      IncompatibleCheckpointError: from ``check`` (as does anything else ``check`` raises).
    """
    for name in self._uncommitted():
      logging.warning("Ignoring uncommitted (partial) checkpoint %s/%s.", self.directory, name)
    steps = sorted(self._manager.all_steps(), reverse=True)
    problems = []

    def skip(step: int, error: Exception) -> None:
      reason = _reason(error)
      logging.warning(
        "Checkpoint step %d in %s is unusable (%s); trying the previous one.",
        step,
        self.directory,
        reason,
      )
      problems.append(f"step {step}: {reason}")

    for step in steps:
      try:
        meta = self._read_meta(step)
      except Exception as e:  # Unreadable files: fall back to the previous step.
        skip(step, e)
        continue
      # Outside the fallback: a refusal (or a bug in ``check``) is never a corrupt checkpoint.
      if check is not None:
        check(meta)
      try:
        state = self._read_state(step, abstract_state, meta)
      except Exception as e:
        skip(step, e)
        continue
      return step, state, meta
    if problems:
      raise CheckpointError(
        f"No usable checkpoint in {self.directory}; delete it to start afresh ("
        + "; ".join(problems)
        + ")."
      )
    return None

  def wait(self) -> None:
    """Blocks until pending asynchronous saves are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()


def _reason(error: Exception) -> str:
  """Why a checkpoint step could not be read, in one short line."""
  text = " ".join(str(error).split())
  lower = f"{type(error).__name__} {text}".lower()
  if isinstance(error, FileNotFoundError) or "no such file" in lower or "not_found" in lower:
    return "a file is missing"
  if "structure" in lower or ("tree" in lower and "match" in lower):
    return "its saved arrays do not match this run's state (a file is missing or was changed)"
  if "data_loss" in lower or "corrupt" in lower or "checksum" in lower or "truncat" in lower:
    return "its data files are corrupt or truncated"
  if "json" in lower or "decode" in lower:
    return "its metadata is not valid JSON (a truncated or changed file)"
  first = str(error).strip().splitlines()[0] if str(error).strip() else ""
  return f"{type(error).__name__}: {first[:120]}" if first else type(error).__name__
