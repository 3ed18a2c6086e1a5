import json

import jax
import numpy as np
import pytest

from configs import preference_models as config_lib
from experiments import preference_models, train_lib
from jaxpref import preference as pm
from tests.experiments.test_train import _cli

FAST = [
  "--config.mixture.components=1,2",
  "--config.mixture.em_steps=5",
  "--config.mixture.restarts=1",
  "--config.gpm.restarts=1",
]


def test_cli_runs_on_packaged_llmfao_without_shared_data(tmp_path):
  proc = _cli(
    "--config",
    "configs/preference_models.py",
    "--workdir",
    str(tmp_path),
    f"--config.data.paircomp_dir={tmp_path / 'no_shared_folder'}",
    *FAST,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "skipping soundquality" in proc.stdout
  results = json.loads((tmp_path / "results.json").read_text())
  assert list(results) == ["llmfao"]
  r = results["llmfao"]
  assert r["comparisons"] == 8931 and r["annotators"] == 124 and r["mixture_K"] in (1, 2)
  for split in ("heldout_comparisons", "heldout_annotators"):
    assert set(r[split]) == {"bt", "bt_ties", "gpm", "mixture"}
    for m in r[split].values():
      assert 0.3 < m["logloss"] < 0.75 and 0.55 < m["accuracy"] < 0.85
  assert r["heldout_comparisons"]["bt_ties"]["logloss3"] > 0
  assert r["heldout_comparisons"]["bt"]["logloss3"] is None  # no tie model, no 3-way loss
  assert r["lotteries"]["bt"]["support"] >= 1
  assert "GPT 4" in r["lotteries"]["bt_ranking"][:3]
  assert (tmp_path / "heldout.png").stat().st_size > 10_000
  assert (tmp_path / "lotteries.png").stat().st_size > 10_000
  assert "llmfao        comparisons  bt" in proc.stdout


def test_runs_on_a_user_csv(tmp_path):
  # Two groups of raters with opposite tastes over 5 items, in the user's own column names.
  games = pm.bt_mixture_games(jax.random.key(0), 5, 2, scale=3.0)
  groups = np.arange(40) % 2
  pairs = pm.sample_comparisons(jax.random.key(1), games, per_annotator=25, groups=groups)
  names = ["ant", "bee", "cat", "dog", "eel"]
  lines = ["rater,first,second,result,club"]
  rows = (np.asarray(x) for x in (pairs.item_a, pairs.item_b, pairs.outcome, pairs.annotator))
  for a, b, y, u in zip(*rows, strict=True):
    lines.append(f"r{u},{names[a]},{names[b]},{'1' if y else '-1'},{'xy'[groups[u]]}")
  path = tmp_path / "mine.csv"
  path.write_text("\n".join(lines) + "\n")
  config = config_lib.get_config("datasets=csv,plot=False")
  config.csv.update(
    path=str(path),
    item_a="first",
    item_b="second",
    outcome="result",
    annotator="rater",
    covariates="club",
  )
  config.mixture.update(components="1,2", em_steps=10, restarts=2)
  config.gpm.restarts = 1
  results = train_lib.train_and_evaluate(config, str(tmp_path / "run"))
  r = results["csv"]
  assert r["items"] == 5 and r["annotators"] == 40 and r["mixture_K"] == 2
  assert r["covariates"] == ["club"]
  mix, bt = r["heldout_comparisons"]["mixture"], r["heldout_comparisons"]["bt"]
  assert mix["logloss"] < bt["logloss"] - 0.1
  # The club covariate tells the mixture which group a new rater is in.
  new = r["heldout_annotators"]
  assert new["mixture"]["logloss"] < new["bt"]["logloss"] - 0.1
  assert max(a for a in r["per_group"]["mixture_accuracy"] if a is not None) > 0.7
  robust = r["group_robust"]
  assert len(robust["test_group_loss_robust"]) == 2
  assert abs(sum(robust["weights"]) - 1) < 1e-9


@pytest.mark.parametrize(
  ("changes", "match"),
  [
    ({"datasets": "llmfao,nope"}, r"Unknown dataset\(s\) \['nope'\]"),
    ({"datasets": "csv"}, "csv.path is empty"),
    ({"mixture.components": "0,2"}, "K >= 1"),
    ({"test_fraction": 1.5}, "test_fraction must be in"),
    ({"gpm.dim": 3}, "gpm.dim must be even"),
  ],
)
def test_bad_configs(changes, match):
  config = config_lib.get_config()
  for key, value in changes.items():
    section, _, field = key.rpartition(".")
    (config[section] if section else config)[field] = value
  with pytest.raises(ValueError, match=match):
    train_lib.validate_config(config)
  assert preference_models.MODELS == ("bt", "bt_ties", "gpm", "mixture")
