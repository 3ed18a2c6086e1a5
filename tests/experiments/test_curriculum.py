"""Curry-DPO's orders: every schedule uses the pairs it should, and the experiment runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import curriculum as config_lib
from experiments import curriculum, train_lib
from jaxpref import losses


def _small(**overrides):
  config = config_lib.get_config("seeds=2")
  config.prompts, config.lists, config.epochs, config.batch = 4, 3, 2, 6  # 36 pairs, 12 steps
  config.steps, config.log.every = 12, 6
  for key, value in overrides.items():
    config[key] = value
  return config


def test_schedules_follow_their_order():
  config = _small()
  reward, chosen, rejected, gap = curriculum.task(config, jax.random.key(0))
  assert reward.shape == (4, 8)
  assert chosen.shape == rejected.shape == gap.shape == (36,)
  np.testing.assert_array_less(0, gap)  # best vs rest: the chosen one is rated higher
  bucket = np.asarray(losses.curriculum_buckets(gap, buckets=3))
  key = jax.random.key(1)
  shuffled = np.asarray(curriculum.schedule(config, "shuffled", key, gap)).reshape(2, 36)
  ordered = np.asarray(curriculum.schedule(config, "curriculum", key, gap)).reshape(2, 36)
  staged = np.asarray(curriculum.schedule(config, "iterative", key, gap)).reshape(3, -1)
  for epoch in range(2):  # every epoch sees every pair once
    np.testing.assert_array_equal(np.sort(shuffled[epoch]), np.arange(36))
    np.testing.assert_array_equal(np.sort(ordered[epoch]), np.arange(36))
    assert np.all(np.diff(bucket[ordered[epoch]]) >= 0)  # easy (bucket 0) first
  for stage in range(3):  # stage b trains on bucket b only, each of its pairs equally often
    assert set(bucket[staged[stage]]) == {stage}
    counts = np.bincount(staged[stage], minlength=36)[bucket == stage]
    assert counts.min() == counts.max() == 2


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"orders": "shuffled+random"}, "Unknown order 'random'"),
    ({"batch": 7}, "split evenly into batches of 7"),
    ({"list_size": 9}, r"list_size must be in \[2, responses=8\]"),
    ({"steps": 5}, "config.steps is derived"),
  ],
)
def test_validation(override, message):
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(_small(**override))


# Three orders compiled through the engine (about 10 s on 2 cores).
@pytest.mark.slow
def test_orders_through_the_engine(tmp_path):
  results = train_lib.train_and_evaluate(_small(), str(tmp_path))
  assert set(results) == {"shuffled", "curriculum", "iterative"}
  for order in ("curriculum", "iterative"):
    d = results[order]["minus_shuffled"]["expected_reward"]
    assert np.shape(d["values"]) == (2,) and np.all(np.isfinite(d["values"]))
  kl = results["shuffled"]["final"]["kl_to_reference"]["values"]
  assert np.all(np.asarray(kl) > 0)  # the policy moved away from the uniform reference


def test_metrics_of_the_uniform_policy():
  program = curriculum.make_program(_small(), "shuffled")
  hp = curriculum.Hyper(jnp.float32(0.05), jnp.float32(0.1))
  state = program.init(hp, jax.random.key(2))
  m = program.metrics(state, hp)
  assert float(m["kl_to_reference"]) == pytest.approx(0.0, abs=1e-6)
  assert float(m["ranking_accuracy"]) == 1.0  # ties keep every order (pi_i >= pi_j)
  np.testing.assert_allclose(m["expected_reward"], jnp.mean(state.reward), rtol=1e-5)
