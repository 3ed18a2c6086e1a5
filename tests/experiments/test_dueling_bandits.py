"""The dueling-bandit experiment: its matrices, bad configs and one small run."""

import numpy as np
import pytest

from configs import dueling_bandits as config_lib
from experiments import dueling_bandits, train_lib
from jaxpref import equilibria, games


def _small(arg="seeds=2,matrices=transitive+cyclic,algorithms=rucb+sparring_exp3"):
  config = config_lib.get_config(arg)
  config.steps, config.log.every, config.rounds_per_step, config.arms = 8, 4, 32, 5
  config.plot, config.log.progress_seconds = False, -1.0
  return config


def test_matrices_have_the_stated_winners():
  transitive = dueling_bandits.transitive_matrix(5)
  cyclic = dueling_bandits.cyclic_matrix(6)
  for P in (transitive, cyclic):
    assert games.is_preference_matrix(P)
  np.testing.assert_allclose(equilibria.maximal_lottery(transitive), np.eye(5)[0], atol=1e-9)
  lottery = equilibria.maximal_lottery(cyclic)
  np.testing.assert_allclose(lottery, [2 / 6, 1 / 6, 3 / 6, 0, 0, 0], atol=1e-9)
  assert not np.any(np.all(cyclic - np.eye(6) / 2 >= 0.5, axis=1))  # no Condorcet winner


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"algorithms": "rucb+ucb1"}, "Unknown name 'ucb1'"),
    ({"matrices": ""}, "config.matrices is empty"),
    ({"alpha": 0.5}, "alpha must be > 1/2"),
    ({"arms": 3}, "config.arms must be >= 4"),
    ({"rounds_per_step": 0}, "rounds_per_step must be >= 1"),
  ],
)
def test_bad_configs_are_refused(override, message):
  config = _small()
  for key, value in override.items():
    config[key] = value
  with pytest.raises(ValueError, match=message):
    dueling_bandits.validate(config)


def test_small_run_logs_regret_that_never_decreases(tmp_path):
  results = train_lib.train_and_evaluate(_small(), str(tmp_path))
  assert results["rounds"] == 8 * 32
  assert results["transitive"]["condorcet"] and not results["cyclic"]["condorcet"]
  for matrix in ("transitive", "cyclic"):
    for name in ("rucb", "sparring_exp3"):
      final = results[matrix][name]["final"]
      assert np.all(np.asarray(final["regret"]["values"]) >= 0)
      assert 0 <= np.min(final["tv_to_lottery"]["values"]) <= 1
      assert (tmp_path / matrix / name / "metrics.jsonl").exists()
      doubling = results[matrix][name]["doublings"]
      assert all(np.all(np.asarray(v["values"]) >= -1e-5) for v in doubling.values())
