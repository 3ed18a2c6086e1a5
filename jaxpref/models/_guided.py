r"""Decoding-time alignment: DeAL's lookahead search and reward-guided re-ranking of the sampler.

Both steer a frozen language model at decoding time with an alignment heuristic; no weight changes
(Huang et al., DeAL: Decoding-time alignment for large language models, 2024).

:func:`lookahead_search` is DeAL's heuristic search over token prefixes, on a generic next-token
function with static shapes: at each generated token every kept prefix proposes its top-``k``
tokens, each candidate is extended by a greedy lookahead of ``lookahead`` tokens and scored by

.. math:: s(y_{\le t}) = \log \pi(y_{\le t} \mid x) + w\, h(x, y_{\le t}, \hat y_{t+1:t+l}),

and the best ``beam`` candidates are kept. The paper does not pin down how the LM log-probability
and the heuristic are combined (nor default :math:`k, l, b`); the sum above with a configurable
weight :math:`w` is this library's choice. The LM log-probability counts the kept prefix and the
candidate token, not the lookahead tokens (those only inform the heuristic).

:func:`guided_generate` is a re-ranking option of the KV-cached Llama sampler: every ``chunk`` new
tokens it draws ``candidates`` continuations per prompt with :func:`sample_padded`, scores the
extended responses with a reward (a :class:`RerankGuide`) and keeps the best. ``chunk`` equal to
``max_new_tokens`` is best-of-``candidates`` sampling.

Costs, in LM forward calls per prompt (one call = one next-token distribution for one sequence):

* :func:`lookahead_cost`: ``steps * beam * (1 + k * lookahead)`` (greedy decoding is ``steps``),
  plus ``steps * beam * k + 1`` heuristic calls.
* :func:`guided_cost`: ``candidates * (max_new_tokens + ceil(max_new_tokens / chunk))`` (plain
  sampling is ``max_new_tokens + 1``), plus ``ceil(max_new_tokens / chunk)`` score calls on
  ``candidates`` rows.
"""

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpref.models._llama import Llama
from jaxpref.models._sampling import BUCKETS, Samples, pad_prompts, sample_padded
from jaxpref.types import Array, PRNGKey

LogitsFn = Callable[[Array, Array], Array]
HeuristicFn = Callable[[Array, Array], Array]
ScoreFn = Callable[[Array, Array, Array], Array]


class SearchResult(NamedTuple):
  """The output of :func:`lookahead_search`.

  Attributes:
    tokens: ``[B, P + steps]`` the prefix and the best generated continuation of each row.
    log_prob: ``[B]`` LM log-probability of the generated tokens given the prefix.
    heuristic: ``[B]`` heuristic of ``tokens`` (without lookahead).
    lm_calls: LM forward calls spent per row, :func:`lookahead_cost` (a Python int; a scalar
      array when the result leaves a ``jax.jit``).
  """

  tokens: Array
  log_prob: Array
  heuristic: Array
  lm_calls: int


class RerankGuide(NamedTuple):
  """Reward-guided re-ranking for :func:`guided_generate`.

  Attributes:
    score_fn: ``score_fn(rows [N], tokens [N, T], mask [N, T]) -> [N]`` scores of ``N`` partial
      responses: ``rows`` is the index of the prompt each row answers, ``tokens`` the response so
      far in a buffer of ``T = max_new_tokens`` slots (the pad id after the end token and in the
      slots not generated yet), ``mask`` True on its real tokens (end token included). Higher is
      better. It is called once per chunk, with fixed shapes: a traceable function, or a host
      one (wrapped by the caller in ``jax.pure_callback`` to run under ``jax.jit``).
    candidates: ``K`` continuations drawn per prompt and chunk.
    chunk: ``L`` new tokens per continuation before re-ranking.
  """

  score_fn: ScoreFn
  candidates: int
  chunk: int


