r"""A Llama-family decoder in Flax NNX with a key-value cache.

RMSNorm, rotary attention with grouped-query heads, SwiGLU feed-forward, tied embeddings, and a
key-value cache for incremental decoding.

Shapes: tokens ``[B, T]``; the cache holds ``[B, max_len, kv_heads, head_dim]`` keys and values
per layer, the number of filled slots, and per row the first real slot (prompts are left-padded
to a fixed bucket length, so row b's token at slot t has position ``t - start[b]``).

Adapters: with ``adapter="lora"`` (or ``"svd_lora"``, Panacea's preference-conditioned adapter)
the targeted projections get a low-rank update whose contribution is multiplied by a per-row
``gate``. Gate 0 is the frozen base model, so a policy (gate 1) and its reference (gate 0) run
as one batch through the same weights; this is how the geometric-mixture sampler reads both
models' logits in one pass. Rotary embeddings use the half-split layout
(rotate ``x[..., :d/2]`` against ``x[..., d/2:]``, as Hugging Face's Llama); weights converted
from llama.cpp's GGUF, whose Q/K rows are interleaved for the pairwise layout, must be permuted
to it when loaded.

Layers: by default (``scan_layers=True``) the blocks' parameters are stacked along a leading
layer axis and run with one ``jax.lax.scan`` (the key-value cache is stacked the same way), so a
30-block model compiles one block, not thirty; ``remat`` wraps the scanned block in
``jax.checkpoint`` (``"full"``: recompute everything in the backward pass; ``"dots"``: keep the
matrix products). ``scan_layers=False`` unrolls the blocks in Python (the earlier layout, kept
as the reference of the scan's parity test); both draw the same random init from the same seed.

Precision: ``param_dtype`` stores the frozen weights, ``compute_dtype`` runs the activations and
matrix products (bfloat16 halves memory traffic on accelerators); the adapters' parameters stay
float32 (master weights), RMSNorm statistics, attention scores and softmax, and the logits are
computed in float32.

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

from jaxpref.models._svd_lora import SVDLoRALinear
from jaxpref.types import Array

ADAPTERS = (None, "lora", "svd_lora")
REMAT = ("none", "full", "dots")
DTYPES = ("float32", "bfloat16", "float16")
_PROJECTIONS = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")


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
  adapter: str | None = None
  adapter_rank: int = 8
  adapter_alpha: float = 16.0
  adapter_targets: tuple[str, ...] = ("wq", "wk", "wv", "wo")
  num_objectives: int = 2
  scan_layers: bool = True
  remat: str = "none"
  compute_dtype: str = "float32"
  param_dtype: str = "float32"

  def __post_init__(self):
    """Checks that the head counts divide and the adapter, remat policy and dtypes are known."""
    for name, value, known in (
      ("remat", self.remat, REMAT),
      ("compute_dtype", self.compute_dtype, DTYPES),
      ("param_dtype", self.param_dtype, DTYPES),
    ):
      if value not in known:
        raise ValueError(f"LlamaConfig: unknown {name} {value!r}; known: {known}.")
    if self.remat != "none" and not self.scan_layers:
      raise ValueError("LlamaConfig: remat applies to the scanned blocks (scan_layers=True).")
    if self.adapter not in ADAPTERS:
      raise ValueError(f"LlamaConfig: unknown adapter {self.adapter!r}; known: {ADAPTERS}.")
    unknown = set(self.adapter_targets) - set(_PROJECTIONS)
    if unknown:
      raise ValueError(
        f"LlamaConfig: unknown adapter_targets {sorted(unknown)}; known: {list(_PROJECTIONS)}."
      )
    if self.adapter is not None and self.adapter_rank < 1:
      raise ValueError(f"LlamaConfig: adapter_rank must be >= 1, got {self.adapter_rank}.")
    if self.dim % self.num_heads or self.num_heads % self.num_kv_heads:
      raise ValueError(
        f"LlamaConfig: dim ({self.dim}) must be divisible by num_heads ({self.num_heads}) and "
        f"num_heads by num_kv_heads ({self.num_kv_heads})."
      )

  @property
  def head_dim(self) -> int:
    """Width of one attention head."""
    return self.dim // self.num_heads

  @property
  def dtype(self) -> jnp.dtype:
    """The compute dtype."""
    return jnp.dtype(self.compute_dtype)

  @property
  def weight_dtype(self) -> jnp.dtype:
    """The storage dtype of the frozen weights."""
    return jnp.dtype(self.param_dtype)


class KVCache(NamedTuple):
  """Keys and values ``[layers, B, max_len, kv_heads, head_dim]``, filled length, first slots."""

  keys: Array
  values: Array
  length: Array
  start: Array


def init_cache(
  config: LlamaConfig,
  batch: int,
  *,
  max_len: int | None = None,
  dtype=None,
  start: Array | None = None,
) -> KVCache:
  """An empty cache for ``batch`` sequences of at most ``max_len`` slots.

  Args:
    config: model sizes.
    batch: number of rows.
    max_len: slots per row (defaults to ``config.max_len``).
    dtype: dtype of keys and values (defaults to the compute dtype).
    start: ``[batch]`` first real slot of each row (the amount of left padding); zeros if None.

  Returns:
    The cache.
  """
  start = jnp.zeros((batch,), jnp.int32) if start is None else jnp.asarray(start, jnp.int32)
  dtype = config.dtype if dtype is None else dtype
  shape = (
    config.num_layers,
    batch,
    max_len or config.max_len,
    config.num_kv_heads,
    config.head_dim,
  )
  return KVCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), jnp.zeros((), jnp.int32), start)


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
    self.scale = nnx.Param(jnp.ones((dim,), jnp.float32))
    self.eps = eps

  def __call__(self, x: Array) -> Array:
    """Normalises the last axis."""
    var = jnp.mean(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True)
    return (x * jax.lax.rsqrt(var + self.eps)).astype(x.dtype) * self.scale[...].astype(x.dtype)


def _linear(i: int, o: int, c: LlamaConfig, rngs: nnx.Rngs, like=None) -> nnx.Linear:
  """A bias-free dense layer in the config's dtypes.

  The kernel is drawn in float32 and cast (so a bfloat16 model is the float32 one rounded);
  ``like`` is an adapter's already drawn base layer, recast in place.
  """
  layer = nnx.Linear(i, o, use_bias=False, rngs=rngs) if like is None else like
  layer.dtype, layer.param_dtype = c.dtype, c.weight_dtype
  if c.weight_dtype != jnp.float32:
    layer.kernel = nnx.Param(layer.kernel[...].astype(c.weight_dtype))
  return layer


class LoRALinear(nnx.Module):
  r"""A frozen-able dense layer plus a LoRA update, :math:`xW_0 + g\,\tfrac{\alpha}{r}\,xAB`.

  ``b`` starts at zero, so the layer starts at :math:`W_0` (Hu et al., LoRA, ICLR 2022). The
  adapter's weights are ``nnx.LoRAParam`` (a ``Param`` subtype), so ``nnx.split(model,
  nnx.LoRAParam, ...)`` separates the trainable adapter from the frozen base weights.
  """

  def __init__(self, i: int, o: int, *, rank: int, alpha: float, rngs: nnx.Rngs):
    """Builds the layer."""
    self.base = nnx.Linear(i, o, use_bias=False, rngs=rngs)
    self.a = nnx.LoRAParam(jax.random.normal(rngs.params(), (i, rank), jnp.float32) / jnp.sqrt(i))
    self.b = nnx.LoRAParam(jnp.zeros((rank, o), jnp.float32))
    self.scaling = alpha / rank

  def delta(self, x: Array, weights: Array | None = None) -> Array:
    """The adapter's contribution alone (``weights`` is unused; kept for a common signature)."""
    del weights
    return (x @ self.a[...].astype(x.dtype)) @ self.b[...].astype(x.dtype) * self.scaling


