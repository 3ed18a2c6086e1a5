from typing import NamedTuple

import jax
import numpy as np
import pytest
import scipy.stats

from jaxpref import training
from tests.training._programs import Hyper, small_sweep


def test_points_are_hparams_outer_seeds_inner():
  sweep = small_sweep()
  assert sweep.names == ("kl_coef", "step_size")  # in the order given, outermost first
  assert sweep.shape == (2, 2, 3) and sweep.num_points == 12 and sweep.hparam_shape == (2, 2)
  hparams, seeds = training.sweep_points(sweep)
  assert isinstance(hparams, Hyper)  # the typed pytree, with [N] leaves
  assert hparams.kl_coef.tolist() == [0.0] * 6 + [0.1] * 6
  assert hparams.step_size.tolist() == ([0.5] * 3 + [2.0] * 3) * 2
  assert seeds.tolist() == [0, 1, 2] * 4
  assert sweep.labels() == [
    "kl_coef=0 step_size=0.5",
    "kl_coef=0 step_size=2",
    "kl_coef=0.1 step_size=0.5",
    "kl_coef=0.1 step_size=2",
  ]
  flat = np.arange(12.0)
  np.testing.assert_array_equal(training.unflatten(flat, sweep)[1, 0], [6.0, 7.0, 8.0])


def test_unswept_fields_repeat_their_value_and_keep_their_type():
  class Nested(NamedTuple):
    solver: Hyper
    rounds: int

  hp = Nested(Hyper(step_size=1.0, kl_coef=0.01), rounds=3)
  assert training.hparam_fields(hp) == {
    "solver.step_size": 1.0,
    "solver.kl_coef": 0.01,
    "rounds": 3,
  }
  sweep = training.make_sweep(hp, axes={"rounds": (2, 4), "solver.step_size": 0.5}, seeds=2)
  assert sweep.shape == (2, 1, 2) and sweep.labels() == [
    "rounds=2 step_size=0.5",
    "rounds=4 step_size=0.5",
  ]
  points, seeds = training.sweep_points(sweep)
  assert seeds.tolist() == [0, 1] * 2
  assert points.rounds.dtype == np.int32 and points.rounds.tolist() == [2, 2, 4, 4]
  assert points.solver.step_size.tolist() == [0.5] * 4
  assert points.solver.kl_coef.dtype == np.float64 and points.solver.kl_coef.tolist() == [0.01] * 4
  assert sweep.to_json() == {
    "axes": {"rounds": [2, 4], "solver.step_size": [0.5]},
    "seeds": 2,
    "seed": 0,
    "seed_offset": 0,
    "hparams": {"solver.kl_coef": 0.01},
  }
  # A dict pytree works too; its keys are the field paths.
  points, _ = training.sweep_points(training.make_sweep({"lr": 0.1}, axes={"lr": (0.1, 0.2)}))
  assert points["lr"].tolist() == [0.1, 0.2]


def test_no_axes_is_one_point():
  sweep = training.make_sweep(Hyper(1.0, 0.1))
  assert sweep.shape == (1,) and sweep.num_points == 1 and sweep.labels() == ["all"]
  points, seeds = training.sweep_points(sweep)
  assert points == Hyper(np.array([1.0]), np.array([0.1])) and seeds.tolist() == [0]


def test_seed_keys_shared_across_hparams_and_offset():
  sweep = small_sweep(seed_offset=5)
  _, seeds = training.sweep_points(sweep)
  assert seeds.tolist()[:3] == [5, 6, 7]
  keys = jax.random.key_data(training.seed_keys(0, seeds))
  np.testing.assert_array_equal(keys[0], keys[3])  # same seed, another step size
  assert not np.array_equal(keys[0], keys[1])
  expected = jax.random.key_data(jax.random.fold_in(jax.random.key(0), 6))
  np.testing.assert_array_equal(keys[1], expected)


