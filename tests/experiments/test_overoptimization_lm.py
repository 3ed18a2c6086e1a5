import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import overoptimization as config_lib
from experiments import overoptimization_lm as oo_lm
from jaxpref import models, training


def _config(**lm):
  config = config_lib.get_config("part=smollm2,seeds=2")
  for k, v in lm.items():
    config.lm[k] = v
  return config


def _synthetic(seed=0, items=12, dim=6, pairs=10, prompts=3, samples=5):
  """Random judged items, 3 judgments per pair with ties, and a pool of sample embeddings."""
  rng = np.random.default_rng(seed)
  emb = rng.normal(size=(items, dim)).astype(np.float32)
  ends = np.stack([rng.choice(items, 2, replace=False) for _ in range(pairs)])
  pair = np.repeat(np.arange(pairs), 3).astype(np.int32)
  outcome = rng.choice([0.0, 0.5, 1.0], size=pair.shape).astype(np.float32)
  judgments = oo_lm.Judgments(emb, ends[pair, 0], ends[pair, 1], outcome, pair)
  pool = rng.normal(size=(prompts, samples, dim)).astype(np.float32)
  return judgments, pool


def test_win_rate_at_n1_is_half_and_proxy_gold_curves_coincide():
  rng = np.random.default_rng(1)
  proxy, gold = rng.normal(size=(4, 7)), rng.normal(size=(4, 7))
  ns = (1, 2, 3, 7)
  curves_fn = jax.jit(oo_lm.best_of_n_curves, static_argnums=2)  # one compile, not op by op
  curves = curves_fn(proxy, gold, ns)
  assert float(curves["gold_win_rate/n1"]) == pytest.approx(0.5, abs=1e-12)
  assert float(curves["proxy_win_rate/n1"]) == pytest.approx(0.5, abs=1e-12)
  mean_value, agreement = jax.jit(
    lambda g: (jnp.mean(oo_lm.win_values(g), -1), oo_lm.pairwise_agreement(g, g))
  )(gold)
  np.testing.assert_allclose(mean_value, 0.5, atol=1e-12)
  assert float(agreement) == 1.0
  same = curves_fn(gold, gold, ns)
  for n in ns:
    assert float(same[f"gold_win_rate/n{n}"]) == float(same[f"proxy_win_rate/n{n}"])
    # Selecting by gold maximizes every subset's gold win value: no proxy does better.
    assert float(curves[f"gold_win_rate/n{n}"]) <= float(same[f"gold_win_rate/n{n}"]) + 1e-12
  # n = N picks each prompt's proxy-argmax: its win value over the other N - 1 samples.
  best = np.argmax(proxy, axis=1)
  beats = 1 / (1 + np.exp(gold[:, None, :] - gold[:, :, None]))  # sigmoid(g_j - g_j')
  value = (beats.sum(-1) - 0.5) / 6
  expected = np.mean(value[np.arange(4), best])
  assert float(curves["gold_win_rate/n7"]) == pytest.approx(expected, rel=1e-12)


def test_bad_inputs_raise_clear_errors():
  with pytest.raises(ValueError, match="n <= 5"):
    oo_lm.best_of_n_curves(np.zeros((2, 5)), np.zeros((2, 5)), [8])
  with pytest.raises(ValueError, match="N >= 2"):
    oo_lm.best_of_n_curves(np.zeros((2, 1)), np.zeros((2, 1)), [1])
  with pytest.raises(ValueError, match=r"best_of_n must be integers in \[1, samples=32\]"):
    oo_lm.validate(_config(best_of_n="1,2,64"))
  for bad in ("0.1,0", "0.5,1.5", "a"):
    with pytest.raises(ValueError, match="proxy_fractions"):
      oo_lm.validate(_config(proxy_fractions=bad))
  with pytest.raises(ValueError, match="temperature must be > 0"):
    oo_lm.validate(_config(temperature=0.0))
  oo_lm.validate(_config(proxy_fractions="0.1,1"))  # the default config with fraction 1 is fine


def test_subset_weights_take_whole_pairs_in_exact_numbers():
  pair = np.repeat(np.arange(20), 3)
  weights = jax.jit(lambda f: oo_lm.subset_weights(jax.random.key(3), pair, f))  # f traced
  for fraction, count in ((0.25, 5), (0.01, 1), (1.0, 20)):
    w = np.asarray(weights(fraction))
    per_pair = w.reshape(20, 3)
    assert np.all(per_pair == per_pair[:, :1]) and per_pair[:, 0].sum() == count


