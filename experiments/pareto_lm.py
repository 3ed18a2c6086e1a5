"""Multi-objective alignment of a language model: one Panacea-conditioned decoder vs MODPO.

Config: ``configs/pareto_lm.py``. A random-init decoder (``lm_tasks.tiny_task``) with Panacea's
SVD-LoRA adapter (``adapter="svd_lora"``: the preference vector w enters the adapted projections'
singular values; the adapter off is the reference) answers random token prompts. Two objectives
are mean token rewards ``r_i(y) = mean_t u_i[y_t]`` with ``u ~ N(0, I)`` mixed to correlation
``synthetic.correlation`` (conflicting when negative). Methods, each its own ``run_sweep`` (seeds,
vmap axes, checkpoints, resumption) in ``workdir/<method>``:

* ``panacea``: ONE conditioned decoder; each step draws w per prompt (uniform on the simplex).
  ``lm.panacea_loss="dpo"`` (Panacea's DPO variant): pairs from the reference, as MODPO's, and
  the linear scalarization ``sum_i w_i L_i`` of the per-objective DPO losses with Bradley-Terry
  labels ``sigmoid(r_i(y) - r_i(y'))``. ``"pg"`` (its RLHF variant): two responses per prompt
  from the policy given w and a policy-gradient step on the KL-regularized scalarized reward
  ``w^T r(y) - kl_coef log(pi(y)/pi_ref(y))``, the other response as baseline (RLOO).
* ``modpo``: one adapter per weight of ``lm.modpo_weights``, trained with ``losses.modpo`` on pairs
  sampled from the reference: the objective with the larger weight labels the pair by
  Bradley-Terry (``sigmoid(r(y) - r(y'))``), the other enters as the margin; its population
  optimum is Panacea's target at that weight, ``pi_ref exp(w^T r / kl_coef)``.

* ``rewarded_soups``: two experts (DPO on one objective's labels each, the same pairs), their
  adapter parameters interpolated (``pareto.interpolate_params``) on the weight grid.
* ``ls``, ``mgda``, ``pcgrad``, ``upgrad``, ``dualproj``: one adapter per weight of
  ``lm.modpo_weights`` trained on the vector of the two per-objective DPO losses, combined by
  linear scalarization (``ls``, Panacea's loss at a fixed weight) or by a gradient aggregator
  through the Gramian-only route (``pareto.aggregate`` with ``pareto.aggregator_weighting``).

Every front is evaluated on the same prompts with the same keys: ``J_i = E r_i - kl_coef KL``
(sampled KL), Panacea on an ``lm.grid``-point weight grid and on MODPO's weights. Reported per
seed with 95% intervals: hypervolume (reference point = the reference policy's rewards minus
``hv_margin`` on each axis: the same for both methods), Panacea's HV over MODPO's (coverage),
controllability (Spearman of w_i with J_i, the smaller of the two), models trained, wall time.
No closed-form front exists for a sequence policy.
"""

import functools
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments import common, lm_tasks, train_lib
from experiments.pareto_programs import simplex_draws
from jaxpref import data, losses, models, pareto, training
from jaxpref.training import _plots
from jaxpref.types import Array, PRNGKey

METHODS = (
  "panacea", "modpo", "rewarded_soups", "cpo", "dpa", "ls", "mgda", "pcgrad", "upgrad", "dualproj"
)  # fmt: skip
PROMPTED = ("cpo", "dpa")  # Conditioned by preference tokens in the prompt, not the adapter.


class Hyper(NamedTuple):
  """Traced hyperparameters (vmappable: ``lm.learning_rate``, ``lm.kl_coef``)."""

  learning_rate: float
  kl_coef: float


FIELDS = {"lm.learning_rate": "learning_rate", "lm.kl_coef": "kl_coef"}


class State(NamedTuple):
  """One point: the adapter leaves (stacked per weight for MODPO), Adam state, keys, last loss.

  ``extra`` is method-specific: DPA's adapter at the start of the round (it samples the round's
  candidates), CPO's ``[2, n, 2]`` reward range (lowest, highest) per prompt under the reference.
  """

  lora: list[Array]
  opt_state: Any
  key: PRNGKey
  eval_key: PRNGKey
  loss: Array
  extra: Any = None


class Setup(NamedTuple):
  """What every method shares: the decoder, the two objectives and the prompts.

  ``rewards(rows, tokens, mask)`` gives ``[N, 2]`` rewards of responses to prompts ``rows``;
  ``prompted(method)`` gives ``([G, n, P'] tokens, [G, n] start)``: every prompt carrying the
  preference tokens of grid weight g (CPO's target, DPA's direction) in the method's format.
  """

  task: lm_tasks.Task
  rewards: Any
  prompted: Any


