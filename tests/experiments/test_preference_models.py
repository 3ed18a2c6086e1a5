import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import preference_models as config_lib
from experiments import preference_datasets, preference_models, train_lib
from jaxpref import training

ITEMS = ("ant", "bee", "cat", "dog", "eel")


def _write_csv(path, *, drop=None, rows=160, seed=0):
  """Two groups of raters with opposite tastes over 5 items, some ties, in the user's columns."""
  rng = np.random.default_rng(seed)
  columns = ["rater", "first", "second", "result", "club"]
  lines = [",".join(c for c in columns if c != drop)]
  for r in range(rows):
    u = r % 16
    a, b = rng.choice(5, 2, replace=False)
    margin = (b - a) * (1 if u % 2 else -1) * 0.8
    y = rng.choice(
      [1, 0, -1], p=[0.45 + 0.08 * np.sign(margin), 0.1, 0.45 - 0.08 * np.sign(margin)]
    )
    cells = {"rater": f"r{u}", "first": ITEMS[a], "second": ITEMS[b], "result": str(y)}
    cells["club"] = "xy"[u % 2]
    lines.append(",".join(cells[c] for c in columns if c != drop))
  path.write_text("\n".join(lines) + "\n")
  return path


def _config(path, **changes):
  config = config_lib.get_config("datasets=csv,seeds=2")
  config.csv.update(
    path=str(path), item_a="first", item_b="second", outcome="result", annotator="rater"
  )
  config.csv.covariates = "club"
  config.mixture.update(components="1,2", em_steps=3, restarts=1)
  config.gpm.restarts = 1
  config.mesh.backend = "none"
  config.log.tensorboard = False
  config.checkpoint.async_save = False
  for key, value in changes.items():
    section, _, field = key.rpartition(".")
    node = config
    for part in section.split(".") if section else ():
      node = node[part]
    node[field] = value
  return config


# A full small run (minutes of compilation on 2 cores); its pieces are tested in the default suite.
@pytest.mark.slow
def test_results_have_seed_axes_mean_and_interval(tmp_path):
  path = _write_csv(tmp_path / "mine.csv")
  results = train_lib.train_and_evaluate(_config(path), str(tmp_path / "run"))
  r = results["csv"]
  assert r["items"] == 5 and r["annotators"] == 16 and r["covariates"] == ["club"]
  assert r["shape"] == [2]
  m = r["metrics"]
  for split in preference_models.SPLITS:
    for model in preference_models.MODELS:
      entry = m[f"{split}/{model}/logloss"]
      assert np.shape(entry["values"]) == (2,) and np.isfinite(entry["values"]).all()
      assert 0.0 < entry["mean"] < 1.5 and entry["ci95"] >= 0.0
  assert set(np.ravel(m["mixture_K"]["values"])) <= {1.0, 2.0}
  assert (tmp_path / "run" / "csv" / "metrics.jsonl").exists()
  saved = json.loads((tmp_path / "run" / "results.json").read_text())["csv"]
  assert saved["shape"] == [2]
  lot = saved["lotteries"]
  assert sorted(lot["bt_ranking"][0]) == sorted(ITEMS)
  for model in preference_models.MODELS:  # [seed, item] lotteries; top items with intervals.
    x = np.asarray(lot[model]["values"])
    assert x.shape == (2, 5) and np.allclose(x.sum(-1), 1.0) and (x >= 0).all()
    top = lot[model]["top"][0]
    assert 1 <= len(top) <= 5 and {t["item"] for t in top} <= set(ITEMS)
    assert all(0.0 < t["support"] <= 1.0 and t["mean"] > 0.0 for t in top)
  groups = saved["groups"]
  assert [g["K"] for g in groups["per_seed"]] == np.ravel(m["mixture_K"]["values"]).tolist()
  for g in groups["per_seed"]:
    assert len(g["mixture_accuracy"]) == len(g["pooled_accuracy"]) == len(g["rows"]) == g["K"]
  assert 0.0 <= groups["worst_mixture_accuracy"]["mean"][0] <= 1.0
  for png in ("heldout.png", "lotteries.png"):
    assert (tmp_path / "run" / png).stat().st_size > 0


@pytest.mark.slow  # Minutes on CPU: each run_sweep compiles the whole fit program.
def test_vmapped_sweep_equals_a_loop_over_points(tmp_path):
  path = _write_csv(tmp_path / "mine.csv")
  config = _config(path, **{"vmap.seeds": 1})
  config.vmap.axes.bt = {"l2": (0.01, 1.0)}
  sweep = preference_models.validate(config)
  vmapped = train_lib.train_and_evaluate(config, str(tmp_path / "all"))["csv"]["metrics"]
  for i in range(sweep.num_points):
    point = train_lib.point_config(config, sweep, i, preference_models.FIELDS)
    alone = train_lib.train_and_evaluate(point, str(tmp_path / f"p{i}"))["csv"]["metrics"]
    for name, entry in vmapped.items():
      np.testing.assert_allclose(
        np.ravel(entry["values"])[i], np.ravel(alone[name]["values"])[0], rtol=1e-6, err_msg=name
      )