def test_point_sweep_selects_one_point():
  sweep = small_sweep(seed=4, seed_offset=2)
  one = training.point_sweep(sweep, 7)  # kl 0.1, step 0.5, seed 1 (+ offset 2)
  assert one.hparams == Hyper(step_size=0.5, kl_coef=0.1)
  assert (one.num_points, one.names, one.seed, one.seed_offset) == (1, (), 4, 3)
  _, seeds = training.sweep_points(one)
  keys = training.seed_keys(sweep.seed, training.sweep_points(sweep)[1])
  np.testing.assert_array_equal(
    jax.random.key_data(training.seed_keys(one.seed, seeds)[0]), jax.random.key_data(keys[7])
  )


FIELDS_MESSAGE = r"names no hyperparameter; the sweepable fields are \['kl_coef', 'step_size'\]"


@pytest.mark.parametrize(
  "axes, message",
  [
    ({"lr": (0.1,)}, r"axis 'lr' " + FIELDS_MESSAGE),
    ({"solver.step_size": (0.1,)}, r"axis 'solver.step_size' " + FIELDS_MESSAGE),
    ({"step_size": ()}, r"axis 'step_size': expected a non-empty tuple of numbers"),
    ({"step_size": "0.5"}, r"axis 'step_size': expected a non-empty tuple of numbers"),
    ({"step_size": None}, r"axis 'step_size': expected a non-empty tuple of numbers"),
    ({"step_size": (0.1, "a")}, r"axis 'step_size': values must be numbers"),
    ({"step_size": (True,)}, r"axis 'step_size': values must be numbers"),
    ({"step_size": (0.1, float("nan"))}, r"axis 'step_size': values must be finite"),
    ({"step_size": (float("inf"),)}, r"axis 'step_size': values must be finite"),
  ],
)
def test_bad_axes_raise_naming_the_axis(axes, message):
  with pytest.raises(ValueError, match=message):
    training.make_sweep(Hyper(1.0, 0.1), axes=axes)


def test_integer_fields_take_integers_only():
  class Rounds(NamedTuple):
    rounds: int
    step_size: float

  with pytest.raises(ValueError, match=r"axis 'rounds': rounds is an integer field, got \(3.5,\)"):
    training.make_sweep(Rounds(3, 1.0), axes={"rounds": (3.5,)})
  sweep = training.make_sweep(Rounds(3, 1.0), axes={"rounds": (2.0, 4)})
  assert sweep.values[0].dtype == np.int32 and sweep.values[0].tolist() == [2, 4]


@pytest.mark.parametrize("value", ["mirror_prox", None, True, np.zeros(2)])
def test_hyperparameters_must_be_numbers(value):
  with pytest.raises(ValueError, match=r"hyperparameter 'kl_coef' must be a number"):
    training.make_sweep(Hyper(1.0, value))


@pytest.mark.parametrize(
  "kwargs, message",
  [
    ({"seeds": 0}, "seeds must be an integer >= 1, got 0"),
    ({"seeds": 2.0}, "seeds must be an integer >= 1, got 2.0"),
    ({"seeds": True}, "seeds must be an integer >= 1, got True"),
    ({"seed_offset": -1}, "seed_offset must be an integer >= 0, got -1"),
    ({"seed_offset": 0.5}, "seed_offset must be an integer >= 0, got 0.5"),
  ],
)
def test_bad_seeds_raise(kwargs, message):
  with pytest.raises(ValueError, match=message):
    training.make_sweep(Hyper(1.0, 0.1), **kwargs)


def test_summarize_matches_student_t():
  rng = np.random.default_rng(0)
  values = rng.normal(size=(4, 7))
  s = training.summarize(values)
  for row, m, h in zip(values, s.mean, s.half_width, strict=True):
    low, high = scipy.stats.t.interval(0.95, 6, loc=row.mean(), scale=scipy.stats.sem(row))
    np.testing.assert_allclose([m - h, m + h], [low, high], rtol=1e-12)
  assert np.isnan(training.summarize(np.ones((3, 1))).half_width).all()
