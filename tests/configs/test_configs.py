import importlib
import inspect
import pathlib
import re

import pytest

from experiments import train_lib

CONFIGS = sorted(
  p.stem
  for p in (pathlib.Path(__file__).parents[2] / "configs").glob("*.py")
  if p.stem not in ("__init__", "common")
)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_documented_and_valid(name):
  module = importlib.import_module(f"configs.{name}")
  assert f"python -m experiments.train --config configs/{name}.py" in module.__doc__
  assert "Expected" in module.__doc__
  config = module.get_config()
  train_lib.validate_config(config)
  assignments = [
    line
    for line in inspect.getsource(module.get_config).splitlines()
    if re.match(r"\s*config(\.\w+)+ = ", line) and "ConfigDict()" not in line
  ]
  assert assignments
  for line in assignments:
    assert "#" in line, f"field without a comment in configs/{name}.py: {line.strip()}"
  with pytest.raises(ValueError, match="Unknown config argument"):
    module.get_config("no_such_key=1")
