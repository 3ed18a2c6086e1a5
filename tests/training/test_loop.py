import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from experiments import nash_sweep
from jaxpref import training
from tests.training._programs import small_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(config, workdir, **kwargs):
  return training.run_sweep(nash_sweep.make_program(config), config, str(workdir), **kwargs)


def _assert_trees_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """The uninterrupted single-device run every invariance test compares against."""
  return _run(small_config(**{"mesh.backend": "none"}), tmp_path_factory.mktemp("reference"))


def test_result_shapes_and_history(reference):
  assert reference.sweep.shape == (2, 2, 3)
  assert reference.state.P.shape == (2, 2, 3, 5, 5)
  assert reference.history["gap"].shape == (2, 2, 3, 4)
  assert reference.log_steps.tolist() == [10, 20, 30, 40]
  assert reference.resumed_from is None
  # Regularized solvers converge: the gap shrinks along the logged history.
  reg = reference.history["regularized_gap"][1]
  assert np.all(reg[..., -1] < reg[..., 0])


def test_vmapped_sweep_equals_python_loop(reference):
  config = small_config()
  sweep = training.sweep_from_config(config)
  flat_policy = reference.state.solver.policy.reshape(sweep.num_points, -1)
  flat_gap = reference.history["gap"].reshape(sweep.num_points, -1)
  for index in range(sweep.num_points):
    one = training.point_config(config, sweep, index)
    program = nash_sweep.make_program(one)
    _, seeds = training.sweep_points(training.sweep_from_config(one))
    key = training.seed_keys(one.seed, seeds)[0]

    @jax.jit
    def run_point(key, program=program):
      state = program.init({}, key)
      state = jax.lax.fori_loop(0, 40, lambda t, s, p=program: p.step(s, {}, t), state)
      return state, program.metrics(state, {})

    state, values = run_point(key)
    np.testing.assert_allclose(state.solver.policy, flat_policy[index], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(values["gap"], flat_gap[index, -1], rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("backend", ["jit", "shard_map", "pmap"])
def test_sharded_over_eight_devices_equals_one_device(reference, backend, tmp_path):
  # 12 points over 8 devices: padded to 16, unpadded on the way back.
  result = _run(small_config(**{"mesh.backend": backend}), tmp_path)
  for a, b in zip(jax.tree.leaves(result.state), jax.tree.leaves(reference.state), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
  for name in reference.history:
    np.testing.assert_allclose(
      result.history[name], reference.history[name], rtol=1e-10, atol=1e-14
    )


def test_interrupted_and_resumed_equals_uninterrupted(reference, tmp_path):
  config = small_config(**{"mesh.backend": "none"})
  partial = _run(config, tmp_path, stop_after=20)
  assert partial.resumed_from is None
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["20"]
  resumed = _run(config, tmp_path)
  assert resumed.resumed_from == 20
  _assert_trees_equal(resumed.state, reference.state)
  _assert_trees_equal(resumed.history, reference.history)
  steps = [r["step"] for r in training.read_metrics(str(tmp_path))]
  assert steps == [0, 10, 20, 30, 40]  # no duplicated log lines after the resume


def test_resume_on_another_backend(reference, tmp_path):
  _run(small_config(**{"mesh.backend": "jit"}), tmp_path, stop_after=20)
  resumed = _run(small_config(**{"mesh.backend": "shard_map"}), tmp_path)
  assert resumed.resumed_from == 20
  for a, b in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(reference.state), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_config_mismatch_is_refused(tmp_path):
  _run(small_config(), tmp_path, stop_after=20)
  with pytest.raises(
    ValueError, match=r"different run \(solver.step_size: checkpoint 1.0, now 0.7"
  ):
    _run(small_config(**{"solver.step_size": 0.7}), tmp_path)


def _corrupt(step_dir, how):
  files = [os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs]
  if how == "truncate":
    for f in files:
      with open(f, "r+b") as fh:
        fh.truncate(os.path.getsize(f) // 2)
  elif how == "delete_state":
    for f in files:
      if f"{os.sep}state{os.sep}" in f:
        os.remove(f)
  elif how == "flip_bytes":
    for f in files:
      if f"{os.sep}d{os.sep}" in f:
        with open(f, "r+b") as fh:
          data = bytearray(fh.read())
          data[len(data) // 2] ^= 0xFF
          fh.seek(0)
          fh.write(bytes(data))


@pytest.mark.parametrize("how", ["truncate", "delete_state", "flip_bytes"])
def test_corrupt_latest_checkpoint_falls_back(reference, tmp_path, capsys, how):
  config = small_config(**{"mesh.backend": "none", "checkpoint.every": 10})
  _run(config, tmp_path, stop_after=30)
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["10", "20", "30"]
  _corrupt(tmp_path / "checkpoints" / "30", how)
  capsys.readouterr()
  resumed = _run(config, tmp_path)
  assert "checkpoint step 30" in capsys.readouterr().out
  assert resumed.resumed_from == 20
  _assert_trees_equal(resumed.state, reference.state)


def test_every_checkpoint_corrupt_is_an_error(tmp_path):
  config = small_config(**{"mesh.backend": "none"})
  _run(config, tmp_path, stop_after=20)
  _corrupt(tmp_path / "checkpoints" / "20", "truncate")
  with pytest.raises(training.CheckpointError, match="No usable checkpoint"):
    _run(config, tmp_path)


def test_empty_workdir_and_empty_checkpoint_dir_start_fresh(tmp_path):
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "metrics.jsonl").write_text('{"step": 99}\n')  # stale log without checkpoints
  result = _run(small_config(), tmp_path)
  assert result.resumed_from is None
  assert [r["step"] for r in training.read_metrics(str(tmp_path))] == [0, 10, 20, 30, 40]


def _cli(workdir, log):
  with open(log, "a") as out:
    return subprocess.Popen(
      [
        sys.executable,
        "-m",
        "experiments.train",
        "--config",
        "configs/nash_sweep.py:n=8,seeds=4,steps=1000",
        "--workdir",
        str(workdir),
        "--config.log.every=5",
        "--config.checkpoint.every=25",
        "--config.plot=False",
        "--config.log.tensorboard=False",
        "--config.log.progress_seconds=0",
      ],
      cwd=REPO,
      stdout=out,
      stderr=subprocess.STDOUT,
      text=True,
      env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def _final_fingerprint(workdir):
  meta = json.loads((workdir / "checkpoints" / "1000" / "meta" / "metadata").read_text())
  return meta["fingerprint"]


def test_killed_process_resumes_to_the_same_state(tmp_path):
  """SIGKILL a real run mid-way (possibly mid-save), rerun it, compare with an uninterrupted run."""
  whole, killed, log = tmp_path / "whole", tmp_path / "killed", tmp_path / "log.txt"
  assert _cli(whole, log).wait(timeout=300) == 0, log.read_text()[-3000:]
  proc = _cli(killed, log)
  metrics = killed / "metrics.jsonl"
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None:
    if metrics.exists() and metrics.read_text().count("\n") > 60:  # past step 300 of 1000
      break
    time.sleep(0.005)
  assert proc.poll() is None, "the run ended before it could be killed"
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  killed_at = metrics.read_text().count("\n")
  assert killed_at < 200
  assert _cli(killed, log).wait(timeout=300) == 0, log.read_text()[-3000:]
  assert "resumed from checkpoint step" in log.read_text()
  assert _final_fingerprint(killed) == _final_fingerprint(whole)
  final = [training.read_metrics(str(d))[-1]["metrics"] for d in (whole, killed)]
  assert final[0] == final[1]
