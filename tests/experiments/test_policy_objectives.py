import json

import pytest

from configs import policy_objectives as config_lib
from experiments import train_lib
from tests.experiments.test_train import _cli

CUSTOM = '''
import jax


def hinge(example):
  """A margin loss on the reference-normalised log-ratio, written outside jaxpref."""
  h = (example.logp - example.ref_logp) - (example.logp2 - example.ref_logp2)
  sign = 2 * example.pref - 1
  return jax.nn.relu(1.0 - 10.0 * sign * h), {}
'''


def test_cli_with_a_custom_loss_defined_outside_the_package(tmp_path):
  path = tmp_path / "my_loss.py"
  path.write_text(CUSTOM)
  proc = _cli(
    "--config",
    "configs/policy_objectives.py",
    "--workdir",
    str(tmp_path),
    "--config.losses=online_ipo,egpo",
    "--config.queries=20000",
    "--config.evals=4",
    f"--config.custom_loss={path}:hinge",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert set(results) == {"online_ipo", "egpo", "custom"}
  start = results["online_ipo"]["curve"][0]["regularized_gap"]
  assert results["online_ipo"]["final"]["regularized_gap"] < start
  assert results["egpo"]["queries_per_update"] == 4  # two calls, two labels each
  assert results["custom"]["final"]["queries"] > 0
  assert (tmp_path / "curves.png").stat().st_size > 10_000
  assert "custom" in proc.stdout


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"losses": "dpo_v2"}, "Unknown loss 'dpo_v2'"),
    ({"oracle": "random"}, "oracle must be"),
    ({"kl_coef": 0.0}, "kl_coef must be > 0"),
    ({"custom_loss": "/no/such/file.py:fn"}, "no file at"),
  ],
)
def test_validation(override, message):
  config = config_lib.get_config()
  for key, value in override.items():
    config[key] = value
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)


def test_weighted_combination_from_the_config(tmp_path):
  config = config_lib.get_config("plot=false")
  config.losses = "online_dpo"
  config.combination = "dpo:0.5,ipo:0.5"
  config.queries, config.evals = 5000, 2
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  assert set(results) == {"online_dpo", "combined"}
  config.combination = "dpo:0.5,kto:1"
  with pytest.raises(ValueError, match="unknown loss 'kto'"):
    train_lib.validate_config(config)


def test_custom_loss_without_the_function(tmp_path):
  path = tmp_path / "empty.py"
  path.write_text("x = 1\n")
  config = config_lib.get_config()
  config.custom_loss = f"{path}:hinge"
  with pytest.raises(ValueError, match="no function 'hinge'"):
    train_lib.validate_config(config)
