"""The config adaptor of ``experiments.train_lib``: a config's ``vmap``, ``mesh``, ``log`` and
``checkpoint`` sections turned into the engine's typed arguments, validated once per run."""

import json
import os
import subprocess
import sys

import ml_collections
import pytest

from configs import nash_sweep as nash_sweep_config
from experiments import nash_sweep, train_lib
from jaxpref import training

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(**overrides):
  """nash_sweep with 5 items: 3 KL coefficients x 4 step sizes x 3 seeds, 40 steps."""
  config = nash_sweep_config.get_config("n=5,seeds=3,steps=40")
  for key, value in overrides.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    with config.unlocked():
      node[leaf] = value
  return config


def _typed_sweep(config):
  return train_lib.sweep_from_config(config, nash_sweep.hyperparameters(config), nash_sweep.FIELDS)


def test_typed_sweep_of_a_config():
  config = _config()
  sweep = _typed_sweep(config)
  assert sweep.names == ("kl_coef", "step_size")  # the axes' config paths, sorted
  assert sweep.shape == (3, 4, 3) and sweep.seed == 0
  assert sweep.hparams == nash_sweep.Hyper(step_size=1.0, kl_coef=0.01)
  points, seeds = training.sweep_points(sweep)
  assert isinstance(points, nash_sweep.Hyper)
  assert points.kl_coef.tolist()[:13] == [0.0] * 12 + [0.01]
  assert points.step_size.tolist()[:6] == [0.25] * 3 + [0.5] * 3
  assert seeds.tolist()[:4] == [0, 1, 2, 0]
  # Without typed hyperparameters the points are a {config path: [N]} dict of the swept fields.
  points, _ = training.sweep_points(train_lib.sweep_from_config(config))
  assert sorted(points) == ["solver.kl_coef", "solver.step_size"]


def test_an_unswept_field_keeps_its_config_value():
  config = _config(**{"solver.kl_coef": 0.5})
  del config.vmap.axes.solver["kl_coef"]
  sweep = _typed_sweep(config)
  assert sweep.names == ("step_size",) and sweep.shape == (4, 3)
  points, _ = training.sweep_points(sweep)
  assert set(points.kl_coef.tolist()) == {0.5}


def test_no_vmap_section_is_one_point():
  config = _config()
  del config["vmap"]
  assert train_lib.sweep_from_config(config).shape == (1,)
  assert _typed_sweep(config).hparams == nash_sweep.Hyper(1.0, 0.01)


@pytest.mark.parametrize(
  "path, value, message",
  [
    ("vmap.seeds", 0, "config.vmap.seeds must be an integer >= 1, got 0"),
    ("vmap.seed_offset", -1, "config.vmap.seed_offset must be an integer >= 0, got -1"),
    ("vmap.axes.solver.step_size", (), "config.vmap.axes.solver.step_size: expected a non-empty"),
    ("vmap.axes.solver.step_size", (0.1, "a"), r"solver.step_size: values must be numbers"),
    ("vmap.axes.solver.step_size", (True,), r"solver.step_size: values must be numbers"),
    ("vmap.axes.solver.kl_coef", (0.1, float("nan")), r"solver.kl_coef: values must be finite"),
  ],
)
@pytest.mark.parametrize("typed", [False, True])
def test_bad_vmap_section_raises_naming_the_config_field(path, value, message, typed):
  config = _config(**{path: value})
  with pytest.raises(ValueError, match=message):
    _typed_sweep(config) if typed else train_lib.sweep_from_config(config)
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)


def test_axis_must_name_a_numeric_vmappable_config_field():
  config = _config()
  config.vmap.axes.solver.lr = (0.1,)
  with pytest.raises(ValueError, match=r"config.vmap.axes.solver.lr: the config has no field"):
    train_lib.sweep_from_config(config)
  config = _config()
  config.vmap.axes.solver.name = ("a", "b")
  with pytest.raises(ValueError, match=r"solver\.name: only numeric fields can be vmapped"):
    train_lib.sweep_from_config(config)
  config = _config()
  config.vmap.axes.game = ml_collections.ConfigDict({"n": (3.5,)})
  with pytest.raises(ValueError, match=r"config.vmap.axes.game.n: game.n is an integer field"):
    train_lib.sweep_from_config(config)
  # game.n sets array shapes: numeric, but not a vmappable hyperparameter of nash_sweep.
  config = _config()
  config.vmap.axes.game = ml_collections.ConfigDict({"n": (4, 6)})
  assert train_lib.sweep_from_config(config).names[0] == "game.n"  # no experiment: any number
  vmappable = r"vmappable: \['solver.kl_coef', 'solver.step_size'\]"
  with pytest.raises(ValueError, match=r"game.n is not a vmappable hyperparameter.*" + vmappable):
    _typed_sweep(config)
  with pytest.raises(ValueError, match=r"game\.n is not a vmappable hyperparameter"):
    train_lib.validate_config(config)


def test_config_hparams():
  config = _config(**{"solver.step_size": 0.3})
  hp = train_lib.config_hparams(config, nash_sweep.FIELDS, nash_sweep.Hyper)
  assert hp == nash_sweep.Hyper(step_size=0.3, kl_coef=0.01)
  with pytest.raises(ValueError, match=r"no field .solver\.lr."):
    train_lib.config_hparams(config, {"solver.lr": "step_size"}, nash_sweep.Hyper)