def task_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The fields ``lm_tasks.tiny_task`` reads: Panacea's SVD-LoRA adapter, two objectives."""
  return lm_tasks.tiny_task_config(config, adapter="svd_lora", num_objectives=2)


def token_rewards(config: ml_collections.ConfigDict) -> Array:
  """``[2, V]`` token rewards with correlation ``synthetic.correlation``."""
  c = float(config.synthetic.correlation)
  z = jax.random.normal(jax.random.fold_in(jax.random.key(config.seed), 11), (2, config.lm.vocab))
  return jnp.stack([z[0], c * z[0] + np.sqrt(1 - c**2) * z[1]])


def modpo_weights(config: ml_collections.ConfigDict) -> np.ndarray:
  """``[k, 2]`` MODPO's weight vectors from ``lm.modpo_weights`` (weights of objective 1)."""
  w1 = np.array(common.floats(config.lm.modpo_weights))
  return np.stack([w1, 1 - w1], axis=1)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks methods, weights, sizes and the swept values before anything compiles."""
  common.known_names(config.methods, METHODS, field="methods", what="method")
  try:
    w = modpo_weights(config)
  except ValueError:
    raise ValueError(
      f"lm.modpo_weights must be numbers; got {config.lm.modpo_weights!r}."
    ) from None
  if w.size == 0 or not np.all((w[:, 0] > 0) & (w[:, 0] < 1)):
    raise ValueError(
      f"lm.modpo_weights: each weight of objective 1 must lie in (0, 1) (on the simplex, both "
      f"objectives present); got {config.lm.modpo_weights!r}."
    )
  if config.lm.panacea_loss not in ("dpo", "pg"):
    raise ValueError(f"lm.panacea_loss must be 'dpo' or 'pg'; got {config.lm.panacea_loss!r}.")
  if not -1 < config.synthetic.correlation < 1:
    raise ValueError(
      f"synthetic.correlation must lie in (-1, 1); got {config.synthetic.correlation}."
    )
  if config.lm.grid < 2 or config.lm.batch_prompts < 1 or config.lm.eval_prompts < 1:
    raise ValueError("lm.grid must be >= 2 and lm.batch_prompts, lm.eval_prompts >= 1.")
  lm = config.lm
  if lm.model not in ("tiny", "smollm2"):
    raise ValueError(f"lm.model must be 'tiny' or 'smollm2'; got {lm.model!r}.")
  if lm.cpo_temperature < 0 or lm.dpa_samples < 1 or lm.dpa_rounds < 1:
    raise ValueError("lm.cpo_temperature must be >= 0 and lm.dpa_samples, lm.dpa_rounds >= 1.")
  if lm.cpo_range_samples < 2:
    raise ValueError(f"lm.cpo_range_samples must be >= 2; got {lm.cpo_range_samples}.")
  if lm.model == "tiny" and lm.vocab - 2 - lm.grid < 0:
    raise ValueError(
      f"lm.vocab={lm.vocab} has no room for the {lm.grid + 1} preference tokens of CPO/DPA."
    )
  judges = common.names(config.smollm2.judges)
  if lm.model == "smollm2" and (len(judges) != 2 or not set(judges) <= set(data.JUDGES)):
    raise ValueError(
      f"smollm2.judges must name two of {', '.join(data.JUDGES)}; got {config.smollm2.judges!r}."
    )
  lm_tasks.buckets(task_config(config))
  points, _ = training.sweep_points(sweep(config))
  for path, name in FIELDS.items():
    values = np.asarray(getattr(points, name))
    if not np.all(values > 0):
      raise ValueError(f"{path} must be > 0; got {sorted(set(values.tolist()))}.")


def sweep(config: ml_collections.ConfigDict) -> training.Sweep:
  """The (hyperparameter, seed) sweep from ``config.lm`` and ``config.vmap``."""
  hparams = train_lib.config_hparams(config, FIELDS, Hyper)
  return train_lib.sweep_from_config(config, hparams, FIELDS)


class Method(NamedTuple):
  """A method's program, its fronts ``(state, hp) -> {name: [k, 2]}`` and weights evaluated."""

  program: training.Program
  fronts: Any
  weights: np.ndarray
  models: int


