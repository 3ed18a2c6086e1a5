"""Online preference optimization of a causal LM with a LoRA adapter: see the config's docstring.

One training step (:func:`make_point_fns`) samples K responses per prompt with the traced,
KV-cached sampler (``models.sample_padded``), queries the oracle, builds the examples of the
objective's sampling scheme (``jaxpref.losses.OBJECTIVES``: the same names and losses as the
bandit of ``policy_objectives``) and takes one optax step. The tiny task runs it through
``jaxpref.training.run_sweep`` (seeds x vmapped hyperparameters, checkpoints, resumption, logs);
SmolLM2 runs the same step in a host loop (``lm_tasks.host_run``; why: the config's docstring).
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments import common, lm_tasks, train_lib
from jaxpref import losses, models, training
from jaxpref.types import Array, PRNGKey

MODELS = ("tiny", "smollm2")
ORACLES = ("token", "text")
METRICS = ("win_rate", "win_rate_se", "kl", "reward", "reference_reward", "loss")


Hyper = losses.OnlineHparams  # The traced hyperparameters of one point (any can be an axis).
FIELDS = {name: name for name in Hyper._fields}  # Config path -> Hyper field.
SAMPLINGS = (  # The registry's sampling schemes the LM implements (not the listwise ones).
  "policy_pairs",
  "uniform_vs_policy",
  "policy_vs_mixture",
  "policy_win_rate",
  "pair_win_rates",
  "policy_scores",
  "mixture_pairs",
  "pairs_vs_opponent",
  "uncertain_pairs",
)


class PointState(NamedTuple):
  """One point's adapter leaves, optimizer state, sampling key, evaluation key and last loss.

  ``count`` is the number of updates taken; ``anchor``, ``previous`` and ``opponent`` are the
  adapters of an iterative objective's pi_t, APO's last round output and Nash-MP's mu (as in
  ``policy_objectives.PointState``); other objectives carry them unchanged.
  """

  lora: list[Array]
  opt_state: Any
  key: PRNGKey
  eval_key: PRNGKey
  loss: Array
  count: Array
  anchor: list[Array]
  previous: list[Array]
  opponent: list[Array]


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` on settings that cannot run (compiles nothing)."""
  objective = losses.get_objective(config.objective)  # Lists the registered names otherwise.
  if objective.iterative and int(config.round_length) < (2 if objective.mirror_prox else 1):
    raise ValueError(
      f"config.round_length must be >= {2 if objective.mirror_prox else 1} for "
      f"{config.objective}; got {config.round_length}."
    )
  if objective.sampling not in SAMPLINGS:
    raise ValueError(
      f"{config.objective}: the language-model experiment has no {objective.sampling} sampler "
      f"yet (it samples {', '.join(SAMPLINGS)}; the others run in policy_objectives)."
    )
  for field, known in (("model.kind", MODELS), ("oracle.kind", ORACLES)):
    if config[field.split(".")[0]].kind not in known:
      raise ValueError(f"{field} {config[field.split('.')[0]].kind!r} is unknown; known: {known}.")
  if config.oracle.kind == "text" and config.model.kind == "tiny":
    raise ValueError("the text oracle needs a model with a tokenizer (model.kind=smollm2).")
  if config.oracle.head not in models.HEADS:
    raise ValueError(f"oracle.head must be one of {models.HEADS}, got {config.oracle.head!r}.")
  if config.model.adapter != "lora":
    raise ValueError(f"model.adapter must be 'lora' here, got {config.model.adapter!r}.")
  if config.samples < (1 if objective.sampling == "policy_vs_mixture" else 2):
    raise ValueError(f"{config.objective} needs samples >= 2 (responses per prompt).")
  for name in ("batch_prompts", "max_new_tokens", "eval_prompts"):
    if int(config[name]) < 1:
      raise ValueError(f"{name} must be >= 1, got {config[name]}.")
  if config.prompts.path and not os.path.isfile(config.prompts.path):
    raise ValueError(f"prompts.path: no file at {config.prompts.path!r}.")
  if config.model.path and not os.path.isfile(config.model.path):
    raise ValueError(f"model.path: no GGUF file at {config.model.path!r}.")
  if max(lm_tasks.buckets(config)) + config.max_new_tokens > config.model.max_len:
    raise ValueError(
      f"the largest prompt bucket ({max(lm_tasks.buckets(config))}) plus max_new_tokens "
      f"({config.max_new_tokens}) exceeds model.max_len ({config.model.max_len})."
    )
  if config.oracle.labels not in ("soft", "hard"):
    raise ValueError(f"oracle.labels must be 'soft' or 'hard', got {config.oracle.labels!r}.")
  if not 0 < config.oracle.holdout < 1:
    raise ValueError(f"oracle.holdout must lie in (0, 1), got {config.oracle.holdout}.")
  sweep = train_lib.sweep_from_config(
    config, train_lib.config_hparams(config, FIELDS, Hyper), FIELDS
  )
  if config.model.kind != "tiny" and sweep.num_points > 1:
    raise ValueError("model=smollm2 runs one point (host loop): no vmap.axes, vmap.seeds = 1.")
  losses.check_online_hparams(training.sweep_points(sweep)[0], name="config.{} (or its vmap axis)")


