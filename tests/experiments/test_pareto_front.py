import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import pareto_front as config_lib
from experiments import pareto_front, train_lib
from tests.experiments.test_train import _cli


def test_cli_small_run_writes_fronts(tmp_path):
  proc = _cli(
    "--config",
    "configs/pareto_front.py:parts=ff+kl",
    "--workdir",
    str(tmp_path),
    "--config.ff.conditionings=svd_lora",
    "--config.ff.methods=ls,stch",
    "--config.ff.steps=600",
    "--config.kl.num_prompts=8",
    "--config.kl.steps=600",
    "--config.kl.baseline_steps=300",
    "--config.kl.sweep=4",
    "--config.grid=50",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  ff = results["ff"]["runs"]
  assert ff["svd_lora/stch"]["hv"] > 0.95 * pareto_front.FF_EXACT_HV
  assert ff["svd_lora/ls"]["hv"] < ff["svd_lora/stch"]["hv"]
  kl = results["kl"]
  assert kl["modpo"]["models_trained"] == 5 and kl["rewarded_soups"]["models_trained"] == 2
  assert kl["modpo"]["max_kl_to_closed_form"] < 1e-3  # population MODPO reaches the closed form
  assert kl["conditioned"]["max_kl_to_closed_form"] < 0.1
  for name in ("ff_fronts.png", "kl_fronts.png"):
    assert (tmp_path / name).stat().st_size > 10_000
  assert "Fonseca-Fleming" in proc.stdout and "rewarded_soups" in proc.stdout


def test_llmfao_part_on_shared_data(shared_data, tmp_path):
  config = config_lib.get_config("parts=llmfao,plot=false")
  config.llmfao.gpt4 = str(shared_data / "llmfao" / "gpt4-crowd-comparisons.csv")
  config.llmfao.steps = 1500
  config.grid = 20
  r = train_lib.train_and_evaluate(config, str(tmp_path))["llmfao"]
  assert r["models"] == 59 and 0.5 < r["judge_correlation"] < 0.8
  assert {p["model"] for p in r["pareto_optimal"]} >= {"GPT 4"}
  assert r["policy"]["max_kl_to_closed_form"] < 0.02
  assert r["policy"]["hv"] > 0.99 * r["policy"]["closed_form_hv"]


def test_llmfao_part_skips_without_gpt4_file(tmp_path, capsys):
  config = config_lib.get_config("parts=llmfao,plot=false")
  config.llmfao.gpt4 = str(tmp_path / "missing.csv")
  assert pareto_front.run(config, str(tmp_path)) == {"llmfao": None}
  assert "skipping llmfao" in capsys.readouterr().out


def test_closed_form_maximizes_every_linear_scalarization():
  X, log_ref, R = pareto_front._synthetic_task(config_lib.get_config().kl, jax.random.key(0))
  weights = jnp.array([0.3, 0.7])
  best = pareto_front.closed_form(log_ref, R, weights, kl_coef=0.5)
  value = float(weights @ pareto_front.policy_values(best, log_ref, R, kl_coef=0.5))
  for k in range(5):
    noise = 0.1 * jax.random.normal(jax.random.key(k), best.shape)
    other = jax.nn.log_softmax(best + noise, axis=-1)
    assert float(weights @ pareto_front.policy_values(other, log_ref, R, kl_coef=0.5)) < value
  corr = np.corrcoef(np.asarray(R[..., 0]).ravel(), np.asarray(R[..., 1]).ravel())[0, 1]
  assert corr == pytest.approx(-0.6, abs=0.05)
  del X


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"parts": "ff+cifar"}, "Unknown part"),
    ({"ff.conditionings": "hyper"}, "Unknown conditioning"),
    ({"ff.methods": "pbi"}, "Unknown scalarization"),
    ({"kl.num_objectives": 5}, "must be 2 or 3"),
    ({"kl.kl_coef": 0.0}, "kl.kl_coef must be > 0"),
    ({"kl.num_objectives": 3, "kl.correlation": -0.6}, "must lie in"),
  ],
)
def test_validation(override, message):
  config = config_lib.get_config()
  for key, value in override.items():
    node = config
    *path, leaf = key.split(".")
    for p in path:
      node = node[p]
    node[leaf] = value
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)
