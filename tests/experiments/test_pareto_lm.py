"""``pareto_lm``: one Panacea-conditioned decoder against per-weight MODPO adapters, in CI."""

import json

import jax
import ml_collections
import numpy as np
import pytest

from configs import pareto_lm as config_lib
from experiments import pareto_lm, train_lib
from jaxpref import training


def _config(seeds=1, **overrides):
  config = config_lib.get_config(f"seeds={seeds},steps=300,plot=false")
  config.log.every = 150
  config.log.tensorboard = False
  config.log.progress_seconds = -1.0
  for key, value in overrides.items():
    node = config
    *path, leaf = key.split(".")
    for p in path:
      node = node[p]
    node[leaf] = ml_collections.ConfigDict(value) if isinstance(value, dict) else value
  return config


def test_one_conditioned_decoder_covers_the_per_weight_modpo_front(tmp_path):
  """Stated tolerance (seed 0, 300 steps): Panacea's HV >= 90% of MODPO's, controllability >= 0.9.

  One seed keeps the suite short; the README gives the 8-seed intervals (coverage 0.914 +- 0.037).
  """
  results = train_lib.train_and_evaluate(_config(), str(tmp_path))
  panacea, modpo = results["methods"]["panacea"], results["methods"]["modpo"]
  assert panacea["models_trained"] == 1 and modpo["models_trained"] == 5
  assert min(results["coverage"]["values"]) >= 0.9, results["coverage"]
  assert min(panacea["metrics"]["controllability"]["values"]) >= 0.9 - 1e-6  # float32 Spearman
  assert min(modpo["metrics"]["controllability"]["values"]) >= 0.9 - 1e-6
  for r in (panacea, modpo):
    assert np.shape(r["metrics"]["hv"]["values"]) == (1,) and r["wall_time_s"] > 0
    assert np.all(np.asarray(r["metrics"]["max_kl"]["values"]) > 0)
  assert np.shape(panacea["front"]) == (1, 11, 2) and np.shape(modpo["front"]) == (1, 5, 2)
  assert np.asarray(modpo["weights"])[:, 0].tolist() == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["coverage"]["values"] == pytest.approx(results["coverage"]["values"])
  assert (tmp_path / "panacea" / "metrics.jsonl").is_file()


@pytest.mark.parametrize(
  ("override", "message"),
  [
    (
      {"methods": "panacea,soups"},
      "Unknown method 'soups' in config.methods; known: panacea, modpo",
    ),
    ({"methods": ""}, "methods is empty"),
    ({"lm.modpo_weights": "0.0,0.5"}, "must lie in \\(0, 1\\)"),
    ({"lm.modpo_weights": "0.2,x"}, "must be numbers"),
    ({"lm.panacea_loss": "tch"}, "must be 'dpo' or 'pg'"),
    ({"synthetic.correlation": 1.0}, "must lie in \\(-1, 1\\)"),
    ({"lm.kl_coef": 0.0}, "lm.kl_coef must be > 0"),
    ({"vmap.axes.lm": {"vocab": (8,)}}, "not a vmappable|lm.vocab"),
    ({"lm.model": "gpt2"}, "lm.model must be 'tiny' or 'smollm2'"),
    ({"lm.dpa_samples": 0}, "lm.dpa_samples, lm.dpa_rounds >= 1"),
    ({"lm.cpo_range_samples": 1}, "cpo_range_samples must be >= 2"),
    ({"lm.vocab": 10}, "no room for the 11 preference tokens"),
    ({"lm.model": "smollm2", "smollm2.judges": "crowd"}, "must name two of crowd, gpt4"),
  ],
)
def test_bad_configs_fail_before_compiling(override, message, monkeypatch, tmp_path):
  def compiled(*args, **kwargs):
    raise AssertionError("run_sweep reached")

  monkeypatch.setattr(training, "run_sweep", compiled)
  with pytest.raises(ValueError, match=message):
    train_lib.train_and_evaluate(_config(**override), str(tmp_path))


# Every method on the tiny decoder (8 programs to compile; the CI pair above runs by default).
@pytest.mark.slow
def test_every_method_runs_with_its_number_of_models(tmp_path):
  config = _config(seeds=2, methods=",".join(pareto_lm.METHODS))
  config.steps = 100
  results = train_lib.train_and_evaluate(config, str(tmp_path))["methods"]
  assert list(results) == list(pareto_lm.METHODS)
  models = {m: r["models_trained"] for m, r in results.items()}
  one = {"panacea": 1, "rewarded_soups": 2, "cpo": 1, "dpa": 1}
  assert models == {m: one.get(m, 5) for m in pareto_lm.METHODS}
  for method, r in results.items():
    assert np.all(np.isfinite(r["metrics"]["hv"]["values"])), method
    assert np.all(np.asarray(r["metrics"]["max_kl"]["values"]) > 0), method


def test_prompted_methods_carry_the_weight_in_the_prompt_and_train(tmp_path):
  """CPO and DPA on the tiny decoder: grid weight g is token ``vocab - 1 - G + g`` before the
  prompt; CPO's reward ranges come from the reference; both train through the engine."""
  config = _config(methods="cpo,dpa")
  config.steps, config.lm.dpa_rounds = 20, 2
  setup = pareto_lm.tiny_setup(config)
  toks, start = setup.prompted("cpo")
  G, n = 11, setup.task.tokens.shape[0]
  assert toks.shape[:2] == (G, n) and start.shape == (G, n)
  for g in (0, 10):
    for i in range(n):
      plain = list(setup.task.tokens[i, setup.task.start[i] :])
      assert list(toks[g, i, start[g, i] :]) == [64 - 1 - G + g, *plain]
  method = pareto_lm.make_method(config, setup, "cpo")
  hp = pareto_lm.Hyper(np.float32(1e-2), np.float32(0.1))
  state = jax.jit(method.program.init)(hp, jax.random.key(0))
  lo, hi = np.asarray(state.extra)
  assert lo.shape == hi.shape == (n, 2) and np.all(lo <= hi) and np.any(lo < hi)
  results = train_lib.train_and_evaluate(config, str(tmp_path))["methods"]
  for name in ("cpo", "dpa"):
    r = results[name]
    assert r["models_trained"] == 1
    assert np.all(np.isfinite(r["metrics"]["hv"]["values"])), name
    assert np.all(np.asarray(r["metrics"]["max_kl"]["values"]) > 0), name  # the adapter moved


@pytest.mark.slow
def test_real_smollm2_front_with_the_crowd_and_gpt4_heads_small(tmp_path, smollm2_text_models):
  config = config_lib.get_config("model=smollm2,steps=2,plot=false")
  config.log.every, config.log.tensorboard = 1, False
  config.methods = "panacea,modpo,rewarded_soups,cpo,dpa"
  config.lm.update(dict(eval_prompts=2, max_new_tokens=8, grid=2, batch_prompts=2,
                        cpo_range_samples=2, dpa_samples=2, modpo_weights="0.3,0.7"))  # fmt: skip
  config.smollm2.update(dict(prompts=2, head_steps=50))
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  judges = results["judges"]
  assert judges["crowd_head_on_crowd_heldout_accuracy"] > 0.6
  assert judges["gpt4_head_on_gpt4_heldout_accuracy"] > 0.6
  assert -1 < judges["reward_spearman"] < 1
  for method, r in results["methods"].items():
    assert np.all(np.isfinite(r["metrics"]["hv"]["values"])), method
  assert results["methods"]["modpo"]["models_trained"] == 2
