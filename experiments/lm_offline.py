"""Offline preference optimization of a causal LM on LLMFAO's judged pairs: see the config.

The judged pairs (prompt, two responses, the crowd's verdicts) are tokenized once into
``[pairs, 2, P + R]`` sequences (prompt left-padded to one bucket P, response truncated to R
tokens and right-padded), split by prompt into train and held-out pairs, and the reference
log-probabilities of every response are computed once (the adapter gated off) and cached in the
workdir. A step draws a minibatch of training pairs, scores both responses under the policy as
one batch and takes an Adam step on the LoRA parameters with a loss of ``jaxpref.losses``.

``model=tiny`` runs through ``jaxpref.training.run_sweep`` (seeds x vmapped hyperparameters;
bytes as tokens); ``model=smollm2`` runs the same per-point step in ``lm_tasks.host_run``.
"""

import hashlib
import inspect
import json
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import nnx

from experiments import common, lm_tasks, train_lib
from jaxpref import data, losses, models, training
from jaxpref.types import Array, PRNGKey

MODELS = ("tiny", "smollm2")
LABELS = ("soft", "majority")
PAIRWISE_FIELDS = ("logp", "logp2", "ref_logp", "ref_logp2", "pref")
BYTE_OFFSET = 2  # Tiny model: id 0 pads, id 1 ends a response, bytes are 2..257.


class Hyper(NamedTuple):
  """The traced hyperparameters of one point (any can be a vmap axis)."""

  learning_rate: float
  kl_coef: float
  label_smoothing: float
  flip_rate: float


FIELDS = {name: name for name in Hyper._fields}  # Config path -> Hyper field.


class Pairs(NamedTuple):
  """Tokenized judged pairs (numpy; row 0 of axis 1 is the left response)."""

  tokens: np.ndarray  # [N, 2, P + R] int32: left-padded prompt, then the response.
  mask: np.ndarray  # [N, 2, P + R] bool: True on response tokens (the end token included).
  start: np.ndarray  # [N] first real slot (prompt left padding).
  pref: np.ndarray  # [N] P(left > right): the crowd's mean verdict (ties 1/2) or the majority.
  prompt: np.ndarray  # [N] LLMFAO prompt id.
  judgments: np.ndarray  # [N] number of crowd judgments of the pair.


