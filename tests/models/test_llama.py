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


# lora's forward pass is also checked against the unrolled layout by default; svd_lora here covers
# the gate and the preference vector.
@pytest.mark.parametrize("adapter", [pytest.param("lora", marks=pytest.mark.slow), "svd_lora"])
def test_adapters_start_at_the_base_model_and_gate_per_row(adapter):
  config = dataclasses.replace(TINY, adapter=adapter, adapter_rank=2)
  base = llama.Llama(dataclasses.replace(TINY), rngs=nnx.Rngs(0))
  adapted = llama.Llama(config, rngs=nnx.Rngs(0))
  for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"):  # same base weights
    src, dst = getattr(base.blocks, name), getattr(adapted.blocks, name)  # stacked layers
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


@pytest.mark.parametrize("adapter", [None, "lora", "svd_lora"])
def test_scanned_and_unrolled_blocks_give_the_same_logits_and_cache(adapter):
  config = dataclasses.replace(TINY, adapter=adapter, adapter_rank=2)
  scanned = llama.Llama(config, rngs=nnx.Rngs(0))
  unrolled = llama.Llama(dataclasses.replace(config, scan_layers=False), rngs=nnx.Rngs(0))
  assert scanned.blocks.wq.__class__ is unrolled.blocks[0].wq.__class__
  kernel = getattr(scanned.blocks.wv, "base", scanned.blocks.wv).kernel
  assert kernel.shape == (TINY.num_layers, TINY.dim, TINY.num_kv_heads * TINY.head_dim)
  one = llama.layer_block(scanned, 1)  # the same draws, stacked
  np.testing.assert_array_equal(one.attn_norm.scale[...], unrolled.blocks[1].attn_norm.scale[...])
  tokens = jax.random.randint(jax.random.key(5), (2, 6), 0, TINY.vocab_size)
  weights = jnp.asarray([[0.3, 0.7], [0.9, 0.1]]) if adapter == "svd_lora" else None
  a, cache_a = scanned(tokens, llama.init_cache(config, 2), weights=weights)
  b, cache_b = unrolled(tokens, llama.init_cache(config, 2), weights=weights)
  assert a.dtype == jnp.float32
  np.testing.assert_allclose(a, b, atol=1e-5)
  np.testing.assert_allclose(cache_a.keys, cache_b.keys, atol=1e-5)
  with pytest.raises(IndexError, match="layer 2 of a 2-layer"):
    llama.layer_block(scanned, 2)


@pytest.mark.parametrize("remat", ["dots", pytest.param("full", marks=pytest.mark.slow)])
def test_remat_policies_give_the_same_gradient(remat):
  tokens = jax.random.randint(jax.random.key(7), (2, 6), 0, TINY.vocab_size)
  mask = jnp.ones((2, 6), bool)
  grads = []
  for policy in ("none", remat):
    config = dataclasses.replace(TINY, adapter="lora", adapter_rank=2, remat=policy)
    graphdef, lora, rest = nnx.split(llama.Llama(config, rngs=nnx.Rngs(0)), nnx.LoRAParam, ...)
    lora = jax.tree.map(lambda x: x + 0.1, lora)  # B != 0: every adapter leaf gets a gradient

    def loss(lora, graphdef=graphdef, rest=rest):
      model = nnx.merge(graphdef, lora, rest)
      return jnp.sum(llama.sequence_log_probs(model, tokens, mask))

    grads.append(jax.jit(jax.grad(loss))(lora))
  for g, h in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1]), strict=True):
    np.testing.assert_allclose(g, h, rtol=1e-5, atol=1e-6)


def test_bfloat16_compute_agrees_with_float32_within_the_stated_tolerance():
  config = dataclasses.replace(TINY, adapter="lora", adapter_rank=2)
  half = dataclasses.replace(config, compute_dtype="bfloat16", param_dtype="bfloat16")
  full_model = llama.Llama(config, rngs=nnx.Rngs(0))
  half_model = llama.Llama(half, rngs=nnx.Rngs(0))  # the same draws, rounded to bfloat16
  assert half_model.blocks.wq.base.kernel[...].dtype == jnp.bfloat16
  assert half_model.blocks.wq.a[...].dtype == jnp.float32  # master adapter weights
  tokens = jax.random.randint(jax.random.key(8), (2, 8), 0, TINY.vocab_size)
  want, _ = full_model(tokens, llama.init_cache(config, 2))
  got, cache = half_model(tokens, llama.init_cache(half, 2))
  assert got.dtype == jnp.float32 and cache.keys.dtype == jnp.bfloat16
  gap = jnp.abs(jax.nn.log_softmax(got) - jax.nn.log_softmax(want))
  assert float(jnp.max(gap)) < 0.15  # the documented tolerance (bfloat16: 8 mantissa bits)
  assert float(jnp.mean(gap)) < 0.03


def test_bad_layout_and_precision_settings():
  with pytest.raises(ValueError, match="unknown remat 'some'"):
    dataclasses.replace(TINY, remat="some")
  with pytest.raises(ValueError, match="unknown compute_dtype 'int8'"):
    dataclasses.replace(TINY, compute_dtype="int8")
  with pytest.raises(ValueError, match="remat applies to the scanned blocks"):
    dataclasses.replace(TINY, scan_layers=False, remat="full")