def lookahead_cost(steps: int, k: int, lookahead: int, beam: int) -> int:
  """LM forward calls per row spent by :func:`lookahead_search`.

  Each step runs the ``beam`` kept prefixes once (their top-``k`` proposals and log-probabilities)
  and the ``beam * k`` candidates ``lookahead`` times (the greedy lookahead). All ``beam`` slots
  are computed from the first step on (static shapes), even while fewer prefixes exist. In batched
  ``logits_fn`` invocations this is ``steps * (1 + lookahead)``.

  Args:
    steps: generated tokens.
    k: proposals per kept prefix.
    lookahead: greedy lookahead length.
    beam: kept prefixes.

  Returns:
    ``steps * beam * (1 + k * lookahead)``.

  Raises:
    ValueError: on ``steps < 1``, ``k < 1``, ``lookahead < 0`` or ``beam < 1``.
  """
  _check_search(steps, k, lookahead, beam)
  return steps * beam * (1 + k * lookahead)


def _check_search(steps: int, k: int, lookahead: int, beam: int) -> None:
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}.")
  if k < 1:
    raise ValueError(f"k (proposals per prefix) must be >= 1, got {k}.")
  if lookahead < 0:
    raise ValueError(f"lookahead must be >= 0, got {lookahead}.")
  if beam < 1:
    raise ValueError(f"beam must be >= 1, got {beam}.")


def lookahead_search(
  logits_fn: LogitsFn,
  heuristic_fn: HeuristicFn,
  prefix: Array,
  *,
  steps: int,
  k: int,
  lookahead: int,
  beam: int,
  weight: float | Array,
) -> SearchResult:
  r"""DeAL's lookahead heuristic search with static shapes.

  The sequences live in a fixed buffer of ``T = P + steps + lookahead`` slots and the language
  model is called as ``logits_fn(tokens, length)``, so every shape is static and the whole search
  is one ``lax.fori_loop`` (jit it with ``logits_fn`` and ``heuristic_fn`` closed over).

  At step :math:`t` each kept prefix :math:`y_{<t}` proposes its top-``k`` tokens :math:`y_t`
  under :math:`\pi`; each candidate is extended greedily by ``lookahead`` tokens
  :math:`\hat y_{t+1:t+l}` and scored

  .. math:: s = \log \pi(y_{\le t} \mid x) + w\, h(x\, y_{\le t}\, \hat y_{t+1:t+l});

  the ``beam`` best candidates (over all prefixes of a row) are kept, with their LM
  log-probability (the lookahead tokens are dropped). The result is the best candidate of the last
  step. DeAL (Huang et al., DeAL: Decoding-time alignment for large language models, 2024) does
  not pin down the combination of log-probability and heuristic; this weighted sum is a
  configurable choice (``weight = 0, lookahead = 0, beam = k = 1`` is greedy decoding). The last
  step's lookahead runs past the budget, so the heuristic still sees ``lookahead`` tokens ahead.

  Args:
    logits_fn: ``logits_fn(tokens [N, T], length) -> [N, V]``, the next-token logits at slot
      ``length`` given ``tokens[:, :length]``; ``length`` is a scalar int (traced inside the loop)
      shared by all rows, and the slots from ``length`` on hold filler that must not change the
      result (a causal model read at slot ``length - 1`` ignores it). ``N`` is ``B * beam`` or
      ``B * beam * k``.
    heuristic_fn: ``heuristic_fn(tokens [N, T], length) -> [N]``, the alignment heuristic of
      ``tokens[:, :length]`` (a reward model, a keyword or length check, any traceable program).
    prefix: ``[B, P]`` int prompt tokens, all real (ragged prompts: left-pad them and let
      ``logits_fn`` handle the padding).
    steps: tokens to generate (static).
    k: top-``k`` proposals per kept prefix (static).
    lookahead: greedy lookahead length ``l`` (static; 0 scores the candidate itself).
    beam: kept prefixes ``b`` (static).
    weight: ``w``, the heuristic's weight against the log-probability (may be traced).

  Returns:
    :class:`SearchResult`; ``lm_calls`` is :func:`lookahead_cost` per row.

  Raises:
    ValueError: on ``steps < 1``, ``k < 1``, ``lookahead < 0`` or ``beam < 1``.

  Example:
    >>> import jax.numpy as jnp
    >>> table = jnp.log(jnp.asarray([[0.1, 0.6, 0.3], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]]))
    >>> logits_fn = lambda tokens, length: table[tokens[:, length - 1]]
    >>> ends_in_0 = lambda tokens, length: (tokens[:, length - 1] == 0).astype(jnp.float32)
    >>> greedy = lookahead_search(
    ...   logits_fn, ends_in_0, jnp.asarray([[0]]), steps=2, k=1, lookahead=0, beam=1, weight=0.0
    ... )
    >>> greedy.tokens.tolist(), greedy.heuristic.tolist()
    ([[0, 1, 2]], [0.0])
    >>> guided = lookahead_search(
    ...   logits_fn, ends_in_0, jnp.asarray([[0]]), steps=2, k=3, lookahead=0, beam=2, weight=5.0
    ... )
    >>> guided.tokens.tolist(), guided.heuristic.tolist(), guided.lm_calls
    ([[0, 1, 0]], [1.0], 4)
  """
  _check_search(steps, k, lookahead, beam)
  prefix = jnp.asarray(prefix, jnp.int32)
  B, P = prefix.shape
  T = P + steps + lookahead
  buf = jnp.zeros((B, beam, T), jnp.int32).at[:, :, :P].set(prefix[:, None, :])
  # Only the first slot holds a live prefix at the start; the copies never win (score -inf).
  beam_lp = jnp.where(jnp.arange(beam) == 0, 0.0, -jnp.inf) * jnp.ones((B, 1), jnp.float32)

  def step(s, carry):
    buf, beam_lp = carry
    n = P + s  # tokens so far; the candidate goes to slot n
    logp = jax.nn.log_softmax(logits_fn(buf.reshape(B * beam, T), n).astype(jnp.float32), -1)
    top_lp, top_tok = jax.lax.top_k(logp, k)  # [B * beam, k]
    cand_lp = (beam_lp[:, :, None] + top_lp.reshape(B, beam, k)).reshape(B, beam * k)
    cand = jnp.repeat(buf, k, axis=1)  # [B, beam * k, T], candidate j of prefix j // k
    cand = cand.at[:, :, n].set(top_tok.reshape(B, beam * k))

    def look(j, ext):
      flat = ext.reshape(B * beam * k, T)
      nxt = jnp.argmax(logits_fn(flat, n + 1 + j), axis=-1).astype(jnp.int32)
      return ext.at[:, :, n + 1 + j].set(nxt.reshape(B, beam * k))

    ext = jax.lax.fori_loop(0, lookahead, look, cand)
    h = heuristic_fn(ext.reshape(B * beam * k, T), n + 1 + lookahead).reshape(B, beam * k)
    score = cand_lp + weight * h.astype(jnp.float32)
    _, keep = jax.lax.top_k(score, beam)  # [B, beam], best first
    buf = jnp.take_along_axis(cand, keep[:, :, None], axis=1)
    return buf, jnp.take_along_axis(cand_lp, keep, axis=1)

  buf, beam_lp = jax.lax.fori_loop(0, steps, step, (buf, beam_lp))
  best = buf[:, 0]
  heuristic = heuristic_fn(best, P + steps)
  return SearchResult(
    best[:, : P + steps], beam_lp[:, 0], heuristic, lookahead_cost(steps, k, lookahead, beam)
  )


