import numpy as np
import pytest

from configs import nash_convergence as nash_convergence_config
from experiments import nash_convergence, train_lib
from jaxpref import training
from tests.experiments._overrides import override

SOLVER = "mirror_prox (Nash-MP)"


def _config(**overrides):
  config = nash_convergence_config.get_config("games=canonical,seeds=3")
  config.steps = 4
  config.log.every = 2
  config.checkpoint.every = 0
  config.log.tensorboard = False
  config.vmap.axes.kl_coef = (0.05, 0.2)
  return override(config, **overrides)


def _run(config, workdir, solver=SOLVER, **kwargs):
  sweep = train_lib.sweep_from_config(
    config, nash_convergence.hyperparameters(config), nash_convergence.FIELDS
  )
  P = nash_convergence.game_sets(config)["canonical (3 items)"]
  options = {**train_lib.run_options(config), **kwargs}
  program = nash_convergence.make_program(solver, P, config.tol)
  return training.run_sweep(program, sweep, workdir=str(workdir), **options), sweep


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
def test_vmapped_points_equal_a_python_loop_over_them(tmp_path):
  config = _config()
  result, sweep = _run(config, tmp_path / "all")
  assert result.history["worst_gap"].shape == (2, 3, 2)  # [kl_coef, seed, logs]
  flat = result.history["worst_gap"].reshape(6, -1)
  for index in (0, 4, 5):
    one = train_lib.point_config(config, sweep, index, nash_convergence.FIELDS)
    alone, _ = _run(one, tmp_path / f"p{index}")
    np.testing.assert_allclose(alone.history["worst_gap"].reshape(-1), flat[index], rtol=1e-9)


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jit", "shard_map"])
def test_eight_devices_equal_one(tmp_path, backend):
  config = _config()  # 6 points: not a multiple of 8
  sharded, _ = _run(config, tmp_path / "sharded", backend=backend, devices=-1)
  single, _ = _run(config, tmp_path / "single", backend="none")
  for name in single.history:
    # Equal up to float reassociation (a few ulps of gaps near 1e-11).
    np.testing.assert_allclose(sharded.history[name], single.history[name], rtol=1e-9, atol=1e-15)


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_resumed_run_equals_uninterrupted(tmp_path):
  config = _config(**{"checkpoint.every": 2, "checkpoint.async_save": False})
  full, _ = _run(config, tmp_path / "full")
  _run(config, tmp_path / "cut", stop_after=2)
  resumed, _ = _run(config, tmp_path / "cut")
  assert resumed.resumed_from == 2
  for name in full.history:
    np.testing.assert_array_equal(resumed.history[name], full.history[name])


@pytest.mark.parametrize(
  ("path", "value", "message"),
  [
    ("vmap.axes.kl_coef", (0.1, 0.0), "kl_coef must be > 0"),
    ("vmap.axes.kl_coef", (), "non-empty"),
    ("vmap.axes.kl_coef", (0.1, float("nan")), "finite"),
    ("vmap.axes.tol", (0.1,), "not a vmappable hyperparameter"),
    ("vmap.axes.nope", (0.1,), "no field 'nope'"),
  ],
)
def test_bad_input_fails_before_compiling(path, value, message):
  config = _config(**{path: value})
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
def test_experiment_runs_through_the_cli_entry(tmp_path):
  config = _config()
  config.vmap.axes.kl_coef = (0.1,)
  config.steps = 20
  config.log.every = 10
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  canonical = results["canonical (3 items)"]
  assert np.max(canonical[SOLVER]["worst_gap"]) <= 1e-10
  assert np.max(canonical["projected_extragradient"]["worst_gap"]) <= 1e-10
  assert canonical[SOLVER]["shape"] == [1, 3]
  assert (tmp_path / "convergence.png").stat().st_size > 0


# The config's default run (about 45 s on 2 cores): its docstring's "Expected" sentence.
@pytest.mark.slow
def test_default_run_gives_the_docstrings_results(tmp_path):
  config = nash_convergence_config.get_config()
  config.plot = False
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  regularized = [
    "mirror_prox (Nash-MP)",
    "extragradient (EGPO)",
    "online_mirror_descent",
    "magnetic_mirror_descent",
  ]
  for games in results.values():
    worst = {name: float(np.max(r["worst_gap"])) for name, r in games.items() if "worst_gap" in r}
    assert all(worst[name] <= 1e-10 for name in regularized), worst  # every seed certifies
    for slow in ("nash_md (decaying)", "smooth fictitious_play"):
      assert worst[slow] > 1e-10, worst  # converge more slowly
    assert worst["projected_extragradient"] <= 1e-10, worst
  canonical = results["canonical (3 items)"]
  for name in ("optimistic_mwu", "mwu", "fictitious_play"):  # finished by the support polish
    assert float(np.max(canonical[name]["worst_gap"])) <= 1e-10, name
