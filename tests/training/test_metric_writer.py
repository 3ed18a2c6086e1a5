import json

import numpy as np
import pytest

from jaxpref import training
from tests.training._programs import small_config


def test_jsonl_and_tensorboard(tmp_path):
  sweep = training.sweep_from_config(small_config())
  writer = training.MetricWriter(str(tmp_path))
  writer.write_hparams({"solver": {"step_size": 1.0}}, sweep)
  gap = np.arange(12.0).reshape(sweep.shape)
  writer.write_sweep(10, {"gap": gap}, sweep)
  writer.write_sweep(20, {"gap": gap / 2}, sweep)
  writer.close()
  records = training.read_metrics(str(tmp_path))
  assert records[0]["hparams"] == {"solver": {"step_size": 1.0}}
  assert records[0]["sweep"]["axes"]["solver.step_size"] == [0.5, 2.0]
  assert records[1]["metrics"]["gap"] == gap.tolist()
  np.testing.assert_allclose(records[2]["mean"]["gap"], (gap / 2).mean(-1))
  assert records[1]["ci95"]["gap"][0][0] == pytest.approx(training.summarize(gap[0, 0]).half_width)

  accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
  acc = accumulator.EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0})
  acc.Reload()
  tag = "gap/kl_coef=0.1 step_size=2"
  assert tag in acc.Tags()["scalars"]
  assert [(e.step, e.value) for e in acc.Scalars(tag)] == [(10, 10.0), (20, 5.0)]
  text = acc.Tensors("hparams")[0].tensor_proto.string_val[0].decode()
  assert json.loads(text.strip("`\n")) == {"solver": {"step_size": 1.0}}


def test_truncate_after(tmp_path):
  writer = training.MetricWriter(str(tmp_path), tensorboard=False)
  for step in (0, 10, 20, 30):
    writer.write_scalars(step, {"x": float(step)})
  writer.truncate_after(10)
  assert [r["step"] for r in training.read_metrics(str(tmp_path))] == [0, 10]


def test_crc32c_known_value():
  from jaxpref.training._tensorboard import crc32c

  assert crc32c(b"123456789") == 0xE3069283
