import json
import os
import subprocess
import sys

import pytest

from configs import nash_games
from experiments import train_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(*args, cwd=REPO):
  return subprocess.run(
    [sys.executable, "-m", "experiments.train", *args],
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )


def test_cli_default_config(tmp_path):
  """The real entry point on the default config: the README's main job."""
  proc = _cli("--config", "configs/nash_games.py", "--workdir", str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert (tmp_path / "equilibria.png").stat().st_size > 10_000
  assert (tmp_path / "config.json").exists()
  llmfao = results["llmfao"]
  assert llmfao["n"] == 59 and llmfao["duality_gap"] <= 1e-9
  top_model = llmfao["top"][0][0]
  assert top_model in proc.stdout
  for name, r in results.items():
    assert r["duality_gap"] <= 1e-9, name
    if name != "llmfao":
      assert r["error_vs_known"] <= 1e-9, name


def test_cli_variant_and_override(tmp_path):
  proc = _cli(
    "--config",
    "configs/nash_games.py:games=canonical,top_k=2",
    "--workdir",
    str(tmp_path),
    "--config.plot=False",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert "llmfao" not in results and "rps" in results
  assert len(results["rps"]["top"]) == 2
  assert not (tmp_path / "equilibria.png").exists()


@pytest.mark.parametrize(
  "args, message",
  [
    (
      ["--config.llmfao.prio=1.0"],
      "unknown config key 'prio' in llmfao; valid keys: enabled, path",
    ),
    (["--config.nothing=1"], "unknown config key 'nothing' in the config"),
    (["--config.tol.x=1"], "unknown config key 'x' in tol; valid keys: (a leaf)"),
  ],
)
def test_cli_bad_override_fails_clearly(tmp_path, args, message):
  proc = _cli("--config", "configs/nash_games.py", "--workdir", str(tmp_path), *args)
  assert proc.returncode != 0
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr


def test_cli_bad_config_file_and_variant(tmp_path):
  proc = _cli("--config", "configs/nope.py", "--workdir", str(tmp_path))
  assert proc.returncode != 0 and "no config file at 'configs/nope.py'" in proc.stderr
  proc = _cli("--config", "configs/nash_games.py:games=everything", "--workdir", str(tmp_path))
  assert proc.returncode != 0 and "games must be 'all', 'canonical' or 'llmfao'" in proc.stderr
  proc = _cli("--config", "configs/nash_games.py:gamez=all", "--workdir", str(tmp_path))
  assert proc.returncode != 0 and "Unknown config argument 'gamez'" in proc.stderr


def test_cli_bad_override_value(tmp_path):
  proc = _cli(
    "--config", "configs/nash_games.py", "--workdir", str(tmp_path), "--config.top_k=many"
  )
  assert proc.returncode != 0 and "top_k" in proc.stderr


def test_train_and_evaluate_in_process(tmp_path):
  config = nash_games.get_config("games=canonical")
  config.plot = False
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  assert results["duplicated_rps"]["error_vs_known"] <= 1e-9
  config.unlock()
  config.experiment = "nope"
  with pytest.raises(ValueError, match="Unknown experiment 'nope'"):
    train_lib.train_and_evaluate(config, str(tmp_path))


def test_nash_convergence_experiment_runs_in_process(tmp_path):
  from configs import nash_convergence
  from experiments import train_lib

  config = nash_convergence.get_config("games=canonical")
  config.max_steps = 320
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  canonical = results["canonical (3 items)"]
  assert canonical["mirror_prox (Nash-MP)"]["worst_gap"] <= 1e-10
  assert canonical["projected_extragradient"]["worst_gap"] <= 1e-10
  assert (tmp_path / "convergence.png").stat().st_size > 0
