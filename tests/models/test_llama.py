import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models as llama
from jaxpref.models import _llama

TINY = llama.LlamaConfig(
  vocab_size=50, dim=24, num_layers=2, num_heads=6, num_kv_heads=2, hidden_dim=40, max_len=16
)


@pytest.fixture(scope="module")
def model():
  return llama.Llama(TINY, rngs=nnx.Rngs(0))


# Slow: token-by-token decoding (about 8 s); cached greedy sampling = recomputation runs by default.
@pytest.mark.slow
def test_incremental_decoding_equals_the_full_forward_pass(model):
  tokens = jax.random.randint(jax.random.key(1), (2, 9), 0, TINY.vocab_size)
  full, _ = model(tokens, llama.init_cache(TINY, 2))
  cache = llama.init_cache(TINY, 2)
  prefix, cache = model(tokens[:, :4], cache)  # prompt in one call, then one token at a time
  steps = [prefix]
  for t in range(4, 9):
    logits, cache = model(tokens[:, t : t + 1], cache)
    steps.append(logits)
  np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=1e-4)
  assert int(cache.length) == 9


def test_causality_and_log_probs(model):
  tokens = jax.random.randint(jax.random.key(2), (1, 8), 0, TINY.vocab_size)
  other = tokens.at[0, 6].set((tokens[0, 6] + 1) % TINY.vocab_size)
  a, _ = model(tokens, llama.init_cache(TINY, 1))
  b, _ = model(other, llama.init_cache(TINY, 1))
  np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-6)  # the future does not leak back
  mask = jnp.zeros((1, 8), bool).at[0, 5:].set(True)
  logp = llama.sequence_log_probs(model, tokens, mask)
  by_hand = sum(float(jax.nn.log_softmax(a[0, t - 1])[tokens[0, t]]) for t in range(5, 8))
  assert float(logp[0]) == pytest.approx(by_hand, rel=1e-5)


def test_rope_is_a_rotation_with_relative_positions():
  x = jax.random.normal(jax.random.key(3), (1, 1, 1, 8))
  y = jax.random.normal(jax.random.key(4), (1, 1, 1, 8))

  def pos(p):
    return jnp.full((1, 1), p)

  r = _llama._rope(x, pos(5), 10000.0)
  np.testing.assert_allclose(jnp.linalg.norm(r), jnp.linalg.norm(x), rtol=1e-6)
  d1 = jnp.sum(_llama._rope(x, pos(7), 1e4) * _llama._rope(y, pos(3), 1e4))
  d2 = jnp.sum(_llama._rope(x, pos(14), 1e4) * _llama._rope(y, pos(10), 1e4))
  assert float(d1) == pytest.approx(float(d2), rel=1e-4)


def test_bad_head_counts():
  with pytest.raises(ValueError, match="divisible"):
    llama.LlamaConfig(dim=24, num_heads=5)


@pytest.mark.parametrize("adapter", ["lora", "svd_lora"])
def test_adapters_start_at_the_base_model_and_gate_per_row(adapter):
  config = dataclasses.replace(TINY, adapter=adapter, adapter_rank=2)
  base = llama.Llama(dataclasses.replace(TINY), rngs=nnx.Rngs(0))
  adapted = llama.Llama(config, rngs=nnx.Rngs(0))
  for b, a in zip(base.blocks, adapted.blocks, strict=True):  # same base weights
    for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"):
      src, dst = getattr(b, name), getattr(a, name)
      getattr(dst, "base", dst).kernel[...] = src.kernel[...]
  adapted.embed.embedding[...] = base.embed.embedding[...]
  tokens = jax.random.randint(jax.random.key(5), (2, 6), 0, TINY.vocab_size)
  weights = jnp.asarray([[0.3, 0.7], [0.9, 0.1]])
  want, _ = base(tokens, llama.init_cache(TINY, 2))
  got, _ = adapted(tokens, llama.init_cache(config, 2), weights=weights)
  np.testing.assert_allclose(got, want, atol=1e-5)  # zero-initialised adapter = base model
  graphdef, lora, rest = nnx.split(adapted, nnx.LoRAParam, ...)
  lora = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(6), x.shape), lora)
  adapted = nnx.merge(graphdef, lora, rest)
  gate = jnp.asarray([1.0, 0.0])
  mixed, _ = adapted(tokens, llama.init_cache(config, 2), gate=gate, weights=weights)
  on, _ = adapted(tokens, llama.init_cache(config, 2), weights=weights)
  np.testing.assert_allclose(mixed[1], want[1], atol=1e-5)  # gate 0: the reference
  np.testing.assert_allclose(mixed[0], on[0], atol=1e-5)  # gate 1: the policy
  assert not np.allclose(on[0], want[0], atol=1e-3)
  if adapter == "svd_lora":
    with pytest.raises(ValueError, match="needs weights"):
      adapted(tokens, llama.init_cache(config, 2))
    other, _ = adapted(tokens, llama.init_cache(config, 2), weights=weights[::-1])
    assert not np.allclose(other[0], on[0], atol=1e-4)  # the preference vector steers the model


def test_unknown_adapter_settings():
  with pytest.raises(ValueError, match="unknown adapter"):
    dataclasses.replace(TINY, adapter="dora")
  with pytest.raises(ValueError, match="unknown adapter_targets"):
    dataclasses.replace(TINY, adapter="lora", adapter_targets=("q_proj",))
