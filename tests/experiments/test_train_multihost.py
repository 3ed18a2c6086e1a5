"""The CLI as two local CPU processes forming one JAX runtime (jax.distributed), one sweep."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from jaxpref import training

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = [
  "--config",
  "configs/nash_sweep.py:n=6,seeds=5,steps=60",
  "--config.log.every=20",
  "--config.checkpoint.every=20",
  "--config.plot=False",
]


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _launch(workdir, log, devices, *extra, args=ARGS):
  env = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "JAX_NUM_CPU_DEVICES": str(devices),
    "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
  }
  with open(log, "w") as out:
    return subprocess.Popen(
      [sys.executable, "-m", "experiments.train", *args, "--workdir", str(workdir), *extra],
      cwd=REPO,
      env=env,
      stdout=out,
      stderr=subprocess.STDOUT,
    )


def _one_and_two_processes(tmp_path, devices, *, args=ARGS, timeout=300):
  """Runs ``args`` as one process on ``devices`` CPU devices (workdir ``single``), then as two
  processes on half as many each (``multi``); returns both metric logs."""
  single = _launch(tmp_path / "single", tmp_path / "single.log", devices, args=args)
  assert single.wait(timeout=timeout) == 0, (tmp_path / "single.log").read_text()[-3000:]
  port = _free_port()
  procs = [
    _launch(
      tmp_path / "multi",
      tmp_path / f"p{i}.log",
      devices // 2,
      f"--coordinator_address=localhost:{port}",
      "--num_processes=2",
      f"--process_id={i}",
      args=args,
    )
    for i in range(2)
  ]
  for i, p in enumerate(procs):
    assert p.wait(timeout=timeout) == 0, (tmp_path / f"p{i}.log").read_text()[-3000:]
  return tuple(training.read_metrics(str(tmp_path / d)) for d in ("single", "multi"))


# Two JAX processes over a local coordinator (about 20 s); 8 devices = 1 runs by default.
@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
  one, two = _one_and_two_processes(tmp_path, 8)
  assert "process 1/2" in (tmp_path / "p1.log").read_text()
  assert [r["step"] for r in two] == [0, 20, 40, 60]  # written once, by process 0
  for a, b in zip(one[1:], two[1:], strict=True):
    for name in a["metrics"]:
      np.testing.assert_allclose(b["metrics"][name], a["metrics"][name], rtol=1e-5, atol=1e-7)
  results = json.loads((tmp_path / "multi" / "results.json").read_text())
  assert results["points"] == 4 * 3 * 5
  assert sorted(os.listdir(tmp_path / "multi" / "checkpoints"), key=int) == ["20", "40", "60"]


LM_ARGS = [
  "--config",
  "configs/lm_offline.py:seeds=2",
  "--config.model.dim=16",
  "--config.model.layers=1",
  "--config.model.hidden=32",
  "--config.data.train_pairs=32",
  "--config.eval_pairs=16",
  "--config.eval_prompts=2",
  "--config.data.response_tokens=8",
  "--config.max_new_tokens=4",
  "--config.prompts.buckets=64",
  "--config.model.max_len=80",
  "--config.steps=4",
  "--config.log.every=2",
  "--config.checkpoint.every=0",
  "--config.plot=False",
  "--config.mesh.data=2",
  "--config.mesh.fsdp=2",
]


# Two processes (2 devices each) on one [points, data, fsdp] = [1, 2, 2] mesh (about 1 min).
@pytest.mark.slow
def test_lm_offline_data_fsdp_mesh_over_two_processes_equals_one(tmp_path):
  one, two = _one_and_two_processes(tmp_path, 4, args=LM_ARGS, timeout=600)
  assert [r["step"] for r in two] == [r["step"] for r in one] == [0, 2, 4]
  for a, b in zip(one[1:], two[1:], strict=True):  # the first record holds the hyperparameters
    for name in a["metrics"]:
      np.testing.assert_allclose(b["metrics"][name], a["metrics"][name], rtol=1e-5, atol=1e-6)
