import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models
from jaxpref.models import _sampling

TINY = models.LlamaConfig(
  vocab_size=40,
  dim=16,
  num_layers=2,
  num_heads=4,
  num_kv_heads=2,
  hidden_dim=24,
  max_len=64,
  adapter="lora",
  adapter_rank=2,
)


@pytest.fixture(scope="module")
def model():
  m = models.Llama(TINY, rngs=nnx.Rngs(0))
  for i, name in enumerate(TINY.adapter_targets):  # a non-zero adapter: policy != reference
    layer = getattr(m.blocks, name)  # stacked over the layers
    layer.b[...] = 0.5 * jax.random.normal(jax.random.key(10 + i), layer.b.shape, layer.b.dtype)
  return m


WIDTH = 16  # Every by-hand pass has this length: one shape, so it compiles once.


@nnx.jit
def _forward(model, tokens, cache, gate):
  """The model's plain forward pass (no sampler code), compiled as one program."""
  return model(tokens, cache, gate=gate)


def _greedy_by_hand(model, prompt, steps, gate):
  """Full recomputation without the sampler's cache: the whole sequence every step.

  The sequence is right-padded to WIDTH; attention is causal, so the logits at the last real
  position do not see the padding.
  """
  toks = list(prompt)
  cache = models.init_cache(TINY, 1, max_len=WIDTH)
  for _ in range(steps):
    t = jnp.asarray(toks + [0] * (WIDTH - len(toks)))[None]
    logits, _ = _forward(model, t, cache, jnp.full((1,), gate))
    toks.append(int(jnp.argmax(logits[0, len(toks) - 1])))
  return toks[len(prompt) :]


def test_greedy_sampling_with_cache_and_padding_equals_full_recomputation(model):
  prompts = [[3, 5, 7], [1, 2, 3, 4, 5, 6, 7, 8, 9], [11]]
  out = models.generate(
    model, prompts, jax.random.key(0), max_new_tokens=6, eos_id=39, temperature=0.0, buckets=(16,)
  )
  for i, p in enumerate(prompts):
    want = _greedy_by_hand(model, p, 6, 1.0)
    got = [int(t) for t, m in zip(out.tokens[i], out.mask[i], strict=True) if m]
    assert got == want[: len(got)] and (len(got) == 6 or got[-1] == 39)


# Cached greedy sampling of left-padded prompts = full recomputation runs by default.
@pytest.mark.slow
def test_left_padding_does_not_change_the_logits(model):
  prompt = jnp.asarray([[4, 9, 2, 7]])
  plain, _ = model(prompt, models.init_cache(TINY, 1, max_len=4))
  padded = jnp.concatenate([jnp.zeros((1, 5), jnp.int32), prompt], axis=1)
  logits, _ = model(padded, models.init_cache(TINY, 1, max_len=9, start=jnp.asarray([5])))
  np.testing.assert_allclose(logits[:, 5:], plain, atol=1e-5)
  seq = models.sequence_log_probs(model, prompt, jnp.asarray([[0, 1, 1, 1]], bool))
  seq_padded = models.sequence_log_probs(
    model, padded, jnp.asarray([[0] * 6 + [1, 1, 1]], bool), start=jnp.asarray([5])
  )
  np.testing.assert_allclose(seq_padded, seq, rtol=1e-5)


def test_no_recompile_for_prompts_of_different_lengths_within_a_bucket(model):
  graph_state = nnx.split(model)
  kw = dict(max_new_tokens=4, eos_id=39, temperature=1.0, buckets=(8, 16))
  models.generate(graph_state, [[1, 2, 3]], jax.random.key(0), **kw)
  before = _sampling._generate._cache_size()
  for n in (1, 4, 6, 8):
    models.generate(graph_state, [list(range(1, n + 1))], jax.random.key(n), **kw)
  assert _sampling._generate._cache_size() == before  # all in bucket 8
  models.generate(graph_state, [list(range(1, 12))], jax.random.key(0), **kw)
  assert _sampling._generate._cache_size() == before + 1  # bucket 16 compiles once


