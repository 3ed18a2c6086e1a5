"""Shared fixtures. Tests run in float64: certified gaps reach 1e-16; float32 stops near 1e-7."""

import pathlib

import jax
import pytest

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
def registries():
  """Restores the loss and objective registries after a test that registers into them."""
  from jaxpref import losses

  saved_losses, saved_objectives = dict(losses.LOSSES), dict(losses.OBJECTIVES)
  yield
  losses.LOSSES.clear()
  losses.LOSSES.update(saved_losses)
  losses.OBJECTIVES.clear()
  losses.OBJECTIVES.update(saved_objectives)
