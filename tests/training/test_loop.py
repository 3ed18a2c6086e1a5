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
from tests.training._programs import Hyper, make_program, run_kwargs, small_sweep

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(workdir, *, sweep=None, n=5, noise=0.05, **options):
  """The small sweep's run into ``workdir``; ``options`` override :func:`run_kwargs`."""
  sweep = small_sweep() if sweep is None else sweep
  return training.run_sweep(
    make_program(n, noise),
    sweep,
    workdir=str(workdir),
    **run_kwargs(n=n, noise=noise, **options),
  )


def _assert_trees_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """The uninterrupted single-device run every invariance test compares against."""
  return _run(tmp_path_factory.mktemp("reference"), backend="none")


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
  sweep = small_sweep()
  program = make_program()
  flat_logits = reference.state.logits.reshape(sweep.num_points, -1)
  flat_gap = reference.history["gap"].reshape(sweep.num_points, -1)

  @jax.jit
  def run_point(hp, key):
    state = program.init(hp, key)
    state = jax.lax.fori_loop(0, 40, lambda t, s: program.step(s, hp, t), state)
    return state, program.metrics(state, hp)

  for index in range(sweep.num_points):
    one = training.point_sweep(sweep, index)
    assert isinstance(one.hparams, Hyper) and one.num_points == 1
    _, seeds = training.sweep_points(one)
    key = training.seed_keys(one.seed, seeds)[0]
    state, values = run_point(one.hparams, key)
    np.testing.assert_allclose(state.logits, flat_logits[index], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(values["gap"], flat_gap[index, -1], rtol=1e-10, atol=1e-15)


def test_run_of_a_point_sweep_equals_its_slice(reference, tmp_path):
  one = training.point_sweep(small_sweep(), 7)  # kl_coef 0.1, step_size 0.5, seed 1
  assert one.hparams == Hyper(step_size=0.5, kl_coef=0.1) and one.seed_offset == 1
  result = _run(tmp_path, sweep=one, backend="none", checkpoint_every=0)
  assert result.history["gap"].shape == (1, 4)
  np.testing.assert_allclose(
    result.history["gap"][0], reference.history["gap"][1, 0, 1], rtol=1e-12, atol=1e-15
  )
  np.testing.assert_allclose(
    result.state.logits[0], reference.state.logits[1, 0, 1], rtol=1e-12, atol=1e-15
  )


@pytest.mark.parametrize(
  "backend, devices", [("jit", -1), ("shard_map", -1), ("pmap", -1), ("jit", 5), ("none", -1)]
)
def test_sharded_over_eight_devices_equals_one_device(reference, backend, devices, tmp_path):
  # 12 points over 8 devices: padded to 16 (over 5: to 15), unpadded on the way back.
  result = _run(tmp_path, backend=backend, devices=devices)
  for a, b in zip(jax.tree.leaves(result.state), jax.tree.leaves(reference.state), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
  for name in reference.history:
    np.testing.assert_allclose(
      result.history[name], reference.history[name], rtol=1e-10, atol=1e-14
    )


def test_interrupted_and_resumed_equals_uninterrupted(reference, tmp_path):
  partial = _run(tmp_path, backend="none", stop_after=20)
  assert partial.resumed_from is None
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["20"]
  resumed = _run(tmp_path, backend="none")
  assert resumed.resumed_from == 20
  _assert_trees_equal(resumed.state, reference.state)
  _assert_trees_equal(resumed.history, reference.history)
  steps = [r["step"] for r in training.read_metrics(str(tmp_path))]
  assert steps == [0, 10, 20, 30, 40]  # no duplicated log lines after the resume


def test_resume_on_another_backend(reference, tmp_path):
  _run(tmp_path, backend="jit", stop_after=20)
  # The engine options that do not change results (backend, logging, checkpointing) may change.
  resumed = _run(
    tmp_path, backend="shard_map", max_to_keep=1, tensorboard=True, progress_seconds=0.0
  )
  assert resumed.resumed_from == 20
  for a, b in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(reference.state), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_a_different_run_is_refused_naming_the_fields(tmp_path):
  _run(tmp_path, stop_after=20)
  with pytest.raises(
    training.IncompatibleCheckpointError,
    match=r"different run \(provenance.game.n: checkpoint 5, now 6; steps: checkpoint 40, now 6",
  ):
    _run(tmp_path, n=6, steps=60)
  assert training.IncompatibleCheckpointError.__mro__[1] is ValueError
  other_axis = {"kl_coef": (0.0, 0.1), "step_size": (0.5, 3.0)}
  with pytest.raises(
    training.IncompatibleCheckpointError,
    match=r"sweep.axes.step_size: checkpoint \[0.5, 2.0\], now \[0.5, 3.0\]",
  ):
    _run(tmp_path, sweep=small_sweep(axes=other_axis))
  with pytest.raises(training.IncompatibleCheckpointError, match=r"log_every: checkpoint 10"):
    _run(tmp_path, log_every=5)
  with pytest.raises(training.IncompatibleCheckpointError, match=r"sweep.seeds: checkpoint 3"):
    _run(tmp_path, sweep=small_sweep(seeds=4))
  # The refused runs left the workdir as it was: the original run still resumes.
  assert _run(tmp_path).resumed_from == 20


def test_a_different_unswept_hyperparameter_is_refused(tmp_path):
  sweep = small_sweep(kl_coef=0.01, axes={"step_size": (0.5, 2.0)})
  assert sweep.to_json()["hparams"] == {"kl_coef": 0.01}
  _run(tmp_path, sweep=sweep, stop_after=20, provenance=None)
  with pytest.raises(
    training.IncompatibleCheckpointError, match=r"sweep.hparams.kl_coef: checkpoint 0.01, now 0.5"
  ):
    _run(tmp_path, sweep=small_sweep(kl_coef=0.5, axes={"step_size": (0.5, 2.0)}), provenance=None)
  assert _run(tmp_path, sweep=sweep, provenance=None).resumed_from == 20


def test_provenance_compares_as_json_and_must_be_json(tmp_path):
  # Tuples come back from a checkpoint as lists: the same provenance still resumes.
  provenance = {"axes": (1, 2), "game": {"n": 5}}
  _run(tmp_path, stop_after=20, provenance=provenance)
  assert _run(tmp_path, provenance=provenance).resumed_from == 20
  with pytest.raises(ValueError, match="provenance must be JSON-able"):
    _run(tmp_path / "bad", provenance={"fn": print})
  assert not (tmp_path / "bad").exists()


def test_progress_and_resume_lines_go_to_the_hook_not_stdout(tmp_path, capfd):
  lines = []
  with training.progress_hook(lines.append):
    _run(tmp_path, progress_seconds=0.0, stop_after=20, name="game")
  assert [line.split("  ")[0] for line in lines] == [
    "[game] step 10/40 (25%)",
    "[game] step 20/40 (50%)",
  ]
  assert "steps/s" in lines[0] and "ETA" in lines[0] and "(mean)" in lines[0]
  lines.clear()
  with training.progress_hook(lines.append):
    _run(tmp_path, progress_seconds=0.0, name="game")
  assert lines[0] == f"[game] resumed from checkpoint step 20 in {tmp_path}"
  assert lines[-1].startswith("[game] step 40/40 (100%)")
  lines.clear()
  _run(tmp_path / "again", progress_seconds=0.0, name="game")  # no hook: logged only
  assert lines == []
  out, err = capfd.readouterr()
  assert out == "" and "[game]" not in err


def test_tensorboard_scalars_of_a_resumed_run(reference, tmp_path):
  _run(tmp_path, backend="none", tensorboard=True, stop_after=20)
  _run(tmp_path, backend="none", tensorboard=True)
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
  _run(tmp_path, backend="none", checkpoint_every=10, stop_after=30)
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["10", "20", "30"]
  _corrupt(tmp_path / "checkpoints" / "30", how)
  caplog.clear()
  resumed = _run(tmp_path, backend="none", checkpoint_every=10)
  warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
  ours = [w for w in warnings if "Checkpoint step 30" in w and "trying the previous one" in w]
  assert len(ours) == 1, warnings
  # One short line in plain words (not a TensorStore spec or a pytree dump).
  assert "\n" not in ours[0] and len(ours[0]) < 300, ours[0]
  assert len(warnings) <= 3, warnings
  assert resumed.resumed_from == 20
  _assert_trees_equal(resumed.state, reference.state)


def test_every_checkpoint_corrupt_is_an_error(tmp_path):
  _run(tmp_path, backend="none", stop_after=20)
  _corrupt(tmp_path / "checkpoints" / "20", "truncate")
  with pytest.raises(training.CheckpointError, match="No usable checkpoint") as error:
    _run(tmp_path, backend="none")
  assert "delete it to start afresh (step 20: " in str(error.value)
  assert "\n" not in str(error.value) and len(str(error.value)) < 400


def test_empty_workdir_and_empty_checkpoint_dir_start_fresh(tmp_path):
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "metrics.jsonl").write_text('{"step": 99}\n')  # stale log without checkpoints
  result = _run(tmp_path)
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


# A child process killed mid-run (about 20 s); in-process resume = uninterrupted runs by default.
@pytest.mark.slow
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


def _never_called(*args):
  raise AssertionError("the program was traced or compiled")


@pytest.mark.parametrize(
  "options, message",
  [
    ({"steps": 0}, "steps must be an integer >= 1, got 0"),
    ({"steps": 2.5}, "steps must be an integer >= 1, got 2.5"),
    ({"steps": True}, "steps must be an integer >= 1, got True"),
    ({"log_every": 0}, "log_every must be >= 1, got 0"),
    (
      {"checkpoint_every": 15},
      r"checkpoint_every=15 must be 0 \(off\) or a multiple of log_every=10",
    ),
    ({"checkpoint_every": -10}, "checkpoint_every=-10 must be 0"),
    ({"backend": "gpu"}, "Unknown mesh backend 'gpu'; choose one of none, jit, shard_map, pmap"),
    ({"devices": 0}, "devices must be -1 .all. or >= 1, got 0"),
    ({"devices": -2}, "devices must be -1 .all. or >= 1, got -2"),
    ({"devices": 9}, r"devices=9: only 8 device\(s\) available"),
    ({"backend": "pmap", "devices": 9}, r"devices=9: only 8 device\(s\) available"),
  ],
)
def test_bad_run_options_raise_before_anything_compiles(tmp_path, options, message):
  program = training.Program(_never_called, _never_called, _never_called)
  workdir = tmp_path / "run"
  with pytest.raises(ValueError, match=message):
    training.run_sweep(program, small_sweep(), workdir=str(workdir), **run_kwargs(**options))
  assert not workdir.exists()
  check = {k: run_kwargs(**options).get(k) for k in ("steps", "log_every", "checkpoint_every")}
  with pytest.raises(ValueError, match=message):
    training.check_run_options(
      **check, backend=options.get("backend", "jit"), devices=options.get("devices", -1)
    )


def test_good_run_options_pass_and_log_schedule():
  training.check_run_options(steps=45, log_every=10, checkpoint_every=0, backend="none", devices=8)
  training.check_run_options(steps=40, log_every=10, checkpoint_every=20, backend="jit", devices=1)
  assert training.log_schedule(40, 10).tolist() == [10, 20, 30, 40]
  assert training.log_schedule(45, 10).tolist() == [10, 20, 30, 40, 45]
  assert training.log_schedule(3, 10).tolist() == [3]


def test_default_log_every_is_a_tenth_of_the_steps(tmp_path):
  options = run_kwargs(steps=30, log_every=None, checkpoint_every=0, backend="none")
  result = training.run_sweep(
    make_program(), small_sweep(seeds=1), workdir=str(tmp_path), **options
  )
  assert result.log_steps.tolist() == list(range(3, 31, 3))


def test_metrics_must_be_scalars(tmp_path):
  base = make_program()
  program = base._replace(metrics=lambda state, hp: {"policy": state.logits})
  with pytest.raises(ValueError, match=r"Program.metrics must return scalars; \['policy'\]"):
    training.run_sweep(program, small_sweep(), workdir=str(tmp_path / "run"), **run_kwargs())
  assert not (tmp_path / "run").exists()