def test_point_config_selects_one_point():
  config = _config()
  sweep = _typed_sweep(config)
  index = 3 * 4 * 1 + 3 * 2 + 1  # kl 0.01, step 1.0, seed 1
  one = train_lib.point_config(config, sweep, index, nash_sweep.FIELDS)
  assert (one.solver.kl_coef, one.solver.step_size) == (0.01, 1.0)
  assert one.vmap.seeds == 1 and one.vmap.seed_offset == 1 and not one.vmap.axes
  assert one.game.n == 5 and one.steps == 40
  assert config.vmap.seeds == 3 and config.vmap.axes.solver.kl_coef  # the sweep's is untouched
  single = _typed_sweep(one)
  assert single.num_points == 1
  point = training.point_sweep(sweep, index)
  assert single.hparams == point.hparams
  assert (single.seed, single.seed_offset) == (point.seed, point.seed_offset)


def test_run_options():
  config = _config(**{"mesh.backend": "shard_map", "log.every": 20, "checkpoint.every": 20})
  options = train_lib.run_options(config)
  provenance = options.pop("provenance")
  assert options == {
    "steps": 40,
    "log_every": 20,
    "checkpoint_every": 20,
    "max_to_keep": 3,
    "async_save": True,
    "backend": "shard_map",
    "devices": -1,
    "data": 1,
    "fsdp": 1,
    "tensorboard": True,
    "progress_seconds": 5.0,
  }
  assert train_lib.RESUMABLE_CHANGES == ("log", "checkpoint", "mesh", "plot")
  everything = json.loads(config.to_json())
  assert {k: v for k, v in everything.items() if k not in train_lib.RESUMABLE_CHANGES} == provenance
  assert not set(train_lib.RESUMABLE_CHANGES) & set(provenance)
  assert provenance["game"]["n"] == 5 and provenance["vmap"]["seeds"] == 3
  assert provenance["steps"] == 40 and provenance["seed"] == 0
  assert json.loads(json.dumps(provenance)) == provenance


@pytest.mark.parametrize(
  "path, value, message",
  [
    ("steps", 0, "steps must be an integer >= 1, got 0"),
    ("log.every", 0, "log_every must be >= 1, got 0"),
    ("checkpoint.every", 30, r"checkpoint_every=30 must be 0 \(off\) or a multiple of log_every="),
    ("mesh.backend", "gpu", "Unknown mesh backend 'gpu'"),
    ("mesh.devices", 0, r"devices must be -1 \(all\) or >= 1, got 0"),
    ("mesh.devices", 9, r"devices=9: only 8 device\(s\) available"),
  ],
)
def test_bad_run_sections_raise(path, value, message):
  config = _config(**{path: value})
  with pytest.raises(ValueError, match=message):
    train_lib.check_run_config(config)
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)


def _tiny_config():
  return _config(
    **{
      "game.n": 3,
      "vmap.seeds": 1,
      "steps": 4,
      "log.every": 2,
      "log.tensorboard": False,
      "log.progress_seconds": -1.0,
      "checkpoint.every": 0,
      "plot": False,
    }
  )


def _count_calls(monkeypatch, module, name, calls):
  original = getattr(module, name)

  def counting(*args, **kwargs):
    calls[name] = calls.get(name, 0) + 1
    return original(*args, **kwargs)

  monkeypatch.setattr(module, name, counting)


def test_train_and_evaluate_validates_the_config_once(tmp_path, monkeypatch):
  calls = {}
  _count_calls(monkeypatch, train_lib, "validate_config", calls)
  _count_calls(monkeypatch, nash_sweep, "validate", calls)
  results = train_lib.train_and_evaluate(_tiny_config(), str(tmp_path))
  assert results["points"] == 3 * 4
  assert calls == {"validate_config": 1, "validate": 1}
  calls.clear()
  train_lib.train_and_evaluate(_tiny_config(), str(tmp_path / "again"), validated=True)
  assert calls == {}


# The real command line, with both validators wrapped by counters (printed as the last line).
_COUNTING_CLI = """
import json, sys
from absl import app
from experiments import nash_sweep, train, train_lib

calls = {}

def count(module, name):
  original = getattr(module, name)
  def counting(*args, **kwargs):
    calls[name] = calls.get(name, 0) + 1
    return original(*args, **kwargs)
  setattr(module, name, counting)

count(train_lib, "validate_config")
count(nash_sweep, "validate")
try:
  app.run(train.main, flags_parser=train._parse_flags)
finally:
  print("CALLS " + json.dumps(calls), flush=True)
"""


def test_cli_validates_the_config_once(tmp_path):
  proc = subprocess.run(
    [
      sys.executable,
      "-c",
      _COUNTING_CLI,
      "--config",
      "configs/nash_sweep.py:n=3,seeds=1,steps=4",
      "--workdir",
      str(tmp_path),
      "--config.log.every=2",
      "--config.checkpoint.every=2",
      "--config.log.tensorboard=False",
      "--config.plot=False",
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "[mirror_prox] step 4/4 (100%)" in proc.stdout
  calls = json.loads(proc.stdout.strip().splitlines()[-1].removeprefix("CALLS "))
  assert calls == {"validate_config": 1, "validate": 1}
  assert json.loads((tmp_path / "results.json").read_text())["points"] == 3 * 4
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["2", "4"]