def _check_guide(guide: RerankGuide, max_new_tokens: int) -> None:
  if guide.candidates < 1:
    raise ValueError(f"guide.candidates must be >= 1, got {guide.candidates}.")
  if not 1 <= guide.chunk <= max_new_tokens:
    raise ValueError(
      f"guide.chunk must lie in [1, max_new_tokens = {max_new_tokens}], got {guide.chunk}."
    )


def guided_cost(*, max_new_tokens: int, candidates: int, chunk: int) -> int:
  """LM forward calls per prompt spent by :func:`guided_generate` (an upper bound).

  Each of the ``C = ceil(max_new_tokens / chunk)`` chunks runs ``candidates`` rows through one
  prefill of the prefix so far (re-prefilled every chunk; one parallel pass over
  ``P + (C - 1) * chunk`` slots) and one decoding step per new token. Plain sampling
  (``candidates = 1, chunk = max_new_tokens``) is ``max_new_tokens + 1``; a chunk's decoding
  stops early once every row has ended. The reward is called ``C`` times on ``candidates`` rows.

  Args:
    max_new_tokens: response budget.
    candidates: continuations per prompt and chunk ``K``.
    chunk: tokens per chunk ``L``.

  Returns:
    ``K * (max_new_tokens + ceil(max_new_tokens / L))``.

  Raises:
    ValueError: on ``candidates < 1`` or a chunk outside ``[1, max_new_tokens]``.
  """
  _check_guide(RerankGuide(None, candidates, chunk), max_new_tokens)
  return candidates * (max_new_tokens + math.ceil(max_new_tokens / chunk))


