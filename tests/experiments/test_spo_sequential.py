"""SPO on a sequential task: the preferences, their games, bad inputs and a tiny run."""

import json

import jax
import numpy as np
import pytest

from configs import spo_sequential as config_lib
from experiments import spo_sequential as spo
from experiments import train_lib
from jaxpref import equilibria


def _tiny(arg="seeds=2", **overrides):
  config = config_lib.get_config(arg)
  config.horizon, config.actions, config.round_size, config.rounds = 3, 2, 4, 2
  config.steps, config.log.every, config.newton_steps = 20, 10, 5
  config.plot, config.log.progress_seconds = False, -1.0
  for key, value in overrides.items():
    config[key] = value
  return config


# One step, three actions, criteria (3, 2, 1), (2, 1, 3), (1, 3, 2): a Condorcet cycle.
CYCLE = np.array([[[3.0, 2.0, 1.0], [2.0, 1.0, 3.0], [1.0, 3.0, 2.0]]])


def test_majority_preference_is_intransitive_on_a_hand_made_triple():
  a, b, c = [0], [1], [2]
  prefer = lambda x, y: float(spo.preference(CYCLE, x, y, "intransitive"))  # noqa: E731
  assert (prefer(a, b), prefer(b, c), prefer(c, a)) == (1.0, 1.0, 1.0)  # A > B > C > A
  assert prefer(a, a) == 0.5  # ties count 1/2
  trajectories = np.arange(3)[:, None]
  P = spo.preference(CYCLE, trajectories[:, None], trajectories[None], "intransitive")
  np.testing.assert_allclose(equilibria.maximal_lottery(P), [1 / 3, 1 / 3, 1 / 3], atol=1e-9)


def test_the_task_games_have_a_mixed_and_a_point_lottery():
  config = config_lib.get_config()
  majority = spo.make_task(config, "intransitive")
  info = spo.lottery_info(majority)
  assert not info["condorcet"] and info["support"] >= 3  # BT is misspecified
  np.testing.assert_allclose(majority.preference + majority.preference.T, 1.0)
  control = spo.make_task(config, "transitive")
  best = np.argmax(control.criteria.sum(-1))
  np.testing.assert_allclose(control.lottery, np.eye(len(control.lottery))[best], atol=1e-9)


def test_preferences_refuse_trajectories_of_different_lengths():
  R = spo.step_rewards(_tiny())  # horizon 3
  with pytest.raises(ValueError, match="different lengths"):
    spo.preference(R, [0, 1, 0], [0, 1], "intransitive")
  with pytest.raises(ValueError, match="horizon is 3"):
    spo.preference(R, [0, 1], [1, 1], "transitive")
  with pytest.raises(ValueError, match="Unknown preference 'cyclic'"):
    spo.preference(R, [0, 1, 0], [0, 1, 1], "cyclic")


def test_history_policy_enumerates_a_distribution():
  config = _tiny(actions=3)
  task = spo.make_task(config, "transitive")
  assert task.actions.shape == (27, 3) and task.num_nodes == 1 + 3 + 9
  logits = jax.random.normal(jax.random.key(0), (task.num_nodes, 3))
  p = np.exp(np.asarray(spo.trajectory_logp(task, logits)))
  np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-5)
  uniform = spo.evaluate(task, np.full(27, 1 / 27, np.float32))
  np.testing.assert_allclose(uniform["win_vs_uniform"], 0.5, atol=1e-6)


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"methods": "spo+ppo"}, "Unknown method 'ppo'"),
    ({"preferences": "intransitive+cyclic"}, "Unknown preference 'cyclic'"),
    ({"methods": ""}, "config.methods is empty"),
    ({"reward_model": "mlp"}, "Unknown reward model 'mlp'"),
    ({"horizon": 0}, "horizon must be >= 1"),
    ({"round_size": 1}, "round_size .* must be >= 2"),
    ({"actions": 1}, "actions must be >= 2"),
    ({"horizon": 7, "actions": 3}, "at most 729"),
    ({"label_noise": 0.5}, "label_noise must be in"),
    ({"optimizer": "rmsprop"}, "Unknown optimizer 'rmsprop'"),
  ],
)
def test_bad_configs_are_refused(override, message):
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(_tiny(**override))


def test_tiny_run_writes_results_and_the_head_to_head(tmp_path):
  config = _tiny(preferences="intransitive")
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  entry = results["intransitive"]
  assert results["queries"] == 20 * 2 * 4 * 3
  for method in ("spo", "bt_rlhf"):
    final = entry["methods"][method]["final"]
    assert final["queries"]["mean"] == results["queries"]  # the same query budget
    for key in ("gap", "gap_average", "tv_to_lottery", "win_vs_uniform", "entropy"):
      assert np.all(np.isfinite(final[key]["values"])), (method, key)
    assert np.min(final["gap"]["values"]) >= -1e-5
    assert (tmp_path / "intransitive" / method / "metrics.jsonl").exists()
  win = entry["spo_vs_bt_rlhf"]
  assert len(win["values"]) == 2 and 0.0 <= np.min(win["values"]) <= np.max(win["values"]) <= 1.0
  assert json.loads((tmp_path / "results.json").read_text())["intransitive"]["spo_vs_bt_rlhf"]


@pytest.mark.slow
def test_full_config_spo_closes_the_gap_bt_rlhf_cannot(tmp_path):
  config = config_lib.get_config()
  config.plot, config.log.progress_seconds = False, -1.0
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  cyc, ctl = results["intransitive"], results["transitive"]
  spo_gap = cyc["methods"]["spo"]["final"]["gap"]
  assert spo_gap["mean"] + spo_gap["ci95"] < cyc["methods"]["bt_rlhf"]["final"]["gap"]["mean"]
  h2h = cyc["spo_vs_bt_rlhf"]
  assert h2h["mean"] + h2h["ci95"] > 0.5  # SPO is not beaten by the BT policy
  assert abs(ctl["spo_vs_bt_rlhf"]["mean"] - 0.5) < 0.05