def _project(layer, x: Array, gate: Array | None, weights: Array | None) -> Array:
  """``layer(x)`` with the adapter's contribution scaled per row by ``gate`` ``[B]``."""
  if not hasattr(layer, "delta"):
    return layer(x)
  out = layer.base(x)
  if gate is None:
    gate = jnp.ones((x.shape[0],), x.dtype)
  weights = None if weights is None else weights[:, None, :]
  return out + gate[:, None, None].astype(x.dtype) * layer.delta(x, weights).astype(x.dtype)


class Block(nnx.Module):
  """One pre-norm decoder block: GQA self-attention and a SwiGLU feed-forward."""

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    """Builds the block."""
    c = config
    self.config = c

    def dense(i, o, name):
      if c.adapter is None or name not in c.adapter_targets:
        return _linear(i, o, c, rngs)
      if c.adapter == "lora":
        layer = LoRALinear(i, o, rank=c.adapter_rank, alpha=c.adapter_alpha, rngs=rngs)
      else:
        layer = SVDLoRALinear(
          i, o, rank=c.adapter_rank, num_objectives=c.num_objectives, rngs=rngs, use_bias=False
        )
      layer.base = _linear(i, o, c, rngs, layer.base)
      return layer

    self.attn_norm = RMSNorm(c.dim, c.norm_eps)
    self.wq = dense(c.dim, c.num_heads * c.head_dim, "wq")
    self.wk = dense(c.dim, c.num_kv_heads * c.head_dim, "wk")
    self.wv = dense(c.dim, c.num_kv_heads * c.head_dim, "wv")
    self.wo = dense(c.num_heads * c.head_dim, c.dim, "wo")
    self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
    self.w_gate = dense(c.dim, c.hidden_dim, "w_gate")
    self.w_up = dense(c.dim, c.hidden_dim, "w_up")
    self.w_down = dense(c.hidden_dim, c.dim, "w_down")

  def __call__(self, x, positions, keys, values, cache_len, start, gate, weights):
    """Attends over the cache (written from slot ``cache_len``) and the new tokens.

    Returns:
      ``(x, keys, values)``.
    """
    c = self.config
    B, T, _ = x.shape

    def proj(layer, h):
      return _project(layer, h, gate, weights)

    h = self.attn_norm(x)
    q = _rope(proj(self.wq, h).reshape(B, T, c.num_heads, c.head_dim), positions, c.rope_theta)
    k = _rope(proj(self.wk, h).reshape(B, T, c.num_kv_heads, c.head_dim), positions, c.rope_theta)
    v = proj(self.wv, h).reshape(B, T, c.num_kv_heads, c.head_dim)
    zero = jnp.zeros((), jnp.int32)
    slot0 = (zero, jnp.asarray(cache_len, jnp.int32), zero, zero)
    keys = jax.lax.dynamic_update_slice(keys, k.astype(keys.dtype), slot0)
    values = jax.lax.dynamic_update_slice(values, v.astype(values.dtype), slot0)
    group = c.num_heads // c.num_kv_heads
    q = q.reshape(B, T, c.num_kv_heads, group, c.head_dim)
    scores = jnp.einsum(
      "btkgd,bskd->bkgts", q, keys.astype(q.dtype), preferred_element_type=jnp.float32
    )
    scores = scores / jnp.sqrt(c.head_dim).astype(jnp.float32)
    slots = jnp.arange(keys.shape[1])
    query_slots = cache_len + jnp.arange(T)
    allowed = (slots[None, None, :] <= query_slots[None, :, None]) & (
      slots[None, None, :] >= start[:, None, None]
    )  # causal over the filled slots, padding excluded: [B, T, S]
    scores = jnp.where(allowed[:, None, None], scores, -1e30)
    attn = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
    out = jnp.einsum("bkgts,bskd->btkgd", attn, values.astype(x.dtype))
    x = x + proj(self.wo, out.reshape(B, T, c.num_heads * c.head_dim))
    h = self.ffn_norm(x)
    ffn = jax.nn.silu(proj(self.w_gate, h)) * proj(self.w_up, h)
    return x + proj(self.w_down, ffn), keys, values


