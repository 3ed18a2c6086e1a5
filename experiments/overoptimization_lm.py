r"""Best-of-n over-optimization with a real LM: SmolLM2 samples scored by MiniLM reward heads.

``configs/overoptimization.py:part=smollm2`` (fields ``config.lm.*``, ``seed``, ``vmap.seeds`` and
the run sections). The reference policy is SmolLM2-135M-Instruct itself:

1. **Samples** (once, cached in the workdir): ``lm.samples`` responses per LLMFAO prompt (chat
   template with SmolLM2's system prompt, ``lm.max_new_tokens``, ``lm.temperature``), one
   compiled ``models.generate`` call per prompt with its own key, written to ``samples.jsonl``
   as each prompt finishes (an interrupted run resumes there); each (prompt, response) is embedded
   by MiniLM (``sample_embeddings.npy``; LLMFAO's judged responses in ``llmfao_embeddings.npy``).
2. **Gold**: a Bradley-Terry MiniLM head (``models.fit_preference_head``) fitted on all 8,931 of
   LLMFAO's crowd judgments. **Proxies**: the same head fitted by the same Adam steps on a random
   share ``f`` of the 2,139 judged pairs (``lm.proxy_fractions``: a vmapped hyperparameter; the
   subset and the head's initial weights come from the point's seed key), through one
   ``training.run_sweep``: [fractions, seeds] points.
3. **Best-of-n** from the pool of N samples per prompt: a sample's win rate against the reference
   under a head is its mean BT probability of beating the *other* N - 1 samples of its prompt
   (the pool is the reference's empirical distribution). The proxy-best of ``n`` is scored by
   the unbiased pooled estimator (:func:`jaxpref.overoptimization.best_of_n_estimate`, over all
   subsets of size n), averaged over prompts, under the gold head (``gold_win_rate/n<n>``) and
   under the proxy itself (``proxy_win_rate/n<n>``), along the analytic KL ``log n - (n-1)/n``.
   Also logged: the proxy's pairwise agreement with gold on the pool's within-prompt pairs and
   its accuracy on the crowd judgments outside its subset. A **gold selects** row picks by the
   gold head itself (the ``proxy = gold`` bookkeeping case: its gold and proxy curves coincide,
   so ``config.proxy_is_gold`` adds nothing here). At n = 1 every win rate is exactly 1/2.

Outputs in the workdir: ``overoptimization_lm.png`` (gold solid, proxy dashed, 95% bands over
seeds, one colour per fraction), ``results.json``, the engine's logs under ``proxy_heads/``.

Run (defaults: 19 prompts x 32 samples of <= 96 tokens, T = 1, fractions 0.1/0.25/0.5,
500 head steps, 8 seeds)::

  python -m experiments.train --config configs/overoptimization.py:part=smollm2 \
    --workdir /tmp/oo_lm
  # or directly:
  python -c "from configs import overoptimization as c; from experiments import \
overoptimization_lm as m; m.run(c.get_config('part=smollm2'), '/tmp/oo_lm')"

Measured on the project's 2-core CPU machine (another job sharing the cores): **1,070 s wall**
for the full default run: sampling 940 s (608 responses, 80.8 tokens on average, 32% ended
before the budget), MiniLM embeddings 48 s (LLMFAO) + 43 s (samples), gold head 18 s, the 24
proxy heads through the engine 17 s. A rerun in the same workdir reads the samples and the
embeddings: 42 s. Win rates against the reference (mean ± 95% interval over 8 seeds):

====  =====  ============  ===============  ===============  ===============  ===============
n     KL     gold selects  f=0.1 gold       f=0.1 proxy      f=0.5 gold       f=0.5 proxy
====  =====  ============  ===============  ===============  ===============  ===============
1     0.000  0.5000        0.5000           0.5000           0.5000           0.5000
2     0.193  0.5380        0.5243 ± 0.0020  0.5608 ± 0.0041  0.5351 ± 0.0003  0.5416 ± 0.0019
4     0.636  0.5682        0.5431 ± 0.0038  0.6089 ± 0.0070  0.5629 ± 0.0005  0.5744 ± 0.0033
8     1.204  0.5927        0.5587 ± 0.0054  0.6488 ± 0.0093  0.5856 ± 0.0006  0.6013 ± 0.0044
16    1.835  0.6129        0.5720 ± 0.0067  0.6827 ± 0.0118  0.6043 ± 0.0007  0.6237 ± 0.0052
32    2.497  0.6303        0.5822 ± 0.0100  0.7119 ± 0.0148  0.6205 ± 0.0014  0.6433 ± 0.0055
====  =====  ============  ===============  ===============  ===============  ===============

(f = 0.25 lies between: gold 0.6040 ± 0.0046, proxy 0.6713 ± 0.0118 at n = 32.) **No
over-optimization at this scale**: every proxy's gold win rate still rises at n = 32 (KL 2.5
nats), with diminishing steps; what the proxies show is the *gap*: the proxy's own win rate
overstates the gold one, the more so the fewer judgments it saw (at n = 32: +0.13 for f = 0.1,
+0.07 for 0.25, +0.02 for 0.5), and the gold gain falls below the gold head's own best-of-n
(0.630) in the same order. Proxy agreement with gold on the pool's within-prompt pairs: 0.72,
0.81, 0.87; held-out crowd accuracy 0.70, 0.73, 0.73 (the gold head's training accuracy: 0.75).
2.5 nats is the most a pool of 32 reaches; whether gold turns further out is not measured here.
"""