# Slow: first-token frequencies of many samples (about 10 s).
@pytest.mark.slow
def test_mixture_endpoints_and_first_token_distribution(model):
  prompt = [[3, 1, 4, 1, 5]]
  kw = dict(max_new_tokens=5, eos_id=39, temperature=0.0)
  policy = models.generate(model, prompt, jax.random.key(0), **kw).tokens[0]
  ref = models.generate(model, prompt, jax.random.key(0), mixture=1.0, **kw).tokens[0]
  assert list(models.generate(model, prompt, jax.random.key(0), mixture=0.0, **kw).tokens[0]) == (
    list(policy)
  )
  assert [int(t) for t in ref] == _greedy_by_hand(model, prompt[0], 5, 0.0)
  # sampled first tokens follow softmax((1 - l) log pi + l log pi_ref)
  mixture, K = 0.3, 4000
  out = models.generate(
    model, prompt, jax.random.key(1), max_new_tokens=1, eos_id=39, num_samples=K, mixture=mixture
  )
  t = jnp.asarray(prompt)
  lp, _ = model(t, models.init_cache(TINY, 1, max_len=5), gate=jnp.ones(1))
  lr, _ = model(t, models.init_cache(TINY, 1, max_len=5), gate=jnp.zeros(1))
  mix = jax.nn.softmax(
    (1 - mixture) * jax.nn.log_softmax(lp[0, -1]) + mixture * jax.nn.log_softmax(lr[0, -1])
  )
  freq = np.bincount(np.asarray(out.tokens[:, 0]), minlength=TINY.vocab_size) / K
  np.testing.assert_allclose(freq, mix, atol=4 * np.sqrt(0.25 / K))


def test_top_p_keeps_the_nucleus():
  logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]]))
  kept = jnp.isfinite(_sampling._top_p_filter(logits, 0.7))
  assert kept.tolist() == [[True, True, False, False]]
  assert jnp.isfinite(_sampling._top_p_filter(logits, 0.1)).tolist() == [
    [True, False, False, False]
  ]


def test_end_token_stops_a_row_and_pads_after_it(model):
  out = models.generate(
    model, [[1, 2]], jax.random.key(3), max_new_tokens=30, eos_id=7, pad_id=0, num_samples=64
  )
  tokens, mask = np.asarray(out.tokens), np.asarray(out.mask)
  for row, m in zip(tokens, mask, strict=True):
    hits = np.nonzero(row == 7)[0]
    n = hits[0] + 1 if len(hits) else 30
    assert m[:n].all() and not m[n:].any() and (row[n:] == 0).all()
  assert (tokens == 7).any()  # some rows did stop


def test_bad_requests(model):
  with pytest.raises(ValueError, match="longer than the largest bucket"):
    models.generate(
      model, [[1] * 20], jax.random.key(0), max_new_tokens=2, eos_id=1, buckets=(8, 16)
    )
  with pytest.raises(ValueError, match="exceeds the model's context"):
    models.generate(model, [[1] * 20], jax.random.key(0), max_new_tokens=40, eos_id=1)
  with pytest.raises(ValueError, match="at least one token"):
    models.generate(model, [[]], jax.random.key(0), max_new_tokens=2, eos_id=1)
  plain = models.Llama(dataclasses.replace(TINY, adapter=None), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="needs a model with adapters"):
    models.generate(plain, [[1]], jax.random.key(0), max_new_tokens=2, eos_id=1, mixture=0.5)
  with pytest.raises(ValueError, match="top_p"):
    models.generate(model, [[1]], jax.random.key(0), max_new_tokens=2, eos_id=1, top_p=0.0)


def test_reference_sampling_turns_the_adapter_off(model):
  out = models.generate(
    model,
    [[3, 1, 4, 1, 5]],
    jax.random.key(0),
    max_new_tokens=5,
    eos_id=39,
    temperature=0.0,
    reference=True,
  )
  assert [int(t) for t in out.tokens[0]] == _greedy_by_hand(model, [3, 1, 4, 1, 5], 5, 0.0)
  with pytest.raises(ValueError, match="either mixture or reference"):
    models.generate(
      model, [[1]], jax.random.key(0), max_new_tokens=2, eos_id=1, mixture=0.5, reference=True
    )