def queries_per_step(objective: losses.Objective, config: ml_collections.ConfigDict) -> int:
  """Oracle queries of one update (all prompts of the batch)."""
  B, K = int(config.batch_prompts), int(config.samples)
  return {
    "policy_pairs": B,
    "uniform_vs_policy": (4 if objective.extragradient else 2) * B,
    "policy_vs_mixture": B * K,
    "policy_win_rate": B * K * (K - 1),
    "pair_win_rates": 2 * B * (K - 1),
    "policy_scores": B * K * (K - 1),
    "mixture_pairs": B,
    "pairs_vs_opponent": 2 * B,
    "uncertain_pairs": B,
  }[objective.sampling]


def make_point_fns(
  config: ml_collections.ConfigDict, objective: losses.Objective, task: lm_tasks.Task
):
  """``init(hp, key)``, ``step(state, hp, rest)`` and ``metrics(state, hp, rest)`` of one point.

  The LM's samplers of the registry's schemes (the pair y, y' is always drawn from the policy: a
  sequence space has no uniform proposal): ``policy_pairs`` labels (y_0, y_1) of each prompt;
  ``uniform_vs_policy`` scores y_0 and y_1 against one opponent sample (EGPO: from the
  extrapolated adapter); ``policy_vs_mixture`` labels each y_k against a sample of the geometric
  mixture; ``policy_win_rate`` gives each y_k its mean win rate against the K - 1 others;
  ``pair_win_rates`` (DNO) the same for y_0 and y_1; ``policy_scores`` (GPO) each y_k the mean
  logit of the oracle's P against the others; ``mixture_pairs`` (IPO-MD) labels (y_0, y_1) drawn
  from the geometric mixture; ``pairs_vs_opponent`` (Nash-MP) scores y_0 and y_1 against one sample
  of mu; ``uncertain_pairs`` labels, of the K(K - 1)/2 pairs of distinct samples, the one with the
  smallest implicit-reward margin. Iterative objectives sample from pi_t (the ``anchor`` adapter)
  and read its log-probabilities as the anchor.
  """
  graphdef, treedef = task.graphdef, jax.tree.structure(task.lora)
  prompts, start = jnp.asarray(task.tokens), jnp.asarray(task.start)
  n, B, K = prompts.shape[0], int(config.batch_prompts), int(config.samples)
  eval_rows = jnp.arange(int(config.eval_prompts)) % n
  kw = dict(
    max_new_tokens=int(config.max_new_tokens), eos_id=task.eos_id, top_p=float(config.top_p)
  )
  hard = config.oracle.labels == "hard"

  def split(lora, rest):
    return (graphdef, jax.tree.unflatten(treedef, lora), rest)

  def sample(lora, rest, rows, key, hp, **extra):
    rows_prompts, rows_start = training.shard_batch((prompts[rows], start[rows]))
    out = models.sample_padded(
      split(lora, rest), rows_prompts, rows_start, key, temperature=hp.temperature, **kw, **extra
    )
    return training.shard_batch(out)

  def init(hp: Hyper, key: PRNGKey) -> PointState:
    k_lora, k_eval, k_run = jax.random.split(key, 3)
    leaves = training.shard_params(lm_tasks.init_adapter(task, k_lora))
    opt_state = training.shard_params(optax.adam(hp.learning_rate).init(leaves))
    zero = jnp.zeros((), jnp.int32)
    return PointState(leaves, opt_state, k_run, k_eval, jnp.zeros(()), zero, leaves, leaves, leaves)

  def step(state: PointState, hp: Hyper, rest) -> PointState:
    rest = training.shard_params(rest)  # FSDP: the frozen weights split too (a no-op off-mesh)
    key, k_rows, k_pol, k_opp = jax.random.split(state.key, 4)
    lora, anchor, previous, opponent = losses.objective_rounds(
      objective,
      losses.Rounds(state.lora, state.anchor, state.previous, state.opponent),
      state.count,
      round_length=int(config.round_length),
      momentum=hp.momentum,
    )
    rows = jnp.repeat(jax.random.choice(k_rows, n, (B,), replace=n < B), K)
    mixed = {"mixture": hp.mixture} if objective.sampling == "mixture_pairs" else {}
    pol = sample(anchor if objective.iterative else lora, rest, rows, k_pol, hp, **mixed)
    tokens, mask, first = pol.full()

    def logps(lora, gate):
      model = nnx.merge(*split(lora, rest))
      return models.sequence_log_probs(
        model, tokens, mask, start=first, gate=jnp.full((B * K,), gate)
      )

    ref = logps(lora, 0.0)
    anchor_logp = jax.lax.stop_gradient(logps(anchor, 1.0)) if objective.iterative else None
    feats = task.features(rows, pol.tokens, pol.mask)
    pairs = feats.reshape(B, K, *feats.shape[1:])
    loss_of = losses.objective_loss(objective, hp)

    def opponent_features(opponent, rows, **extra):
      o = sample(jax.lax.stop_gradient(opponent), rest, rows, k_opp, hp, **extra)
      return task.features(rows, o.tokens, o.mask)

    def label(a, b):
      pref = task.prefer(a, b)
      return jnp.where(pref == 0.5, 0.5, (pref > 0.5).astype(pref.dtype)) if hard else pref

    def versus_others(score):  # [B * K]: each response's mean score against its K - 1 siblings
      shifted = [jnp.roll(pairs, s, axis=1).reshape(feats.shape) for s in range(1, K)]
      return sum(score(feats, o) for o in shifted) / (K - 1)

    def batch_loss(lora, extrapolated) -> Array:
      logp = logps(lora, 1.0)
      sg = jax.lax.stop_gradient(logp) if anchor_logp is None else anchor_logp
      lp, rf, an = logp.reshape(B, K), ref.reshape(B, K), sg.reshape(B, K)
      pair = dict(logp=lp[:, 0], logp2=lp[:, 1], ref_logp=rf[:, 0], ref_logp2=rf[:, 1])
      pair_anchor = dict(anchor=an[:, 0], anchor2=an[:, 1])
      sampling = objective.sampling
      if sampling in ("policy_pairs", "mixture_pairs"):
        ex = losses.Example(**pair, **pair_anchor, pref=label(pairs[:, 0], pairs[:, 1]))
      elif sampling == "uniform_vs_policy":
        o = opponent_features(extrapolated, rows[::K])
        ex = losses.Example(
          **pair, win=task.prefer(pairs[:, 0], o), win2=task.prefer(pairs[:, 1], o)
        )
      elif sampling == "pairs_vs_opponent":  # Nash-MP: against one sample of mu
        o = opponent_features(opponent, rows[::K])
        win, win2 = label(pairs[:, 0], o), label(pairs[:, 1], o)
        ex = losses.Example(**pair, **pair_anchor, win=win, win2=win2)
      elif sampling == "policy_vs_mixture":
        pref = task.prefer(feats, opponent_features(extrapolated, rows, mixture=hp.mixture))
        ex = losses.Example(logp=logp, ref_logp=ref, pref=pref)
      elif sampling == "policy_win_rate":
        ex = losses.Example(logp=logp, anchor=sg, win=versus_others(task.prefer))
      elif sampling == "pair_win_rates":  # DNO: r_t of y_0 and y_1 from their siblings
        win = versus_others(task.prefer).reshape(B, K)
        ex = losses.Example(**pair, **pair_anchor, win=win[:, 0], win2=win[:, 1])
      elif sampling == "policy_scores":  # GPO: the oracle's score logit P against the siblings

        def score(a, b):
          p = jnp.clip(task.prefer(a, b), 1e-6, 1 - 1e-6)
          return jnp.log(p) - jnp.log1p(-p)

        ex = losses.Example(logp=logp, anchor=sg, score=versus_others(score))
      else:  # uncertain_pairs: the pair of distinct samples nearest a tie under the policy
        i, j = np.triu_indices(K, 1)
        margin = jnp.abs((an - rf)[:, i] - (an - rf)[:, j])  # [B, K(K-1)/2]
        toks = pol.tokens.reshape(B, K, -1)
        same = jnp.all(toks[:, i] == toks[:, j], axis=-1)
        pick = jax.nn.one_hot(jnp.argmin(jnp.where(same, jnp.inf, margin), -1), len(i))

        def at(x, idx):  # [B, K, ...] at the picked pair's first (idx = i) or second element
          w = jnp.einsum("bp,pk->bk", pick, jax.nn.one_hot(idx, K, dtype=pick.dtype))
          return jnp.einsum("bk,bk...->b...", w.astype(x.dtype), x)

        picked = [at(pairs, i), at(pairs, j)]
        ex = losses.Example(
          logp=at(lp, i),
          logp2=at(lp, j),
          ref_logp=at(rf, i),
          ref_logp2=at(rf, j),
          anchor=at(an, i),
          anchor2=at(an, j),
          pref=label(*picked),
        )
      return jnp.mean(jax.vmap(loss_of)(ex))

    out = losses.objective_step(
      objective, batch_loss, optax.adam(hp.learning_rate), lora, state.opt_state
    )
    params, opt_state, anchor, previous, opponent = training.shard_params(
      (out.params, out.opt_state, anchor, previous, opponent)
    )
    return PointState(
      params, opt_state, key, state.eval_key, out.loss, state.count + 1, anchor, previous, opponent
    )

  def point_metrics(state: PointState, hp: Hyper, rest) -> dict[str, Array]:
    eval_prompts, eval_start = training.shard_batch((prompts[eval_rows], start[eval_rows]))
    out = models.evaluate_vs_reference(
      split(state.lora, training.shard_params(rest)),
      eval_prompts,
      eval_start,
      state.eval_key,
      features=lambda t, m: task.features(eval_rows, t, m),
      prefer=task.prefer,
      reward=task.reward,
      temperature=hp.temperature,
      clusters=n if eval_rows.shape[0] % n == 0 else None,  # standard error over prompts
      **kw,
    )
    return {**out, "loss": state.loss}

  return init, step, point_metrics


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains the adapter at every sweep point (tiny) or in a host loop (SmolLM2); returns results."""
  objective, task = losses.get_objective(config.objective), lm_tasks.make_task(config)
  init, step, point_metrics = make_point_fns(config, objective, task)
  if config.model.kind != "tiny":
    return lm_tasks.host_run(config, workdir, task, (init, step, point_metrics))
  sweep = train_lib.sweep_from_config(
    config, train_lib.config_hparams(config, FIELDS, Hyper), FIELDS
  )
  program = training.Program(
    init, lambda s, hp, t: step(s, hp, task.rest), lambda s, hp: point_metrics(s, hp, task.rest)
  )
  out = training.run_sweep(
    program, sweep, workdir=workdir, name=config.objective, **train_lib.run_options(config)
  )
  results = {
    "objective": config.objective,
    "loss": objective.loss,
    "sampling": objective.sampling,
    "model": config.model.kind,
    "queries_per_step": queries_per_step(objective, config),
    **common.sweep_summary(out),
    **task.info,
  }
  if jax.process_index() == 0:
    print(
      f"\n{config.objective} ({objective.loss}), {sweep.num_seeds} seeds, {config.steps} steps:"
    )
    for i, label in enumerate(sweep.labels()):
      cells = [
        f"{m} {np.ravel(results['final'][m]['mean'])[i]:.3f} ± "
        f"{np.ravel(results['final'][m]['ci95'])[i]:.3f}"
        for m in ("win_rate", "kl", "reward")
      ]
      print(f"  {label}: " + ", ".join(cells))
    if config.plot:
      path = os.path.join(workdir, "curves.png")
      training.plot_sweep_curves(
        out.history, out.log_steps, sweep, path, metrics=["win_rate", "kl", "reward"],
        log_scale=False,
      )  # fmt: skip
      print(f"Wrote {path}")
  return results
