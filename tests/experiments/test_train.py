import json
import os
import re
import subprocess
import sys

import pytest

from configs import nash_games, nash_sweep
from experiments import policy_objectives, train_lib

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


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_cli_default_config(tmp_path):
  """The real entry point on the default config: the README's main job."""
  proc = _cli("--config", "configs/nash_games.py", "--workdir", str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert (tmp_path / "equilibria.png").stat().st_size > 10_000
  assert (tmp_path / "config.json").exists()
  llmfao = results["llmfao"]
  assert llmfao["n"] == 59 and llmfao["duality_gap"] <= 1e-9
  # configs/nash_games.py's docstring: a mixed lottery on 31 of the 59 models, led by these four.
  assert llmfao["support"] == 31
  lead = [(name, round(mass, 3)) for name, mass in llmfao["top"][:4]]
  assert lead == [
    ("Guanaco (65B)", 0.126),
    ("Luminous Base Control", 0.087),
    ("LLaMA-2-Chat (13B)", 0.083),
    ("Platypus-2 Instruct (70B)", 0.081),
  ]
  top_model = llmfao["top"][0][0]
  assert top_model in proc.stdout
  for name, r in results.items():
    assert r["duality_gap"] <= 1e-9, name
    if name != "llmfao":
      assert r["error_vs_known"] <= 1e-9, name


@pytest.mark.slow  # over 8 s of the 10-minute default suite
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
    # Each case is a fresh interpreter (about 4 s): the other two messages run with -m slow.
    pytest.param(
      ["--config.nothing=1"], "unknown config key 'nothing' in the config", marks=pytest.mark.slow
    ),
    pytest.param(
      ["--config.tol.x=1"],
      "unknown config key 'x' in tol; valid keys: (a leaf)",
      marks=pytest.mark.slow,
    ),
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
  # The variants fail in the config loader the CLI calls (one interpreter is enough above).
  with pytest.raises(ValueError, match="games must be 'all', 'canonical' or 'llmfao'"):
    train_lib.validate_config(nash_games.get_config("games=everything"))
  with pytest.raises(ValueError, match="Unknown config argument 'gamez'"):
    nash_games.get_config("gamez=all")


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


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_nash_sweep_cli_writes_everything(tmp_path):
  proc = _cli(
    "--config",
    "configs/nash_sweep.py:n=5,seeds=4,steps=50",
    "--workdir",
    str(tmp_path),
    "--config.log.every=25",
    "--config.checkpoint.every=25",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["points"] == 4 * 3 * 4 and results["shape"] == [3, 4, 4]
  for name in ("config.json", "metrics.jsonl", "convergence.png", "tensorboard"):
    assert (tmp_path / name).exists(), name
  assert "[mirror_prox] step 50/50 (100%)" in proc.stdout
  assert "kl_coef=0.1 step_size=2" in proc.stdout  # the summary table
  closing = proc.stdout.strip().splitlines()[-1]
  assert closing.startswith("Wrote results ") and "convergence.png" in closing, closing
  assert "metrics.jsonl" in closing
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["25", "50"]


def test_nash_sweep_default_config_gives_its_docstrings_numbers(tmp_path):
  config = nash_sweep.get_config()
  config.plot, config.checkpoint.every, config.log.tensorboard = False, 0, False
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  final = {(r["point"], r["metric"]): r["mean"] for r in results["final"]}
  steps = ("0.25", "0.5", "1", "2")
  for step in steps:  # kl_coef 0.1: float32 round-off (2e-8 to 4e-8 with XLA's code generation)
    assert abs(final[(f"kl_coef=0.1 step_size={step}", "regularized_gap")]) <= 5e-8
  for step in steps[1:]:
    assert abs(final[(f"kl_coef=0.01 step_size={step}", "regularized_gap")]) <= 5e-8
  assert 1.5e-6 <= final[("kl_coef=0.01 step_size=0.25", "regularized_gap")] <= 3e-6
  last = [final[(f"kl_coef=0 step_size={step}", "gap")] for step in steps]
  average = [final[(f"kl_coef=0 step_size={step}", "gap_average")] for step in steps]
  assert all(1e-2 <= g <= 8e-2 for g in last)  # the last iterate cycles
  assert average == sorted(average, reverse=True)  # O(1/T) averages, faster with larger steps
  assert abs(average[0] - 5.9e-3) <= 1e-4 and abs(average[-1] - 6.7e-4) <= 1e-5


@pytest.mark.parametrize(
  "args, message",
  [
    # A fresh interpreter each (about 4 s): three run by default, the rest with -m slow.
    (["--config.steps=abc"], "invalid literal for int()"),
    (["--config.vmap.axes.solver.step_size=(20.0,)"], "step_size * kl_coef < 1"),
    (["--config.mesh.backend=gpu"], "Unknown mesh backend 'gpu'"),
    pytest.param(
      ["--config.vmap.axes.solver.step_size=(0.1,'x')"],
      "values must be numbers",
      marks=pytest.mark.slow,
    ),
    pytest.param(
      ["--config.solver.name=mwu"], "config.solver.name must be one of", marks=pytest.mark.slow
    ),
    pytest.param(
      ["--config.checkpoint.every=30"],
      "checkpoint_every=30 must be 0 (off) or a multiple of",
      marks=pytest.mark.slow,
    ),
    pytest.param(
      ["--config.mesh.devices=0"],
      "devices must be -1 (all) or >= 1, got 0",
      marks=pytest.mark.slow,
    ),
  ],
)
def test_nash_sweep_bad_config_fails_before_compiling(tmp_path, args, message):
  proc = _cli(
    "--config", "configs/nash_sweep.py:solver=extragradient", "--workdir", str(tmp_path), *args
  )
  assert proc.returncode != 0
  assert message in proc.stderr, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "checkpoints").exists()


def test_launch_lists_static_runs(tmp_path):
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.launch",
      "--config",
      "configs/nash_sweep.py",
      "--workdir",
      str(tmp_path),
      "--print_only",
      "--",
      "--config.steps=10",
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.strip().splitlines()
  assert len(lines) == 2
  assert "--config.solver.name=extragradient" in lines[1] and "--config.steps=10" in lines[1]
  assert str(tmp_path / "solver.name=mirror_prox") in lines[0]


def test_axis_flags_add_vmapped_axes_the_config_does_not_declare():
  from configs import policy_objectives
  from experiments import train

  argv = [
    "train",
    "--config",
    "configs/policy_objectives.py",
    "--config.vmap.axes.learning_rate=(1e-3,3e-3)",
    "--config.vmap.axes.kl_coef",
    "0.2",
    "--config.vmap.seeds=8",
  ]
  rest, axes = train.split_axis_flags(argv)
  assert rest == ["train", "--config", "configs/policy_objectives.py", "--config.vmap.seeds=8"]
  assert axes == {"learning_rate": (1e-3, 3e-3), "kl_coef": (0.2,)}
  config = policy_objectives.get_config()
  config.lock()
  train._apply_axes(config, axes)
  assert config.vmap.axes.learning_rate == (1e-3, 3e-3)
  with pytest.raises(train.ConfigError, match="tuple of numbers"):
    train.split_axis_flags(["--config.vmap.axes.learning_rate=(1e-3,"])


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
  """A custom loss that does not import, named without its function: ``error:``, exit 2."""
  broken = tmp_path / "broken.py"
  broken.write_text("def my_loss(example, *, kl_coef)\n  return 0.0\n")
  # The second error's message in-process (the one-line, exit-2 form is the same code path).
  with pytest.raises(ValueError, match=r"custom_loss must be 'file\.py:function'; got"):
    policy_objectives.load_custom_loss(str(broken))
  for spec, message in (
    (f"{broken}:my_loss", r"importing .*broken\.py \(line 1\) failed: SyntaxError"),
  ):
    workdir = tmp_path / "run"
    proc = _cli(
      "--config", "configs/policy_objectives.py", "--workdir", str(workdir),
      f"--config.custom_loss={spec}", "--config.losses=online_dpo",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(message, errors[0]), proc.stderr[-2000:]
    assert not workdir.exists()  # failed before anything was written


# Three more fresh interpreters (about 14 s): a loss failing at run time, a CSV without the
# columns, and --verbose.
@pytest.mark.slow
def test_cli_runtime_errors_are_one_line_too(tmp_path):
  broken = tmp_path / "broken.py"
  broken.write_text("def my_loss(example, *, kl_coef)\n  return 0.0\n")
  runtime = tmp_path / "runtime.py"
  runtime.write_text("def my_loss(example, *, kl_coef):\n  return example.win * 2, {}\n")
  csv = tmp_path / "mine.csv"
  csv.write_text("first,second,result\na,b,1\nb,a,-1\n")
  for args, message in (
    (
      ["configs/policy_objectives.py", f"--config.custom_loss={runtime}:my_loss"],
      r"loss 'custom' fails on a tiny policy_pairs Example",
    ),
    (
      ["configs/preference_models.py:datasets=csv", f"--config.csv.path={csv}"],
      r"column|item_a",
    ),
  ):
    workdir = tmp_path / "run2"
    proc = _cli("--config", args[0], "--workdir", str(workdir), *args[1:])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(message, errors[0]), proc.stderr[-2000:]
    assert not workdir.exists()
  verbose = _cli(
    "--config", "configs/policy_objectives.py", "--workdir", str(tmp_path / "run"),
    f"--config.custom_loss={broken}:my_loss", "--verbose",
  )  # fmt: skip
  assert verbose.returncode == 2 and "Traceback" in verbose.stderr
