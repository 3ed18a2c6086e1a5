import json

import numpy as np

from experiments import common


def test_names_split_on_commas_and_plus():
  assert common.names(" dpo+ipo , egpo,,") == ["dpo", "ipo", "egpo"]
  assert common.names("") == []


def test_stats_has_values_mean_and_interval():
  out = common.stats(np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]))
  assert out["values"] == [[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]
  np.testing.assert_allclose(out["mean"], [2.0, 2.0])
  assert out["ci95"][1] == 0.0 and out["ci95"][0] > 0


def test_partial_results_are_replaced_atomically(tmp_path):
  common.write_results(str(tmp_path / "w"), {"first": 1})
  common.write_results(str(tmp_path / "w"), {"first": 1, "second": 2})
  assert json.loads((tmp_path / "w" / "results.json").read_text()) == {"first": 1, "second": 2}
  assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["results.json"]
