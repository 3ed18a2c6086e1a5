"""The few-shot personalization experiment: its k grid, bad configs and a small synthetic run."""

import json

import jax
import numpy as np
import pytest

from configs import personalization as config_lib
from experiments import llmfao_text, personalization, train_lib
from jaxpref import preference as pm
from tests.experiments._overrides import override


def test_each_dataset_reveals_only_the_ks_its_people_can_afford():
  config = config_lib.get_config()
  fifteen = np.repeat(np.arange(10), 15)  # a 15-pair survey
  assert personalization.dataset_ks(config, fifteen) == [0, 1, 2, 5, 10]
  assert personalization.dataset_ks(config, np.repeat(np.arange(10), 28)) == [0, 1, 2, 5, 10, 20]
  assert personalization.dataset_ks(config, np.repeat(np.arange(10), 3)) == [0]


@pytest.mark.parametrize(
  ("overrides", "message"),
  [
    ({"datasets": "llmfao,imdb"}, "Unknown dataset"),
    ({"ks": "0,5,2"}, "distinct increasing"),
    ({"ks": "0,a"}, "comma-separated integers"),
    ({"test_fraction": 1.0}, r"test_fraction must lie in \(0, 1\)"),
    ({"vpl.steps": 0}, "vpl.steps must be >= 1"),
    ({"micro.iterations": 0}, "micro.iterations must be >= 1"),
  ],
)
def test_bad_configs_fail_before_loading(overrides, message):
  config = override(config_lib.get_config(), **overrides)
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)


def test_llmfao_text_items_are_the_judged_responses_with_cached_features(tmp_path):
  rng = np.random.default_rng(0)  # stand-ins for MiniLM: the cache is read, no encoder needed
  np.save(tmp_path / llmfao_text.RESPONSES, rng.normal(size=(682, 6)).astype(np.float32))
  np.save(tmp_path / llmfao_text.PROMPTS, rng.normal(size=(13, 6)).astype(np.float32))
  config = config_lib.get_config("datasets=llmfao_text")
  src = personalization.text_source(config, str(tmp_path))
  assert (src.num_items, src.num_people, src.pairs.outcome.shape[0]) == (682, 124, 8931)
  assert src.item_features.shape == (682, 6) and src.prompt_features.shape == (682, 6)
  a, b = np.asarray(src.pairs.item_a), np.asarray(src.pairs.item_b)
  prompts = np.asarray(src.prompt_features)
  np.testing.assert_array_equal(prompts[a], prompts[b])  # both responses answer one prompt
  np.testing.assert_array_equal(np.asarray(src.pairs.context), prompts[a])  # MiCRo's router input
  ids = personalization.load_sources(config_lib.get_config("datasets=llmfao"), str(tmp_path))
  np.testing.assert_array_equal(src.pairs.annotator, ids["llmfao"].pairs.annotator)  # same rows
  np.testing.assert_array_equal(src.pairs.outcome, ids["llmfao"].pairs.outcome)
  assert "pal_b" in personalization.models_of(src)
  assert "pal_b" not in personalization.models_of(ids["llmfao"])


# A full run of six models (about a minute of compilation on 2 cores): behind -m slow.
@pytest.mark.slow
def test_small_synthetic_run_personalizes_two_opposed_groups(tmp_path):
  s = 2.0 * jax.random.normal(jax.random.key(0), (6,))
  rewards = np.asarray(jax.numpy.stack([s, -s]))[np.arange(60) % 2]
  pairs = pm.sample_person_comparisons(jax.random.key(1), rewards, per_person=30)
  rows = ["subject,item_a,item_b,outcome"]
  for u, a, b, o in zip(
    *(np.asarray(x).tolist() for x in (pairs.annotator, pairs.item_a, pairs.item_b, pairs.outcome)),
    strict=True,
  ):
    rows.append(f"p{u},i{a},i{b},{1 if o == 1 else -1}")
  path = tmp_path / "people.csv"
  path.write_text("\n".join(rows) + "\n")
  config = config_lib.get_config("datasets=csv,seeds=2")
  config.csv.path, config.ks, config.vpl.steps, config.plot = str(path), "0,5,20", 300, False
  results = train_lib.train_and_evaluate(config, str(tmp_path / "run"))
  r = results["csv"]
  assert r["ks"] == [0, 5, 20] and r["test_people"]["mean"] > 10
  assert set(r["logloss"]) == set(personalization.MODELS) - {"pal_b"}  # no prompts: no PAL-B
  loss = {m: {k: v[k]["mean"] for k in ("0", "20")} for m, v in r["logloss"].items()}
  for m in ("mixture", "lore", "pal", "vpl"):
    assert loss[m]["20"] < loss["bt"]["20"] - 0.1, loss  # opposed groups: the person matters
  saved = json.loads((tmp_path / "run" / "results.json").read_text())
  assert np.shape(saved["csv"]["logloss"]["lore"]["20"]["values"]) == (2,)
  assert saved["csv"]["minus_bt"]["lore"]["20"]["mean"] < -0.1