def _stacked_blocks(config: LlamaConfig, rngs: nnx.Rngs) -> Block:
  """One :class:`Block` whose every parameter has a leading ``[num_layers]`` axis.

  The blocks are drawn one after another as the unrolled layout draws them, then stacked, so a
  scanned and an unrolled model built from the same ``rngs`` hold the same weights.
  """
  splits = [nnx.split(Block(config, rngs=rngs)) for _ in range(config.num_layers)]
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *(state for _, state in splits))
  return nnx.merge(splits[0][0], stacked)


_REMAT_POLICIES = {
  "full": None,  # jax.checkpoint's default: save nothing, recompute the block.
  "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class Llama(nnx.Module):
  """The decoder: token embedding, blocks, final norm and (tied) output projection.

  With ``config.scan_layers`` (the default) ``blocks`` is one :class:`Block` whose parameters are
  stacked along a leading layer axis (``blocks.wq.kernel`` is ``[num_layers, dim, dim]``);
  otherwise it is an ``nnx.List`` of blocks.
  """

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    """Builds a randomly initialised model of the configured size."""
    self.config = config
    self.embed = nnx.Embed(
      config.vocab_size, config.dim, dtype=config.dtype, param_dtype=jnp.float32, rngs=rngs
    )
    if config.weight_dtype != jnp.float32:
      self.embed.embedding = nnx.Param(self.embed.embedding[...].astype(config.weight_dtype))
    if config.scan_layers:
      self.blocks = _stacked_blocks(config, rngs)
    else:
      self.blocks = nnx.List([Block(config, rngs=rngs) for _ in range(config.num_layers)])
    self.norm = RMSNorm(config.dim, config.norm_eps)
    if not config.tie_embeddings:
      self.lm_head = _linear(config.dim, config.vocab_size, config, rngs)

  def _run_blocks(self, x, positions, cache: KVCache, gate, weights):
    """The blocks over ``x`` (scanned or unrolled); returns ``(x, keys, values)``."""
    args = (positions, cache.length, cache.start, gate, weights)
    if not self.config.scan_layers:
      keys, values = [], []
      for layer, block in enumerate(self.blocks):
        x, k, v = block(x, positions, cache.keys[layer], cache.values[layer], *args[1:])
        keys.append(k)
        values.append(v)
      return x, jnp.stack(keys), jnp.stack(values)
    graphdef, state = nnx.split(self.blocks)

    def body(x, layer):
      state, keys, values = layer
      block = nnx.merge(graphdef, state)
      x, keys, values = block(x, positions, keys, values, *args[1:])
      return x, (keys, values)

    if self.config.remat != "none":
      body = jax.checkpoint(body, policy=_REMAT_POLICIES[self.config.remat])
    x, (keys, values) = jax.lax.scan(body, x, (state, cache.keys, cache.values))
    return x, keys, values

  def __call__(
    self,
    tokens: Array,
    cache: KVCache,
    *,
    gate: Array | None = None,
    weights: Array | None = None,
  ) -> tuple[Array, KVCache]:
    r"""Logits ``[B, T, V]`` (float32) of the next token after each input token, and the cache.

    Args:
      tokens: ``[B, T]`` token ids, written at slots ``cache.length ... cache.length + T - 1``.
      cache: from :func:`init_cache` (or a previous call).
      gate: ``[B]`` multiplier of the adapters' contribution (1 = policy, 0 = frozen base model);
        all ones if None. Ignored without adapters.
      weights: ``[B, num_objectives]`` preference vectors (Panacea's :math:`\lambda`), required
        with ``adapter="svd_lora"``.

    Returns:
      ``(logits, cache)``.
    """
    T = tokens.shape[1]
    if self.config.adapter == "svd_lora" and weights is None:
      raise ValueError(
        "an svd_lora model needs weights, the [B, num_objectives] preference vectors."
      )
    if cache.keys.shape[2] < T:
      raise ValueError(f"{T} tokens do not fit a cache of {cache.keys.shape[2]} slots.")
    positions = cache.length + jnp.arange(T)[None, :] - cache.start[:, None]
    x = self.embed(tokens).astype(self.config.dtype)
    x, keys, values = self._run_blocks(x, positions, cache, gate, weights)
    x = self.norm(x)
    out = self.embed.embedding[...] if self.config.tie_embeddings else self.lm_head.kernel[...].T
    logits = jnp.einsum("btd,vd->btv", x, out.astype(x.dtype), preferred_element_type=jnp.float32)
    return logits, KVCache(keys, values, cache.length + T, cache.start)


def layer_block(model: Llama, layer: int) -> Block:
  """Block ``layer`` of ``model`` as a standalone module (a copy in the scanned layout).

  For reading one layer's weights (e.g. to export them); writes to the copy do not reach the
  model: write the stacked arrays of ``model.blocks`` instead.
  """
  if not 0 <= layer < model.config.num_layers:
    raise IndexError(f"layer {layer} of a {model.config.num_layers}-layer model.")
  if not model.config.scan_layers:
    return model.blocks[layer]
  graphdef, state = nnx.split(model.blocks)
  return nnx.merge(graphdef, jax.tree.map(lambda x: x[layer], state))


def sequence_log_probs(
  model: Llama,
  tokens: Array,
  mask: Array,
  *,
  start: Array | None = None,
  gate: Array | None = None,
  weights: Array | None = None,
) -> Array:
  """Sum of ``log p(tokens[t] | tokens[:t])`` over positions where ``mask[t]`` (e.g. the response).

  Args:
    model: the decoder.
    tokens: ``[B, T]`` prompt and response tokens (prompts left-padded).
    mask: ``[B, T]`` True on the tokens to score (never position 0).
    start: ``[B]`` first real slot per row (left padding); zeros if None.
    gate: ``[B]`` adapter gate (0 scores the frozen base model, i.e. the reference).
    weights: ``[B, m]`` preference vectors for an ``svd_lora`` model.

  Returns:
    ``[B]`` log-probabilities.
  """
  cache = init_cache(model.config, tokens.shape[0], max_len=tokens.shape[1], start=start)
  logits, _ = model(tokens, cache, gate=gate, weights=weights)
  logp = jax.nn.log_softmax(logits[:, :-1].astype(jnp.float32), axis=-1)
  picked = jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]
  return jnp.sum(jnp.where(mask[:, 1:], picked, 0.0), axis=-1)


