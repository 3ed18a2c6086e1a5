"""Public names: no export shadows a subpackage, and no two subpackages export different objects
under one name (``from jaxpref.x import *`` from two subpackages must not silently rebind)."""

import importlib
import pathlib
import pkgutil
import re
import subprocess
import sys

import jaxpref
from jaxpref import social

SUBPACKAGES = (
  "arena",
  "bandits",
  "data",
  "equilibria",
  "games",
  "losses",
  "metrics",
  "models",
  "optim",
  "overoptimization",
  "pareto",
  "preference",
  "social",
  "training",
)
MODULES = (*SUBPACKAGES, "shapes", "types")


def _exports() -> dict[str, list[tuple[str, object]]]:
  """Every exported name -> [(subpackage, object)] over all subpackages' ``__all__``."""
  out: dict[str, list[tuple[str, object]]] = {}
  for sub in SUBPACKAGES:
    module = importlib.import_module(f"jaxpref.{sub}")
    for name in module.__all__:
      if hasattr(module, name):  # resolvability is another test's business
        out.setdefault(name, []).append((sub, getattr(module, name)))
  return out


def test_subpackage_list_is_complete():
  found = {m.name for m in pkgutil.iter_modules(jaxpref.__path__) if not m.name.startswith("_")}
  assert found == set(MODULES), found ^ set(MODULES)


def test_social_exports_no_subpackage_name():
  assert not set(social.__all__) & set(MODULES), set(social.__all__) & set(MODULES)
  assert "pareto_optimal" in social.__all__ and "majority_game" in social.__all__
  assert "pareto_optimal" in social.RULES and "pareto" not in social.RULES


def test_no_export_shadows_a_subpackage():
  shadows = {name: [s for s, _ in where] for name, where in _exports().items() if name in MODULES}
  assert not shadows, shadows


def test_no_two_subpackages_export_different_objects_under_one_name():
  clashes = {
    name: [sub for sub, _ in where]
    for name, where in _exports().items()
    if any(obj is not where[0][1] for _, obj in where[1:])
  }
  assert not clashes, clashes


EAGER = (
  "arena",
  "bandits",
  "data",
  "equilibria",
  "games",
  "losses",
  "metrics",
  "optim",
  "overoptimization",
  "pareto",
  "preference",
  "social",
)


def test_top_level_exports_the_eager_subpackages_only():
  assert sorted(jaxpref.__all__) == sorted(("__version__", *EAGER))
  assert all(hasattr(jaxpref, name) for name in jaxpref.__all__)
  # In a fresh process: the heavy subpackages and their dependencies stay out of `import jaxpref`.
  code = (
    "import sys, jaxpref; "
    "print(sorted(m for m in ('jaxpref.models', 'jaxpref.training', 'flax.nnx', "
    "'orbax.checkpoint', 'matplotlib.pyplot') if m in sys.modules))"
  )
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]", out.stdout


def test_library_does_not_import_test_only_packages():
  # chex is in setup.py's [test] extra only: the library must not need it.
  root = pathlib.Path(jaxpref.__file__).parent
  offenders = [
    str(path.relative_to(root))
    for path in root.rglob("*.py")
    if re.search(r"^\s*(import|from)\s+chex\b", path.read_text(encoding="utf-8"), re.M)
  ]
  assert not offenders, offenders