import functools
import json
import os
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments import common, llmfao_text, train_lib
from jaxpref import data, models, overoptimization, training
from jaxpref.training import _plots
from jaxpref.types import Array, PRNGKey

SAMPLES = "samples.jsonl"
SAMPLES_META = "samples_meta.json"
POOL_EMBEDDINGS = "sample_embeddings.npy"
PNG = "overoptimization_lm.png"
# Keys of the samples and of the gold head: folded far from the engine's seed indices 0, 1, ...
SAMPLE_TAG, GOLD_TAG = 2**31 - 1, 2**31 - 2
LEARNING_RATE = 1e-2  # Adam step size of every head unless config.lm.learning_rate sets it.


def best_of_ns(config: ml_collections.ConfigDict) -> list[int]:
  """The n of the curve (``config.lm.best_of_n``), checked: integers in ``[1, lm.samples]``.

  Raises:
    ValueError: on a non-integer, an empty list, or an n outside ``[1, samples]``.
  """
  try:
    values = common.floats(config.lm.best_of_n)
  except ValueError:
    raise ValueError(
      f"config.lm.best_of_n must be integers; got {config.lm.best_of_n!r}."
    ) from None
  samples = int(config.lm.samples)
  if not values or any(v != int(v) or not 1 <= v <= samples for v in values):
    raise ValueError(
      f"config.lm.best_of_n must be integers in [1, samples={samples}] (a pool of {samples} "
      f"samples per prompt); got {config.lm.best_of_n!r}."
    )
  return [int(v) for v in values]