def sequence_kl(
  model: Llama,
  tokens: Array,
  mask: Array,
  *,
  start: Array | None = None,
  weights: Array | None = None,
) -> Array:
  r"""Token-level KL of the policy (adapters on) to the reference (off) along given sequences.

  .. math:: \sum_{t:\,\mathrm{mask}_t} \mathrm{KL}\big(\pi(\cdot \mid y_{<t}) \,\|\,
     \pi_{ref}(\cdot \mid y_{<t})\big),

  exact at each position (full next-token distributions), so on sequences sampled from the
  policy it is an unbiased, non-negative, low-variance estimate of the sequence-level
  :math:`\mathrm{KL}(\pi \| \pi_{ref})` (the Rao-Blackwellised form of the mean of
  :math:`\log \pi(y) - \log \pi_{ref}(y)`). Both models run as one batch of 2B rows.

  Args:
    model: a decoder with adapters.
    tokens: ``[B, T]`` sequences (prompts left-padded).
    mask: ``[B, T]`` True on the positions to sum over (the response).
    start: ``[B]`` first real slot per row.
    weights: ``[B, m]`` preference vectors for an ``svd_lora`` model.

  Returns:
    ``[B]`` KL values.
  """
  B, T = tokens.shape
  start = jnp.zeros((B,), jnp.int32) if start is None else start
  both = jnp.concatenate([tokens, tokens])
  gate = jnp.concatenate([jnp.ones((B,)), jnp.zeros((B,))])
  weights2 = None if weights is None else jnp.concatenate([weights, weights])
  cache = init_cache(model.config, 2 * B, max_len=T, start=jnp.concatenate([start, start]))
  logits, _ = model(both, cache, gate=gate, weights=weights2)
  logp = jax.nn.log_softmax(logits[:, :-1].astype(jnp.float32), axis=-1)
  pol, ref = logp[:B], logp[B:]
  kl = jnp.sum(jnp.exp(pol) * (pol - ref), axis=-1)
  return jnp.sum(jnp.where(mask[:, 1:], kl, 0.0), axis=-1)