@functools.partial(jax.jit, static_argnames=("width", "K"))
def _chunk_prefix(
  tokens: Array, start: Array, out: Array, offset: Array, *, width: int, K: int
) -> tuple[Array, Array]:
  """The prompt and ``out[:, :offset]`` right-aligned in ``width`` slots, each row ``K`` times.

  A live row has no end token in ``out[:, :offset]``, so its prefix is all real tokens; an ended
  row's prefix does not matter (its new chunk is replaced by padding).
  """
  B, P = tokens.shape
  full = jnp.concatenate([jnp.zeros((B, width), jnp.int32), tokens, out], axis=1)
  prefix = jax.lax.dynamic_slice_in_dim(full, P + offset, width, axis=1)
  return jnp.repeat(prefix, K, axis=0), jnp.repeat(start + width - P - offset, K)


@functools.partial(jax.jit, static_argnames=("K",))
def _chunk_candidates(
  out: Array,
  mask: Array,
  done: Array,
  new: Array,
  new_mask: Array,
  offset: Array,
  pad: Array,
  *,
  K: int,
) -> tuple[Array, Array]:
  """``[B * K, T]`` responses so far with each candidate chunk written at ``offset``."""
  ended = jnp.repeat(done, K)[:, None]  # rows that had ended keep padding
  new = jnp.where(ended, pad, new)
  new_mask = new_mask & ~ended
  cand = jax.lax.dynamic_update_slice_in_dim(jnp.repeat(out, K, axis=0), new, offset, axis=1)
  cand_mask = jax.lax.dynamic_update_slice_in_dim(
    jnp.repeat(mask, K, axis=0), new_mask, offset, axis=1
  )
  return cand, cand_mask


@functools.partial(jax.jit, static_argnames=("K",))
def _chunk_keep(
  cand: Array, cand_mask: Array, scores: Array, done: Array, eos: Array, *, K: int
) -> tuple[Array, Array, Array]:
  """The best-scored of each prompt's ``K`` candidates, and which rows have ended."""
  B = done.shape[0]
  pick = jnp.arange(B) * K + jnp.argmax(scores.reshape(B, K), axis=1)
  out, mask = cand[pick], cand_mask[pick]
  return out, mask, done | jnp.any((out == eos) & mask, axis=1)


def guided_sample_padded(
  model: tuple[nnx.GraphDef, nnx.State],
  tokens: Array,
  start: Array,
  key: PRNGKey,
  *,
  guide: RerankGuide,
  max_new_tokens: int,
  eos_id: int | Array,
  pad_id: int | Array | None = None,
  temperature: float | Array = 1.0,
  top_p: float = 1.0,
) -> Samples:
  """The traceable core of :func:`guided_generate` on already padded prompts.

  The chunks are a Python loop (their count is static). Each chunk right-aligns the prefix so far
  in one fixed width, that of the last chunk's prefix (left padding does not change the logits),
  and the reward always sees ``[N, max_new_tokens]`` responses, so every full chunk reuses one
  compiled sampler and one traced reward; a shorter last chunk compiles the sampler once more.

  Args:
    model: ``(graphdef, *states)`` of a :class:`Llama`.
    tokens: ``[B, P]`` left-padded prompt tokens, one row per prompt.
    start: ``[B]`` first real slot of each row.
    key: PRNG key.
    guide: the reward and its ``candidates`` and ``chunk``.
    max_new_tokens: response budget (static).
    eos_id: end token.
    pad_id: written after the end token (defaults to ``eos_id``).
    temperature: softmax temperature of the candidates; 0 is greedy (all candidates equal).
    top_p: nucleus threshold (static); 1 disables it.

  Returns:
    :class:`Samples` with one response per prompt.

  Raises:
    ValueError: on ``candidates < 1`` or a chunk outside ``[1, max_new_tokens]``.
  """
  _check_guide(guide, max_new_tokens)
  K, L = guide.candidates, guide.chunk
  pad = jnp.asarray(eos_id if pad_id is None else pad_id, jnp.int32)
  eos = jnp.asarray(eos_id, jnp.int32)
  tokens, start = jnp.asarray(tokens, jnp.int32), jnp.asarray(start, jnp.int32)
  B, P = tokens.shape
  rows = jnp.repeat(jnp.arange(B, dtype=jnp.int32), K)
  num_chunks = math.ceil(max_new_tokens / L)
  width = P + (num_chunks - 1) * L  # the longest prefix, that of the last chunk
  out = jnp.full((B, max_new_tokens), pad, jnp.int32)
  mask = jnp.zeros((B, max_new_tokens), bool)
  done = jnp.zeros((B,), bool)
  for c, key_c in enumerate(jax.random.split(key, num_chunks)):
    prefix, prefix_start = _chunk_prefix(tokens, start, out, c * L, width=width, K=K)
    drawn = sample_padded(
      model,
      prefix,
      prefix_start,
      key_c,
      max_new_tokens=min(L, max_new_tokens - c * L),
      eos_id=eos,
      pad_id=pad,
      temperature=temperature,
      top_p=top_p,
    )
    cand, cand_mask = _chunk_candidates(out, mask, done, drawn.tokens, drawn.mask, c * L, pad, K=K)
    scores = jnp.asarray(guide.score_fn(rows, cand, cand_mask), jnp.float32)
    out, mask, done = _chunk_keep(cand, cand_mask, scores, done, eos, K=K)
  return Samples(tokens, start, out, mask)


