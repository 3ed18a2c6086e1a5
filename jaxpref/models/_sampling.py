r"""Jitted, KV-cached sampling from a :class:`Llama`, plain or from a geometric mixture.

Prompts are left-padded to a fixed length bucket (so a new prompt length within a bucket reuses
the compiled program), prefilled in one call, then decoded one token per step inside a
``lax.while_loop`` that stops when every row has emitted the end token or the budget is spent.

Geometric mixture (Nash-MD; Munos et al., Nash learning from human feedback, ICML 2024):

.. math:: \pi_\lambda(y_t \mid x, y_{<t}) \propto
   \pi(y_t \mid x, y_{<t})^{1-\lambda}\, \pi_{\mathrm{ref}}(y_t \mid x, y_{<t})^{\lambda},

the token-level (regularized) mixture that Nash-MD samples its opponent from; Nash-MD's
:math:`\lambda` is the argument ``mixture`` (an ``svd_lora`` model's preference vector, Panacea's
:math:`\lambda`, is ``weights``). When the policy is
the reference plus an adapter, the policy and reference rows run as one batch of 2B rows through
the shared weights (gate 1 and gate 0), each with its own KV cache rows, so a mixture step reads
the weights once: on memory-bound decoding it costs far less than two forward passes.
"""

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpref.models._llama import Llama, init_cache
from jaxpref.types import Array

BUCKETS = (16, 32, 64, 128, 256, 512, 1024)


class Samples(NamedTuple):
  """Sampled responses.

  Attributes:
    prompt: ``[N, P]`` left-padded prompt tokens (row i is prompt ``i // K``).
    start: ``[N]`` first real prompt slot of each row.
    tokens: ``[N, max_new_tokens]`` response tokens; after the end token, the pad id.
    mask: ``[N, max_new_tokens]`` True on the response tokens, the end token included.
  """

  prompt: Array
  start: Array
  tokens: Array
  mask: Array

  def full(self) -> tuple[Array, Array, Array]:
    """``(tokens [N, P + L], response mask [N, P + L], start [N])`` for log-prob scoring."""
    tokens = jnp.concatenate([self.prompt, self.tokens], axis=1)
    mask = jnp.concatenate([jnp.zeros(self.prompt.shape, bool), self.mask], axis=1)
    return tokens, mask, self.start


def bucket_length(n: int, *, buckets: Sequence[int] = BUCKETS) -> int:
  """The smallest bucket that holds ``n`` tokens.

  Args:
    n: number of tokens.
    buckets: allowed padded lengths.

  Returns:
    The bucket length.

  Raises:
    ValueError: if ``n`` exceeds the largest bucket (an over-long prompt).
  """
  for b in sorted(buckets):
    if n <= b:
      return b
  raise ValueError(
    f"prompt of {n} tokens is longer than the largest bucket ({max(buckets)}); shorten it or "
    "pass larger buckets."
  )


