"""The pluralistic-policy bandit: exact references, bad configs and a small synthetic run."""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import pluralistic_policy as config_lib
from experiments import pluralistic_policy as pp
from experiments import train_lib


def _small(arg="seeds=4,scenarios=synthetic", **overrides):
  config = config_lib.get_config(arg)
  config.prompts, config.responses, config.labels, config.annotators = 4, 6, 2048, 20
  config.steps, config.log.every, config.em_steps, config.em_restarts = 240, 120, 5, 1
  config.egalitarian_steps, config.plot = 1000, False
  config.log.progress_seconds = -1.0
  for key, value in overrides.items():
    config[key] = value
  return config


def test_exact_references_bracket_the_two_welfares():
  config = _small()
  task = pp.synthetic_task(config)
  beta = jnp.float32(config.kl_coef)
  refs = pp.references(task, beta, 2000)
  util = pp.evaluate(task, refs["utilitarian"], beta)
  egal = pp.evaluate(task, refs["egalitarian"], beta)
  uniform = jnp.full(task.rewards.shape[1:], -np.log(task.rewards.shape[-1]))
  ref = pp.evaluate(task, uniform, beta)
  assert float(util["welfare"]) >= float(egal["welfare"]) - 1e-6
  assert float(egal["worst_value"]) > float(util["worst_value"])  # the minority is left behind
  np.testing.assert_allclose([ref["kl"], ref["worst_value"]], 0.0, atol=1e-6)
  np.testing.assert_allclose(ref["worst_win"], 0.5, atol=1e-6)
  # The egalitarian optimum equalizes the groups' values where it mixes them.
  np.testing.assert_allclose(egal["value/g0"], egal["value/g1"], atol=2e-3)


def test_annotators_follow_the_shares_and_an_empty_group_is_refused():
  members = pp.annotators_of(np.array([0.8, 0.2]), 10)
  np.testing.assert_array_equal(np.bincount(members), [8, 2])
  with pytest.raises(ValueError, match=r"group 1 .* gets no annotator"):
    pp.annotators_of(np.array([0.99, 0.01]), 20)


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"methods": "dpo+ppo"}, "Unknown method 'ppo'"),
    ({"scenarios": "synthetic+hh"}, "Unknown scenario 'hh'"),
    ({"methods": ""}, "config.methods is empty"),
    ({"components": 1}, "K = 1 is the single-reward"),
    ({"annotators": 2}, "gets no annotator"),
    ({"group_step_size": -0.1}, "group_step_size must be > 0"),
  ],
)
def test_bad_configs_are_refused(override, message):
  with pytest.raises(ValueError, match=message):
    pp.validate(_small(**override))


def test_minority_share_outside_the_half_interval_is_refused():
  with pytest.raises(ValueError, match="minority's share"):
    pp.validate(_small("scenarios=synthetic,minority=0.6"))


def _lifted(results, methods):
  """Each method's minority win rate is above pooled DPO's, intervals apart; gaps as stated."""
  runs = results["synthetic"]["methods"]
  final = {m: runs[m]["final"]["minority_win"] for m in runs}
  dpo_hi = final["dpo"]["mean"] + final["dpo"]["ci95"]
  for method in methods:
    assert final[method]["mean"] - final[method]["ci95"] > dpo_hi, (method, final)
    gap = runs[method]["final"]["egalitarian_gap"]["mean"]
    assert gap < min(0.35, runs["dpo"]["final"]["egalitarian_gap"]["mean"] / 3), (method, gap)
    assert runs[method]["minus_dpo"]["minority_win"]["mean"] > 0
  return runs


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_group_robust_dpo_lifts_the_minority_above_pooled_dpo(tmp_path):
  config = _small(methods="dpo+group_robust_dpo")
  _lifted(train_lib.train_and_evaluate(config, str(tmp_path)), ("group_robust_dpo",))


# MaxMin-RLHF too (its hard EM and policy gradient compile for about 10 s more).
@pytest.mark.slow
def test_group_methods_lift_the_minority_above_pooled_dpo(tmp_path):
  config = _small(methods="dpo+group_robust_dpo+maxmin_rlhf")
  runs = _lifted(
    train_lib.train_and_evaluate(config, str(tmp_path)), ("group_robust_dpo", "maxmin_rlhf")
  )
  # Hard EM finds the two groups on every seed (MaxMin-RLHF is not told them).
  np.testing.assert_array_equal(runs["maxmin_rlhf"]["final"]["purity"]["values"], 1.0)


def test_tiny_lm_scenario_trains_through_the_engine(tmp_path):
  config = _small("seeds=2,scenarios=tiny_lm,methods=group_robust_dpo")
  config.lm.steps, config.lm.batch_prompts, config.lm.max_new_tokens = 4, 2, 4
  config.lm.dim, config.lm.layers, config.lm.hidden, config.lm.eval_prompts = 16, 1, 32, 4
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  final = results["tiny_lm"]["methods"]["group_robust_dpo"]["final"]
  for key in ("win/g0", "win/g1", "worst_win", "kl", "weight/k0"):
    assert np.all(np.isfinite(final[key]["values"])), key
  weights = np.asarray(final["weight/k0"]["values"]) + np.asarray(final["weight/k1"]["values"])
  np.testing.assert_allclose(weights, 1.0, atol=1e-5)  # GRPO's alpha stays on the simplex
  assert (tmp_path / "tiny_lm" / "group_robust_dpo" / "metrics.jsonl").exists()
