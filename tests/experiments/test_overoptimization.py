"""The over-optimization bandit: the proxy's fit, bookkeeping, bad configs and one small run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import overoptimization as config_lib
from experiments import overoptimization, train_lib
from jaxpref import overoptimization as oo


def _small(arg="seeds=2", **overrides):
  config = config_lib.get_config(arg)
  config.prompts, config.responses, config.max_comparisons, config.comparisons = 3, 16, 300, 300
  config.vmap.axes.comparisons = (300,)
  config.vmap.axes.kl_coef = (0.1,)
  config.steps, config.log.every, config.calibration_tasks, config.newton_steps = 20, 10, 2, 12
  config.best_of_n, config.betas, config.reference_samples = "1,4,64", "1,0.1", 8
  for key, value in overrides.items():
    config[key] = value
  return config


def test_newton_fit_is_the_ridge_bradley_terry_optimum():
  wins = jnp.array([[0.0, 3.0, 1.0], [1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
  theta = overoptimization.fit_proxy(wins, l2=0.1, steps=30)

  def loss(t):
    d = t[:, None] - t[None, :]
    return -jnp.sum(wins * jax.nn.log_sigmoid(d)) + 0.05 * jnp.sum(t**2)

  np.testing.assert_allclose(jax.grad(loss)(theta), 0.0, atol=1e-10)


def test_proxy_equal_to_gold_gives_identical_curves():
  config = _small(proxy_is_gold=True)
  task = overoptimization.draw_task(config, jax.random.key(0), 300)
  np.testing.assert_array_equal(task.proxy, task.gold)
  curves = overoptimization.exact_curves(task, jnp.array([1.0, 4.0, 64.0]), jnp.array([1.0, 0.1]))
  for curve in curves:
    np.testing.assert_allclose(curve["gold_win_rate"], curve["proxy_win_rate"], atol=1e-12)
    np.testing.assert_allclose(curve["gold_gain"], curve["proxy_gain"], atol=1e-12)
    assert np.all(np.diff(np.asarray(curve["gold_win_rate"])) > 0)  # no over-optimization
  bon = curves.bon
  np.testing.assert_allclose(bon["kl"][0], 0.0, atol=1e-12)  # n = 1 is the reference
  np.testing.assert_allclose(bon["gold_win_rate"][0], 0.5, atol=1e-12)
  assert float(bon["kl"][1]) <= float(oo.best_of_n_kl(4)) + 1e-12  # exact KL <= the formula


def test_more_comparisons_give_a_closer_proxy():
  config = _small()
  errors = []
  for m in (30, 300):
    task = overoptimization.draw_task(config, jax.random.key(3), m)
    centred = task.proxy - jnp.sum(task.ref * task.proxy, -1, keepdims=True)
    gold = task.gold - jnp.sum(task.ref * task.gold, -1, keepdims=True)
    errors.append(float(jnp.sum(task.ref * (centred - gold) ** 2)))
  assert errors[1] < errors[0]


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"trainers": "policy_gradient+ppo"}, "Unknown trainer 'ppo'"),
    ({"best_of_n": "0,4"}, "every n >= 1"),
    ({"betas": "1,-0.1"}, "betas must be positive"),
    ({"max_comparisons": 100}, "comparisons must lie in"),
    ({"part": "lm"}, "config.part must be"),
    ({"reference_quantile": 1.5}, "reference_quantile"),
  ],
)
def test_bad_configs_are_refused(override, message):
  with pytest.raises(ValueError, match=message):
    overoptimization.validate(_small(**override))


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_constrained_run_holds_its_proxy_point(tmp_path):
  config = _small(trainers="constrained")
  config.steps, config.log.every = 200, 100
  train_lib.validate_config(config)
  results = overoptimization.run(config, str(tmp_path))
  c = results["trainers"]["constrained"]
  threshold = np.asarray(c["threshold"]["values"])
  final = np.asarray(c["final"]["proxy_gain"]["values"])
  # The policy climbs to the proxy point, the multiplier switches on and holds it there (or under).
  assert np.any(np.asarray(c["final"]["multiplier"]["values"]) > 0)
  np.testing.assert_array_less(final, threshold + 0.05)
  np.testing.assert_array_less(0.5 * threshold, final)  # it did climb from the reference's 0
  curves = results["curves"]["best_of_n"]
  np.testing.assert_allclose(np.asarray(curves["kl"]["mean"])[..., 0], 0.0, atol=1e-6)
  assert (tmp_path / "overoptimization.png").exists()


@pytest.mark.slow
def test_every_trainer_through_the_cli_and_a_seed_alone_equals_its_sweep(tmp_path):
  config = _small()
  results = train_lib.train_and_evaluate(config, str(tmp_path / "sweep"))
  assert set(results["trainers"]) == set(overoptimization.TRAINERS)
  alone = _small("seeds=1")
  alone.vmap.seed_offset = 1
  single = train_lib.train_and_evaluate(alone, str(tmp_path / "alone"))
  for trainer in overoptimization.TRAINERS:
    swept = np.asarray(results["trainers"][trainer]["final"]["gold_win_rate"]["values"])
    one = np.asarray(single["trainers"][trainer]["final"]["gold_win_rate"]["values"])
    np.testing.assert_allclose(one[..., 0], swept[..., 1], rtol=1e-5)