def proxy_fractions(config: ml_collections.ConfigDict) -> list[float]:
  """The proxies' shares of judged pairs (``config.lm.proxy_fractions``), each in ``(0, 1]``.

  Raises:
    ValueError: on a non-number, an empty list, or a fraction outside ``(0, 1]``.
  """
  try:
    values = common.floats(config.lm.proxy_fractions)
  except ValueError:
    raise ValueError(
      f"config.lm.proxy_fractions must be numbers; got {config.lm.proxy_fractions!r}."
    ) from None
  if not values or any(not 0 < f <= 1 for f in values):
    raise ValueError(
      f"config.lm.proxy_fractions must lie in (0, 1]; got {config.lm.proxy_fractions!r}."
    )
  return values


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the ``lm`` section before anything loads or compiles.

  Raises:
    ValueError: naming the first bad field.
  """
  lm = config.lm
  if int(lm.samples) < 2:
    raise ValueError(f"config.lm.samples must be >= 2 (a pool to compare in); got {lm.samples}.")
  if int(lm.prompts) < 0:
    raise ValueError(f"config.lm.prompts must be >= 0 (0: all); got {lm.prompts}.")
  for field in ("max_new_tokens", "head_steps"):
    if int(lm[field]) < 1:
      raise ValueError(f"config.lm.{field} must be >= 1; got {lm[field]}.")
  if not float(lm.temperature) > 0:
    raise ValueError(
      f"config.lm.temperature must be > 0 (greedy samples would all be equal); got "
      f"{lm.temperature}."
    )
  if float(lm.l2) < 0:
    raise ValueError(f"config.lm.l2 must be >= 0; got {lm.l2}.")
  if not float(lm.get("learning_rate", LEARNING_RATE)) > 0:
    raise ValueError(f"config.lm.learning_rate must be > 0; got {lm.learning_rate}.")
  best_of_ns(config)
  proxy_fractions(config)
  if int(config.vmap.seeds) < 1:
    raise ValueError(f"config.vmap.seeds must be >= 1; got {config.vmap.seeds}.")


# --- Win rates and the best-of-n curves (pure, jittable). ---------------------------------------


def win_values(scores: Array) -> Array:
  """``[..., N]`` each sample's mean BT probability of beating the other N - 1 of its pool.

  Args:
    scores: ``[..., N]`` rewards of N samples of one prompt (a BT head's scores).

  Returns:
    ``[..., N]``: ``mean_{j' != j} sigmoid(s_j - s_j')``; their mean over j is exactly 1/2.
  """
  scores = jnp.asarray(scores)
  n = scores.shape[-1]
  p = jax.nn.sigmoid(scores[..., :, None] - scores[..., None, :])
  return (jnp.sum(p, axis=-1) - 0.5) / (n - 1)  # the diagonal holds sigmoid(0) = 1/2


def best_of_n_curves(proxy: Array, gold: Array, ns: Sequence[int]) -> dict[str, Array]:
  """Gold and proxy win rates of the proxy-best of n against the reference, per n.

  Args:
    proxy: ``[X, N]`` proxy scores of N reference samples for each of X prompts.
    gold: ``[X, N]`` their gold scores.
    ns: the n of the curve, each in ``[1, N]``.

  Returns:
    ``{"gold_win_rate/n<n>": scalar, "proxy_win_rate/n<n>": scalar}``: the pooled unbiased
    estimates (:func:`~jaxpref.overoptimization.best_of_n_estimate`), averaged over prompts.

  Raises:
    ValueError: on mismatched shapes, fewer than 2 samples, or an n outside ``[1, N]``.
  """
  proxy, gold = jnp.asarray(proxy), jnp.asarray(gold)
  if proxy.shape != gold.shape or proxy.ndim != 2 or proxy.shape[1] < 2:
    raise ValueError(
      f"need proxy and gold scores [X, N] with N >= 2; got {proxy.shape}, {gold.shape}."
    )
  gold_value, proxy_value = win_values(gold), win_values(proxy)
  out = {}
  for n in ns:
    out[f"gold_win_rate/n{n}"] = jnp.mean(overoptimization.best_of_n_estimate(proxy, gold_value, n))
    out[f"proxy_win_rate/n{n}"] = jnp.mean(
      overoptimization.best_of_n_estimate(proxy, proxy_value, n)
    )
  return out


def pairwise_agreement(proxy: Array, gold: Array) -> Array:
  """Share of within-prompt sample pairs that the proxy orders as the gold head does."""
  dp = proxy[..., :, None] - proxy[..., None, :]
  dg = gold[..., :, None] - gold[..., None, :]
  n = proxy.shape[-1]
  upper = jnp.triu(jnp.ones((n, n), bool), k=1)
  return jnp.sum(((dp * dg) > 0) & upper) / (jnp.sum(upper) * np.prod(proxy.shape[:-1]))


# --- Heads through the engine. -------------------------------------------------------------------


class Judgments(NamedTuple):
  """LLMFAO's crowd judgments on embedded responses.

  Attributes:
    items: ``[M, d]`` MiniLM embeddings of the judged (prompt, response) texts.
    a: ``[J]`` item of each judgment's left response.
    b: ``[J]`` item of its right response.
    outcome: ``[J]`` 1 if the left won, 0 if the right did, 1/2 for a tie.
    pair: ``[J]`` the judged (prompt, left model, right model) pair, ``0 ... P - 1``.
  """

  items: Array
  a: Array
  b: Array
  outcome: Array
  pair: Array


class Hyper(NamedTuple):
  """The traced hyperparameter of one point."""

  fraction: Any  # Share of the judged pairs the proxy is fitted on.


class HeadState(NamedTuple):
  """One point: the proxy head's parameters, its Adam state and its judgments' weights."""

  params: Any
  opt_state: Any
  weight: Array  # [J] 1 on the judgments in the proxy's subset, else 0.


def subset_weights(key: PRNGKey, pair: Array, fraction: Any) -> Array:
  """``[J]`` 1 on the judgments of ``round(fraction * P)`` (>= 1) random pairs out of P, else 0.

  ``fraction`` may be traced (a vmapped axis); the count is exact.
  """
  num_pairs = int(np.max(np.asarray(pair))) + 1
  rank = jnp.argsort(jnp.argsort(jax.random.uniform(key, (num_pairs,))))
  keep = rank < jnp.maximum(jnp.round(fraction * num_pairs), 1)
  return keep[pair].astype(jnp.zeros(()).dtype)


def _soft_bce(logit: Array, target: Array) -> Array:
  return -(target * jax.nn.log_sigmoid(logit) + (1 - target) * jax.nn.log_sigmoid(-logit))


def make_program(
  judgments: Judgments,
  pool: Array,
  gold: Array,
  ns: Sequence[int],
  *,
  l2: float,
  learning_rate: float = LEARNING_RATE,
) -> training.Program:
  """The per-point program: Adam steps on a proxy BT head's subset loss, best-of-n metrics.

  The loss is ``models.fit_preference_head``'s (mean soft log-loss on the subset plus ``l2`` on
  every weight), the head's rewards computed once per judged response; with ``fraction = 1`` and
  the same key it fits the same head.

  Args:
    judgments: the embedded crowd judgments.
    pool: ``[X, N, d]`` embeddings of the reference samples.
    gold: ``[X, N]`` the gold head's scores of them.
    ns: the n of the curve.
    l2: weight penalty.
    learning_rate: Adam step size.

  Returns:
    A :class:`~jaxpref.training.Program` over :class:`Hyper`; its key splits into the subset's
    key and the head's initial weights' key.
  """
  X, N, d = pool.shape
  graphdef, _ = nnx.split(models.PreferenceHead(d, kind="bt", rngs=nnx.Rngs(0)))
  tx = optax.adam(learning_rate)
  items, a, b = jnp.asarray(judgments.items), jnp.asarray(judgments.a), jnp.asarray(judgments.b)
  y = jnp.asarray(judgments.outcome)
  decisive = y != 0.5
  flat_pool, gold = jnp.asarray(pool).reshape(X * N, d), jnp.asarray(gold)

  def logits(params):
    r = nnx.merge(graphdef, params).features(items)[0]
    return r[a] - r[b]

  def loss_fn(params, weight):
    bce = _soft_bce(logits(params), y.astype(weight.dtype))
    fit = jnp.sum(weight * bce) / jnp.sum(weight)
    return fit + l2 * sum(jnp.sum(w**2) for w in jax.tree.leaves(params))

  def init(hp: Hyper, key: PRNGKey) -> HeadState:
    k_subset, k_head = jax.random.split(key)
    _, params = nnx.split(models.PreferenceHead(d, kind="bt", rngs=nnx.Rngs(k_head)))
    return HeadState(params, tx.init(params), subset_weights(k_subset, judgments.pair, hp.fraction))

  def step(state: HeadState, hp: Hyper, t: Array) -> HeadState:
    del hp, t
    grads = jax.grad(loss_fn)(state.params, state.weight)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state._replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state)

  def metrics(state: HeadState, hp: Hyper) -> dict[str, Array]:
    del hp
    proxy = nnx.merge(graphdef, state.params).features(flat_pool)[0].reshape(X, N)
    held = decisive & (state.weight == 0)
    correct = (logits(state.params) > 0) == (y > 0.5)
    count = jnp.sum(held)
    return {
      **best_of_n_curves(proxy, gold, ns),
      "agreement_with_gold": pairwise_agreement(proxy, gold),
      "heldout_accuracy": jnp.where(
        count > 0, jnp.sum(correct & held) / jnp.maximum(count, 1), jnp.nan
      ),
      "loss": loss_fn(state.params, state.weight),
    }

  return training.Program(init, step, metrics)


# --- Data: judgments, samples and their embeddings (cached in the workdir). ---------------------


def llmfao_judgments(workdir: str, minilm) -> tuple[Judgments, float]:
  """LLMFAO's crowd judgments with MiniLM embeddings of the judged texts (cached).

  Args:
    workdir: where ``llmfao_embeddings.npy`` is cached.
    minilm: a callable returning ``(encoder, wordpiece)`` (called only if not cached).

  Returns:
    ``(judgments, seconds spent embedding)``.
  """
  items = llmfao_text.responses()
  emb, seconds = llmfao_text.embed_responses(workdir, items, minilm)
  judgments = Judgments(
    emb,
    items.a,
    items.b,
    np.asarray(items.texts.outcome, np.float32),
    np.unique(items.texts.pair, return_inverse=True)[1].astype(np.int32),
  )
  return judgments, seconds


def _sample_meta(config: ml_collections.ConfigDict, path: str) -> dict[str, Any]:
  lm = config.lm
  return {
    "model": os.path.basename(path),
    "samples": int(lm.samples),
    "max_new_tokens": int(lm.max_new_tokens),
    "temperature": float(lm.temperature),
    "seed": int(config.seed),
    "system": models.CHATML_SYSTEM,
  }


def sample_pool(
  config: ml_collections.ConfigDict, workdir: str, prompts: list[str]
) -> tuple[list[dict[str, Any]], float]:
  """``samples`` SmolLM2 responses per prompt, read from ``samples.jsonl`` or sampled into it.

  Prompt i is sampled with the key ``fold_in(fold_in(key(seed), SAMPLE_TAG), i)`` in one
  ``models.generate`` call, so its samples do not depend on which other prompts run.

  Args:
    config: the experiment config.
    workdir: holds ``samples.jsonl`` (one line per prompt) and ``samples_meta.json``.
    prompts: the prompt texts, in LLMFAO's order.

  Returns:
    ``(records, seconds spent sampling now)``; record i has ``responses``, ``tokens`` (lengths,
    end token included), ``finished`` (the end token was emitted) and ``seconds``.

  Raises:
    ValueError: if the workdir holds samples of other sampling settings.
  """
  path = config.lm.path or models.smollm2_path()
  meta = _sample_meta(config, path)
  meta_path, samples_path = (os.path.join(workdir, f) for f in (SAMPLES_META, SAMPLES))
  if os.path.exists(meta_path):
    with open(meta_path) as f:
      saved = json.load(f)
    if saved != meta:
      raise ValueError(
        f"{workdir} holds samples drawn with {saved}, not {meta}; use a new workdir."
      )
  else:
    with open(meta_path, "w") as f:
      json.dump(meta, f, indent=2)
  records: dict[int, dict[str, Any]] = {}
  if os.path.exists(samples_path):
    with open(samples_path) as f:
      for line in f:
        if line.strip():
          r = json.loads(line)
          records[int(r["prompt_index"])] = r
  missing = [i for i in range(len(prompts)) if i not in records]
  start = time.time()
  if missing:
    model = models.load_llama_gguf(path)
    tokenizer = models.load_bpe_gguf(path)
    split = nnx.split(model)
    root = jax.random.fold_in(jax.random.key(int(config.seed)), SAMPLE_TAG)
    for i in missing:
      t0 = time.time()
      out = models.generate(
        split,
        [tokenizer.encode_chat(prompts[i], system=models.CHATML_SYSTEM)],
        jax.random.fold_in(root, i),
        max_new_tokens=int(config.lm.max_new_tokens),
        eos_id=tokenizer.eos_id,
        num_samples=int(config.lm.samples),
        temperature=float(config.lm.temperature),
      )
      toks, mask = np.asarray(out.tokens), np.asarray(out.mask)
      record = {
        "prompt_index": i,
        "prompt": prompts[i],
        "responses": [
          tokenizer.decode(t[m], skip_special=True) for t, m in zip(toks, mask, strict=True)
        ],
        "tokens": mask.sum(axis=1).tolist(),
        "finished": np.any((toks == tokenizer.eos_id) & mask, axis=1).tolist(),
        "seconds": time.time() - t0,
      }
      records[i] = record
      with open(samples_path, "a") as f:
        f.write(json.dumps(record) + "\n")
      print(
        f"sampled prompt {i + 1}/{len(prompts)}: {len(record['responses'])} responses, mean "
        f"{np.mean(record['tokens']):.1f} tokens, {record['seconds']:.1f}s",
        flush=True,
      )
  return [records[i] for i in range(len(prompts))], time.time() - start if missing else 0.0


# --- The run. -------------------------------------------------------------------------------------


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Samples (or reads) the pool, fits gold and the proxies, writes results.json and the PNG.

  Args:
    config: ``configs/overoptimization.py:part=smollm2``.
    workdir: output directory (also the sample and embedding cache).

  Returns:
    The results: per proxy fraction the gold and proxy win rates per n (mean, 95% interval and
    values over seeds), the gold-selects row, the gold head's fit, sample statistics and the
    seconds of each phase.
  """
  validate(config)
  ns, fractions = best_of_ns(config), proxy_fractions(config)
  os.makedirs(workdir, exist_ok=True)
  begin = time.time()
  seconds: dict[str, float] = {}
  prompts = list(data.load_llmfao_prompts().values())
  if int(config.lm.prompts):
    prompts = prompts[: int(config.lm.prompts)]
  records, seconds["sampling"] = sample_pool(config, workdir, prompts)
  seconds["sampling_recorded"] = float(sum(r["seconds"] for r in records))
  X, N = len(records), int(config.lm.samples)
  minilm = functools.cache(models.load_minilm)  # loaded once, and only if an embedding is missing
  judgments, seconds["embed_llmfao"] = llmfao_judgments(workdir, minilm)

  def embed_pool():
    encoder, wordpiece = minilm()
    return models.embed_texts(
      encoder,
      wordpiece,
      [r["prompt"] for r in records for _ in r["responses"]],
      [s for r in records for s in r["responses"]],
    )

  pool, seconds["embed_samples"] = llmfao_text.load_or_embed(
    os.path.join(workdir, POOL_EMBEDDINGS), X * N, embed_pool
  )
  pool = pool.reshape(X, N, -1)

  # The gold head: all judgments, fit_preference_head.
  t0 = time.time()
  lm = config.lm
  learning_rate = float(lm.get("learning_rate", LEARNING_RATE))
  items = jnp.asarray(judgments.items)
  gold_head = models.fit_preference_head(
    items[judgments.a],
    items[judgments.b],
    judgments.outcome,
    kind="bt",
    key=jax.random.fold_in(jax.random.key(int(config.seed)), GOLD_TAG),
    steps=int(lm.head_steps),
    learning_rate=learning_rate,
    l2=float(lm.l2),
  )
  fit = models.head_metrics(gold_head, items[judgments.a], items[judgments.b], judgments.outcome)
  gold = np.asarray(gold_head.features(jnp.asarray(pool.reshape(X * N, -1)))[0]).reshape(X, N)
  gold_selects = {k: float(v) for k, v in best_of_n_curves(gold, gold, ns).items()}
  seconds["gold_head"] = time.time() - t0

  # The proxies: [fractions, seeds] points through the engine.
  t0 = time.time()
  sweep = training.make_sweep(
    Hyper(fraction=fractions[0]),
    axes={"fraction": fractions},
    seeds=int(config.vmap.seeds),
    seed=int(config.seed),
    seed_offset=int(config.vmap.get("seed_offset", 0)),
  )
  options = train_lib.run_options(config)
  steps = int(lm.head_steps)
  options.update(steps=steps, log_every=min(int(config.log.every), steps))
  out = training.run_sweep(
    make_program(judgments, pool, gold, ns, l2=float(lm.l2), learning_rate=learning_rate),
    sweep,
    workdir=os.path.join(workdir, "proxy_heads"),
    name="proxy_heads",
    **options,
  )
  final = {k: np.asarray(v[..., -1], np.float64) for k, v in out.history.items()}  # [F, S]
  seconds["proxy_heads"] = time.time() - t0

  kl = [float(overoptimization.best_of_n_kl(n)) for n in ns]
  proxies = {}
  for i, f in enumerate(fractions):
    gold_curve = np.stack([final[f"gold_win_rate/n{n}"][i] for n in ns], -1)  # [S, n]
    peak = int(np.argmax(gold_curve.mean(0)))
    proxies[f"fraction={f:g}"] = {
      "fraction": f,
      "gold_win_rate": {f"n{n}": common.stats(final[f"gold_win_rate/n{n}"][i]) for n in ns},
      "proxy_win_rate": {f"n{n}": common.stats(final[f"proxy_win_rate/n{n}"][i]) for n in ns},
      "gold_peak_n": ns[peak],
      "gold_last_minus_peak": common.stats(gold_curve[:, -1] - gold_curve[:, peak]),
      "agreement_with_gold": common.stats(final["agreement_with_gold"][i]),
      "heldout_accuracy": common.stats(final["heldout_accuracy"][i]),
      "loss": common.stats(final["loss"][i]),
    }
  tokens = np.asarray([r["tokens"] for r in records], np.float64)
  finished = np.asarray([r["finished"] for r in records], bool)
  seconds["total"] = time.time() - begin
  results = {
    "n": ns,
    "kl": kl,
    "fractions": fractions,
    "seeds": int(config.vmap.seeds),
    "prompts": X,
    "samples": N,
    "proxies": proxies,
    "gold_selects": {
      "win_rate": {f"n{n}": gold_selects[f"gold_win_rate/n{n}"] for n in ns},
    },
    "gold_head": {
      "train_accuracy": fit.accuracy,
      "train_log_loss": fit.log_loss,
      "judgments": fit.n,
      "pool_reward_std": float(np.mean(np.std(gold, axis=1))),
    },
    "pool": {
      "mean_tokens": float(tokens.mean()),
      "finished_share": float(finished.mean()),
      "max_new_tokens": int(lm.max_new_tokens),
      "temperature": float(lm.temperature),
    },
    "seconds": seconds,
  }
  if jax.process_index() == 0:
    results["png"] = plot(results, os.path.join(workdir, PNG))
    print_table(results)
  common.write_results(workdir, results)
  return results


