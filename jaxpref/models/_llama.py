r"""A Llama-family decoder in Flax NNX with a key-value cache.

RMSNorm, rotary attention with grouped-query heads, SwiGLU feed-forward, tied embeddings, and a
key-value cache for incremental decoding.

Shapes: tokens ``[B, T]``; the cache holds ``[B, max_len, kv_heads, head_dim]`` keys and values
per layer and the number of filled positions. Rotary embeddings use the half-split layout
(rotate ``x[..., :d/2]`` against ``x[..., d/2:]``, as Hugging Face's Llama); weights converted
from llama.cpp's GGUF, whose Q/K rows are interleaved for the pairwise layout, must be permuted
to it when loaded.

This is the compute core of the language-model path (issue 10): a random-init model of any size
runs anywhere; loading SmolLM2-135M's GGUF weights, the tokenizer and the sampler build on it.

References:
  Touvron et al., LLaMA: open and efficient foundation language models, 2023; Ainslie et al.,
  GQA: training generalized multi-query transformer models, EMNLP 2023; Su et al., RoFormer, 2021.
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpref.types import Array


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
  """Sizes of a Llama-family decoder (defaults: SmolLM2-135M)."""

  vocab_size: int = 49152
  dim: int = 576
  num_layers: int = 30
  num_heads: int = 9
  num_kv_heads: int = 3
  hidden_dim: int = 1536
  rope_theta: float = 100000.0
  norm_eps: float = 1e-5
  max_len: int = 2048
  tie_embeddings: bool = True

  def __post_init__(self):
    """Checks that the head counts divide."""
    if self.dim % self.num_heads or self.num_heads % self.num_kv_heads:
      raise ValueError(
        f"LlamaConfig: dim ({self.dim}) must be divisible by num_heads ({self.num_heads}) and "
        f"num_heads by num_kv_heads ({self.num_kv_heads})."
      )

  @property
  def head_dim(self) -> int:
    """Width of one attention head."""
    return self.dim // self.num_heads


class KVCache(NamedTuple):
  """Keys and values ``[layers, B, max_len, kv_heads, head_dim]`` and the filled length."""

  keys: Array
  values: Array
  length: Array


def init_cache(config: LlamaConfig, batch: int, max_len: int | None = None, dtype=jnp.float32):
  """An empty cache for ``batch`` sequences of at most ``max_len`` tokens."""
  shape = (
    config.num_layers,
    batch,
    max_len or config.max_len,
    config.num_kv_heads,
    config.head_dim,
  )
  return KVCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), jnp.zeros((), jnp.int32))


def _rope(x: Array, positions: Array, theta: float) -> Array:
  """Rotary embedding in the half-split layout; ``x`` is ``[B, T, H, D]``, positions ``[B, T]``."""
  half = x.shape[-1] // 2
  freqs = theta ** (-jnp.arange(half, dtype=jnp.float32) / half)
  angles = positions[..., None].astype(jnp.float32) * freqs  # [B, T, half]
  cos, sin = jnp.cos(angles)[:, :, None, :], jnp.sin(angles)[:, :, None, :]
  x1, x2 = x[..., :half], x[..., half:]
  return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


class RMSNorm(nnx.Module):
  """Root-mean-square normalisation with a learned scale."""

  def __init__(self, dim: int, eps: float):
    """Builds the layer."""
    self.scale = nnx.Param(jnp.ones((dim,)))
    self.eps = eps

  def __call__(self, x: Array) -> Array:
    """Normalises the last axis."""
    var = jnp.mean(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True)
    return (x * jax.lax.rsqrt(var + self.eps)).astype(x.dtype) * self.scale[...]


class Block(nnx.Module):
  """One pre-norm decoder block: GQA self-attention and a SwiGLU feed-forward."""

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    """Builds the block."""
    c = config
    self.config = c

    def dense(i, o):
      return nnx.Linear(i, o, use_bias=False, rngs=rngs)

    self.attn_norm = RMSNorm(c.dim, c.norm_eps)
    self.wq = dense(c.dim, c.num_heads * c.head_dim)
    self.wk = dense(c.dim, c.num_kv_heads * c.head_dim)
    self.wv = dense(c.dim, c.num_kv_heads * c.head_dim)
    self.wo = dense(c.num_heads * c.head_dim, c.dim)
    self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
    self.w_gate = dense(c.dim, c.hidden_dim)
    self.w_up = dense(c.dim, c.hidden_dim)
    self.w_down = dense(c.hidden_dim, c.dim)

  def __call__(self, x, positions, keys, values, length):
    """Attends over the cache (updated at ``length``) and the new tokens; returns (x, k, v)."""
    c = self.config
    B, T, _ = x.shape
    h = self.attn_norm(x)
    q = _rope(self.wq(h).reshape(B, T, c.num_heads, c.head_dim), positions, c.rope_theta)
    k = _rope(self.wk(h).reshape(B, T, c.num_kv_heads, c.head_dim), positions, c.rope_theta)
    v = self.wv(h).reshape(B, T, c.num_kv_heads, c.head_dim)
    start = (0, length, 0, 0)
    start = tuple(jnp.asarray(i, jnp.int32) for i in start)
    keys = jax.lax.dynamic_update_slice(keys, k.astype(keys.dtype), start)
    values = jax.lax.dynamic_update_slice(values, v.astype(values.dtype), start)
    group = c.num_heads // c.num_kv_heads
    q = q.reshape(B, T, c.num_kv_heads, group, c.head_dim)
    scores = jnp.einsum("btkgd,bskd->bkgts", q, keys) / jnp.sqrt(c.head_dim).astype(q.dtype)
    slots = jnp.arange(keys.shape[1])
    allowed = slots[None, None, :] <= positions[:, :, None]  # causal over filled slots [B, T, S]
    scores = jnp.where(allowed[:, None, None], scores, jnp.finfo(scores.dtype).min)
    attn = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(x.dtype)
    out = jnp.einsum("bkgts,bskd->btkgd", attn, values).reshape(B, T, c.num_heads * c.head_dim)
    x = x + self.wo(out)
    h = self.ffn_norm(x)
    return x + self.w_down(jax.nn.silu(self.w_gate(h)) * self.w_up(h)), keys, values


class Llama(nnx.Module):
  """The decoder: token embedding, blocks, final norm and (tied) output projection."""

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    """Builds a randomly initialised model of the configured size."""
    self.config = config
    self.embed = nnx.Embed(config.vocab_size, config.dim, rngs=rngs)
    self.blocks = nnx.List([Block(config, rngs=rngs) for _ in range(config.num_layers)])
    self.norm = RMSNorm(config.dim, config.norm_eps)
    if not config.tie_embeddings:
      self.lm_head = nnx.Linear(config.dim, config.vocab_size, use_bias=False, rngs=rngs)

  def __call__(self, tokens: Array, cache: KVCache) -> tuple[Array, KVCache]:
    """Logits ``[B, T, V]`` of the next token after each input token, and the updated cache.

    Args:
      tokens: ``[B, T]`` token ids, appended after the ``cache.length`` cached positions.
      cache: from :func:`init_cache` (or a previous call).

    Returns:
      ``(logits, cache)``.
    """
    B, T = tokens.shape
    positions = cache.length + jnp.broadcast_to(jnp.arange(T), (B, T))
    x = self.embed(tokens)
    keys, values = [], []
    for layer, block in enumerate(self.blocks):
      x, k, v = block(x, positions, cache.keys[layer], cache.values[layer], cache.length)
      keys.append(k)
      values.append(v)
    x = self.norm(x)
    logits = self.embed.attend(x) if self.config.tie_embeddings else self.lm_head(x)
    return logits, KVCache(jnp.stack(keys), jnp.stack(values), cache.length + T)


def sequence_log_probs(model: Llama, tokens: Array, mask: Array) -> Array:
  """Sum of ``log p(tokens[t] | tokens[:t])`` over positions where ``mask[t]`` (e.g. the response).

  Args:
    model: the decoder.
    tokens: ``[B, T]`` prompt and response tokens.
    mask: ``[B, T]`` True on the tokens to score (never position 0).

  Returns:
    ``[B]`` log-probabilities.
  """
  cache = init_cache(model.config, tokens.shape[0], tokens.shape[1])
  logits, _ = model(tokens, cache)
  logp = jax.nn.log_softmax(logits[:, :-1].astype(jnp.float32), axis=-1)
  picked = jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]
  return jnp.sum(jnp.where(mask[:, 1:], picked, 0.0), axis=-1)