@pytest.mark.slow  # Minutes on CPU: each run_sweep compiles the whole fit program.
def test_resume_equals_an_uninterrupted_run(tmp_path):
  path = _write_csv(tmp_path / "mine.csv")
  config = _config(path)
  sweep = preference_models.validate(config)
  loaded = preference_datasets.load_datasets(config)["csv"]
  options = train_lib.run_options(config)

  def run(workdir, **kw):
    program = preference_models.make_program(config, loaded)
    return training.run_sweep(program, sweep, workdir=str(workdir), **options, **kw)

  run(tmp_path / "a", stop_after=1)
  resumed = run(tmp_path / "a")
  whole = run(tmp_path / "b")
  assert resumed.resumed_from == 1
  for name, values in whole.history.items():
    np.testing.assert_array_equal(resumed.history[name], values, err_msg=name)


_EIGHT = """
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
from tests.experiments import test_preference_models as t
from experiments import preference_datasets, preference_models, train_lib
from jaxpref import training
import pathlib
config = t._config(pathlib.Path(sys.argv[1]), **{"vmap.seeds": 3})
sweep = preference_models.validate(config)
loaded = preference_datasets.load_datasets(config)["csv"]
out = {}
for backend, devices in (("none", 1), ("jit", 8), ("shard_map", 8)):
  config.mesh.backend, config.mesh.devices = backend, devices
  options = train_lib.run_options(config)
  program = preference_models.make_program(config, loaded)
  result = training.run_sweep(program, sweep, workdir=sys.argv[2] + backend, **options)
  out[backend] = {k: v.tolist() for k, v in result.history.items()}
print(json.dumps({"devices": len(jax.devices()), **out}))
"""


@pytest.mark.slow  # Minutes on CPU: each run_sweep compiles the whole fit program.
def test_eight_devices_equal_one(tmp_path):
  path = _write_csv(tmp_path / "mine.csv")
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
  proc = subprocess.run(
    [sys.executable, "-c", _EIGHT, str(path), str(tmp_path / "w")],
    capture_output=True,
    text=True,
    env=env,
    cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["devices"] == 8
  for name, values in out["none"].items():  # 3 points over 8 devices: padded and dropped.
    for backend in ("jit", "shard_map"):
      np.testing.assert_allclose(out[backend][name], values, rtol=1e-6, err_msg=f"{backend} {name}")


@pytest.mark.parametrize(
  ("changes", "match"),
  [
    ({"datasets": "llmfao,nope"}, r"Unknown dataset\(s\) \['nope'\]"),
    ({"mixture.components": "0,2"}, "K >= 1"),
    ({"test_fraction": 1.5}, "test_fraction must be in"),
    ({"gpm.dim": 3}, "gpm.dim must be even"),
    ({"steps": 2}, "steps must be 3"),
    ({"vmap.axes.bt.nope": (1.0,)}, "no field 'bt.nope'"),
    ({"vmap.axes.bt.l2": ()}, "empty"),
    ({"vmap.axes.bt.l2": (0.1, float("nan"))}, "finite"),
    ({"vmap.axes.gpm.l2": (0.1, -1.0)}, r"gpm.l2 must be >= 0"),
    ({"vmap.axes.mixture.em_steps": (1, 2)}, "not a vmappable"),
  ],
)
def test_bad_configs_fail_before_compiling(tmp_path, changes, match):
  config = _config(_write_csv(tmp_path / "mine.csv"))
  for key, value in changes.items():
    section, _, field = key.rpartition(".")
    node = config
    for part in section.split(".") if section else ():
      if part not in node:
        node[part] = {}
      node = node[part]
    node[field] = value
  with pytest.raises(ValueError, match=match):
    train_lib.validate_config(config)


def test_a_csv_missing_a_column_fails_before_any_fit(tmp_path, monkeypatch):
  path = _write_csv(tmp_path / "mine.csv", drop="second")
  config = _config(path, datasets="llmfao,csv")

  def no_fit(*args, **kwargs):
    raise AssertionError("a sweep ran before every dataset was checked")

  monkeypatch.setattr(training, "run_sweep", no_fit)
  with pytest.raises(ValueError, match="second"):
    train_lib.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run" / "llmfao").exists()


# The config docstring's "Expected" on LLMFAO with the README's settings (about 4.5 minutes).
@pytest.mark.slow
def test_documented_llmfao_run_gives_the_docstrings_results(tmp_path):
  config = config_lib.get_config("datasets=llmfao")
  config.plot = False
  config.mixture.update(components="1,2", em_steps=10, restarts=1)
  config.gpm.restarts = 2
  r = train_lib.train_and_evaluate(config, str(tmp_path))["llmfao"]["metrics"]

  def values(name):
    return np.asarray(r[name]["values"], np.float64)

  assert (values("mixture_K") == 2).all()
  seen = values("comparisons/mixture/logloss") - values("comparisons/bt/logloss")
  new = values("annotators/mixture/logloss") - values("annotators/bt/logloss")
  gpm = values("comparisons/gpm/logloss") - values("comparisons/bt/logloss")
  assert (seen < 0).all() and abs(seen.mean() + 0.049) <= 0.005  # -0.049 ± 0.011
  assert abs(new.mean() - 0.002) <= 0.005  # +0.002 ± 0.011: nothing for new people
  assert abs(gpm.mean() - 0.010) <= 0.004  # GPM slightly worse than BT
  assert abs(values("comparisons/mixture/logloss").mean() - 0.540) <= 0.002
