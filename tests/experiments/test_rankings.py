"""The rankings experiment: a user's ranking file through the engine, pieces checked exactly."""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import rankings as config_lib
from experiments import rankings, train_lib
from jaxpref import data
from jaxpref import preference as pm

# 4 items; 12 rankings of 3 or 4 items, two of them with a tie.
ROWS = [
  (0, 1, 2, 3),
  (0, 2, 1, 3),
  (1, 0, 3, 2),
  (0, 1, 3),
  (2, 0, 1, 3),
  (0, 3, 1, 2),
  (1, 2, 0),
  (0, 1, 2, 3),
  (3, 0, 1, 2),
  (0, 2, 3, 1),
  (1, 0, 2),
  (0, 1, 2, 3),
]


def _csv(tmp_path):
  lines = ["ranking,item,position"]
  for r, row in enumerate(ROWS):
    places = [1, 1, 2, 3] if r in (2, 9) else list(range(1, len(row) + 1))
    lines += [f"r{r},item{i},{p}" for i, p in zip(row, places, strict=True)]
  path = tmp_path / "rankings.csv"
  path.write_text("\n".join(lines) + "\n")
  return str(path)


def test_ranking_data_pairs_and_cuts(tmp_path):
  table = data.load_rankings(_csv(tmp_path))
  d = rankings.ranking_data(table)
  assert d.has_ties and d.cut.items.shape == d.tied.items.shape == (12, 4)
  # Every ranking of m items gives m(m-1)/2 pairs; a tie is outcome 1/2.
  assert d.pairs.outcome.shape[0] == sum(len(r) * (len(r) - 1) // 2 for r in ROWS)
  assert float(np.sum(np.asarray(d.pairs.outcome) == 0.5)) == 2
  # Rows tied at the top hold no choice: weight 0 when cut at the first tie.
  np.testing.assert_array_equal(np.asarray(d.cut.weight)[[2, 9]], [0.0, 0.0])


# Four fits (PL, BT, Davidson-Luce, Davidson) compiled inside the engine's program (~13 s).
@pytest.mark.slow
def test_user_rankings_through_the_engine(tmp_path):
  config = config_lib.get_config("datasets=rankings_csv,seeds=2")
  config.rankings_csv = _csv(tmp_path)
  config.test_fraction = 0.25
  config.log.tensorboard = False
  results = train_lib.train_and_evaluate(config, str(tmp_path / "run"))
  fit = results["fit"]["rankings_csv"]
  assert fit["rankings"] == 12 and fit["tied_rankings"] == 2
  metrics = fit["metrics"]
  assert {"pl-bt/ranking_ll", "dl-davidson/pair_ll"} <= set(metrics)
  for name in ("pl", "bt", "dl", "davidson"):
    values = np.asarray(metrics[f"{name}/ranking_ll"]["values"])
    assert values.shape[-1] == 2 and np.all(np.isfinite(values)) and np.all(values < 0)
    assert np.all(np.asarray(metrics[f"{name}/converged"]["values"]) == 1)


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"parts": "fit+plots"}, "config.parts must name some of fit, arena"),
    ({"datasets": "nope"}, r"Unknown dataset\(s\) \['nope'\]"),
    ({"datasets": "rankings_csv"}, "config.rankings_csv is empty"),
    ({"test_fraction": 1.0}, r"test_fraction must be in \(0, 1\)"),
  ],
)
def test_validation(override, message):
  config = config_lib.get_config()
  for key, value in override.items():
    config[key] = value
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)


def test_bt_strengths_score_rankings_as_plackett_luce():
  """What the experiment relies on: BT parameters are PL (Davidson: Davidson-Luce) parameters."""
  params = {"scores": jnp.array([0.5, 0.0, -0.5]), "tie": jnp.array(-1.0)}
  rows = pm.make_rankings([[0, 1], [1, 2]], places=[[1, 2], [1, 1]])
  dl = pm.ranking_log_likelihood(pm.PlackettLuce(3, ties="davidson"), params, rows)
  pairs = pm.make_pairs(np.array([0, 1]), np.array([1, 2]), np.array([1.0, 0.5]))
  bt = pm.log_likelihood(pm.BradleyTerry(3, ties="davidson"), params, pairs)
  np.testing.assert_allclose(dl, bt, rtol=1e-12)
