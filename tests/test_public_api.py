"""Every public name resolves: each ``__all__`` entry of jaxpref and its subpackages exists."""

import importlib
import pkgutil

import pytest

import jaxpref

# Listed so that a subpackage dropped from the walk below is noticed.
SUBPACKAGES = (
  "arena",
  "bandits",
  "games",
  "metrics",
  "equilibria",
  "data",
  "preference",
  "pareto",
  "social",
  "losses",
  "models",
  "optim",
  "overoptimization",
  "training",
)


def _packages() -> list[str]:
  """jaxpref and every package below it (private modules' ``__all__`` are not public)."""
  found = [
    info.name
    for info in pkgutil.walk_packages(jaxpref.__path__, prefix="jaxpref.")
    if info.ispkg and not any(part.startswith("_") for part in info.name.split("."))
  ]
  return ["jaxpref", *sorted(found)]


def test_the_walk_finds_every_subpackage():
  assert {f"jaxpref.{name}" for name in SUBPACKAGES} <= set(_packages())


@pytest.mark.parametrize("name", _packages())
def test_every_name_in_all_exists(name):
  module = importlib.import_module(name)
  assert hasattr(module, "__all__"), f"{name} has no __all__"
  missing = [entry for entry in module.__all__ if not hasattr(module, entry)]
  assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
  duplicated = {entry for entry in module.__all__ if module.__all__.count(entry) > 1}
  assert not duplicated, f"{name}.__all__ lists {sorted(duplicated)} twice"


@pytest.mark.parametrize("name", _packages())
def test_star_import(name):
  namespace: dict[str, object] = {}
  exec(f"from {name} import *", namespace)  # raises AttributeError on a name that is missing
  assert set(importlib.import_module(name).__all__) <= set(namespace)


def test_training_exports_incompatible_checkpoint_error():
  from jaxpref.training import CheckpointError, IncompatibleCheckpointError

  # A refusal is a ValueError (a bad config for this workdir), not an unreadable checkpoint.
  assert issubclass(IncompatibleCheckpointError, ValueError)
  assert not issubclass(IncompatibleCheckpointError, CheckpointError)
