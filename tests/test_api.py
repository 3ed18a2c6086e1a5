"""The public API speaks one vocabulary: keyword-only hyperparameters with shared names."""

import importlib
import inspect
import typing

import pytest

from tests.test_public_api import SUBPACKAGES

# Papers' symbols live in docstrings; signatures use the vocabulary. The `from_*` converters are the
# one place that takes papers' symbols, by design.
FORBIDDEN = {"beta", "tau", "eta", "lam", "ref", "pref"}
# Wherever these appear they are hyperparameters, so they are keyword-only.
KEYWORD_ONLY = {"step_size", "kl_coef", "mixture", "ref_policy", "ref_logp"}


def _public_functions():
  for sub in SUBPACKAGES:
    module = importlib.import_module(f"jaxpref.{sub}")
    for name in module.__all__:
      obj = getattr(module, name)
      if inspect.isclass(obj):
        for meth_name, meth in vars(obj).items():
          if inspect.isfunction(meth) and not meth_name.startswith("_"):
            yield f"{sub}.{name}.{meth_name}", meth
      elif callable(obj) and inspect.isfunction(inspect.unwrap(obj)):
        yield f"{sub}.{name}", obj


FUNCTIONS = dict(_public_functions())


def _is_converter(qualname: str) -> bool:
  return qualname.split(".")[-1].startswith("from_")


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_signature_uses_the_vocabulary(qualname):
  params = inspect.signature(FUNCTIONS[qualname]).parameters.values()
  if not _is_converter(qualname):
    bad = sorted(p.name for p in params if p.name in FORBIDDEN)
    assert not bad, f"{qualname} takes {bad}: use step_size / kl_coef / mixture / weights / ref_*"
  for p in params:
    if p.name in KEYWORD_ONLY:
      assert p.kind == p.KEYWORD_ONLY, f"{qualname}: {p.name} must be keyword-only"


def _returns_solver(fn) -> bool:
  from jaxpref.equilibria import Solver

  return typing.get_type_hints(fn).get("return") is Solver


SOLVER_FACTORIES = sorted(
  q
  for q, f in FUNCTIONS.items()
  if q.startswith("equilibria.") and q.count(".") == 1 and _returns_solver(f)
)


def test_every_solver_factory_is_found():
  assert len(SOLVER_FACTORIES) == 9, SOLVER_FACTORIES


@pytest.mark.parametrize("qualname", SOLVER_FACTORIES)
def test_solver_factories_take_keywords_only(qualname):
  params = inspect.signature(FUNCTIONS[qualname]).parameters.values()
  assert all(p.kind == p.KEYWORD_ONLY for p in params), qualname


def test_losses_take_the_example_then_keywords_only():
  from jaxpref import losses

  for name, fn in losses.LOSSES.items():
    first, *rest = inspect.signature(fn).parameters.values()
    assert first.name == "example", name
    assert all(p.kind == p.KEYWORD_ONLY for p in rest), name


@pytest.mark.parametrize(
  "name", ["regularized_duality_gap", "regularized_exploitability", "win_rate", "kl_divergence"]
)
def test_metric_hyperparameters_are_keyword_only(name):
  from jaxpref import metrics

  params = inspect.signature(getattr(metrics, name)).parameters.values()
  for p in params:
    if p.name not in {"P", "x", "y", "p", "q"}:
      assert p.kind == p.KEYWORD_ONLY, (name, p.name)