# Many sampled sequences through the decoder (about 19 s on 2 cores).
@pytest.mark.slow
def test_token_level_kl_is_exact_and_averages_the_log_ratio(model):
  prompt = [[2, 7, 1]]
  out = models.generate(
    model, prompt, jax.random.key(4), max_new_tokens=3, eos_id=39, num_samples=3000
  )
  tokens, mask, start = out.full()
  kl = models.sequence_kl(model, tokens, mask, start=start)
  assert float(jnp.min(kl)) >= 0
  lp = models.sequence_log_probs(model, tokens, mask, start=start)
  ref = models.sequence_log_probs(model, tokens, mask, start=start, gate=jnp.zeros(3000))
  # both estimate KL(pi || pi_ref) of the 3-token response; the exact one with far less noise
  ratio = lp - ref
  assert abs(float(jnp.mean(kl) - jnp.mean(ratio))) < 4 * float(jnp.std(ratio)) / np.sqrt(3000)
  assert float(jnp.std(kl)) < float(jnp.std(ratio))
  # first position by hand
  t = jnp.asarray(prompt)
  a, _ = model(t, models.init_cache(TINY, 1, max_len=3), gate=jnp.ones(1))
  b, _ = model(t, models.init_cache(TINY, 1, max_len=3), gate=jnp.zeros(1))
  pa, pb = jax.nn.log_softmax(a[0, -1]), jax.nn.log_softmax(b[0, -1])
  first = models.sequence_kl(
    model, tokens[:1], mask[:1] & (jnp.arange(tokens.shape[1]) == 16), start=start[:1]
  )
  np.testing.assert_allclose(first[0], jnp.sum(jnp.exp(pa) * (pa - pb)), rtol=1e-4)


def test_svd_lora_sampling_takes_a_preference_vector_per_prompt():
  config = dataclasses.replace(TINY, adapter="svd_lora", adapter_rank=2, num_objectives=2)
  m = models.Llama(config, rngs=nnx.Rngs(0))
  graphdef, lora, rest = nnx.split(m, nnx.LoRAParam, ...)
  lora = jax.tree.map(lambda x: x + jax.random.normal(jax.random.key(7), x.shape), lora)
  kw = dict(max_new_tokens=6, eos_id=39, temperature=0.0)
  weights = jnp.asarray([[1.0, 0.0], [0.0, 1.0]])
  out = models.generate(
    (graphdef, lora, rest), [[1, 2, 3], [1, 2, 3]], jax.random.key(0), weights=weights, **kw
  )
  assert not np.array_equal(out.tokens[0], out.tokens[1])  # same prompt, different preferences
  mix = models.generate(
    (graphdef, lora, rest), [[1, 2, 3]], jax.random.key(0), weights=weights[:1], mixture=0.0, **kw
  )
  assert np.array_equal(mix.tokens[0], out.tokens[0])
  with pytest.raises(ValueError, match="needs weights"):
    models.generate((graphdef, lora, rest), [[1, 2, 3]], jax.random.key(0), **kw)


def test_cache_and_bucket_hyperparameters_are_keyword_only():
  assert models.bucket_length(17, buckets=(16, 32)) == 32
  assert models.bucket_length(5) == 16
  with pytest.raises(TypeError):
    models.bucket_length(17, (16, 32))
  cache = models.init_cache(TINY, 2, max_len=7, dtype=jnp.float16, start=jnp.asarray([0, 3]))
  assert cache.keys.shape == (TINY.num_layers, 2, 7, TINY.num_kv_heads, TINY.head_dim)
  assert cache.keys.dtype == jnp.float16 and cache.start.tolist() == [0, 3]
  with pytest.raises(TypeError):
    models.init_cache(TINY, 2, 7)
