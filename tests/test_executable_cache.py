import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest
from absl.testing import absltest

from jaxpref import _executable_cache
from tests.conftest import REPO


def _program(x, y, *, scale):
  return {"sum": jnp.sum(x * scale) + y, "max": jnp.max(x)}


def _backend_compiles(fn):
  """How many XLA programs ``fn()`` compiled."""
  count = [0]

  def listen(event, _, **kw):
    count[0] += event == "/jax/core/compile/backend_compile_duration"

  jax.monitoring.register_event_duration_secs_listener(listen)
  try:
    jax.block_until_ready(fn())
  finally:
    jax.monitoring.unregister_event_duration_listener(listen)
  return count[0]


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXPREF_CACHE_DIR", str(tmp_path))
  return tmp_path


def test_a_new_process_loads_the_executable_instead_of_compiling(cache):
  x, y = jnp.arange(5.0), jnp.float64(2.0)
  first = _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))
  want = first(x, y, scale=3.0)
  assert len(list(cache.glob("t-*.xla"))) == 1
  again = _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))
  assert _backend_compiles(lambda: again(x, y, scale=3.0)) == 0  # loaded from disk
  got = again(x, y, scale=3.0)
  assert jax.tree.map(float, got) == jax.tree.map(float, want)
  # Another static value, shape or dtype is another program and another entry.
  again(x, y, scale=4.0)
  again(jnp.arange(6.0), y, scale=3.0)
  again(x.astype(jnp.float32), y, scale=3.0)
  assert len(list(cache.glob("t-*.xla"))) == 4


def test_a_corrupt_entry_is_compiled_again_and_replaced(cache):
  x, y = jnp.arange(5.0), jnp.float64(2.0)
  _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))(x, y, scale=1.0)
  (entry,) = cache.glob("t-*.xla")
  entry.write_bytes(b"not an executable")
  fresh = _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))
  with absltest.mock.patch.object(_executable_cache.logging, "warning") as warning:
    assert float(fresh(x, y, scale=1.0)["sum"]) == 12.0
  assert "unreadable cached executable" in warning.call_args[0][0]
  assert entry.read_bytes() != b"not an executable"


def test_the_key_covers_xla_flags(cache, monkeypatch):
  x, y = jnp.arange(5.0), jnp.float64(2.0)
  _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))(x, y, scale=1.0)
  monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", "") + " --xla_dump_hlo_as_text")
  _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))(x, y, scale=1.0)
  assert len(list(cache.glob("t-*.xla"))) == 2


def test_cpu_options_apply_unless_xla_flags_set_them(cache, monkeypatch):
  options = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1}
  program = _executable_cache.CachedProgram(
    _program, name="t", static_argnames=("scale",), cpu_options=options
  )
  monkeypatch.setenv("XLA_FLAGS", "")
  assert program._jitted("cpu")[1] == options
  assert program._jitted("gpu")[1] == {}
  monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")
  assert program._jitted("cpu")[1] == {"xla_cpu_use_fusion_emitters": False}  # the user's wins
  monkeypatch.setenv("XLA_FLAGS", "")
  x = jnp.arange(5.0)
  assert float(program(x, 2.0, scale=1.0)["sum"]) == 12.0
  plain = _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))
  plain(x, 2.0, scale=1.0)
  assert len(list(cache.glob("t-*.xla"))) == 2  # the options are part of the key


def test_off_unwritable_traced_eager_or_on_another_device_compiles_in_memory(tmp_path, monkeypatch):
  x, y = jnp.arange(5.0), jnp.float64(2.0)
  program = _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))
  monkeypatch.setenv("JAXPREF_CACHE_DIR", "")  # off
  assert float(program(x, y, scale=1.0)["sum"]) == 12.0
  blocked = tmp_path / "file"
  blocked.write_text("")
  monkeypatch.setenv("JAXPREF_CACHE_DIR", str(blocked / "sub"))  # cannot be created
  with absltest.mock.patch.object(_executable_cache.logging, "warning") as warning:
    assert float(program(x, y, scale=2.0)["sum"]) == 22.0
  assert "could not cache" in warning.call_args[0][0]
  monkeypatch.setenv("JAXPREF_CACHE_DIR", str(tmp_path / "cache"))
  assert float(jax.jit(lambda x: program(x, y, scale=1.0)["sum"])(x)) == 12.0  # traced
  with jax.disable_jit():
    assert float(program(x, y, scale=1.0)["sum"]) == 12.0
  other = jax.device_put(x, jax.devices()[-1])
  assert float(program(other, y, scale=1.0)["sum"]) == 12.0
  assert not (tmp_path / "cache").exists()


def test_an_executable_that_cannot_be_serialized_stays_in_memory(cache):
  program = _executable_cache.CachedProgram(_program, name="t", static_argnames=("scale",))
  with (
    absltest.mock.patch.object(
      _executable_cache.serialize_executable, "serialize", side_effect=RuntimeError("no")
    ),
    absltest.mock.patch.object(_executable_cache.logging, "warning") as warning,
  ):
    assert float(program(jnp.arange(5.0), 2.0, scale=1.0)["sum"]) == 12.0
  assert "cannot be cached" in warning.call_args[0][0]
  assert not list(cache.glob("*"))


def test_the_second_process_does_not_compile_solve(tmp_path):
  script = textwrap.dedent(
    """
    import logging, jax
    from jaxpref import equilibria
    from jaxpref.games import uniform_random_game
    jax.config.update("jax_log_compiles", True)
    logging.basicConfig(level=logging.WARNING)
    P = uniform_random_game(jax.random.key(0), 5, (3,))
    print(float(equilibria.solve(P, tol=1e-6).gap.max()))
    """
  )
  # XLA's default code generation, as users get it (the suite's fast-compile flags produce
  # executables that do not serialize).
  env = {**os.environ, "JAXPREF_CACHE_DIR": str(tmp_path), "XLA_FLAGS": ""}
  runs = [
    subprocess.run(
      [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    for _ in range(2)
  ]
  assert "compilation of jit(_run)" in runs[0].stderr
  assert "compilation of jit(_run)" not in runs[1].stderr
  assert runs[0].stdout == runs[1].stdout
  assert len(list(tmp_path.glob("solve-*.xla"))) == 1