def pad_prompts(
  prompts: Sequence[Sequence[int]],
  *,
  pad_id: int,
  buckets: Sequence[int] = BUCKETS,
  max_len: int | None = None,
  max_new_tokens: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
  """Left-pads token lists to one bucket length.

  Args:
    prompts: token id lists (at least one token each).
    pad_id: id written in the padding (never attended to).
    buckets: allowed padded lengths.
    max_len: the model's context length; prompt bucket plus ``max_new_tokens`` must fit.
    max_new_tokens: response budget, checked against ``max_len``.

  Returns:
    ``(tokens [B, P], start [B])``.

  Raises:
    ValueError: on an empty prompt, a prompt longer than every bucket, or one that leaves no room.
  """
  if not prompts or any(len(p) == 0 for p in prompts):
    raise ValueError("every prompt needs at least one token.")
  longest = max(len(p) for p in prompts)
  P = bucket_length(longest, buckets=buckets)
  if max_len is not None and P + max_new_tokens > max_len:
    raise ValueError(
      f"a prompt of {longest} tokens (bucket {P}) plus {max_new_tokens} new tokens exceeds the "
      f"model's context of {max_len} tokens."
    )
  tokens = np.full((len(prompts), P), pad_id, np.int32)
  start = np.zeros(len(prompts), np.int32)
  for i, p in enumerate(prompts):
    tokens[i, P - len(p) :] = p
    start[i] = P - len(p)
  return tokens, start


def _top_p_filter(logits: Array, top_p: float) -> Array:
  """Keeps the smallest set of tokens whose probability reaches ``top_p`` (nucleus sampling)."""
  order = jnp.argsort(-logits, axis=-1)
  sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
  probs = jax.nn.softmax(sorted_logits, axis=-1)
  before = jnp.cumsum(probs, axis=-1) - probs  # mass strictly above each token
  keep_sorted = before < top_p
  keep = (
    jnp.zeros_like(keep_sorted).at[jnp.arange(logits.shape[0])[:, None], order].set(keep_sorted)
  )
  return jnp.where(keep, logits, -jnp.inf)


def _next_token(key, logp: Array, temperature: Array, top_p: float) -> Array:
  """Samples from ``softmax(logp / temperature)`` (argmax when temperature is 0)."""
  greedy = jnp.argmax(logp, axis=-1)
  scaled = logp / jnp.maximum(temperature, 1e-6)
  if top_p < 1.0:
    scaled = _top_p_filter(scaled, top_p)
  drawn = jax.random.categorical(key, scaled, axis=-1)
  return jnp.where(temperature > 0, drawn, greedy).astype(jnp.int32)


@functools.partial(
  jax.jit, static_argnames=("graphdef", "max_new_tokens", "top_p", "mixed", "reference")
)
def _generate(
  graphdef,
  states,
  tokens: Array,
  start: Array,
  key: Array,
  temperature: Array,
  mixture: Array,
  weights: Array | None,
  eos_id: Array,
  pad_id: Array,
  *,
  max_new_tokens: int,
  top_p: float,
  mixed: bool,
  reference: bool,
):
  model = nnx.merge(graphdef, *states)
  B, P = tokens.shape
  if mixed:  # rows [0, B) run the policy (gate 1), rows [B, 2B) the reference (gate 0)
    gate = jnp.concatenate([jnp.ones((B,)), jnp.zeros((B,))])
    tokens, start = jnp.tile(tokens, (2, 1)), jnp.tile(start, 2)
    weights = None if weights is None else jnp.tile(weights, (2, 1))
  else:
    gate = jnp.full((B,), 0.0 if reference else 1.0)
  cache = init_cache(model.config, tokens.shape[0], max_len=P + max_new_tokens, start=start)
  logits, cache = model(tokens, cache, gate=gate, weights=weights)
  last = logits[:, -1].astype(jnp.float32)

  def log_probs(last):
    logp = jax.nn.log_softmax(last, axis=-1)
    if mixed:
      logp = jax.nn.log_softmax((1.0 - mixture) * logp[:B] + mixture * logp[B:], axis=-1)
    return logp

  def cond(carry):
    t, _, _, _, done, _ = carry
    return (t < max_new_tokens) & ~jnp.all(done)

  def body(carry):
    t, key, cache, last, done, out = carry
    key, sub = jax.random.split(key)
    tok = _next_token(sub, log_probs(last), temperature, top_p)
    tok = jnp.where(done, pad_id, tok)
    out = out.at[:, t].set(tok)
    done = done | (tok == eos_id)
    step_tok = jnp.tile(tok, 2) if mixed else tok
    logits, cache = model(step_tok[:, None], cache, gate=gate, weights=weights)
    return t + 1, key, cache, logits[:, -1].astype(jnp.float32), done, out

  out = jnp.full((B, max_new_tokens), pad_id, jnp.int32)
  done = jnp.zeros((B,), bool)
  t, *_, out = jax.lax.while_loop(cond, body, (0, key, cache, last, done, out))
  ended_before = jnp.cumsum(out == eos_id, axis=1) - (out == eos_id)
  mask = (ended_before == 0) & (jnp.arange(max_new_tokens) < t)
  return out, mask


def generate(
  model: Llama | tuple[nnx.GraphDef, nnx.State],
  prompts: Sequence[Sequence[int]],
  key: Array,
  *,
  max_new_tokens: int,
  eos_id: int,
  pad_id: int | None = None,
  num_samples: int = 1,
  temperature: float = 1.0,
  top_p: float = 1.0,
  mixture: float | None = None,
  reference: bool = False,
  weights: Array | None = None,
  buckets: Sequence[int] = BUCKETS,
) -> Samples:
  r"""Samples ``num_samples`` responses per prompt with a KV cache, in one compiled program.

  Args:
    model: the decoder, or its ``nnx.split`` as a tuple ``(graphdef, *states)`` (e.g. the LoRA
      and the frozen states); splitting once avoids re-splitting on every call.
    prompts: token id lists (e.g. from ``BPETokenizer.encode_chat``).
    key: PRNG key.
    max_new_tokens: response budget (static: one compile per value).
    eos_id: end token; a row stops after emitting it.
    pad_id: written after the end token (defaults to ``eos_id``).
    num_samples: K responses per prompt; rows ``i*K ... i*K + K - 1`` answer prompt i.
    temperature: softmax temperature; 0 is greedy decoding.
    top_p: nucleus threshold (static); 1 disables it.
    mixture: :math:`\lambda` of the geometric mixture :math:`\pi^{1-\lambda}\pi_{ref}^\lambda`,
      where the reference is the model with its adapters off; None samples the policy.
    reference: sample the reference itself (adapters off) instead of the policy.
    weights: ``[num_prompts, m]`` preference vectors for an ``svd_lora`` model.
    buckets: prompt lengths compiled for.

  Returns:
    :class:`Samples`.

  Raises:
    ValueError: on an over-long prompt, bad temperature/top-p/mixture values, or a mixture on a
      model without adapters (whose reference would equal the policy).
  """
  graphdef, *states = model if isinstance(model, tuple) else nnx.split(model)
  config = model.config if isinstance(model, Llama) else nnx.merge(graphdef, *states).config
  if temperature < 0 or not 0 < top_p <= 1:
    raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1; got {temperature}, {top_p}.")
  if reference and mixture is not None:
    raise ValueError("pass either mixture or reference=True, not both.")
  if mixture is not None:
    if not 0 <= mixture <= 1:
      raise ValueError(f"mixture lambda must lie in [0, 1], got {mixture}.")
    if config.adapter is None:
      raise ValueError(
        "mixture sampling needs a model with adapters (the reference = adapters off)."
      )
  tokens, start = pad_prompts(
    prompts, pad_id=0, buckets=buckets, max_len=config.max_len, max_new_tokens=max_new_tokens
  )
  tokens, start = np.repeat(tokens, num_samples, 0), np.repeat(start, num_samples, 0)
  if weights is not None:
    weights = jnp.repeat(jnp.asarray(weights, jnp.float32), num_samples, axis=0)
  return sample_padded(
    (graphdef, *states),
    jnp.asarray(tokens),
    jnp.asarray(start),
    key,
    max_new_tokens=max_new_tokens,
    eos_id=eos_id,
    pad_id=pad_id,
    temperature=temperature,
    top_p=top_p,
    mixture=mixture,
    reference=reference,
    weights=weights,
  )


def sample_padded(
  model: tuple[nnx.GraphDef, nnx.State],
  tokens: Array,
  start: Array,
  key: Array,
  *,
  max_new_tokens: int,
  eos_id: int | Array,
  pad_id: int | Array | None = None,
  temperature: float | Array = 1.0,
  top_p: float = 1.0,
  mixture: float | Array | None = None,
  reference: bool = False,
  weights: Array | None = None,
) -> Samples:
  r"""The traceable core of :func:`generate`: one response per row of already padded prompts.

  No host work and no checks, so it runs inside a jitted, vmapped training step (the prompts of a
  fixed-length task padded once with :func:`pad_prompts`); ``temperature`` and ``mixture`` may be
  traced (e.g. swept) values.

  Args:
    model: ``(graphdef, *states)`` of a :class:`Llama`.
    tokens: ``[N, P]`` left-padded prompt tokens (repeat rows for several samples per prompt).
    start: ``[N]`` first real slot of each row.
    key: PRNG key.
    max_new_tokens: response budget (static).
    eos_id: end token.
    pad_id: written after the end token (defaults to ``eos_id``).
    temperature: softmax temperature; 0 is greedy.
    top_p: nucleus threshold (static); 1 disables it.
    mixture: :math:`\lambda` of the geometric mixture with the reference; None samples the policy.
    reference: sample the reference (adapters off).
    weights: ``[N, m]`` preference vectors for an ``svd_lora`` model.

  Returns:
    :class:`Samples`.
  """
  graphdef, *states = model
  out, mask = _generate(
    graphdef,
    tuple(states),
    tokens,
    start,
    key,
    jnp.asarray(temperature, jnp.float32),
    jnp.asarray(0.0 if mixture is None else mixture, jnp.float32),
    weights,
    jnp.asarray(eos_id, jnp.int32),
    jnp.asarray(eos_id if pad_id is None else pad_id, jnp.int32),
    max_new_tokens=max_new_tokens,
    top_p=float(top_p),
    mixed=mixture is not None,
    reference=reference,
  )
  return Samples(tokens, start, out, mask)