def _mean_ci(s: dict[str, Any]) -> tuple[float, float]:
  return float(np.ravel(s["mean"])[0]), float(np.ravel(s["ci95"])[0])


def print_table(results: dict[str, Any]) -> None:
  """Prints n, KL, the gold-selects win rate and each proxy's gold / proxy win rates."""
  p = results["pool"]
  print(
    f"SmolLM2 best-of-n: {results['prompts']} LLMFAO prompts x {results['samples']} samples "
    f"(<= {p['max_new_tokens']} tokens, T={p['temperature']:g}; mean {p['mean_tokens']:.1f} "
    f"tokens, {100 * p['finished_share']:.0f}% ended); win rate against the reference, "
    f"{results['seeds']} seeds (mean ± 95% CI)"
  )
  names = list(results["proxies"])
  head = f"{'n':>4} {'KL':>6} {'gold sel.':>9}"
  for name in names:
    head += f" | {name + ' gold':>20} {'proxy':>15}"
  print(head)
  for j, n in enumerate(results["n"]):
    row = f"{n:>4} {results['kl'][j]:>6.3f} {results['gold_selects']['win_rate'][f'n{n}']:>9.4f}"
    for name in names:
      g = _mean_ci(results["proxies"][name]["gold_win_rate"][f"n{n}"])
      q = _mean_ci(results["proxies"][name]["proxy_win_rate"][f"n{n}"])
      row += f" | {g[0]:>11.4f} ± {g[1]:.4f} {q[0]:>6.4f} ± {q[1]:.4f}"
    print(row)
  for name in names:
    r = results["proxies"][name]
    a, h = _mean_ci(r["agreement_with_gold"]), _mean_ci(r["heldout_accuracy"])
    d = _mean_ci(r["gold_last_minus_peak"])
    print(
      f"  {name}: gold peaks at n = {r['gold_peak_n']} (n = {results['n'][-1]} minus peak "
      f"{d[0]:+.4f} ± {d[1]:.4f}); pool-pair agreement with gold {a[0]:.3f} ± {a[1]:.3f}, "
      f"held-out crowd accuracy {h[0]:.3f} ± {h[1]:.3f}"
    )
  g = results["gold_head"]
  s = results["seconds"]
  print(
    f"  gold head: train accuracy {g['train_accuracy']:.3f} on {g['judgments']} judgments, "
    f"pool reward std {g['pool_reward_std']:.3f}"
  )
  print(
    "  seconds: "
    + ", ".join(f"{k} {v:.1f}" for k, v in s.items())
    + " (sampling_recorded: when the samples were drawn)"
  )


