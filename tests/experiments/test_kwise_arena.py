"""experiments/kwise_arena.py: a tiny run of every rule through the engine, and its validation."""

import os

import ml_collections
import numpy as np
import pytest

from experiments import kwise_arena


def _config(**fields):
  base = {"models": 4, "k": 3, "votes": 24, "seeds": 2, "log_every": 8}
  base["rules"] = "information,ksort,elo_pairs"  # one per estimator (each rule compiles)
  return ml_collections.ConfigDict({**base, **fields})


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_run_arena_returns_curves_and_votes_to_the_exact_order(tmp_path):
  results = kwise_arena.run_arena(_config(), str(tmp_path))
  assert list(results) == ["information", "ksort", "elo_pairs"]
  for rule, r in results.items():
    assert r["votes"] == [8, 16, 24]
    assert len(r["kendall_tau"]["mean"]) == 3 and len(r["final_kendall_tau"]["values"]) == 2
    assert all(-1 <= t <= 1 for t in r["final_kendall_tau"]["values"])
    reached = r["votes_to_exact"]
    assert len(reached["values"]) == 2 and 0 <= reached["never"] <= 2
    assert all(v is None or 1 <= v <= 24 for v in reached["values"])
    assert os.path.exists(tmp_path / rule / "metrics.jsonl")
    assert r["k"] == (2 if rule.endswith("pairs") else 3)
  assert os.path.getsize(tmp_path / "kendall_tau.png") > 0
  # With 4 well-separated items, PL on K-wise votes finds the order within 24 votes.
  assert results["information"]["votes_to_exact"]["never"] == 0
  assert "votes to exact order" in kwise_arena.format_results(results)
  assert np.isfinite(results["ksort"]["kendall_tau"]["mean"][-1])


@pytest.mark.parametrize(
  "fields,message",
  [
    ({"k": 5}, "more than the 4 items"),
    ({"k": 1}, ">= 2"),
    ({"rules": "uniform,bogus"}, "unknown rule 'bogus'"),
    ({"flip_prob": 2.0}, "flip_prob"),
    ({"votes": 0}, "votes must be an integer >= 1"),
    ({"spread": 0.0}, "spread must be > 0"),
    ({"colour": 1}, "unknown field"),
    ({"exploit": "x"}, "Unknown exploit"),
  ],
)
def test_validate_arena_names_the_bad_setting(fields, message):
  with pytest.raises(ValueError, match=message):
    kwise_arena.validate_arena(_config(**fields))
