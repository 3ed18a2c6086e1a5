"""Few-shot personalization for people never seen, one engine sweep per dataset.

Config: ``configs/personalization.py`` (the protocol and the models are in its docstring). The
program's single step fits every model on the training people of its seed's split and scores each
held-out person's later comparisons after revealing k of their first ones; the engine vmaps the
seeds and writes metrics, checkpoints and ``results.json``. ``llmfao_text`` is LLMFAO with the
judged responses as items and MiniLM embeddings as their features (:mod:`experiments.llmfao_text`).
"""

import functools
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common, llmfao_text, train_lib
from experiments import preference_datasets as datasets
from jaxpref import data, models, training
from jaxpref import preference as pm
from jaxpref.types import Array, PRNGKey

MODELS = ("bt", "mixture", "lore", "pal", "pal_b", "vpl", "micro", "micro_ft")
TEXT = "llmfao_text"  # LLMFAO's responses as items with MiniLM features (read here, not shared).


class Source(NamedTuple):
  """One dataset as the program sees it.

  Attributes:
    pairs: every comparison (``annotator`` the person, ``context`` MiCRo's router input).
    num_items: items (models or survey options; responses for ``llmfao_text``).
    num_people: people.
    item_features: ``[n, f]`` item features, or None for item ids.
    prompt_features: ``[n, c]`` each item's prompt features (PAL-B), or None.
  """

  pairs: pm.Pairs
  num_items: int
  num_people: int
  item_features: Array | None = None
  prompt_features: Array | None = None


def models_of(source: Source) -> tuple[str, ...]:
  """The models a dataset runs: PAL-B only where items have a prompt."""
  return tuple(m for m in MODELS if m != "pal_b" or source.prompt_features is not None)


def ks_of(config: ml_collections.ConfigDict) -> list[int]:
  """The revealed counts of ``config.ks``."""
  return [int(k) for k in common.names(config.ks)]


