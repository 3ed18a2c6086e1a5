"""Re-running ``experiments.train`` on a workdir: the same config resumes, another is refused.

The first run and the resumption run in-process (``train_lib``, with the progress hook the CLI
installs); the refused run is the real command line, whose error must name the fields that
differ and leave the checkpoints as they were.
"""

import json

import pytest

from configs import lm_online as lm_online_config
from configs import nash_sweep as nash_sweep_config
from experiments import train_lib
from jaxpref import training
from tests.experiments._overrides import override
from tests.experiments.test_train import _cli

NASH_SPEC = "configs/nash_sweep.py:n=5,seeds=2,steps=20"
NASH_FLAGS = {
  "log.every": 10,
  "log.tensorboard": False,
  "log.progress_seconds": 0.0,
  "checkpoint.every": 10,
  "checkpoint.async_save": False,
  "plot": False,
}
LM_FLAGS = {
  "steps": 2,
  "log.every": 2,
  "eval_prompts": 4,
  "batch_prompts": 2,
  "max_new_tokens": 4,
  "vmap.seeds": 1,
  "checkpoint.every": 2,
  "checkpoint.async_save": False,
  "log.tensorboard": False,
  "plot": False,
}


def _config(module, arg, overrides):
  config = module.get_config(arg)
  return override(config, **overrides)


def _flags(overrides):
  return [f"--config.{key}={value}" for key, value in overrides.items()]


def _files(workdir, names):
  """Relative path -> bytes of every file of ``workdir`` whose first path part is in ``names``."""
  return {
    str(p.relative_to(workdir)): p.read_bytes()
    for p in sorted(workdir.rglob("*"))
    if p.is_file() and p.relative_to(workdir).parts[0] in names
  }


def _refused(spec, workdir, overrides, extra, untouched):
  """Runs the CLI on ``workdir`` with ``extra`` flags; returns its ``error:`` lines.

  The files under ``untouched`` (top-level names) must be byte for byte the same afterwards, and
  no top-level file may appear.
  """
  before, names = _files(workdir, untouched), sorted(workdir.iterdir())
  assert any(name.startswith("checkpoints/") for name in before)
  proc = _cli("--config", spec, "--workdir", str(workdir), *_flags(overrides), *extra)
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  assert "no usable checkpoint" not in proc.stderr.lower()
  # Other libraries' INFO (Orbax logs each restore step) is not shown without --verbose.
  assert "orbax" not in proc.stderr.lower() and "checkpoint_manager.py" not in proc.stderr
  assert _files(workdir, untouched) == before
  assert sorted(workdir.iterdir()) == names  # nothing new either
  return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


# Slow: two CLI processes (about 13 s); the engine refuses another run in-process by default.
@pytest.mark.slow
def test_nash_sweep_workdir_of_another_config_is_refused_and_the_same_config_resumes(tmp_path):
  config = _config(nash_sweep_config, NASH_SPEC.partition(":")[2], NASH_FLAGS)
  first = train_lib.train_and_evaluate(config, str(tmp_path))
  assert first["resumed_from"] is None

  extra = ["--config.game.n=6", "--config.steps=30"]
  everything = {p.relative_to(tmp_path).parts[0] for p in tmp_path.iterdir()}
  assert {"checkpoints", "metrics.jsonl", "config.json", "results.json"} <= everything
  errors = _refused(NASH_SPEC, tmp_path, NASH_FLAGS, extra, everything)  # byte for byte
  assert len(errors) == 1, errors
  assert "holds a checkpoint of a different run" in errors[0]
  assert "game.n: checkpoint 5, now 6" in errors[0]
  assert "steps: checkpoint 20, now 30" in errors[0]

  lines = []
  with training.progress_hook(lines.append):
    again = train_lib.train_and_evaluate(config, str(tmp_path))
  assert again["resumed_from"] == 20
  assert lines == [f"[mirror_prox] resumed from checkpoint step 20 in {tmp_path}"]
  assert again["final"] == first["final"]

  # Every checkpoint unreadable: one warning line per step, then one error line, exit 2.
  for meta in (tmp_path / "checkpoints").glob("*/meta/metadata"):
    meta.write_text("garbage")
  proc = _cli("--config", NASH_SPEC, "--workdir", str(tmp_path), *_flags(NASH_FLAGS))
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1 and "No usable checkpoint" in errors[0], proc.stderr[-3000:]
  warnings = [line for line in proc.stderr.splitlines() if line.startswith("W")]
  assert len(warnings) == 2 and all("is unusable (" in w for w in warnings), warnings


# Three lm_online runs (about 100 s on 2 cores); nash_sweep's twin above runs by default.
@pytest.mark.slow
def test_lm_online_workdir_of_another_config_is_refused_and_the_same_config_resumes(
  tmp_path, capsys
):
  config = _config(lm_online_config, None, LM_FLAGS)
  first = train_lib.train_and_evaluate(config, str(tmp_path))

  # train_lib logs the config to metrics.jsonl before the experiment refuses the workdir.
  errors = _refused(
    "configs/lm_online.py", tmp_path, LM_FLAGS, ["--config.seed=1"], ("checkpoints",)
  )
  assert len(errors) == 1 and "holds a checkpoint of a different run" in errors[0], errors
  assert "seed: checkpoint 0, now 1" in errors[0], errors

  capsys.readouterr()
  again = train_lib.train_and_evaluate(config, str(tmp_path))
  assert again["resumed_from"] == 2
  assert {k: v["values"] for k, v in again["final"].items()} == {
    k: v["values"] for k, v in first["final"].items()
  }  # (one seed: the intervals are NaN)
  assert json.loads((tmp_path / "config.json").read_text())["seed"] == 0