class PointState(NamedTuple):
  """One point's adapter leaves, optimizer state, minibatch key, evaluation key and last loss."""

  lora: list[Array]
  opt_state: Any
  key: PRNGKey
  eval_key: PRNGKey
  loss: Array


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` on settings that cannot run (compiles nothing)."""
  fn = losses.get_loss(config.loss)  # Lists the registered names otherwise.
  needs = _keyword_args(fn)
  unknown = needs - set(Hyper._fields)
  if unknown:
    raise ValueError(
      f"loss {config.loss!r} takes {sorted(unknown)}, which lm_offline does not set; offline "
      f"pairwise losses take some of {list(Hyper._fields)[1:]} (dpo, ipo, cdpo, rdpo)."
    )
  example = losses.Example(**{f: jnp.zeros(()) for f in PAIRWISE_FIELDS})
  try:  # traced on a pair's fields alone (compiles nothing)
    jax.eval_shape(lambda e: fn(e, **{k: 0.1 for k in needs})[0], example)
  except (TypeError, ValueError, AttributeError) as e:
    raise ValueError(
      f"loss {config.loss!r} is not a pairwise offline loss (it needs more than "
      f"{', '.join(PAIRWISE_FIELDS)}: {e})"
    ) from None
  if config.model.kind not in MODELS:
    raise ValueError(f"model.kind {config.model.kind!r} is unknown; known: {MODELS}.")
  if config.data.labels not in LABELS:
    raise ValueError(f"data.labels must be one of {LABELS}, got {config.data.labels!r}.")
  if not 0 < config.data.holdout < 1:
    raise ValueError(f"data.holdout must lie in (0, 1), got {config.data.holdout}.")
  for name in ("data.response_tokens", "batch_pairs", "eval_pairs", "eval_prompts"):
    section, field = name.split(".") if "." in name else (None, name)
    value = int((config[section] if section else config)[field])
    if value < 1:
      raise ValueError(f"{name} must be >= 1, got {value}.")
  if config.data.path and not os.path.isdir(config.data.path):
    raise ValueError(f"data.path: no folder at {config.data.path!r}.")
  if config.model.path and not os.path.isfile(config.model.path):
    raise ValueError(f"model.path: no GGUF file at {config.model.path!r}.")
  if config.model.kind == "tiny" and config.oracle.win_rate:
    raise ValueError("oracle.win_rate needs the text oracle (model.kind=smollm2).")
  sweep = train_lib.sweep_from_config(
    config, train_lib.config_hparams(config, FIELDS, Hyper), FIELDS
  )
  if config.model.kind != "tiny" and sweep.num_points > 1:
    raise ValueError("model=smollm2 runs one point (host loop): no vmap.axes, vmap.seeds = 1.")
  lm_tasks.buckets(config)


# --------------------------------------------------------------------------------------------
# Data.


def judged_pairs(folder: str | None, labels: str) -> dict[str, Any]:
  """LLMFAO's judgments grouped into distinct (prompt, response, response) pairs with a label.

  A pair judged in both orders is one pair (the packaged file: 1,906 pairs of distinct response
  texts from 8,931 judgments; responses of different models with the same text are one response).

  Returns:
    ``prompts`` (id -> text), and per pair ``prompt``, ``left``, ``right``, ``pref`` (the mean
    verdict, a tie counting 1/2, or with ``labels="majority"`` 1, 0 or 1/2 by its sign) and
    ``judgments``.
  """
  texts = data.load_llmfao_texts(folder or None)
  groups: dict[tuple, list[float]] = {}
  for p, a, b, y in zip(texts.prompt, texts.left, texts.right, texts.outcome, strict=True):
    if a <= b:  # one orientation per pair of texts: (b, a) judged y is (a, b) judged 1 - y
      groups.setdefault((int(p), a, b), []).append(float(y))
    else:
      groups.setdefault((int(p), b, a), []).append(1.0 - float(y))
  keys = sorted(groups)
  mean = np.asarray([np.mean(groups[k]) for k in keys])
  pref = mean if labels == "soft" else 0.5 + 0.5 * np.sign(mean - 0.5)
  return {
    "prompts": texts.prompts,
    "prompt": np.asarray([k[0] for k in keys]),
    "left": [k[1] for k in keys],
    "right": [k[2] for k in keys],
    "pref": pref.astype(np.float32),
    "judgments": np.asarray([len(groups[k]) for k in keys]),
  }


def tokenize_pairs(
  judged: dict[str, Any],
  *,
  encode_prompt,
  encode_response,
  eos_id: int,
  response_tokens: int,
  buckets: tuple[int, ...],
  max_len: int,
) -> Pairs:
  """Token sequences of both responses of every pair (one prompt bucket, R response slots).

  A response longer than ``response_tokens`` is cut there (no end token); a shorter one ends with
  ``eos_id``. Prompts longer than the largest bucket raise the sampler's clear error.
  """
  ids = {p: encode_prompt(judged["prompts"][p]) for p in np.unique(judged["prompt"])}
  prompt_tokens, start = models.pad_prompts(
    [ids[p] for p in judged["prompt"]],
    pad_id=0,
    buckets=buckets,
    max_len=max_len,
    max_new_tokens=response_tokens,
  )
  n, P, R = len(judged["prompt"]), prompt_tokens.shape[1], response_tokens
  tokens = np.zeros((n, 2, P + R), np.int32)
  mask = np.zeros((n, 2, P + R), bool)
  tokens[:, :, :P] = prompt_tokens[:, None]
  for i in range(n):
    for side, text in enumerate((judged["left"][i], judged["right"][i])):
      response = list(encode_response(text))[:R]
      if len(response) < R:
        response.append(eos_id)
      tokens[i, side, P : P + len(response)] = response
      mask[i, side, P : P + len(response)] = True
  return Pairs(tokens, mask, start, judged["pref"], judged["prompt"], judged["judgments"])


def byte_ids(text: str, *, limit: int | None = None, last: bool = False) -> list[int]:
  """The tiny model's tokens: UTF-8 bytes shifted by :data:`BYTE_OFFSET` (``last``: the tail)."""
  raw = text.encode("utf-8")
  if limit is not None:
    raw = raw[-limit:] if last else raw[:limit]
  return [b + BYTE_OFFSET for b in raw] or [BYTE_OFFSET]


def split_by_prompt(pairs: Pairs, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Indices of training and held-out pairs; ``holdout`` of the prompts (at least one) held out."""
  prompts = np.unique(pairs.prompt)
  rng = np.random.default_rng(seed)
  held = rng.choice(prompts, max(1, round(holdout * len(prompts))), replace=False)
  test = np.isin(pairs.prompt, held)
  if test.all() or not test.any():
    raise ValueError("the held-out split left no training or no held-out pairs.")
  return np.flatnonzero(~test), np.flatnonzero(test)


def subsample(index: np.ndarray, limit: int, seed: int) -> np.ndarray:
  """At most ``limit`` of ``index`` (0: all), drawn without replacement, in order."""
  if not limit or limit >= len(index):
    return index
  return np.sort(np.random.default_rng(seed).choice(index, limit, replace=False))


def reference_log_probs(
  graphdef, lora, rest, pairs: Pairs, *, batch: int, cache: str | None = None
) -> np.ndarray:
  """``[N, 2]`` log-probabilities of both responses under the reference (the adapter off).

  Computed once in batches of ``batch`` sequences (one compiled shape) and saved to ``cache``
  (an ``.npz`` keyed by a hash of the tokens and the model's weights); a later run with the same
  tokens and weights reads it back instead.
  """
  digest = hashlib.sha256(pairs.tokens.tobytes() + pairs.mask.tobytes())
  for leaf in jax.tree.leaves(rest):
    digest.update(np.asarray(leaf[..., :4] if np.ndim(leaf) else leaf).tobytes())
  digest = digest.hexdigest()
  if cache and os.path.exists(cache):
    with np.load(cache) as stored:
      if str(stored["digest"]) == digest:
        logging.info("reference log-probabilities read from %s", cache)
        return stored["logp"]
  flat_tokens = pairs.tokens.reshape(-1, pairs.tokens.shape[-1])
  flat_mask = pairs.mask.reshape(-1, pairs.mask.shape[-1])
  flat_start = np.repeat(pairs.start, 2)
  m = len(flat_tokens)
  padded = -(-m // batch) * batch

  @jax.jit
  def score(tokens, mask, start):
    model = nnx.merge(graphdef, lora, rest)
    gate = jnp.zeros((tokens.shape[0],))
    return models.sequence_log_probs(model, tokens, mask, start=start, gate=gate)

  out, started = [], time.perf_counter()
  for i in range(0, padded, batch):
    rows = np.arange(i, i + batch) % m
    out.append(np.asarray(score(flat_tokens[rows], flat_mask[rows], flat_start[rows])))
    done = min(i + batch, m)
    if len(out) % 10 == 0 or done == m:  # progress of a long scoring pass (SmolLM2 on a CPU)
      elapsed = time.perf_counter() - started
      print(f"reference log-probabilities: {done}/{m} responses, {elapsed:.0f} s", flush=True)
  logp = np.concatenate(out)[:m].reshape(-1, 2)
  if cache and jax.process_index() == 0:  # one writer when several processes run
    os.makedirs(os.path.dirname(cache) or ".", exist_ok=True)
    np.savez(cache + ".tmp.npz", logp=logp, digest=np.asarray(digest))
    os.replace(cache + ".tmp.npz", cache)
  return logp


# --------------------------------------------------------------------------------------------
# The task and the per-point program.


class Task(NamedTuple):
  """The split model, the tokenized pairs with their reference log-probabilities and the split."""

  graphdef: Any
  lora: Any
  rest: Any
  pairs: Pairs
  ref_logp: np.ndarray  # [N, 2]
  train: np.ndarray  # indices of training pairs
  heldout: np.ndarray  # indices of held-out pairs scored at every log
  eval_tokens: np.ndarray  # [E, P] held-out prompts sampled for the KL (and the win rate)
  eval_start: np.ndarray
  eos_id: int
  oracle: Any  # None, or (features, prefer) of the text oracle
  info: dict[str, Any]


def make_task(config: ml_collections.ConfigDict, workdir: str | None) -> Task:
  """The model, tokenized pairs, split and cached reference log-probabilities of ``config``."""
  m, d = config.model, config.data
  judged = judged_pairs(d.path, d.labels)
  cache = os.path.join(workdir, "reference_logp.npz") if workdir else None
  oracle = None
  if m.kind == "tiny":
    vocab = 256 + BYTE_OFFSET
    lc = models.LlamaConfig(
      vocab_size=vocab,
      dim=m.dim,
      num_layers=m.layers,
      num_heads=m.heads,
      num_kv_heads=m.kv_heads,
      hidden_dim=m.hidden,
      **lm_tasks.adapter_fields(m),
    )
    model = models.Llama(lc, rngs=nnx.Rngs(jax.random.key(config.seed)))
    eos_id = 1

    def encode_prompt(text):
      return byte_ids(text, limit=int(d.prompt_bytes), last=True)

    def encode_response(text):
      return byte_ids(text, limit=int(d.response_tokens))

  else:
    path = m.path or models.smollm2_path()
    model = models.load_llama_gguf(path, **lm_tasks.adapter_fields(m))
    tokenizer = models.load_bpe_gguf(path)
    system = models.CHATML_SYSTEM if config.prompts.system else None
    eos_id = tokenizer.eos_id

    def encode_prompt(text):
      return tokenizer.encode_chat(text, system=system)

    def encode_response(text):
      return tokenizer.encode(text, allow_special=False)

  graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
  pairs = tokenize_pairs(
    judged,
    encode_prompt=encode_prompt,
    encode_response=encode_response,
    eos_id=eos_id,
    response_tokens=int(d.response_tokens),
    buckets=lm_tasks.buckets(config),
    max_len=int(m.max_len),
  )
  train, heldout = split_by_prompt(pairs, float(d.holdout), int(config.seed))
  train = subsample(train, int(d.train_pairs), int(config.seed))
  heldout = subsample(heldout, int(config.eval_pairs), int(config.seed) + 1)
  used = np.union1d(train, heldout)  # only the pairs this run touches are scored
  pairs = Pairs(*(x[used] for x in pairs))
  train, heldout = np.searchsorted(used, train), np.searchsorted(used, heldout)
  ref_logp = reference_log_probs(
    graphdef, lora, rest, pairs, batch=int(config.reference_batch), cache=cache
  )
  held_prompts = np.unique(pairs.prompt[heldout])
  rows = [int(np.flatnonzero(pairs.prompt == p)[0]) for p in held_prompts]
  rows = [rows[i % len(rows)] for i in range(int(config.eval_prompts))]
  P = pairs.tokens.shape[-1] - int(d.response_tokens)
  if config.oracle.win_rate:
    text_oracle, report = lm_tasks.text_oracle(config, jax.random.key(config.seed))
    features, prefer = lm_tasks.oracle_fns(
      text_oracle, tokenizer, [judged["prompts"][int(pairs.prompt[r])] for r in rows]
    )
    oracle = (lambda t, mask: features(jnp.arange(t.shape[0]), t, mask), prefer)
  held_pref, held_ref = pairs.pref[heldout], ref_logp[heldout]
  decisive, lengths = held_pref != 0.5, pairs.mask[heldout].sum(-1)

  def likelihood_accuracy(score):  # the reference's own preference: the likelier response wins
    agree = np.where(
      score[:, 0] == score[:, 1], 0.5, (score[:, 0] > score[:, 1]) == (held_pref > 0.5)
    )
    return float(np.mean(agree[decisive])) if decisive.any() else float("nan")

  info = {
    "heldout_reference_likelihood_accuracy": likelihood_accuracy(held_ref),
    "heldout_reference_per_token_accuracy": likelihood_accuracy(held_ref / lengths),
    "pairs_train": len(train),
    "pairs_heldout": len(heldout),
    "heldout_prompts": [int(p) for p in held_prompts],
    "train_prompts": [int(p) for p in np.unique(pairs.prompt[train])],
    "judgments_used": int(pairs.judgments[np.concatenate([train, heldout])].sum()),
    "prompt_bucket": int(P),
    "response_tokens": int(d.response_tokens),
    "truncated_responses": float(np.mean(pairs.mask[..., -1])),
  }
  if config.oracle.win_rate:
    info["text_oracle"] = report
  return Task(
    graphdef,
    lora,
    rest,
    pairs,
    ref_logp.astype(np.float32),
    train,
    heldout,
    pairs.tokens[rows, 0, :P],
    pairs.start[rows],
    eos_id,
    oracle,
    info,
  )


def _keyword_args(fn) -> set[str]:
  """The keyword-only parameter names of a loss (its hyperparameters)."""
  return {p.name for p in inspect.signature(fn).parameters.values() if p.kind == p.KEYWORD_ONLY}


def _loss_fn(name: str):
  """``(example, hp) -> loss`` passing the loss the hyperparameters it takes by name."""
  fn = losses.get_loss(name)
  takes = _keyword_args(fn)

  def loss(example: losses.Example, hp: Hyper) -> Array:
    kwargs = {k: getattr(hp, k) for k in takes & set(Hyper._fields)}
    return fn(example, **kwargs)[0]

  return loss


def make_point_fns(config: ml_collections.ConfigDict, task: Task):
  """``init(hp, key)``, ``step(state, hp, rest)`` and ``metrics(state, hp, rest)`` of one point."""
  treedef = jax.tree.structure(task.lora)
  pairs = jax.tree.map(jnp.asarray, task.pairs._replace(prompt=None, judgments=None))
  ref_logp = jnp.asarray(task.ref_logp)
  train, heldout = jnp.asarray(task.train), jnp.asarray(task.heldout)
  B, L = int(config.batch_pairs), pairs.tokens.shape[-1]
  loss_of = _loss_fn(config.loss)
  decisive = jnp.asarray(task.pairs.pref[task.heldout] != 0.5)
  sign = jnp.sign(jnp.asarray(task.pairs.pref[task.heldout]) - 0.5)

  def model_of(lora, rest):
    return (task.graphdef, jax.tree.unflatten(treedef, lora), rest)

  def policy_logp(lora, rest, index):
    """``[len(index), 2]`` policy log-probabilities of both responses (one 2n-row batch)."""
    n = index.shape[0]
    tokens = training.shard_batch(pairs.tokens[index].reshape(2 * n, L))
    mask = training.shard_batch(pairs.mask[index].reshape(2 * n, L))
    start = training.shard_batch(jnp.repeat(pairs.start[index], 2))
    model = nnx.merge(*model_of(lora, rest))
    gate = jnp.ones((2 * n,))
    return models.sequence_log_probs(model, tokens, mask, start=start, gate=gate).reshape(n, 2)

  def examples(logp, index):
    ref = ref_logp[index]
    return losses.Example(
      logp=logp[:, 0],
      logp2=logp[:, 1],
      ref_logp=ref[:, 0],
      ref_logp2=ref[:, 1],
      pref=pairs.pref[index],
    )

  def init(hp: Hyper, key: PRNGKey) -> PointState:
    k_lora, k_eval, k_run = jax.random.split(key, 3)
    leaves = training.shard_params(lm_tasks.init_adapter(task, k_lora))
    opt_state = training.shard_params(optax.adam(hp.learning_rate).init(leaves))
    return PointState(leaves, opt_state, k_run, k_eval, jnp.zeros(()))

  def step(state: PointState, hp: Hyper, rest) -> PointState:
    rest = training.shard_params(rest)
    key, k_batch = jax.random.split(state.key)
    index = train[jax.random.randint(k_batch, (B,), 0, train.shape[0])]

    def batch_loss(lora):
      ex = examples(policy_logp(lora, rest, index), index)
      return jnp.mean(jax.vmap(loss_of, in_axes=(0, None))(ex, hp))

    loss, grads = jax.value_and_grad(batch_loss)(state.lora)
    tx = optax.adam(hp.learning_rate)
    updates, opt_state = tx.update(grads, state.opt_state, state.lora)
    lora, opt_state = training.shard_params((optax.apply_updates(state.lora, updates), opt_state))
    return PointState(lora, opt_state, key, state.eval_key, loss)

  def point_metrics(state: PointState, hp: Hyper, rest) -> dict[str, Array]:
    rest = training.shard_params(rest)
    logp = policy_logp(state.lora, rest, heldout)
    ref = ref_logp[heldout]
    margin = hp.kl_coef * ((logp[:, 0] - ref[:, 0]) - (logp[:, 1] - ref[:, 1]))
    agree = jnp.where(margin == 0, 0.5, (jnp.sign(margin) == sign).astype(margin.dtype))
    n = jnp.maximum(jnp.sum(decisive), 1)
    heldout_loss = jnp.mean(jax.vmap(loss_of, in_axes=(0, None))(examples(logp, heldout), hp))
    prompts, start = training.shard_batch((jnp.asarray(task.eval_tokens), task.eval_start))
    kw = dict(max_new_tokens=int(config.max_new_tokens), eos_id=task.eos_id)
    model = model_of(state.lora, rest)
    if task.oracle is None:
      sample = models.sample_padded(model, prompts, start, state.eval_key, **kw)
      full, mask, first = sample.full()
      kl = models.sequence_kl(nnx.merge(*model), full, mask, start=first)
      sampled = {"kl": jnp.mean(kl)}
    else:
      features, prefer = task.oracle
      out = models.evaluate_vs_reference(
        model, prompts, start, state.eval_key, features=features, prefer=prefer, **kw
      )
      sampled = {"kl": out["kl"], "win_rate": out["win_rate"]}
    return {
      "heldout_accuracy": jnp.sum(jnp.where(decisive, agree, 0.0)) / n,
      "heldout_margin": jnp.sum(jnp.where(decisive, margin * sign, 0.0)) / n,
      "heldout_loss": heldout_loss,
      "loss": state.loss,
      **sampled,
    }

  return init, step, point_metrics


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains the adapter at every sweep point (tiny) or in a host loop (SmolLM2); returns results."""
  task = make_task(config, workdir)
  init, step, point_metrics = make_point_fns(config, task)
  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  if config.model.kind != "tiny":
    out = lm_tasks.host_run(config, workdir, task, (init, step, point_metrics), hp)
    return {"loss": config.loss, **out, **task.info}
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  program = training.Program(
    init, lambda s, hp, t: step(s, hp, task.rest), lambda s, hp: point_metrics(s, hp, task.rest)
  )
  out = training.run_sweep(
    program, sweep, workdir=workdir, name=config.loss, **train_lib.run_options(config)
  )
  results = {
    "loss": config.loss,
    "model": config.model.kind,
    **common.sweep_summary(out, first=True),
    **task.info,
  }
  if jax.process_index() == 0:
    print(
      f"\n{config.loss} on {task.info['pairs_train']} LLMFAO pairs "
      f"({task.info['pairs_heldout']} held out), {sweep.num_seeds} seeds, {config.steps} steps:"
    )
    for i, label in enumerate(sweep.labels()):
      cells = [
        f"{m} {np.ravel(results['first'][m]['mean'])[i]:.3f} -> "
        f"{np.ravel(results['final'][m]['mean'])[i]:.3f} ± "
        f"{np.ravel(results['final'][m]['ci95'])[i]:.3f}"
        for m in ("heldout_accuracy", "heldout_margin", "kl")
      ]
      print(f"  {label}: " + ", ".join(cells))
    if config.plot:
      path = os.path.join(workdir, "curves.png")
      training.plot_sweep_curves(
        out.history, out.log_steps, sweep, path,
        metrics=["heldout_accuracy", "heldout_margin", "kl"], log_scale=False,
      )  # fmt: skip
      print(f"Wrote {path}")
    with open(os.path.join(workdir, "pairs.json"), "w", encoding="utf-8") as f:
      json.dump(task.info, f, indent=1)
  return results