def dataset_ks(config: ml_collections.ConfigDict, annotator: np.ndarray) -> list[int]:
  """The ks a dataset can reveal: those leaving ``min_scored`` rows to its median person."""
  median = float(np.median(np.bincount(annotator)[np.bincount(annotator) > 0]))
  return [k for k in ks_of(config) if k + int(config.min_scored) <= median] or [0]


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the datasets, the k grid and the sizes before anything is loaded or fitted."""
  datasets.requested(config, extra=(TEXT,))
  try:
    ks = ks_of(config)
  except ValueError:
    raise ValueError(f"config.ks must be comma-separated integers; got {config.ks!r}.") from None
  if not ks or min(ks) < 0 or ks != sorted(set(ks)):
    raise ValueError(f"config.ks must be distinct increasing integers >= 0; got {config.ks!r}.")
  if not 0 < config.test_fraction < 1:
    raise ValueError(f"config.test_fraction must lie in (0, 1); got {config.test_fraction}.")
  sizes = ("min_scored", "components", "pal_dim", "vpl.latent", "vpl.hidden", "vpl.steps")
  for name in sizes:
    value = config[name.split(".")[0]][name.split(".")[1]] if "." in name else config[name]
    if int(value) < 1:
      raise ValueError(f"config.{name} must be >= 1; got {value}.")
  if int(config.micro.iterations) < 1 or not config.micro.learning_rate > 0:
    raise ValueError(
      f"config.micro.iterations must be >= 1 and micro.learning_rate > 0; got "
      f"{config.micro.iterations}, {config.micro.learning_rate}."
    )


class State(NamedTuple):
  """A seed's split (row masks), the held-out rows' ranks and the metrics of the last step."""

  train: Array
  test: Array
  rank: Array
  metrics: dict[str, Array]


def _router_context(loaded: datasets.Loaded) -> np.ndarray:
  """MiCRo's router input per row: the prompt (one-hot) on LLMFAO, the person's covariates else."""
  table = loaded.table
  if loaded.entry.llmfao_format:
    prompt = np.asarray(table.prompt)
    return np.eye(int(prompt.max()) + 1)[prompt]
  if loaded.covariates is not None:
    x = np.asarray(loaded.covariates)[np.asarray(table.annotator)]
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)
  return np.zeros((table.num_comparisons, 0))


def id_source(loaded: datasets.Loaded) -> Source:
  """A dataset over item ids (LLMFAO's models, the surveys' options, a CSV's items)."""
  pairs = loaded.pairs._replace(advantage=jnp.zeros_like(loaded.pairs.advantage))
  pairs = pairs._replace(context=jnp.asarray(_router_context(loaded), pairs.outcome.dtype))
  return Source(pairs, int(loaded.table.num_items), max(int(loaded.table.num_annotators), 1))


def text_source(config: ml_collections.ConfigDict, workdir: str) -> Source:
  """LLMFAO with the judged responses as items, MiniLM features and the prompt as router input.

  Items are the distinct (prompt, response) texts judged; their features are the MiniLM
  embeddings of (prompt, response), PAL-B's prompt features and MiCRo's router input the prompt's
  own embedding. Embeddings are cached in ``workdir`` (MiniLM is loaded only when missing).
  """
  folder = config.data.llmfao_texts or None
  items = llmfao_text.responses(folder)
  table = data.load_llmfao(
    None if folder is None else os.path.join(folder, "crowd-comparisons.csv")
  )
  minilm = functools.cache(models.load_minilm)
  feats, _ = llmfao_text.embed_responses(workdir, items, minilm)
  prompts, _ = llmfao_text.embed_prompts(workdir, items, minilm)
  dtype = jnp.float64 if config.x64 else jnp.float32
  pairs = pm.make_pairs(
    items.a,
    items.b,
    items.texts.outcome,
    annotator=table.annotator,
    context=prompts[items.prompt[items.a]],
    advantage=np.zeros(len(items.a)),
    dtype=dtype,
  )
  return Source(
    pairs,
    len(items.keys),
    int(table.num_annotators),
    jnp.asarray(feats, dtype),
    jnp.asarray(prompts[items.prompt], dtype),
  )


def load_sources(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Source]:
  """Every requested dataset as a :class:`Source`, read before anything is fitted."""
  names = datasets.requested(config, extra=(TEXT,))
  loaded = datasets.load_datasets(config, [n for n in names if n != TEXT])
  out = {}
  for name in names:
    if name == TEXT:
      out[name] = text_source(config, workdir)
    elif name in loaded:
      out[name] = id_source(loaded[name])
  return out


def make_program(config: ml_collections.ConfigDict, source: Source) -> training.Program:
  """The per-seed program of one dataset: split, fit every model, score every k."""
  routed = source.pairs
  pairs = routed._replace(context=jnp.zeros((routed.outcome.shape[0], 0), routed.outcome.dtype))
  people = source.num_people
  annotator = np.asarray(pairs.annotator)
  ks = dataset_ks(config, annotator)
  kmax = max(ks)
  names = models_of(source)
  counts = np.bincount(annotator, minlength=people)
  eligible = jnp.asarray(counts >= kmax + int(config.min_scored))
  index, valid = pm.person_layout(annotator, people, int(config.vpl.max_rows))
  n, K, l2 = source.num_items, int(config.components), float(config.l2)
  feats = {"item_features": source.item_features}
  bt = pm.BradleyTerry(n, l2=l2, **feats)
  mixture = pm.Mixture(pm.BradleyTerry(n, l2=l2, **feats), K, people)
  lore = pm.LoRe(n, people, rank=K, l2=l2, **feats)
  pal = pm.PAL(n, people, prototypes=K, dim=int(config.pal_dim), l2=l2, **feats)
  personal = {"lore": lore, "pal": pal}
  if "pal_b" in names:
    personal["pal_b"] = pal.replace(prompt_features=source.prompt_features)
  vpl = pm.VPL(
    n,
    latent=int(config.vpl.latent),
    hidden=int(config.vpl.hidden),
    kl_weight=config.vpl.kl_weight,
    attention=bool(config.vpl.attention),
    **feats,
  )
  micro = pm.MiCRo(
    n,
    components=K,
    context_dim=routed.context.shape[1],
    entropy=config.micro.entropy,
    l2=l2,
    **feats,
  )

  def init(hp: Any, key: PRNGKey) -> State:
    del hp
    k_people, k_rank = jax.random.split(key)
    held = jax.random.uniform(k_people, (people,)) < config.test_fraction
    test = (held & eligible)[pairs.annotator]
    # Each row's place in a random order of its person's rows.
    rank = pm.person_ranks(pairs.annotator, people, k_rank)
    nan = jnp.full((), jnp.nan, pairs.outcome.dtype)
    metrics = {f"{m}/k{k}": nan for m in names for k in ks}
    metrics["test_people"] = jnp.zeros((), pairs.outcome.dtype)
    return State(~test, test, rank, metrics)

  def step(state: State, hp: Any, t: Array) -> State:
    del hp, t
    key = jax.random.fold_in(jax.random.key(config.seed), 0)
    w = pairs.weight
    train = pairs._replace(weight=w * state.train)
    scored = state.test & (state.rank >= kmax)
    population = jnp.zeros(people, w.dtype).at[pairs.annotator].max(state.train.astype(w.dtype))
    k_lore, k_pal, k_vpl, k_mix, k_micro = jax.random.split(key, 5)
    k_personal = {"lore": k_lore, "pal": k_pal, "pal_b": k_pal}
    fits = {
      "bt": pm.fit(bt, train).params,
      "mixture": pm.fit_mixture(mixture, train, k_mix, em_steps=20, max_steps=100).params,
      "micro": pm.fit_micro(micro, routed._replace(weight=train.weight), k_micro).params,
    }
    for name, model in personal.items():
      fits[name] = pm.fit_personal(model, train, k_personal[name], max_steps=300).params
    layout = jax.tree.map(lambda x: x[index], train)
    layout = layout._replace(weight=layout.weight * jnp.asarray(valid, w.dtype))
    fits["vpl"] = pm.fit_vpl(
      vpl, layout, k_vpl, steps=int(config.vpl.steps), max_context=int(config.vpl.max_rows)
    ).params

    def loss(ll):
      return -jnp.sum(jnp.where(scored, ll, 0.0)) / jnp.maximum(jnp.sum(scored), 1.0)

    metrics = dict(state.metrics, test_people=jnp.sum(state.test & (state.rank == 0)) * 1.0)
    base = loss(pm.log_likelihood(bt, fits["bt"], pairs))
    for k in ks:
      ctx = pairs._replace(weight=w * (state.test & (state.rank < k)))
      metrics[f"bt/k{k}"] = base
      comp = pm.component_log_likelihoods(mixture, fits["mixture"], ctx).T  # [R, K]
      log_post = jax.ops.segment_sum(comp * ctx.weight[:, None], pairs.annotator, people)
      log_post = jax.nn.log_softmax(log_post + jax.nn.log_softmax(fits["mixture"].mixing), -1)
      comp_all = pm.component_log_likelihoods(mixture, fits["mixture"], pairs).T
      metrics[f"mixture/k{k}"] = loss(jax.nn.logsumexp(comp_all + log_post[pairs.annotator], -1))
      for name, model in personal.items():
        post = pm.people_posterior(model, fits[name], ctx, pairs.annotator, people, population)
        ll = pm.posterior_log_likelihood(model, fits[name], post, pairs, pairs.annotator)
        metrics[f"{name}/k{k}"] = loss(ll)
      ctx_layout = jax.tree.map(lambda x: x[index], ctx)
      ctx_layout = ctx_layout._replace(weight=ctx_layout.weight * jnp.asarray(valid, w.dtype))
      mu, _ = jax.vmap(lambda c: pm.vpl_encode(vpl, fits["vpl"], c))(ctx_layout)
      ll = jax.vmap(lambda r, z: pm.vpl_log_likelihood(vpl, fits["vpl"], z, r))(
        jax.tree.map(lambda x: x[:, None], pairs), mu[pairs.annotator]
      )[:, 0]
      metrics[f"vpl/k{k}"] = loss(ll)
      for name, iterations in (("micro", 0), ("micro_ft", int(config.micro.iterations))):
        ll = pm.micro_personal_log_likelihood(
          micro,
          fits["micro"],
          routed._replace(weight=ctx.weight),
          routed,
          pairs.annotator,
          pairs.annotator,
          people,
          iterations=iterations,
          learning_rate=config.micro.learning_rate,
        )
        metrics[f"{name}/k{k}"] = loss(ll)
    return state._replace(metrics=metrics)

  return training.Program(init, step, lambda state, hp: state.metrics)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """One sweep per dataset; prints the few-shot table and writes fewshot.png."""
  os.makedirs(workdir, exist_ok=True)
  sources = load_sources(config, workdir)
  sweep = train_lib.sweep_from_config(config)
  ks, results, curves = ks_of(config), {}, {}
  for name, d in sources.items():
    print(f"fitting {name} ...", flush=True)
    names = models_of(d)
    out = training.run_sweep(
      make_program(config, d),
      sweep,
      workdir=os.path.join(workdir, name),
      name=name,
      **train_lib.run_options(config),
    )
    final = {k: v[..., -1] for k, v in out.history.items()}
    ks_d = dataset_ks(config, np.asarray(d.pairs.annotator))
    results[name] = {
      "people": d.num_people,
      "items": d.num_items,
      "comparisons": int(d.pairs.outcome.shape[0]),
      "ks": ks_d,
      "test_people": common.stats(final["test_people"]),
      "logloss": {m: {f"{k}": common.stats(final[f"{m}/k{k}"]) for k in ks_d} for m in names},
      # Paired with the population BT on the same split (negative: the model predicts better).
      "minus_bt": {
        m: {f"{k}": common.stats(final[f"{m}/k{k}"] - final[f"bt/k{k}"]) for k in ks_d}
        for m in names[1:]
      },
    }
    curves[name] = (ks_d, {m: np.stack([final[f"{m}/k{k}"] for k in ks_d], -1) for m in names})
    common.write_results(workdir, results)
  if jax.process_index() == 0:
    print(table(results, ks))
    if config.plot and curves:
      path = os.path.join(workdir, "fewshot.png")
      panels = {
        (name, m): (np.asarray(k, float), v)
        for name, (k, c) in curves.items()
        for m, v in c.items()
      }
      common.plot_panels(
        panels, path, xlabel="comparisons revealed (k)", ylabel="held-out log-loss of new people"
      )
      print(f"Wrote {path}")
  return results


def table(results: dict[str, Any], ks: list[int]) -> str:
  """Held-out log-loss of new people: one row per dataset and model, one column per k."""
  lines = [f"{'dataset':<13} {'model':<8}" + "".join(f"{'k=' + str(k):>17}" for k in ks)]
  for name, r in results.items():
    for m in r["logloss"]:
      cells = "".join(
        f"{r['logloss'][m][str(k)]['mean']:>9.4f} ± {r['logloss'][m][str(k)]['ci95']:.3f}"
        if str(k) in r["logloss"][m]
        else f"{'-':>17}"
        for k in ks
      )
      lines.append(f"{name:<13} {m:<8}{cells}")
    lines.append(f"{name:<13} held-out people per seed: {r['test_people']['mean']:.1f}")
  return "\n".join(lines)