def guided_generate(
  model: Llama | tuple[nnx.GraphDef, nnx.State],
  prompts: Sequence[Sequence[int]],
  key: PRNGKey,
  *,
  guide: RerankGuide,
  max_new_tokens: int,
  eos_id: int,
  pad_id: int | None = None,
  temperature: float = 1.0,
  top_p: float = 1.0,
  buckets: Sequence[int] = BUCKETS,
) -> Samples:
  r"""Samples one response per prompt, re-ranked by a reward every ``guide.chunk`` tokens.

  At each chunk of ``L`` new tokens, ``K`` continuations of every prompt's current prefix are
  drawn with :func:`sample_padded` (the prefix is re-prefilled), the ``K`` extended responses are
  scored by ``guide.score_fn`` and the best is kept; this goes on until ``max_new_tokens`` or the
  end token. A chunk-level, sampled-candidate variant of DeAL's search (Huang et al., DeAL:
  Decoding-time alignment for large language models, 2024); ``L = max_new_tokens`` is best-of-K,
  ``K = 1`` is plain sampling. Cost: ``K`` times the tokens of plain sampling plus one prefill per
  chunk and candidate, :func:`guided_cost`.

  Args:
    model: the decoder, or its ``nnx.split`` as a tuple ``(graphdef, *states)``.
    prompts: token id lists.
    key: PRNG key.
    guide: the reward and its ``candidates`` ``K`` and ``chunk`` ``L``.
    max_new_tokens: response budget (static).
    eos_id: end token; a row stops after emitting it.
    pad_id: written after the end token (defaults to ``eos_id``).
    temperature: softmax temperature of the candidates; 0 is greedy.
    top_p: nucleus threshold (static); 1 disables it.
    buckets: prompt lengths compiled for.

  Returns:
    :class:`Samples`, one row per prompt.

  Raises:
    ValueError: on ``candidates < 1``, a chunk outside ``[1, max_new_tokens]``, bad temperature
      or top-p, or an over-long prompt.
  """
  _check_guide(guide, max_new_tokens)
  if temperature < 0 or not 0 < top_p <= 1:
    raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1; got {temperature}, {top_p}.")
  graphdef, *states = model if isinstance(model, tuple) else nnx.split(model)
  config = model.config if isinstance(model, Llama) else nnx.merge(graphdef, *states).config
  tokens, start = pad_prompts(
    prompts, pad_id=0, buckets=buckets, max_len=config.max_len, max_new_tokens=max_new_tokens
  )
  return guided_sample_padded(
    (graphdef, *states),
    jnp.asarray(tokens),
    jnp.asarray(start),
    key,
    guide=guide,
    max_new_tokens=max_new_tokens,
    eos_id=eos_id,
    pad_id=pad_id,
    temperature=temperature,
    top_p=top_p,
  )
