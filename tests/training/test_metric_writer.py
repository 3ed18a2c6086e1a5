import json

import numpy as np
import pytest

from jaxpref import training
from tests.training._programs import small_sweep


def test_jsonl_and_tensorboard(tmp_path):
  sweep = small_sweep()
  writer = training.MetricWriter(str(tmp_path))
  writer.write_hparams({"solver": {"step_size": 1.0}}, sweep)
  gap = np.arange(12.0).reshape(sweep.shape)
  writer.write_sweep(10, {"gap": gap}, sweep)
  writer.write_sweep(20, {"gap": gap / 2}, sweep)
  writer.close()
  records = training.read_metrics(str(tmp_path))
  assert records[0]["hparams"] == {"solver": {"step_size": 1.0}}
  assert records[0]["sweep"]["axes"] == {"kl_coef": [0.0, 0.1], "step_size": [0.5, 2.0]}
  assert records[0]["sweep"]["seeds"] == 3 and records[0]["sweep"]["hparams"] == {}
  assert records[1]["metrics"]["gap"] == gap.tolist()
  np.testing.assert_allclose(records[2]["mean"]["gap"], (gap / 2).mean(-1))
  assert records[1]["ci95"]["gap"][0][0] == pytest.approx(training.summarize(gap[0, 0]).half_width)

  accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
  acc = accumulator.EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0})
  acc.Reload()
  tags = [f"gap/{label}" for label in ("kl_coef_0_step_size_0.5", "kl_coef_0.1_step_size_2")]
  assert set(tags) <= set(acc.Tags()["scalars"]) and len(acc.Tags()["scalars"]) == 4
  assert [(e.step, e.value) for e in acc.Scalars(tags[0])] == [(10, 1.0), (20, 0.5)]
  assert [(e.step, e.value) for e in acc.Scalars(tags[1])] == [(10, 10.0), (20, 5.0)]
  text = acc.Tensors("hparams/text_summary")[0].tensor_proto.string_val[0].decode()
  assert json.loads(text.strip("`\n")) == {"solver": {"step_size": 1.0}}


def test_plain_scalars_tags_and_context_manager(tmp_path):
  with training.MetricWriter(str(tmp_path)) as writer:
    writer.write_scalars(1, {"rps/mirror_prox (Nash-MP)/worst_gap": 0.25, "loss": 2.0})
    writer.write_scalars(2, {"loss": 1.0})
  accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
  acc = accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
  acc.Reload()
  assert sorted(acc.Tags()["scalars"]) == ["loss", "rps/mirror_prox__Nash-MP_/worst_gap"]
  assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(1, 2.0), (2, 1.0)]
  assert training.read_metrics(str(tmp_path))[0]["scalars"]["loss"] == 2.0


def test_no_tensorboard_and_other_processes_write_no_event_file(tmp_path, monkeypatch):
  with training.MetricWriter(str(tmp_path), tensorboard=False) as writer:
    writer.write_scalars(1, {"loss": 2.0})
  assert not (tmp_path / "tensorboard").exists()
  monkeypatch.setattr(training._metric_writer.jax, "process_index", lambda: 1)
  with training.MetricWriter(str(tmp_path / "p1")) as writer:
    writer.write_scalars(1, {"loss": 2.0})
  assert not (tmp_path / "p1").exists()


def test_truncate_after(tmp_path):
  writer = training.MetricWriter(str(tmp_path), tensorboard=False)
  for step in (0, 10, 20, 30):
    writer.write_scalars(step, {"x": float(step)})
  writer.truncate_after(10)
  assert [r["step"] for r in training.read_metrics(str(tmp_path))] == [0, 10]
