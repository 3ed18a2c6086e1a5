"""The arena experiment: a tiny leaderboard replication through the engine, parts validated."""

import numpy as np
import pytest

from configs import arena as config_lib
from experiments import arena, train_lib
from jaxpref import data


def _tiny_table():
  """Four models, two prompts, every pair judged in both positions; model 0 best."""
  a, b, y, prompt = [], [], [], []
  for p in range(2):
    for i in range(4):
      for j in range(4):
        if i != j:
          a.append(i)
          b.append(j)
          y.append(1.0 if i < j else (0.5 if (i + j + p) % 3 == 0 else 0.0))
          prompt.append(p)
  n = len(a)
  return data.Comparisons(
    np.array(a),
    np.array(b),
    np.array(y),
    ("m0", "m1", "m2", "m3"),
    np.array(prompt),
    np.full(n, -1),
    (),
    advantage=np.ones(n, np.int64),
  )


# Compiles a bootstrap, Elo over orders and the jitted maximal lottery (about 30 s on 2 cores).
@pytest.mark.slow
def test_leaderboard_and_kemeny_on_a_tiny_table(tmp_path, monkeypatch):
  monkeypatch.setattr(arena, "crowd", lambda config: _tiny_table())
  config = config_lib.get_config("parts=leaderboard+kemeny,seeds=2,resamples=4")
  config.lottery.resamples, config.elo.permutations = 2, 3
  config.plot, config.checkpoint.every = True, 0
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  rows = results["leaderboard"]["models"]
  assert next(r["model"] for r in rows) == "m0"
  for r in rows:
    assert r["bt_low"]["mean"] <= r["bt_score"]["mean"] + 1e-9 <= r["bt_high"]["mean"] + 2e-9
    assert 1 <= r["elo_rank_min"]["mean"] <= r["elo_rank_max"]["mean"] <= 4
    assert 0 <= r["lottery_support"]["mean"] <= 1
  assert (tmp_path / "leaderboard.png").exists()
  assert results["kemeny"]["ranking"][0] == "m0" and results["kemeny"]["optimal"]


def test_kemeny_part_on_a_tiny_table(monkeypatch):
  monkeypatch.setattr(arena, "crowd", lambda config: _tiny_table())
  result = arena.run_kemeny(config_lib.get_config())
  assert result["prompts"] == 2 and result["optimal"]
  assert result["ranking"] == ["m0", "m1", "m2", "m3"]
  assert result["kendall_tau_vs_pooled_bt"] == pytest.approx(1.0)


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"parts": "leaderboard+elo"}, "config.parts must name some of"),
    ({"bootstrap.resamples": 0}, "bootstrap.resamples must be >= 1; got 0"),
    ({"data.llmfao": "/no/such.csv"}, "data.llmfao: no file at"),
    ({"matchmaking.k": 1}, r"k \(items shown per vote\) must be an integer >= 2"),
  ],
)
def test_validation(override, message):
  config = config_lib.get_config()
  for key, value in override.items():
    section, _, field = key.rpartition(".")
    (config[section] if section else config)[field] = value
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)
