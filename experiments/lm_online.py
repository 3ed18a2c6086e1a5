"""Online preference optimization of a causal LM with a LoRA adapter: see the config's docstring."""

import json
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import nnx

from jaxpref import data, losses, models, training

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OBJECTIVES = ("online_dpo", "online_ipo", "sppo", "nash_md_pg", "egpo")
PAIRED = ("online_dpo", "online_ipo", "egpo")  # objectives on the pair (y_0, y_1) of each prompt
MODELS = ("tiny", "smollm2")
ORACLES = ("token", "text")


def _buckets(config) -> tuple[int, ...]:
  try:
    out = tuple(sorted(int(b) for b in str(config.prompts.buckets).split(",") if b.strip()))
  except ValueError:
    raise ValueError(f"prompts.buckets must be integers, got {config.prompts.buckets!r}.") from None
  if not out or out[0] < 1:
    raise ValueError(f"prompts.buckets must be positive integers, got {config.prompts.buckets!r}.")
  return out


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` on settings that cannot run (compiles nothing)."""
  if config.objective not in OBJECTIVES:
    raise ValueError(f"objective {config.objective!r} is unknown; known: {', '.join(OBJECTIVES)}.")
  if config.model.kind not in MODELS:
    raise ValueError(f"model.kind {config.model.kind!r} is unknown; known: {', '.join(MODELS)}.")
  if config.oracle.kind not in ORACLES:
    raise ValueError(f"oracle.kind {config.oracle.kind!r} is unknown; known: {ORACLES}.")
  if config.oracle.kind == "text" and config.model.kind == "tiny":
    raise ValueError("the text oracle needs a model with a tokenizer (model.kind=smollm2).")
  if config.oracle.head not in models.HEADS:
    raise ValueError(f"oracle.head must be one of {models.HEADS}, got {config.oracle.head!r}.")
  if config.model.adapter != "lora":
    raise ValueError(f"model.adapter must be 'lora' here, got {config.model.adapter!r}.")
  if config.samples < (2 if config.objective in (*PAIRED, "sppo") else 1):
    raise ValueError(f"{config.objective} needs samples >= 2 (responses per prompt).")
  for name in ("batch_prompts", "max_new_tokens", "steps", "eval_every", "eval_prompts"):
    if int(config[name]) < 1:
      raise ValueError(f"{name} must be >= 1, got {config[name]}.")
  if not 0 <= config.mixture <= 1:
    raise ValueError(f"mixture must lie in [0, 1], got {config.mixture}.")
  if config.prompts.path and not os.path.isfile(config.prompts.path):
    raise ValueError(f"prompts.path: no file at {config.prompts.path!r}.")
  if config.model.path and not os.path.isfile(config.model.path):
    raise ValueError(f"model.path: no GGUF file at {config.model.path!r}.")
  if max(_buckets(config)) + config.max_new_tokens > config.model.max_len:
    raise ValueError(
      f"the largest prompt bucket ({max(_buckets(config))}) plus max_new_tokens "
      f"({config.max_new_tokens}) exceeds model.max_len ({config.model.max_len})."
    )
  if config.oracle.labels not in ("soft", "hard"):
    raise ValueError(f"oracle.labels must be 'soft' or 'hard', got {config.oracle.labels!r}.")
  if not 0 < config.oracle.holdout < 1:
    raise ValueError(f"oracle.holdout must lie in (0, 1), got {config.oracle.holdout}.")


def read_prompts(path: str) -> list[str]:
  """Prompts from a ``.txt`` file (one per non-empty line) or a ``.jsonl`` file (``text``)."""
  if path.endswith(".jsonl"):
    return list(data.load_llmfao_prompts(path).values())
  with open(path, encoding="utf-8") as f:
    out = [line.strip() for line in f if line.strip()]
  if not out:
    raise ValueError(f"{path}: no prompts.")
  return out


class Task(NamedTuple):
  """What the loop needs: the model, tokenized prompts and a preference oracle.

  The oracle works on per-response features, computed once per response by ``features``
  (prompt ids, response token arrays) and then compared by ``prefer`` (P(a > b), [N]) or
  scored by ``reward`` ([N]): a response compared several times is embedded once.
  """

  model: models.Llama
  prompts: list[list[int]]
  prompt_texts: list[str] | None
  eos_id: int
  decode: Callable[[np.ndarray], str] | None
  features: Callable[[np.ndarray, list], np.ndarray]
  prefer: Callable[[np.ndarray, np.ndarray], np.ndarray]
  reward: Callable[[np.ndarray], np.ndarray]
  info: dict[str, Any]


def _adapter(m: ml_collections.ConfigDict) -> dict[str, Any]:
  """The LoRA settings of ``config.model`` as ``LlamaConfig`` fields."""
  return dict(
    max_len=m.max_len,
    adapter="lora",
    adapter_rank=m.rank,
    adapter_alpha=m.alpha,
    adapter_targets=tuple(t.strip() for t in m.targets.split(",")),
  )


def _tiny_task(config, key) -> Task:
  m = config.model
  lc = models.LlamaConfig(
    vocab_size=m.vocab,
    dim=m.dim,
    num_layers=m.layers,
    num_heads=m.heads,
    num_kv_heads=m.kv_heads,
    hidden_dim=m.hidden,
    **_adapter(m),
  )
  k_model, k_prompts, k_reward = jax.random.split(key, 3)
  model = models.Llama(lc, rngs=nnx.Rngs(k_model))
  rng = np.random.default_rng(np.asarray(jax.random.key_data(k_prompts)).ravel()[-1])
  n = config.prompts.num or 16
  prompts = [list(rng.integers(0, m.vocab - 1, rng.integers(4, 13))) for _ in range(n)]
  token_reward = np.asarray(jax.random.normal(k_reward, (m.vocab,)))
  eos = m.vocab - 1

  def features(prompt_idx, responses):  # the reward itself
    del prompt_idx
    return np.asarray([token_reward[r].mean() if len(r) else 0.0 for r in responses])

  def prefer(reward_a, reward_b):
    return 1.0 / (1.0 + np.exp(-config.oracle.scale * (reward_a - reward_b)))

  info = {"oracle": "token rewards r(y) = mean of u[token], u ~ N(0, 1) per token"}
  return Task(model, prompts, None, eos, None, features, prefer, lambda r: r, info)


def _text_oracle(config, key) -> tuple[models.TextPreferenceOracle, dict[str, Any]]:
  """MiniLM + BT and GPM heads fitted on LLMFAO's crowd judgments; the configured one returned."""
  start = time.time()
  texts = data.load_llmfao_texts()
  encoder, wordpiece = models.load_minilm()
  items = sorted(
    {(int(p), s) for p, s in zip(texts.prompt, texts.left, strict=True)}
    | {(int(p), s) for p, s in zip(texts.prompt, texts.right, strict=True)}
  )
  index = {k: i for i, k in enumerate(items)}
  emb = models.embed_texts(
    encoder, wordpiece, [texts.prompts[p] for p, _ in items], [s for _, s in items]
  )
  phi_a = emb[[index[int(p), s] for p, s in zip(texts.prompt, texts.left, strict=True)]]
  phi_b = emb[[index[int(p), s] for p, s in zip(texts.prompt, texts.right, strict=True)]]
  rng = np.random.default_rng(int(config.seed))
  pairs = np.unique(texts.pair)
  held = rng.choice(pairs, round(config.oracle.holdout * len(pairs)), replace=False)
  test = np.isin(texts.pair, held)
  y = texts.outcome
  heads, report = {}, {"responses_embedded": len(items), "judgments": len(y)}
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


def _smollm2_task(config, key) -> Task:
  m = config.model
  path = m.path or models.smollm2_path()
  model = models.load_llama_gguf(path, **_adapter(m))
  # The adapter's A is random and B zero (the loaded model); re-draw A from the run's seed.
  k_adapter, k_oracle = jax.random.split(key)
  graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
  leaves, treedef = jax.tree.flatten(lora)
  keys = jax.random.split(k_adapter, len(leaves))
  leaves = [
    jax.random.normal(k, x.shape, x.dtype) / np.sqrt(x.shape[0]) if np.any(x) else x
    for k, x in zip(keys, leaves, strict=True)
  ]
  model = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves), rest)
  tokenizer = models.load_bpe_gguf(path)
  texts = read_prompts(config.prompts.path) if config.prompts.path else None
  texts = texts or list(data.load_llmfao_prompts().values())
  if config.prompts.num:
    texts = texts[: config.prompts.num]
  system = models.CHATML_SYSTEM if config.prompts.system else None
  prompts = [tokenizer.encode_chat(t, system=system) for t in texts]
  longest = max(len(p) for p in prompts)
  models.bucket_length(longest, buckets=_buckets(config))  # an over-long prompt fails here, clearly
  oracle_model, report = _text_oracle(config, k_oracle)

  def decode(tokens):
    return tokenizer.decode(tokens, skip_special=True)

  def features(prompt_idx, responses):  # MiniLM embeddings of (prompt, response)
    return oracle_model.embed([texts[i] for i in prompt_idx], [decode(r) for r in responses])

  info = {"oracle": f"MiniLM + {config.oracle.head} head on LLMFAO", "text_oracle": report}
  return Task(
    model,
    prompts,
    texts,
    tokenizer.eos_id,
    decode,
    features,
    oracle_model.prefer,
    oracle_model.reward,
    info,
  )


def _responses(samples: models.Samples) -> list[np.ndarray]:
  tokens, mask = np.asarray(samples.tokens), np.asarray(samples.mask)
  return [t[m] for t, m in zip(tokens, mask, strict=True)]


def _win_rates(task: Task, pairs: list, idx: np.ndarray, opponent: list) -> np.ndarray:
  """``[B, len(pairs)]`` oracle win rates of each response set against the opponent's samples."""
  opponent = task.features(idx, opponent)
  return np.stack([task.prefer(p, opponent) for p in pairs], axis=1)


def _make_steps(graphdef, config, tx):
  """Jitted log-probabilities and one optimizer step for the configured objective."""
  objective = config.objective
  loss_name = {
    "online_dpo": "dpo",
    "online_ipo": "ipo",
    "egpo": "online_ipo",
    "sppo": "sppo",
    "nash_md_pg": "nash_md_pg",
  }[objective]
  hp = {"sppo": {"step_size": config.sppo_step_size}}.get(loss_name, {"kl_coef": config.kl_coef})
  loss_fn_one = losses.get_loss(loss_name)

  def logps(lora, rest, tokens, mask, start, gate):
    model = nnx.merge(graphdef, lora, rest)
    return models.sequence_log_probs(model, tokens, mask, start=start, gate=gate)

  @jax.jit
  def score(lora, rest, tokens, mask, start):
    """Reference log-probabilities of the rows and the policy's token-level KL along them."""
    model = nnx.merge(graphdef, lora, rest)
    n = tokens.shape[0]
    ref = models.sequence_log_probs(model, tokens, mask, start=start, gate=jnp.zeros((n,)))
    return ref, models.sequence_kl(model, tokens, mask, start=start)

  def objective_loss(lora, rest, batch):
    tokens, mask, start, ref, target = batch
    logp = logps(lora, rest, tokens, mask, start, jnp.ones((tokens.shape[0],)))
    K = config.samples
    if objective in PAIRED:
      lp, rf = logp.reshape(-1, K), ref.reshape(-1, K)
      if objective == "egpo":  # target: win rates of y_0, y_1 against the opponent [B, 2]
        ex = losses.Example(
          logp=lp[:, 0], logp2=lp[:, 1], ref_logp=rf[:, 0], ref_logp2=rf[:, 1],
          win=target[:, 0], win2=target[:, 1],
        )  # fmt: skip
      else:
        ex = losses.Example(
          logp=lp[:, 0], logp2=lp[:, 1], ref_logp=rf[:, 0], ref_logp2=rf[:, 1], pref=target
        )
    elif objective == "sppo":
      ex = losses.Example(logp=logp, anchor=jax.lax.stop_gradient(logp), win=target)
    else:  # nash_md_pg: target = P(y > y') against the mixture's sample
      ex = losses.Example(logp=logp, ref_logp=ref, pref=target)
    values, _ = jax.vmap(lambda e: loss_fn_one(e, **hp))(ex)
    return jnp.mean(values)

  @jax.jit
  def grad_step(lora, rest, opt_state, batch):
    loss, grads = jax.value_and_grad(objective_loss)(lora, rest, batch)
    updates, opt_state = tx.update(grads, opt_state, lora)
    return optax.apply_updates(lora, updates), opt_state, loss

  return score, grad_step


def _plot(history: list[dict], path: str, title: str) -> None:
  evals = [h for h in history if "win_rate" in h]
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
  steps = [h["step"] for h in history]
  axes[0].plot([h["step"] for h in evals], [h["win_rate"] for h in evals], "o-")
  axes[0].axhline(0.5, color="grey", lw=0.8, ls="--")
  axes[0].set(xlabel="step", ylabel="win rate vs reference", title="oracle win rate")
  axes[1].plot(steps, [h["kl"] for h in history], ".-", label="train samples")
  axes[1].plot([h["step"] for h in evals], [h["eval_kl"] for h in evals], "o-", label="eval")
  axes[1].set(xlabel="step", ylabel="KL(pi || pi_ref) estimate", title="KL to reference")
  axes[1].legend()
  axes[2].plot(steps, [h["reward"] for h in history], ".-")
  axes[2].set(xlabel="step", ylabel="oracle reward r(x, y)", title="reward of policy samples")
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains the adapter online; returns the history, final metrics and the oracle's report."""
  validate(config)
  t0 = time.time()
  key = jax.random.key(config.seed)
  k_task, key = jax.random.split(key)
  task = (
    _tiny_task(config, k_task) if config.model.kind == "tiny" else _smollm2_task(config, k_task)
  )
  setup_seconds = time.time() - t0
  graphdef, lora, rest = nnx.split(task.model, nnx.LoRAParam, ...)
  tx = optax.adam(config.learning_rate)
  opt_state = tx.init(lora)
  score, grad_step = _make_steps(graphdef, config, tx)
  buckets = _buckets(config)
  n_prompts = len(task.prompts)
  K, B = config.samples, config.batch_prompts
  sample_kw = dict(
    max_new_tokens=config.max_new_tokens,
    eos_id=task.eos_id,
    temperature=config.temperature,
    top_p=config.top_p,
    buckets=buckets,
  )

  def sample(lora, prompt_idx, key, **kw):
    prompts = [task.prompts[i] for i in prompt_idx]
    return models.generate((graphdef, lora, rest), prompts, key, **{**sample_kw, **kw})

  ckpt = (
    training.Checkpointer(
      os.path.join(workdir, "checkpoints"), max_to_keep=config.checkpoint.max_to_keep
    )
    if config.checkpoint.every
    else None
  )
  history: list[dict[str, Any]] = []
  first = 0
  state = {"lora": lora, "opt_state": opt_state, "key": key}
  if ckpt is not None:
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    restored = ckpt.restore(abstract, check=_same_run(config))
    if restored is not None:
      first, state, meta = restored
      history = meta["history"]
      print(f"resumed from step {first}", flush=True)
  lora, opt_state, key = state["lora"], state["opt_state"], state["key"]

  def evaluate(lora, key):
    idx = np.arange(config.eval_prompts) % n_prompts
    pol = sample(lora, idx, key)
    ref = sample(lora, idx, key, reference=True)  # same random numbers: identical at step 0
    a, b = task.features(idx, _responses(pol)), task.features(idx, _responses(ref))
    _, kl = score(lora, rest, *pol.full())
    return {
      "win_rate": float(np.mean(task.prefer(a, b))),
      "eval_kl": float(jnp.mean(kl)),
      "eval_reward": float(np.mean(task.reward(a))),
      "eval_reference_reward": float(np.mean(task.reward(b))),
    }

  writer = training.MetricWriter(workdir, tensorboard=bool(config.tensorboard))
  if first == 0:
    key, sub = jax.random.split(key)
    record = {"step": 0, **evaluate(lora, sub)}
    history.append({**record, "kl": 0.0, "reward": record["eval_reward"], "loss": None})
    print(f"step 0: win rate {record['win_rate']:.3f}, KL {record['eval_kl']:.4f}", flush=True)
  loop_start = time.time()
  for step in range(first + 1, config.steps + 1):
    key, k_perm, k_pol, k_opp, k_opp2, k_eval = jax.random.split(key, 6)
    idx = np.asarray(jax.random.choice(k_perm, n_prompts, (B,), replace=n_prompts < B))
    rows = np.repeat(idx, K)
    pol = sample(lora, idx, k_pol, num_samples=K)
    pol_resp = _responses(pol)
    feats = task.features(rows, pol_resp)  # each policy response embedded once per step
    tokens, mask, start = pol.full()
    ref, kl = score(lora, rest, tokens, mask, start)
    queries = 0
    if config.objective in ("online_dpo", "online_ipo"):
      target = task.prefer(feats[0::K], feats[1::K])
      if config.oracle.labels == "hard":  # the oracle picks chosen / rejected (ties stay 1/2)
        target = np.where(target == 0.5, 0.5, (target > 0.5).astype(float))
      queries += B
    elif config.objective == "sppo":
      win = np.zeros((B, K))
      for i in range(K):
        for j in range(K):
          if i != j:
            win[:, i] += task.prefer(feats[i::K], feats[j::K]) / (K - 1)
            queries += B
      target = win.reshape(-1)
    elif config.objective == "nash_md_pg":
      opp = sample(lora, idx, k_opp, num_samples=K, mixture=config.mixture)
      target = task.prefer(feats, task.features(rows, _responses(opp)))
      queries += B * K
    else:  # egpo: win rates of y_0, y_1 against pi_t, extrapolate, then against pi_{t+1/2}
      pairs = [feats[0::K], feats[1::K]]
      wins = _win_rates(task, pairs, idx, _responses(sample(lora, idx, k_opp)))
      batch = (tokens, mask, start, ref, jnp.asarray(wins, jnp.float32))
      half, _, _ = grad_step(lora, rest, opt_state, batch)
      target = _win_rates(task, pairs, idx, _responses(sample(half, idx, k_opp2)))
      queries += 4 * B
    batch = (tokens, mask, start, ref, jnp.asarray(target, jnp.float32))
    lora, opt_state, loss = grad_step(lora, rest, opt_state, batch)
    lengths = np.asarray(pol.mask).sum(1)
    record = {
      "step": step,
      "loss": float(loss),
      "kl": float(jnp.mean(kl)),
      "reward": float(np.mean(task.reward(feats))),
      "oracle_mean": float(np.mean(target)),
      "response_tokens": float(lengths.mean()),
      "queries": queries,
    }
    if step % config.eval_every == 0 or step == config.steps:
      record.update(evaluate(lora, k_eval))
    history.append(record)
    writer.write_scalars(step, {k: v for k, v in record.items() if k != "step"})
    rate = (step - first) / (time.time() - loop_start)
    eta = (config.steps - step) / rate
    line = (
      f"step {step}/{config.steps}: loss {record['loss']:.4f}, KL {record['kl']:.4f}, reward "
      f"{record['reward']:.3f}"
      + (f", win rate vs ref {record['win_rate']:.3f}" if "win_rate" in record else "")
      + f" ({rate:.3f} steps/s, ETA {eta:.0f} s)"
    )
    logging.info(line)
    print(line, flush=True)
    if ckpt is not None and step % config.checkpoint.every == 0:
      state = {"lora": lora, "opt_state": opt_state, "key": key}
      ckpt.save(step, state, {"history": history, "config": json.loads(config.to_json())})
  if ckpt is not None:
    ckpt.close()
  writer.close()
  last_eval = [h for h in history if "win_rate" in h][-1]
  if task.decode is not None:
    idx = np.arange(min(3, n_prompts))
    k = jax.random.key(config.seed + 1)
    pol, ref = (
      sample(lora, idx, k, temperature=0.0),
      sample(lora, idx, k, temperature=0.0, reference=True),
    )
    examples = [
      {"prompt": task.prompt_texts[i], "policy": task.decode(a), "reference": task.decode(b)}
      for i, a, b in zip(idx, _responses(pol), _responses(ref), strict=True)
    ]
  else:
    examples = []
  results = {
    "objective": config.objective,
    "model": config.model.kind,
    "final_win_rate": last_eval["win_rate"],
    "final_kl": last_eval["eval_kl"],
    "history": history,
    "setup_seconds": setup_seconds,
    "train_seconds": time.time() - loop_start,
    "greedy_examples": examples,
    **task.info,
  }
  if config.plot:
    _plot(history, os.path.join(workdir, "curves.png"), f"{config.model.kind}: {config.objective}")
  return results


def _same_run(config):
  def check(meta):
    saved = meta.get("config", {})
    now = json.loads(config.to_json())
    keys = ("objective", "model", "samples", "batch_prompts", "max_new_tokens", "seed")
    diff = [k for k in keys if saved.get(k) != now.get(k)]
    if diff:
      raise training.IncompatibleCheckpointError(
        f"the checkpoint in this workdir is of another run (differs in {', '.join(diff)})."
      )

  return check