@pytest.mark.slow  # No package needed, but compiling the program takes ~5-10 s on 2 cores.
def test_proxy_with_every_pair_fits_the_gold_head_through_the_engine(tmp_path):
  """fraction = 1 with the point's head key is fit_preference_head's fit on all judgments."""
  judgments, pool = _synthetic()
  steps, l2 = 10, 1e-3
  items = jnp.asarray(judgments.items)
  a, b = items[judgments.a], items[judgments.b]
  gold = np.random.default_rng(2).normal(size=(3, 5))
  ns = [1, 5]
  sweep = training.make_sweep(oo_lm.Hyper(0.5), axes={"fraction": (0.5, 1.0)}, seeds=2, seed=4)
  out = training.run_sweep(
    oo_lm.make_program(judgments, pool, gold, ns, l2=l2),
    sweep,
    steps=steps,
    log_every=5,
    workdir=str(tmp_path),
    backend="none",
    tensorboard=False,
    progress_seconds=-1,
  )
  assert out.history["gold_win_rate/n5"].shape == (2, 2, 2)  # [fractions, seeds, logs]
  np.testing.assert_allclose(out.history["gold_win_rate/n1"], 0.5, atol=1e-6)
  assert np.all(np.isnan(out.history["heldout_accuracy"][1]))  # fraction 1 holds nothing out
  key = training.seed_keys(4, np.asarray([1]))[0]
  proxy_head = models.fit_preference_head(
    a, b, judgments.outcome, key=jax.random.split(key)[1], steps=steps, l2=l2
  )
  graphdef, _ = nnx.split(proxy_head)
  params = jax.tree.map(lambda x: x[1, 1], out.state.params)
  engine_head = nnx.merge(graphdef, params)
  flat = jnp.asarray(pool.reshape(15, -1))
  engine, direct = engine_head.features(flat)[0], proxy_head.features(flat)[0]
  # BT is blind to a constant: the output bias only drifts on float noise under Adam.
  np.testing.assert_allclose(engine - engine.mean(), direct - direct.mean(), atol=1e-4)
  proxy = np.asarray(proxy_head.features(flat)[0]).reshape(3, 5)
  expected = oo_lm.best_of_n_curves(proxy, gold, ns)
  for k, v in expected.items():
    assert out.history[k][1, 1, -1] == pytest.approx(float(v), abs=1e-5)


def test_cached_samples_are_read_and_other_settings_refused(tmp_path):
  config = _config(samples=2, path="/nonexistent/smollm2.gguf")
  meta = oo_lm._sample_meta(config, config.lm.path)
  (tmp_path / oo_lm.SAMPLES_META).write_text(json.dumps(meta))
  record = {"prompt_index": 0, "prompt": "p", "responses": ["a", "b"], "tokens": [2, 3],
            "finished": [True, False], "seconds": 1.5}  # fmt: skip
  (tmp_path / oo_lm.SAMPLES).write_text(json.dumps(record) + "\n")
  records, seconds = oo_lm.sample_pool(config, str(tmp_path), ["p"])
  assert records == [record] and seconds == 0.0  # nothing loaded, nothing sampled
  config.lm.temperature = 0.7
  with pytest.raises(ValueError, match="use a new workdir"):
    oo_lm.sample_pool(config, str(tmp_path), ["p"])


@pytest.mark.slow
def test_real_smollm2_best_of_n_small(tmp_path, smollm2_text_models):
  config = _config(prompts=2, samples=4, max_new_tokens=16, best_of_n="1,2,4", head_steps=20)
  config.log.every = 10
  previous = bool(jax.config.jax_enable_x64)
  jax.config.update("jax_enable_x64", False)  # as the experiment runs
  try:
    results = oo_lm.run(config, str(tmp_path))
    assert (tmp_path / oo_lm.PNG).is_file() and (tmp_path / "results.json").is_file()
    lines = (tmp_path / oo_lm.SAMPLES).read_text().splitlines()
    assert len(lines) == 2 and all(len(json.loads(x)["responses"]) == 4 for x in lines)
    assert results["pool"]["mean_tokens"] <= 16 and results["prompts"] == 2
    for r in results["proxies"].values():
      assert r["gold_win_rate"]["n1"]["mean"] == pytest.approx(0.5, abs=1e-5)
      assert 0 <= r["gold_win_rate"]["n4"]["mean"] <= 1
      assert len(r["gold_win_rate"]["n4"]["values"]) == 2
    assert results["gold_selects"]["win_rate"]["n1"] == pytest.approx(0.5, abs=1e-5)
    rerun = oo_lm.run(config, str(tmp_path))  # reads the cached samples and embeddings
    assert rerun["seconds"]["sampling"] == 0.0 and rerun["seconds"]["embed_samples"] == 0.0
    assert rerun["proxies"] == results["proxies"]
  finally:
    jax.config.update("jax_enable_x64", previous)