def make_method(config: ml_collections.ConfigDict, setup: Setup, method: str) -> Method:
  """The per-point program of one method on the setup's decoder."""
  lm, task, rewards = config.lm, setup.task, setup.rewards
  graphdef, treedef = task.graphdef, jax.tree.structure(task.lora)
  prompts, start = jnp.asarray(task.tokens), jnp.asarray(task.start)
  n, B, E = prompts.shape[0], int(lm.batch_prompts), int(lm.eval_prompts)
  kw = dict(max_new_tokens=int(lm.max_new_tokens), eos_id=task.eos_id)
  grid = jnp.asarray(pareto.das_dennis(2, int(lm.grid)), jnp.float32)
  G = grid.shape[0]
  mw = jnp.asarray(modpo_weights(config), jnp.float32)
  if method in PROMPTED:
    ctok, cstart = (jnp.asarray(x) for x in setup.prompted(method))

  neutral = jnp.array([0.5, 0.5])  # the adapter's (constant) input where it is not conditioned
  single = method in ("panacea", *PROMPTED)  # one adapter; the others stack one per row of:
  stacked = mw if method != "rewarded_soups" else jnp.eye(2)
  # Weights (and stacked adapters) together (vmap) on the tiny decoder, one after the other on
  # SmolLM2, whose [rows, length, 49152] logits for every weight at once would not fit in memory.
  over = jax.vmap if lm.model == "tiny" else lambda f: lambda xs: jax.lax.map(f, xs)
  free = jnp.array([True, False])  # CPO: objective 1 conditioned on a target level, 2 maximised
  round_len = max(1, int(config.steps) // max(1, int(lm.dpa_rounds)))  # DPA's steps per round
  task_leaves = jax.tree.leaves(task.lora)  # the reference ignores them (adapter off)

  def split(lora):
    return (graphdef, jax.tree.unflatten(treedef, lora), task.rest)

  def logps(lora, samples, gate, w):
    tokens, mask, first = samples.full()
    N = tokens.shape[0]
    model = nnx.merge(*split(lora))
    return models.sequence_log_probs(
      model, tokens, mask, start=first, gate=jnp.full((N,), gate), weights=w
    )

  def sample(lora, rows, key, w, reference=False, toks=None, st=None):
    toks, st = (prompts[rows], start[rows]) if toks is None else (toks, st)
    return models.sample_padded(split(lora), toks, st, key, weights=w, reference=reference, **kw)

  def panacea_step(state: State, hp, t: Array) -> State:
    key, k_rows, k_w, k_pol = jax.random.split(state.key, 4)
    rows = jnp.repeat(jax.random.choice(k_rows, n, (B,), replace=n < B), 2)
    w = jnp.repeat(simplex_draws(k_w, B, 2), 2, axis=0)  # [2B, 2], Dirichlet(1)
    if lm.panacea_loss == "dpo":  # the reference's pairs, as MODPO's
      pairs = sample(state.lora, rows, k_pol, w, reference=True)
    else:
      pairs = sample(state.lora, rows, k_pol, w)
    r = rewards(rows, pairs.tokens, pairs.mask)
    ref = logps(state.lora, pairs, 0.0, w)

    def objective(lora):
      lp = logps(lora, pairs, 1.0, w)
      if lm.panacea_loss == "dpo":  # LS of the per-objective DPO losses
        a, b = lp.reshape(B, 2).T, ref.reshape(B, 2).T
        rr = r.reshape(B, 2, 2)
        ex = losses.Example(logp=a[0], logp2=a[1], ref_logp=b[0], ref_logp2=b[1])
        per = jnp.stack([
          jax.vmap(lambda e: losses.dpo(e, kl_coef=hp.kl_coef)[0])(
            ex._replace(pref=jax.nn.sigmoid(rr[:, 0, i] - rr[:, 1, i]))
          )
          for i in range(2)
        ], axis=-1)  # fmt: skip
        return jnp.mean(jnp.sum(w[::2] * per, axis=-1))
      s = jax.lax.stop_gradient(jnp.sum(w * r, -1) - hp.kl_coef * (lp - ref)).reshape(B, 2)
      advantage = (s - s[:, ::-1]).reshape(-1)  # the other response as baseline (RLOO)
      return -jnp.mean(advantage * lp)

    loss, grads = jax.value_and_grad(objective)(state.lora)
    updates, opt_state = optax.adam(hp.learning_rate).update(grads, state.opt_state)
    return State(optax.apply_updates(state.lora, updates), opt_state, key, state.eval_key, loss)

  def prompted_step(state: State, hp, t: Array) -> State:
    """CPO (CDPO on the reference's pairs) or DPA (one rejection-sampling fine-tuning update)."""
    key, k_rows, k_g, k_pol = jax.random.split(state.key, 4)
    rows = jax.random.choice(k_rows, n, (B,), replace=n < B)
    g = jax.random.randint(k_g, (B,), 0, G)  # the grid weight each prompt carries
    toks, st = ctok[g, rows], cstart[g, rows]
    if method == "cpo":
      cond = jnp.broadcast_to(neutral, (2 * B, 2))
      pairs = sample(state.lora, jnp.repeat(rows, 2), k_pol, cond, reference=True,
                     toks=jnp.repeat(toks, 2, 0), st=jnp.repeat(st, 2))  # fmt: skip
      r = rewards(jnp.repeat(rows, 2), pairs.tokens, pairs.mask).reshape(B, 2, 2)
      lo, hi = state.extra[0][rows], state.extra[1][rows]  # [B, 2]
      target = lo + grid[g, :1] * (hi - lo)  # level w_1 of objective 1's range (2 is free)
      ref = logps(state.lora, pairs, 0.0, cond).reshape(B, 2)

      def objective(lora):
        lp = logps(lora, pairs, 1.0, cond).reshape(B, 2)
        ex = losses.Example(logp=lp[:, 0], logp2=lp[:, 1], ref_logp=ref[:, 0],
                            ref_logp2=ref[:, 1], margin=r[:, 0], margin2=r[:, 1])  # fmt: skip
        cdpo = lambda e, c: losses.cpo(  # noqa: E731
          e, condition=c, conditioned=free, kl_coef=hp.kl_coef, temperature=lm.cpo_temperature
        )[0]
        return jnp.mean(jax.vmap(cdpo)(ex, target))

      extra = state.extra
    else:  # DPA: a round's candidates come from the adapter at the round's start
      frozen = jax.tree.map(
        lambda f, x: jnp.where(t % round_len == 0, x, f), state.extra, state.lora
      )
      N = int(lm.dpa_samples)
      cond = jnp.broadcast_to(neutral, (N * B, 2))
      draws = sample(frozen, jnp.repeat(rows, N), k_pol, cond,
                     toks=jnp.repeat(toks, N, 0), st=jnp.repeat(st, N))  # fmt: skip
      v = grid[g] / jnp.linalg.norm(grid[g], axis=-1, keepdims=True)  # unit directions [B, 2]
      r = rewards(jnp.repeat(rows, N), draws.tokens, draws.mask).reshape(B, N, 2)
      best = jnp.argmax(pareto.directional_rewards(r, v[:, None, :]), axis=1)
      targets = jax.tree.map(lambda x: x.reshape(B, N, *x.shape[1:])[jnp.arange(B), best], draws)
      cond = cond[:B]

      def objective(lora):  # fine-tuning on the best of N: -log pi(y* | x, v)
        return -jnp.mean(logps(lora, targets, 1.0, cond))

      extra = frozen
    loss, grads = jax.value_and_grad(objective)(state.lora)
    updates, opt_state = optax.adam(hp.learning_rate).update(grads, state.opt_state)
    lora = optax.apply_updates(state.lora, updates)
    return State(lora, opt_state, key, state.eval_key, loss, extra)

  def reward_ranges(key: PRNGKey) -> Array:
    """``[2, n, 2]`` lowest and highest rewards of each prompt over K reference responses."""
    K = int(lm.cpo_range_samples)
    rows = jnp.repeat(jnp.arange(n), K)
    ref = sample(task_leaves, rows, key, jnp.broadcast_to(neutral, (n * K, 2)), reference=True)
    r = rewards(rows, ref.tokens, ref.mask).reshape(n, K, 2)
    return jnp.stack([r.min(1), r.max(1)])

  def dpo_losses(lp, ref, rr, kl_coef):
    """``[2]`` per-objective DPO losses with Bradley-Terry labels of each objective."""
    ex = losses.Example(logp=lp[:, 0], logp2=lp[:, 1], ref_logp=ref[:, 0], ref_logp2=ref[:, 1])
    per = [
      jnp.mean(jax.vmap(lambda e: losses.dpo(e, kl_coef=kl_coef)[0])(
        ex._replace(pref=jax.nn.sigmoid(rr[:, 0, i] - rr[:, 1, i]))
      ))
      for i in range(2)
    ]  # fmt: skip
    return jnp.stack(per)

  def stacked_step(state: State, hp, t: Array) -> State:
    """One update of every stacked adapter on the same pairs from the reference."""
    key, k_rows, k_ref, k_agg = jax.random.split(state.key, 4)
    rows = jnp.repeat(jax.random.choice(k_rows, n, (B,), replace=n < B), 2)
    first = jax.tree.map(lambda x: x[0], state.lora)
    pairs = sample(first, rows, k_ref, jnp.broadcast_to(neutral, (2 * B, 2)), reference=True)
    r = rewards(rows, pairs.tokens, pairs.mask).reshape(B, 2, 2)

    def one(lora, wk, kk):
      cond = jnp.broadcast_to(neutral if method == "rewarded_soups" else wk, (2 * B, 2))
      ref = logps(lora, pairs, 0.0, cond).reshape(B, 2)
      logp = lambda lo: logps(lo, pairs, 1.0, cond).reshape(B, 2)  # noqa: E731
      if method == "modpo":
        primary = jnp.argmax(wk)
        order = jnp.stack([primary, 1 - primary])
        w, rr = wk[order], r[..., order]  # labelled objective first

        def objective(lo):
          lp = logp(lo)
          ex = losses.Example(
            logp=lp[:, 0], logp2=lp[:, 1], ref_logp=ref[:, 0], ref_logp2=ref[:, 1],
            pref=jax.nn.sigmoid(rr[:, 0, 0] - rr[:, 1, 0]), margin=rr[:, 0, 1:],
            margin2=rr[:, 1, 1:],
          )  # fmt: skip
          return jnp.mean(jax.vmap(lambda e: losses.modpo(e, weights=w, kl_coef=hp.kl_coef)[0])(ex))

        return jax.value_and_grad(objective)(lora)
      vector = lambda lo: dpo_losses(logp(lo), ref, r, hp.kl_coef)  # noqa: E731
      if method in ("ls", "rewarded_soups"):  # LS of the per-objective losses (an expert: e_i)
        return jax.value_and_grad(lambda lo: wk @ vector(lo))(lora)
      weighting = pareto.aggregator_weighting(method, wk, key=kk)
      direction, values, weights = pareto.aggregate(vector, lora, weighting)
      return weights @ values, direction

    keys = jax.random.split(k_agg, stacked.shape[0])
    loss, grads = over(lambda a: one(*a))((state.lora, stacked, keys))
    updates, opt_state = jax.vmap(lambda g, o: optax.adam(hp.learning_rate).update(g, o))(
      grads, state.opt_state
    )
    lora = optax.apply_updates(state.lora, updates)
    return State(lora, opt_state, key, state.eval_key, jnp.mean(loss))

  def init(hp, key: PRNGKey) -> State:
    k_lora, k_eval, k_run, k_range = jax.random.split(key, 4)
    leaves = lm_tasks.init_adapter(task, k_lora)
    if single:
      opt = optax.adam(hp.learning_rate).init(leaves)
    else:  # every stacked adapter starts from the same draw
      leaves = [jnp.broadcast_to(x, (stacked.shape[0], *x.shape)) for x in leaves]
      opt = jax.vmap(optax.adam(hp.learning_rate).init)(leaves)
    extra = {"cpo": lambda: reward_ranges(k_range), "dpa": lambda: leaves}.get(method, lambda: None)
    return State(leaves, opt, k_run, k_eval, jnp.zeros(()), extra())

  def values(lora, cond, eval_key, kl_coef, g=None):
    """``[2]`` ``J_i = E r_i - kl_coef KL`` on the evaluation prompts, preference input cond.

    ``g``: the grid weight whose preference tokens the prompts carry (CPO, DPA).
    """
    rows = jnp.arange(E) % n
    ww = jnp.broadcast_to(cond, (E, 2))
    toks, st = (None, None) if g is None else (ctok[g, rows], cstart[g, rows])
    pol = sample(lora, rows, eval_key, ww, toks=toks, st=st)
    kl = jnp.mean(logps(lora, pol, 1.0, ww) - logps(lora, pol, 0.0, ww))
    return jnp.mean(rewards(rows, pol.tokens, pol.mask), 0) - kl_coef * kl, kl

  def fronts(state: State, hp) -> dict[str, Array]:
    at = lambda lo, c: values(lo, c, state.eval_key, hp.kl_coef)  # noqa: E731
    if method in PROMPTED:  # the prompt carries the weight; the adapter's input stays neutral
      J, kl = over(lambda g: values(state.lora, neutral, state.eval_key, hp.kl_coef, g))(
        jnp.arange(G)
      )
      return {"front": J, "kl": kl}
    if method == "rewarded_soups":  # the experts' parameters interpolated on the grid
      J, kl = over(lambda w: at(pareto.interpolate_params(state.lora, w), neutral))(grid)
      return {"front": J, "kl": kl}
    if method != "panacea":
      J, kl = over(lambda a: at(*a))((state.lora, mw))
      return {"front": J, "kl": kl}
    J, kl = over(lambda w: at(state.lora, w))(grid)
    Jm, _ = over(lambda w: at(state.lora, w))(mw)
    return {"front": J, "kl": kl, "front_at_modpo_weights": Jm}

  def metrics(state: State, hp) -> dict[str, Array]:
    del hp  # the fronts are evaluated once, after training (one compiled sampler, not per log)
    return {"loss": state.loss}

  step = prompted_step if method in PROMPTED else panacea_step if single else stacked_step
  on_grid = single or method == "rewarded_soups"  # else one adapter per MODPO weight
  weights = pareto.das_dennis(2, int(lm.grid)) if on_grid else modpo_weights(config)
  models_trained = 1 if single else stacked.shape[0]
  return Method(training.Program(init, step, metrics), fronts, weights, models_trained)


def _reference_values(config, setup: Setup) -> np.ndarray:
  """``[2]`` the reference policy's expected rewards on the evaluation prompts (seed 0's key)."""
  lm, task = config.lm, setup.task
  rows = jnp.arange(int(lm.eval_prompts)) % task.tokens.shape[0]

  @jax.jit
  def values(key, rest):  # the frozen weights an argument: no folding of SmolLM2's constants
    pol = models.sample_padded(
      (task.graphdef, task.lora, rest), jnp.asarray(task.tokens)[rows],
      jnp.asarray(task.start)[rows], key, max_new_tokens=int(lm.max_new_tokens),
      eos_id=task.eos_id, reference=True, weights=jnp.full((rows.shape[0], 2), 0.5),
    )  # fmt: skip
    return jnp.mean(setup.rewards(rows, pol.tokens, pol.mask), 0)

  return np.asarray(values(jax.random.key(config.seed), task.rest))


def tiny_setup(config: ml_collections.ConfigDict) -> Setup:
  """The random-init decoder, two correlated token rewards, one level token per grid weight."""
  task = lm_tasks.tiny_task(task_config(config))
  U = token_rewards(config)
  G = int(config.lm.grid) + 1
  raw = [list(t[s:]) for t, s in zip(task.tokens, task.start, strict=True)]
  # Grid weight g is the token vocab - 1 - G + g (below the end token) before the prompt.
  level = [[config.lm.vocab - 1 - G + g, *r] for g in range(G) for r in raw]
  toks, st = models.pad_prompts(
    level, pad_id=0, buckets=lm_tasks.buckets(task_config(config)), max_len=config.lm.max_len,
    max_new_tokens=int(config.lm.max_new_tokens),
  )  # fmt: skip
  prompted = (toks.reshape(G, len(raw), -1), st.reshape(G, len(raw)))
  return Setup(
    task,
    lambda rows, tokens, mask: lm_tasks.mean_token_rewards(U, tokens, mask),
    lambda method: prompted,
  )


def smollm2_setup(config: ml_collections.ConfigDict) -> Setup:
  """SmolLM2 with Panacea's SVD-LoRA, LLMFAO's prompts, the crowd's and GPT-4's MiniLM heads.

  Each objective is the reward of a Bradley-Terry head fitted on one judge's LLMFAO verdicts of
  the same responses (``lm_tasks.judge_heads``), computed on the host from the decoded texts.
  CPO's prompts state the target as weights, DPA's the unit direction.
  """
  lm, sm = config.lm, config.smollm2
  path = sm.path or models.smollm2_path()
  model = models.load_llama_gguf(
    path, max_len=lm.max_len, adapter="svd_lora", adapter_rank=lm.rank, adapter_alpha=lm.alpha,
    adapter_targets=tuple(t.strip() for t in lm.targets.split(",")), num_objectives=2,
  )  # fmt: skip
  graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
  tokenizer = models.load_bpe_gguf(path)
  names = common.names(sm.judges)
  tables = {j: data.load_llmfao_texts(judge=j) for j in names}
  texts = tables[names[0]]
  judged = sorted({int(p) for p in texts.prompt})  # the prompts the judges saw
  prompts = [texts.prompts[p] for p in judged][: int(sm.prompts) or None]
  system = models.CHATML_SYSTEM if sm.system else None
  buckets = lm_tasks.buckets(task_config(config))

  def pad(items):
    ids = [tokenizer.encode_chat(t, system=system) for t in items]
    return models.pad_prompts(
      ids, pad_id=0, buckets=buckets, max_len=lm.max_len, max_new_tokens=int(lm.max_new_tokens)
    )

  tokens, start = pad(prompts)
  oracle, heads, report = lm_tasks.judge_heads(
    tables, jax.random.key(config.seed), holdout=sm.holdout, seed=config.seed,
    steps=sm.head_steps, l2=sm.l2,
  )  # fmt: skip
  grid = pareto.das_dennis(2, int(lm.grid))

  @functools.cache  # make_method asks once per traced program
  def prompted(method):
    def tag(w):
      if method == "dpa":
        w = w / np.linalg.norm(w)
        return f"[Preference direction: {names[0]} {w[0]:.2f}, {names[1]} {w[1]:.2f}]"
      return f"[Preference weights: {names[0]} {w[0]:.1f}, {names[1]} {w[1]:.1f}]"

    toks, st = pad([f"{tag(w)} {t}" for w in grid for t in prompts])
    return toks.reshape(len(grid), len(prompts), -1), st.reshape(len(grid), len(prompts))

  def host_rewards(rows, toks, mask):
    decoded = [
      tokenizer.decode(t[k], skip_special=True)
      for t, k in zip(np.asarray(toks), np.asarray(mask), strict=True)
    ]
    phi = oracle.embed([prompts[i] for i in np.asarray(rows)], decoded)
    return np.stack([np.asarray(heads[j].features(phi)[0]) for j in names], -1).astype(np.float32)

  def rewards(rows, toks, mask):
    shape = jax.ShapeDtypeStruct((toks.shape[0], 2), jnp.float32)
    return jax.pure_callback(host_rewards, shape, rows, toks, mask, vmap_method="sequential")

  info = {"oracle": f"MiniLM + BT heads of {', '.join(names)} on LLMFAO", "judges": report}
  task = lm_tasks.Task(
    graphdef, lora, rest, tokens, start, tokenizer.eos_id, None, None, None, info
  )
  return Setup(task, rewards, prompted)


class HostRun(NamedTuple):
  """What :func:`run` reads of a run: ``run_sweep``'s fields and the evaluated fronts."""

  history: dict[str, np.ndarray]
  steps_per_second: float
  resumed_from: int | None
  fronts: dict[str, np.ndarray]


def host_sweep(
  config: ml_collections.ConfigDict, setup: Setup, method: str, sw: training.Sweep, workdir: str
) -> HostRun:
  """Runs one method's points one after the other from Python with the frozen weights passed in.

  For SmolLM2: closed over (as ``run_sweep``'s programs close over the tiny model), 135M frozen
  weights would be compile-time constants that XLA spends minutes folding. Here each program is
  the method's own, traced with the weights as an argument; the seeds' keys are ``run_sweep``'s
  (``training.seed_keys``) and the step index runs from 0, as there. No checkpoints.
  """

  def bound(rest):
    return make_method(config, setup._replace(task=setup.task._replace(rest=rest)), method)

  init = jax.jit(lambda hp, key, r: bound(r).program.init(hp, key))
  step = jax.jit(lambda s, hp, t, r: bound(r).program.step(s, hp, t))
  read = jax.jit(lambda s, hp, r: bound(r).program.metrics(s, hp))
  fronts = jax.jit(lambda s, hp, r: bound(r).fronts(s, hp))
  rest, options = setup.task.rest, train_lib.run_options(config)
  hps, seeds = training.sweep_points(sw)
  keys = training.seed_keys(sw.seed, seeds)
  history, evaluated, start = [], [], time.perf_counter()
  with training.MetricWriter(workdir, tensorboard=options["tensorboard"]) as writer:
    for i in range(sw.num_points):
      hp = jax.tree.map(lambda v, i=i: jnp.asarray(v[i], jnp.float32), hps)
      state, logs = init(hp, keys[i], rest), []
      for t in range(options["steps"]):
        state = step(state, hp, jnp.int32(t), rest)
        if (t + 1) % options["log_every"] == 0 or t + 1 == options["steps"]:
          record = {k: float(v) for k, v in read(state, hp, rest).items()}
          logs.append(record)
          writer.write_scalars(t + 1, {f"point{i}/{k}": v for k, v in record.items()})
          print(f"[{method}] point {i + 1}/{sw.num_points} step {t + 1}/{options['steps']}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in record.items()), flush=True)  # fmt: skip
      history.append({k: [r[k] for r in logs] for k in logs[0]})
      evaluated.append(jax.tree.map(np.asarray, fronts(state, hp, rest)))
  seconds = time.perf_counter() - start
  shape = (*sw.shape, -1)
  return HostRun(
    {k: np.array([h[k] for h in history]).reshape(shape) for k in history[0]},
    sw.num_points * options["steps"] / seconds,
    None,
    {k: np.stack([f[k] for f in evaluated]) for k in evaluated[0]},
  )


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains every method through the engine and compares their fronts; writes results and PNGs."""
  setup = smollm2_setup(config) if config.lm.model == "smollm2" else tiny_setup(config)
  sw = sweep(config)
  ref = _reference_values(config, setup) - float(config.hv_margin)
  fronts, results = {}, {"reference_point": ref.tolist(), "methods": {}, **setup.task.info}
  for method in common.names(config.methods):
    m = make_method(config, setup, method)
    start = time.perf_counter()
    if config.lm.model == "smollm2":
      out = host_sweep(config, setup, method, sw, os.path.join(workdir, method))
      F = out.fronts
    else:
      out = training.run_sweep(
        m.program, sw, workdir=os.path.join(workdir, method), name=method,
        **train_lib.run_options(config),
      )  # fmt: skip
      flat = jax.tree.map(lambda x: x.reshape(sw.num_points, *x.shape[len(sw.shape) :]), out.state)
      hps = jax.tree.map(lambda v: v.astype(np.float32), training.sweep_points(sw)[0])
      F = jax.tree.map(np.asarray, jax.jit(jax.vmap(m.fronts))(flat, hps))
    seconds = time.perf_counter() - start
    fronts[method] = F
    hv = np.array([pareto.hypervolume_host(f, ref_point=ref, sense="max") for f in F["front"]])
    ctrl = np.array([np.min(pareto.controllability(m.weights, f)) for f in F["front"]])
    metrics = {k: v[..., -1] for k, v in out.history.items()}
    metrics |= {"hv": hv.reshape(sw.shape), "controllability": ctrl.reshape(sw.shape)}
    metrics["max_kl"] = F["kl"].max(-1).reshape(sw.shape)
    results["methods"][method] = {
      "metrics": {k: common.stats(v) for k, v in metrics.items()},
      "models_trained": m.models,
      "weights": np.asarray(m.weights).tolist(),  # [k, 2] the weights the front is evaluated at
      "front": F["front"].reshape(*sw.shape, *F["front"].shape[1:]).tolist(),  # [..., k, 2] J
      "wall_time_s": seconds,
      "steps_per_second": out.steps_per_second,
      "resumed_from": out.resumed_from,
    }
    if method == "panacea":
      at = np.array([
        pareto.hypervolume_host(f, ref_point=ref, sense="max")
        for f in F["front_at_modpo_weights"]
      ])  # fmt: skip
      results["methods"][method]["metrics"]["hv_at_modpo_weights"] = common.stats(
        at.reshape(sw.shape)
      )
  if {"panacea", "modpo"} <= set(fronts):
    cover = np.array(results["methods"]["panacea"]["metrics"]["hv"]["values"]) / np.array(
      results["methods"]["modpo"]["metrics"]["hv"]["values"]
    )
    results["coverage"] = common.stats(cover)  # Panacea's HV over MODPO's, per point
  common.write_results(workdir, results)
  if jax.process_index() == 0:
    print(f"pareto_lm: mean ± 95% interval over {sw.num_seeds} seeds (reference point {ref})")
    line = lambda s: f"{np.ravel(s['mean'])[0]:10.4g} ± {np.ravel(s['ci95'])[0]:.2g}"  # noqa: E731
    for method, r in results["methods"].items():
      for name, s in r["metrics"].items():
        print(f"  {method:10s} {name:24s} {line(s)}")
      print(f"  {method:10s} models trained {r['models_trained']}, wall {r['wall_time_s']:.1f} s")
    if "coverage" in results:
      print(f"  coverage (HV panacea / HV modpo) {line(results['coverage'])}")
    if config.plot:
      path = os.path.join(workdir, "pareto_lm_fronts.png")
      _plot(fronts, sw.num_seeds, ref, path)
      print("Wrote " + path)
  return results


def _plot(fronts: dict[str, Any], seeds: int, ref: np.ndarray, path: str) -> None:
  """Both fronts: seed mean (line) and every seed (dots), first hyperparameter point."""
  with _plots.styled():
    fig, axes = _plots.subplots(1, cols=1, panel=(5.4, 4.6), extra_width=2.2)
    ax = axes[0]
    for i, (method, F) in enumerate(fronts.items()):
      st = _plots.style(i)
      front = F["front"][:seeds]
      ax.plot(*front.mean(0).T, color=st["color"], ls=st["linestyle"], marker=st["marker"],
              ms=5, lw=1.4, label=f"{method} (mean over {seeds} seeds)")  # fmt: skip
      for f in front:
        ax.plot(*f.T, ".", ms=3, alpha=0.35, color=st["color"])
    ax.scatter(*ref, marker="x", color="0.3", label="HV reference point")
    ax.set(xlabel="J1 = E r1 - kl_coef KL", ylabel="J2 = E r2 - kl_coef KL", title="pareto_lm")
    _plots.legend_outside(fig)
    _plots.save(fig, path)
