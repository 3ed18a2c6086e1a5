import json
import logging
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxpref import training
from tests.training._programs import make_program, small_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(config, workdir, **kwargs):
  return training.run_sweep(make_program(config), config, str(workdir), **kwargs)


def _assert_trees_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """The uninterrupted single-device run every invariance test compares against."""
  return _run(small_config(**{"mesh.backend": "none"}), tmp_path_factory.mktemp("reference"))


def test_result_shapes_and_history(reference):
  assert reference.sweep.shape == (2, 2, 3)
  assert reference.state.A.shape == (2, 2, 3, 5, 5)
  assert reference.state.key.shape == (2, 2, 3, 2)  # PRNG keys come back as raw data
  assert reference.history["gap"].shape == (2, 2, 3, 4)
  assert reference.log_steps.tolist() == [10, 20, 30, 40]
  assert reference.resumed_from is None
  # Every point's average policy gets less exploitable along the logged history.
  gap = reference.history["gap_average"]
  assert np.all(gap[..., -1] < gap[..., 0])


def test_vmapped_sweep_equals_python_loop(reference):
  config = small_config()
  sweep = training.sweep_from_config(config)
  flat_logits = reference.state.logits.reshape(sweep.num_points, -1)
  flat_gap = reference.history["gap"].reshape(sweep.num_points, -1)
  for index in range(sweep.num_points):
    one = training.point_config(config, sweep, index)
    program = make_program(one)
    _, seeds = training.sweep_points(training.sweep_from_config(one))
    key = training.seed_keys(one.seed, seeds)[0]

    @jax.jit
    def run_point(key, program=program):
      state = program.init({}, key)
      state = jax.lax.fori_loop(0, 40, lambda t, s, p=program: p.step(s, {}, t), state)
      return state, program.metrics(state, {})

    state, values = run_point(key)
    np.testing.assert_allclose(state.logits, flat_logits[index], rtol=1e-12, atol=1e-15)
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
    training.IncompatibleCheckpointError,
    match=r"different run \(solver.step_size: checkpoint 1.0, now 0.7; steps: checkpoint 40, now 6",
  ):
    _run(small_config(**{"solver.step_size": 0.7, "steps": 60}), tmp_path)
  assert training.IncompatibleCheckpointError.__mro__[1] is ValueError
  # The refused run left the workdir as it was: the original config still resumes.
  assert _run(small_config(), tmp_path).resumed_from == 20


def test_progress_and_resume_lines_go_to_the_hook_not_stdout(tmp_path, capfd):
  config = small_config(**{"log.progress_seconds": 0.0})
  lines = []
  with training.progress_hook(lines.append):
    _run(config, tmp_path, stop_after=20, name="game")
  assert [line.split("  ")[0] for line in lines] == [
    "[game] step 10/40 (25%)",
    "[game] step 20/40 (50%)",
  ]
  assert "steps/s" in lines[0] and "ETA" in lines[0] and "(mean)" in lines[0]
  lines.clear()
  with training.progress_hook(lines.append):
    _run(config, tmp_path, name="game")
  assert lines[0] == f"[game] resumed from checkpoint step 20 in {tmp_path}"
  assert lines[-1].startswith("[game] step 40/40 (100%)")
  lines.clear()
  _run(config, tmp_path / "again", name="game")  # no hook: logged only
  assert lines == []
  out, err = capfd.readouterr()
  assert out == "" and "[game]" not in err


def test_tensorboard_scalars_of_a_resumed_run(reference, tmp_path):
  config = small_config(**{"mesh.backend": "none", "log.tensorboard": True})
  _run(config, tmp_path, stop_after=20)
  _run(config, tmp_path)
  accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
  acc = accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
  acc.Reload()
  events = acc.Scalars("gap/kl_coef_0.1_step_size_2")
  assert [e.step for e in events] == [10, 20, 30, 40]  # the resumed file hides nothing twice
  expected = reference.history["gap"][1, 1].mean(axis=0)
  np.testing.assert_allclose([e.value for e in events], expected, rtol=1e-6)


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
def test_corrupt_latest_checkpoint_falls_back(reference, tmp_path, caplog, how):
  config = small_config(**{"mesh.backend": "none", "checkpoint.every": 10})
  _run(config, tmp_path, stop_after=30)
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["10", "20", "30"]
  _corrupt(tmp_path / "checkpoints" / "30", how)
  caplog.clear()
  resumed = _run(config, tmp_path)
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert any("checkpoint step 30" in w and "trying the previous one" in w for w in warnings)
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
      [sys.executable, "-m", "tests.training._programs", "--workdir", str(workdir)],
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
