import jax
import numpy as np
import pytest
import scipy.stats

from jaxpref import training
from tests.training._programs import small_config


def test_points_are_hparams_outer_seeds_inner():
  sweep = training.sweep_from_config(small_config())
  assert sweep.names == ("solver.kl_coef", "solver.step_size")  # config paths, sorted
  assert sweep.shape == (2, 2, 3) and sweep.num_points == 12
  hparams, seeds = training.sweep_points(sweep)
  assert hparams["solver.kl_coef"].tolist() == [0.0] * 6 + [0.1] * 6
  assert hparams["solver.step_size"].tolist() == ([0.5] * 3 + [2.0] * 3) * 2
  assert seeds.tolist() == [0, 1, 2] * 4
  assert sweep.labels() == [
    "kl_coef=0 step_size=0.5",
    "kl_coef=0 step_size=2",
    "kl_coef=0.1 step_size=0.5",
    "kl_coef=0.1 step_size=2",
  ]
  flat = np.arange(12.0)
  np.testing.assert_array_equal(training.unflatten(flat, sweep)[1, 0], [6.0, 7.0, 8.0])


def test_seed_keys_shared_across_hparams_and_offset():
  sweep = training.sweep_from_config(small_config(**{"vmap.seed_offset": 5}))
  _, seeds = training.sweep_points(sweep)
  assert seeds.tolist()[:3] == [5, 6, 7]
  keys = jax.random.key_data(training.seed_keys(0, seeds))
  np.testing.assert_array_equal(keys[0], keys[3])  # same seed, another step size
  assert not np.array_equal(keys[0], keys[1])
  expected = jax.random.key_data(jax.random.fold_in(jax.random.key(0), 6))
  np.testing.assert_array_equal(keys[1], expected)


def test_point_config_selects_one_point():
  config = small_config()
  sweep = training.sweep_from_config(config)
  one = training.point_config(config, sweep, 7)  # kl 0.1, step 0.5, seed 1
  assert (one.solver.kl_coef, one.solver.step_size) == (0.1, 0.5)
  assert one.vmap.seeds == 1 and one.vmap.seed_offset == 1
  assert training.sweep_from_config(one).num_points == 1


def test_no_vmap_section_is_one_point():
  config = small_config()
  del config["vmap"]
  assert training.sweep_from_config(config).shape == (1,)


@pytest.mark.parametrize(
  "path, value, message",
  [
    ("vmap.seeds", 0, "vmap.seeds must be an integer >= 1"),
    ("vmap.axes.solver.step_size", (), "non-empty tuple"),
    ("vmap.axes.solver.step_size", (0.1, "a"), "values must be numbers"),
    ("vmap.axes.solver.step_size", (0.1, float("nan")), "must be finite"),
    ("vmap.axes.solver.step_size", (True,), "values must be numbers"),
  ],
)
def test_bad_vmap_section_raises(path, value, message):
  config = small_config()
  node = config
  *parents, leaf = path.split(".")
  for p in parents:
    node = node[p]
  with config.unlocked():
    node[leaf] = value
  with pytest.raises(ValueError, match=message):
    training.sweep_from_config(config)


def test_axis_must_name_a_numeric_field():
  config = small_config()
  config.vmap.axes.solver.lr = (0.1,)
  with pytest.raises(ValueError, match=r"no field 'solver\.lr'"):
    training.sweep_from_config(config)
  config = small_config()
  config.vmap.axes.solver.name = ("a", "b")
  with pytest.raises(ValueError, match="only numeric fields"):
    training.sweep_from_config(config)
  config = small_config()
  config.vmap.axes.game = {"n": (3.5,)}
  with pytest.raises(ValueError, match="integer field"):
    training.sweep_from_config(config)


def test_summarize_matches_student_t():
  rng = np.random.default_rng(0)
  values = rng.normal(size=(4, 7))
  s = training.summarize(values)
  for row, m, h in zip(values, s.mean, s.half_width, strict=True):
    low, high = scipy.stats.t.interval(0.95, 6, loc=row.mean(), scale=scipy.stats.sem(row))
    np.testing.assert_allclose([m - h, m + h], [low, high], rtol=1e-12)
  assert np.isnan(training.summarize(np.ones((3, 1))).half_width).all()
