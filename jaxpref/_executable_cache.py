"""Compiled programs kept on disk between processes, for jaxpref's heaviest programs.

XLA compiles :func:`jaxpref.equilibria.solve`'s program in about 2 s on a 2-core CPU, and it did
so again in every new process. :class:`CachedProgram` wraps such a function like ``jax.jit`` and,
for calls with concrete arguments on one device, keeps each compiled executable on disk
(``jax.experimental.serialize_executable``): a later process traces and lowers the function (a
few tenths of a second), finds the executable under the program's key and loads it instead of
compiling. Calls inside a traced program or under ``jax.disable_jit``, or with arguments on
other than the default device, take the plain ``jax.jit`` route.

Location: ``$JAXPREF_CACHE_DIR``, by default ``$XDG_CACHE_HOME/jaxpref/executables`` (or
``~/.cache/jaxpref/executables``); an empty ``JAXPREF_CACHE_DIR`` turns the cache off. An entry's
key is the SHA-256 of the lowered program text together with the jax and jaxlib versions, the
backend's platform version, the devices' kind, the host CPU's model and feature flags and
``XLA_FLAGS``, so an entry is only ever loaded by the build and machine type that wrote it. An
entry that fails to load (truncated, corrupted) is compiled again and replaced, with a warning in
the log; a directory that cannot be written, or an executable that XLA cannot serialize (some
XLA options produce such executables), leaves the program compiled in memory only.
"""

import functools
import hashlib
import os
import pathlib
import platform
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import jax
import jaxlib
from absl import logging
from jax.experimental import serialize_executable


def cache_dir() -> pathlib.Path | None:
  """The cache directory, or None when ``JAXPREF_CACHE_DIR`` is set to an empty string."""
  value = os.environ.get("JAXPREF_CACHE_DIR")
  if value is not None:
    return pathlib.Path(value).expanduser() if value else None
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return pathlib.Path(base) / "jaxpref" / "executables"


@functools.cache
def _host_cpu() -> str:
  """The host CPU's model and feature flags (an executable may use any of them)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      lines = [line for line in f if line.startswith(("model name", "flags", "Features"))]
    return "".join(sorted(set(lines)))
  except OSError:
    return platform.processor() or platform.machine()


def _environment(device: jax.Device) -> str:
  return "\n".join(
    [
      jax.__version__,
      jaxlib.__version__,
      device.platform,
      device.client.platform_version,
      device.device_kind,
      _host_cpu(),
      os.environ.get("XLA_FLAGS", ""),
    ]
  )


def _default_device(leaves: list[Any]) -> jax.Device | None:
  """The default device if every array leaf lives on it alone, else None."""
  device = jax.devices()[0]
  for leaf in leaves:
    sharding = getattr(leaf, "sharding", None)
    if sharding is not None and sharding.device_set != {device}:
      return None
  return device


class CachedProgram:
  """A function jitted once per input signature, its executables cached on disk between processes.

  Args:
    fn: the function (as for ``jax.jit``).
    name: a short name for the cache entries' file names.
    static_argnames: keyword arguments that are static (hashable), as for ``jax.jit``.
    cpu_options: XLA compile options for the CPU backend, each applied unless ``XLA_FLAGS`` sets
      that flag (the user's flags win); part of the cache key.
  """

  def __init__(
    self,
    fn: Callable[..., Any],
    *,
    name: str,
    static_argnames: tuple[str, ...] = (),
    cpu_options: dict[str, Any] | None = None,
  ):
    self._fn = fn
    self._static_argnames = static_argnames
    self._cpu_options = dict(cpu_options or {})
    self._name = name
    self._jits: dict[tuple[Any, ...], Any] = {}
    self._memo: dict[Any, Any] = {}
    self._lock = threading.Lock()
    functools.update_wrapper(self, fn)

  def _jitted(self, platform: str) -> tuple[Any, dict[str, Any]]:
    """The ``jax.jit`` of the function with the options that apply on ``platform``."""
    flags = os.environ.get("XLA_FLAGS", "")
    options = {
      k: v for k, v in self._cpu_options.items() if platform == "cpu" and f"--{k}" not in flags
    }
    key = tuple(sorted(options.items()))
    if key not in self._jits:
      self._jits[key] = jax.jit(
        self._fn, static_argnames=self._static_argnames, compiler_options=options or None
      )
    return self._jits[key], options

  def __call__(self, *args: Any, **statics: Any) -> Any:
    leaves, treedef = jax.tree.flatten(args)
    directory = cache_dir()
    device = _default_device(leaves)
    jitted, options = self._jitted(jax.default_backend() if device is None else device.platform)
    traced = any(isinstance(x, jax.core.Tracer) for x in leaves)
    if directory is None or device is None or traced or jax.config.jax_disable_jit:
      return jitted(*args, **statics)  # (under jax.disable_jit this runs op by op)
    signature = (
      treedef,
      tuple(jax.typeof(x) for x in leaves),
      tuple(sorted(statics.items())),
      device,
      tuple(sorted(options.items())),
    )
    with self._lock:
      compiled = self._memo.get(signature)
      if compiled is None:
        compiled = self._load_or_compile(jitted, options, directory, device, args, statics)
        self._memo[signature] = compiled
    return compiled(*args)

  def _load_or_compile(self, jitted, options, directory, device, args, statics):
    lowered = jitted.lower(*args, **statics)
    text = "\n".join([lowered.as_text(), _environment(device), repr(sorted(options.items()))])
    path = directory / f"{self._name}-{hashlib.sha256(text.encode()).hexdigest()[:32]}.xla"
    if path.exists():
      try:
        return serialize_executable.deserialize_and_load(
          path.read_bytes(), lowered.in_tree, lowered.out_tree, execution_devices=[device]
        )
      except Exception as e:  # a bad entry is replaced, whatever the cause
        logging.warning("jaxpref: ignoring the unreadable cached executable %s (%s)", path, e)
    compiled = lowered.compile()
    try:
      blob, _, _ = serialize_executable.serialize(compiled)
    except Exception as e:  # some executables (and XLA options) do not serialize
      logging.warning("jaxpref: the %s executable cannot be cached on disk (%s)", self._name, e)
      return compiled
    try:
      directory.mkdir(parents=True, exist_ok=True)
      with tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".tmp") as f:
        f.write(blob)
      os.replace(f.name, path)
    except OSError as e:
      logging.warning("jaxpref: could not cache the executable in %s (%s)", directory, e)
    return compiled

  def _cache_size(self) -> int:
    """Programs compiled or loaded in this process (as ``jax.jit``'s ``_cache_size``)."""
    return sum(j._cache_size() for j in self._jits.values()) + len(self._memo)