def plot(results: dict[str, Any], path: str) -> str:
  """Gold (solid) and proxy (dashed) win rates vs the analytic KL, 95% bands; returns ``path``."""
  kl = np.asarray(results["kl"])
  with _plots.styled():
    fig, (ax,) = _plots.subplots(1, cols=1, panel=(6.0, 4.2), extra_width=2.4)
    for i, (name, r) in enumerate(results["proxies"].items()):
      color = _plots.style(i)["color"]
      for key, ls, what in (("gold_win_rate", "-", "gold"), ("proxy_win_rate", "--", "proxy")):
        stats = [r[key][f"n{n}"] for n in results["n"]]
        mean = np.asarray([_mean_ci(s)[0] for s in stats])
        ci = np.nan_to_num(np.asarray([_mean_ci(s)[1] for s in stats]))
        ax.plot(kl, mean, color=color, linestyle=ls, marker="o", ms=3.5, label=f"{name}: {what}")
        ax.fill_between(kl, mean - ci, mean + ci, color=color, alpha=0.15, lw=0)
    gold = [results["gold_selects"]["win_rate"][f"n{n}"] for n in results["n"]]
    ax.plot(kl, gold, color="black", linestyle=":", marker="s", ms=3.5, label="gold selects")
    top = ax.secondary_xaxis("top")
    top.set_xticks(kl[1:], [str(n) for n in results["n"][1:]])
    top.set_xlabel("n")
    ax.set_xlabel("KL(best-of-n || reference), analytic: log n - (n-1)/n  [nats]")
    ax.set_ylabel("win rate against the reference")
    ax.set_title(
      f"SmolLM2-135M best-of-n, {results['prompts']} LLMFAO prompts x {results['samples']} "
      f"samples, {results['seeds']} seeds",
      fontsize=9,
    )
    _plots.legend_outside(ax, title="proxy (share of judged pairs)")
    return _plots.save(fig, path)
