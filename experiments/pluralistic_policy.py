"""Pluralistic alignment at the policy level: one policy for several annotator groups, with seeds.

Config: ``configs/pluralistic_policy.py``. A neural contextual bandit (prompts ``X [P, d]``, ``n``
responses, an MLP policy, the uniform reference) is aligned for ``G`` annotator groups whose
preferences are Bradley-Terry in group rewards ``r_g(x, y)``; group ``g`` holds a share ``rho_g``
of the annotators. Scenarios (each one static run per method, in ``workdir/<scenario>/<method>``):

- ``synthetic``: a majority and a minority (``minority`` share, 0.2 by default) with partly opposed
  rewards ``r = s +- u`` (``s`` shared, ``u`` the disagreement, both linear in x), MaxMin-RLHF's
  setting;
- ``llmfao`` / ``cemschoice``: the groups of a Bradley-Terry :class:`~jaxpref.preference.Mixture`
  fitted to the real comparisons (LLMFAO's crowd is shipped with jaxpref; CEMSChoice is read from
  ``data.paircomp_dir`` and skipped when absent), K chosen by held-out log-likelihood among
  ``real.components``; one prompt, the items as responses, the groups' shares the mixture's;
- ``tiny_lm``: a random-init decoder with a LoRA adapter and two groups' token rewards
  (``experiments/pluralistic_lm.py``; ``dpo``, ``group_robust_dpo`` and ``maxmin_rlhf`` on the
  oracle's group rewards; no exact optimum, so no gaps).

Every group's rewards are centred under the reference per prompt, so a group's value
``J_g(pi) = E_pi r_g - beta KL(pi || ref)`` is its gain over the reference (a BT reward is
identified only up to such a shift). Per seed, ``labels`` comparisons are drawn: a prompt, two
distinct reference responses and an annotator, labelled by the annotator's group; the methods
(the same data at every method, so differences are paired by seed):

- ``dpo``: DPO on the pooled labels (the utilitarian baseline);
- ``group_robust_dpo``: GRPO, DPO with exponentiated-gradient weights on the groups' losses
  (``losses.group_robust_weights``, ``group_batch_weights``, ``group_robust_dpo``; groups known);
- ``aot``: AOT's distributional loss on each minibatch, pooled labels (``aot_paired``: on the
  sorted log-ratio differences; with the uniform reference that is exactly DPO, since sorting only
  permutes the pairs, so the default is the unpaired form, which sorts each side apart);
- ``rlhf``: one BT reward fitted on the pooled labels, then policy gradient (``maxmin_rlhf`` with a
  single group) on ``E r - beta KL``;
- ``maxmin_rlhf``: MaxMin-RLHF: hard-EM groups (``preference.fit_mixture``, ``hard=True``, groups
  not given) with one BT reward each, then policy gradient on the weighted group rewards with the
  weights moved toward the worst-off group (``losses.egalitarian_weights``).

Metrics (exact, from the true group rewards): each group's win rate against the reference
``E_{y~pi, y'~ref} sigmoid(r_g(y) - r_g(y'))`` and value ``J_g``, the worst and the minority
group's, the utilitarian welfare ``sum_g rho_g J_g``, its gap to the exact utilitarian optimum
``ref * exp(sum_g rho_g r_g / beta)`` and the worst value's gap to the exact egalitarian optimum
(``pareto.egalitarian_policy``), and KL. ``results.json`` holds every seed's final values with
mean and 95% interval and the paired differences against ``dpo``; ``pluralistic.png`` draws each
group's win rate per method.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments import common, train_lib
from jaxpref import data, losses, models, pareto, training
from jaxpref import preference as pm
from jaxpref.types import Array, PRNGKey

SCENARIOS = ("synthetic", "llmfao", "cemschoice", "tiny_lm")
METHODS = ("dpo", "group_robust_dpo", "aot", "rlhf", "maxmin_rlhf")
REWARD_METHODS = ("rlhf", "maxmin_rlhf")  # Learn rewards first, then policy gradient.


class Hyper(NamedTuple):
  """The traced hyperparameters of one point."""

  kl_coef: Any
  learning_rate: Any
  group_step_size: Any


FIELDS = {
  "kl_coef": "kl_coef",
  "learning_rate": "learning_rate",
  "group_step_size": "group_step_size",
}


class Task(NamedTuple):
  """The bandit: prompt features, the groups' rewards (centred under the reference), shares."""

  X: np.ndarray  # [P, d]
  rewards: np.ndarray  # [G, P, n]
  shares: np.ndarray  # [G]
  members: np.ndarray  # [U] the group of each simulated annotator
  info: dict[str, Any]  # how the groups were obtained (K chosen, validation log-likelihoods)


class Data(NamedTuple):
  """One seed's labelled comparisons (``[N]`` each)."""

  x: Array
  y: Array
  y2: Array
  annotator: Array
  group: Array
  label: Array


class State(NamedTuple):
  """One point: policy parameters, Adam state, key, group weights, learned rewards, the data."""

  params: Any
  opt_state: Any
  key: PRNGKey
  weights: Array  # [K] GRPO's alpha or MaxMin-RLHF's group weights (ones / K otherwise)
  learned: Array  # [K, P, n] learned group rewards (reward methods; zeros otherwise)
  purity: Array  # share of annotators whose EM group's majority is their true group
  best_welfare: Array  # the exact utilitarian optimum's welfare at this kl_coef
  best_worst: Array  # the exact egalitarian optimum's worst group value at this kl_coef
  data: Data
  loss: Array


def _center(rewards: np.ndarray) -> np.ndarray:
  """Centres ``[..., P, n]`` rewards under the uniform reference per prompt."""
  return rewards - rewards.mean(axis=-1, keepdims=True)


def annotators_of(shares: np.ndarray, count: int) -> np.ndarray:
  """``[count]`` group ids with group g holding ``round(shares[g] * count)`` annotators.

  Raises:
    ValueError: when a group would have no annotator (so no data): the share is too small.
  """
  sizes = np.floor(shares * count + 0.5).astype(int)
  sizes[np.argmax(sizes)] += count - sizes.sum()
  empty = [g for g, s in enumerate(sizes) if s < 1]
  if empty:
    raise ValueError(
      f"group {empty[0]} (share {shares[empty[0]]:.3f}) gets no annotator out of {count}, so no "
      "data: raise config.annotators or the group's share."
    )
  return np.repeat(np.arange(len(shares)), sizes)


def synthetic_task(config: ml_collections.ConfigDict) -> Task:
  """Majority and minority with rewards ``s + u`` and ``s - u`` (``u`` the disagreement)."""
  key = jax.random.key(config.seed)
  k_x, k_s, k_u = jax.random.split(key, 3)
  P, d, n = int(config.prompts), int(config.features), int(config.responses)
  X = np.asarray(jax.random.normal(k_x, (P, d)))
  shared = X @ np.asarray(jax.random.normal(k_s, (d, n))) / np.sqrt(d)
  split = X @ np.asarray(jax.random.normal(k_u, (d, n))) / np.sqrt(d)
  s, u = config.synthetic.shared * shared, config.synthetic.opposed * split
  shares = np.array([1.0 - config.synthetic.minority, config.synthetic.minority])
  rewards = _center(np.stack([s + u, s - u]))
  members = annotators_of(shares, int(config.annotators))
  return Task(X.astype(np.float32), rewards.astype(np.float32), shares, members, {})


def load_table(config: ml_collections.ConfigDict, scenario: str) -> data.Comparisons | None:
  """The real comparisons of a scenario, or None when its file is absent (CEMSChoice)."""
  if scenario == "llmfao":
    return data.load_llmfao(config.data.llmfao or None)
  path = os.path.join(config.data.paircomp_dir, "CEMSChoice.csv")
  return data.load_comparisons(path) if os.path.exists(path) else None


def real_task(config: ml_collections.ConfigDict, table: data.Comparisons) -> Task:
  """Groups of a BT mixture fitted to ``table``, K by held-out log-likelihood; one prompt."""
  pairs = pm.pairs_from_table(table, dtype=jnp.float32)
  n, people = table.num_items, max(table.num_annotators, 1)
  key = jax.random.key(config.seed)
  val = pm.split_masks(jax.random.fold_in(key, 1), table.num_comparisons, config.real.val_fraction)[
    0
  ]
  train = pairs._replace(weight=pairs.weight * ~val)
  scores, fits = [], []
  component = pm.BradleyTerry(n, l2=config.real.l2)
  for k in common.floats(config.real.components):
    model = pm.Mixture(component, int(k), people)
    fit = pm.fit_mixture(
      model, train, jax.random.fold_in(key, int(k)), em_steps=config.real.em_steps
    )
    ll = pm.mixture_log_likelihood(model, fit.params, pairs, fit.responsibilities[pairs.annotator])
    scores.append(float(jnp.sum(jnp.where(val, ll, 0.0)) / jnp.sum(val)))
    fits.append(fit)
  best = int(np.argmax(scores))
  fit = fits[best]
  rewards = _center(np.asarray(fit.params.components["scores"], np.float32))[:, None, :]
  has_data = (
    np.bincount(np.asarray(table.annotator)[np.asarray(table.annotator) >= 0], minlength=people) > 0
  )
  shares = np.asarray(fit.responsibilities)[has_data].mean(axis=0)
  members = annotators_of(shares, int(config.annotators))
  info = {
    "components": [int(k) for k in common.floats(config.real.components)],
    "validation_log_likelihood": scores,
    "chosen_K": int(rewards.shape[0]),
    "shares": shares.tolist(),
    "items": list(table.items),
  }
  return Task(np.ones((1, 1), np.float32), rewards, shares, members, info)


def make_task(config: ml_collections.ConfigDict, scenario: str) -> Task | None:
  """The task of a scenario (None: its data is absent)."""
  if scenario == "synthetic":
    return synthetic_task(config)
  table = load_table(config, scenario)
  return None if table is None else real_task(config, table)


def draw_data(config: ml_collections.ConfigDict, task: Task, key: PRNGKey) -> Data:
  """``labels`` comparisons: prompt, two distinct reference responses, annotator, group label."""
  _, P, n = task.rewards.shape
  N, U = int(config.labels), len(task.members)
  k_x, k_y, k_d, k_a, k_l = jax.random.split(key, 5)
  x = jax.random.randint(k_x, (N,), 0, P)
  y = jax.random.randint(k_y, (N,), 0, n)
  y2 = (y + jax.random.randint(k_d, (N,), 1, n)) % n
  annotator = jax.random.randint(k_a, (N,), 0, U)
  group = jnp.asarray(task.members)[annotator]
  R = jnp.asarray(task.rewards)
  p = jax.nn.sigmoid(R[group, x, y] - R[group, x, y2])
  label = jax.random.bernoulli(k_l, p).astype(R.dtype)
  return Data(x, y, y2, annotator, group, label)


def learn_rewards(
  config: ml_collections.ConfigDict, task: Task, d: Data, key: PRNGKey, method: str
) -> tuple[Array, Array]:
  """``([K, P, n] centred rewards, purity)``: pooled BT (``rlhf``) or hard-EM groups (MaxMin)."""
  G, P, n = task.rewards.shape
  U = len(task.members)
  pairs = pm.make_pairs(d.x * n + d.y, d.x * n + d.y2, d.label, annotator=d.annotator)
  component = pm.BradleyTerry(P * n, l2=config.reward_l2)
  if method == "rlhf":
    scores = pm.fit(component, pairs).params["scores"][None]
    return _center(scores.reshape(1, P, n)), jnp.ones((), scores.dtype)
  K = int(config.components) or G
  model = pm.Mixture(component, K, U, hard=True)
  keys = jax.random.split(key, int(config.em_restarts))
  fits = jax.vmap(
    lambda k: pm.fit_mixture(
      model, pairs, k, em_steps=int(config.em_steps), max_steps=int(config.em_max_steps)
    )
  )(keys)
  fit = jax.tree.map(lambda v: v[jnp.argmax(fits.log_likelihood)], fits)
  assigned = jnp.argmax(fit.responsibilities, axis=-1)  # [U]
  counts = jnp.zeros((K, G)).at[assigned, jnp.asarray(task.members)].add(1.0)
  purity = jnp.sum(jnp.max(counts, axis=1)) / U
  scores = fit.params.components["scores"].reshape(K, P, n)
  return scores - jnp.mean(scores, axis=-1, keepdims=True), purity


def evaluate(task: Task, logp: Array, kl_coef: Array) -> dict[str, Array]:
  """Exact per-group win rates and values, worst / minority group, welfare and KL of ``logp``."""
  R = jnp.asarray(task.rewards)  # [G, P, n]
  G, n = R.shape[0], R.shape[-1]
  pi = jnp.exp(logp)
  log_ref = -jnp.log(n)
  kl = jnp.mean(jnp.sum(pi * (logp - log_ref), axis=-1))
  wins = jnp.mean(jax.nn.sigmoid(R[..., :, None] - R[..., None, :]), axis=-1)  # vs a ref sample
  win = jnp.mean(jnp.sum(pi * wins, axis=-1), axis=-1)  # [G]
  value = jnp.mean(jnp.sum(pi * R, axis=-1), axis=-1) - kl_coef * kl  # [G]
  minority = int(np.argmin(task.shares))
  out = {f"win/g{g}": win[g] for g in range(G)}
  out |= {f"value/g{g}": value[g] for g in range(G)}
  return out | {
    "worst_win": jnp.min(win),
    "minority_win": win[minority],
    "worst_value": jnp.min(value),
    "welfare": jnp.dot(jnp.asarray(task.shares, R.dtype), value),
    "kl": kl,
  }


def references(task: Task, kl_coef: Array, steps: int) -> dict[str, Array]:
  """The exact utilitarian and egalitarian optima's log-policies ``[P, n]``."""
  R = jnp.asarray(task.rewards)
  log_ref = jnp.full(R.shape[1:], -jnp.log(R.shape[-1]), R.dtype)
  mean = jnp.einsum("g,gpn->pn", jnp.asarray(task.shares, R.dtype), R)
  utilitarian = jax.nn.log_softmax(log_ref + mean / kl_coef, axis=-1)
  egal = pareto.egalitarian_policy(log_ref, jnp.moveaxis(R, 0, -1), kl_coef=kl_coef, steps=steps)
  return {"utilitarian": utilitarian, "egalitarian": egal.logp}


def make_program(config: ml_collections.ConfigDict, task: Task, method: str) -> training.Program:
  """The per-point program of one method on one task."""
  G, P, n = task.rewards.shape
  K = (int(config.components) or G) if method == "maxmin_rlhf" else (1 if method == "rlhf" else G)
  X = jnp.asarray(task.X)
  hidden = [int(h) for h in common.names(config.hidden)]
  B, samples = int(config.batch), int(config.samples)
  log_ref = jnp.full((P, n), -jnp.log(n), X.dtype)

  def model(key: PRNGKey) -> models.MLP:
    return models.MLP(X.shape[1], hidden, n, rngs=nnx.Rngs(key))

  graphdef, template = nnx.split(model(jax.random.key(0)))
  treedef = jax.tree.structure(template)

  def logp_of(params) -> Array:
    return jax.nn.log_softmax(nnx.merge(graphdef, jax.tree.unflatten(treedef, params))(X))

  def init(hp: Hyper, key: PRNGKey) -> State:
    k_data, k_init, k_fit, k_run = jax.random.split(key, 4)
    d = draw_data(config, task, k_data)
    params = jax.tree.leaves(nnx.split(model(k_init))[1])
    if method in REWARD_METHODS:
      learned, purity = learn_rewards(config, task, d, k_fit, method)
    else:
      learned, purity = jnp.zeros((K, P, n), X.dtype), jnp.ones((), X.dtype)
    opt_state = optax.adam(hp.learning_rate).init(params)
    weights = jnp.full((K,), 1.0 / K, X.dtype)
    refs = references(task, hp.kl_coef, int(config.egalitarian_steps))
    best_welfare = evaluate(task, refs["utilitarian"], hp.kl_coef)["welfare"]
    best_worst = evaluate(task, refs["egalitarian"], hp.kl_coef)["worst_value"]
    zero = jnp.zeros((), X.dtype)
    return State(
      params, opt_state, k_run, weights, learned, purity, best_welfare, best_worst, d, zero
    )

  def pair_examples(state: State, logp: Array, key: PRNGKey) -> losses.Example:
    d = state.data
    idx = jax.random.randint(key, (B,), 0, d.x.shape[0])
    x, y, y2 = d.x[idx], d.y[idx], d.y2[idx]
    return losses.Example(
      logp=logp[x, y],
      logp2=logp[x, y2],
      ref_logp=log_ref[x, y],
      ref_logp2=log_ref[x, y2],
      pref=d.label[idx],
      group=d.group[idx],
    )

  def step(state: State, hp: Hyper, t: Array) -> State:
    del t
    key, k_batch = jax.random.split(state.key)
    weights = state.weights

    def objective(params):
      logp = logp_of(params)
      if method in REWARD_METHODS:
        draws = jax.random.categorical(k_batch, jax.lax.stop_gradient(logp), shape=(samples, P)).T
        rows = jnp.arange(P)[:, None]
        lp, ref_lp = logp[rows, draws], log_ref[rows, draws]  # [P, S]
        rewards = jnp.moveaxis(state.learned[:, rows, draws], 0, -1)  # [P, S, K]
        regularized = jax.lax.stop_gradient(rewards @ weights - hp.kl_coef * (lp - ref_lp))
        baseline = (jnp.sum(regularized, axis=1, keepdims=True) - regularized) / (samples - 1)
        ex = losses.Example(logp=lp, ref_logp=ref_lp, rewards=rewards, score=baseline)
        per, _ = jax.vmap(
          jax.vmap(lambda e: losses.maxmin_rlhf(e, weights=weights, kl_coef=hp.kl_coef))
        )(ex)
        values = jnp.mean(rewards, axis=(0, 1))  # [K] the groups' sampled rewards
        return jnp.mean(per), values
      ex = pair_examples(state, logp, k_batch)
      if method == "aot":
        chosen = ex.pref > 0.5
        swap = lambda a, b: (jnp.where(chosen, a, b), jnp.where(chosen, b, a))  # noqa: E731
        lw, ll = swap(ex.logp, ex.logp2)
        rw, rl = swap(ex.ref_logp, ex.ref_logp2)
        batch = losses.Example(logp=lw, logp2=ll, ref_logp=rw, ref_logp2=rl)
        loss, _ = losses.aot(batch, kl_coef=hp.kl_coef, paired=bool(config.aot_paired))
        return loss, jnp.zeros((K,), logp.dtype)
      base = jax.vmap(lambda e: losses.dpo(e, kl_coef=hp.kl_coef)[0])(ex)
      if method == "dpo":
        return jnp.mean(base), jnp.zeros((K,), logp.dtype)
      # GRPO: alpha moves by exponentiated gradient on the groups' losses, then weights the batch.
      _, alpha, _ = losses.group_robust_weights(
        weights, jax.lax.stop_gradient(base), ex.group, step_size=hp.group_step_size
      )
      per_group = losses.group_batch_weights(alpha, ex.group)
      per, _ = jax.vmap(
        lambda e: losses.group_robust_dpo(e, weights=per_group, kl_coef=hp.kl_coef)
      )(ex)
      return jnp.mean(per), alpha

    (loss, signal), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    updates, opt_state = optax.adam(hp.learning_rate).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if method == "group_robust_dpo":
      weights = signal
    elif method == "maxmin_rlhf":
      weights = losses.egalitarian_weights(weights, signal, step_size=hp.group_step_size)
    return state._replace(params=params, opt_state=opt_state, key=key, weights=weights, loss=loss)

  def metrics(state: State, hp: Hyper) -> dict[str, Array]:
    logp = logp_of(state.params)
    out = evaluate(task, logp, hp.kl_coef)
    out |= {
      "welfare_gap": state.best_welfare - out["welfare"],
      "egalitarian_gap": state.best_worst - out["worst_value"],
      "purity": state.purity,
      "loss": state.loss,
    }
    return out | {f"weight/k{k}": state.weights[k] for k in range(K)}

  return training.Program(init, step, metrics)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks scenarios, methods, sizes and shares before anything compiles."""
  common.known_names(config.scenarios, SCENARIOS, field="scenarios", what="scenario")
  common.known_names(config.methods, METHODS, field="methods", what="method")
  for field in (
    "prompts",
    "features",
    "labels",
    "annotators",
    "batch",
    "em_steps",
    "em_max_steps",
    "em_restarts",
  ):
    if int(config[field]) < 1:
      raise ValueError(f"config.{field} must be >= 1; got {config[field]}.")
  if int(config.responses) < 2 or int(config.samples) < 2:
    raise ValueError("config.responses and config.samples must be >= 2.")
  if not 0.0 < float(config.synthetic.minority) < 0.5:
    raise ValueError(
      f"config.synthetic.minority is the minority's share, in (0, 1/2); got "
      f"{config.synthetic.minority}."
    )
  if "synthetic" in common.names(config.scenarios):
    annotators_of(
      np.array([1 - config.synthetic.minority, config.synthetic.minority]), int(config.annotators)
    )
  if "tiny_lm" in common.names(config.scenarios):
    lm = config.lm
    for field in ("steps", "batch_prompts", "max_new_tokens", "eval_prompts", "prompts"):
      if int(lm[field]) < 1:
        raise ValueError(f"config.lm.{field} must be >= 1; got {lm[field]}.")
    from experiments import lm_tasks, pluralistic_lm

    longest = max(lm_tasks.buckets(pluralistic_lm.task_config(config)))
    if longest + int(lm.max_new_tokens) > int(lm.max_len):
      raise ValueError(
        f"config.lm: the prompt bucket {longest} plus max_new_tokens {lm.max_new_tokens} exceeds "
        f"max_len {lm.max_len}."
      )
  components = int(config.components)
  if components < 0 or components == 1:
    raise ValueError(
      f"config.components is MaxMin-RLHF's K (0: the true number of groups); got {components}: "
      "K = 1 is the single-reward baseline 'rlhf'."
    )
  ks = common.floats(config.real.components)
  if not ks or min(ks) < 1:
    raise ValueError(f"config.real.components must list K >= 1; got {config.real.components!r}.")
  for value in np.ravel(config.vmap.axes.get("group_step_size", (config.group_step_size,))):
    if float(value) <= 0:
      raise ValueError(f"group_step_size must be > 0; got {value}.")
  for value in np.ravel(config.vmap.axes.get("kl_coef", (config.kl_coef,))):
    if float(value) <= 0:
      raise ValueError(f"kl_coef must be > 0; got {value}.")


def exact_rows(config: ml_collections.ConfigDict, task: Task, betas: list[float]) -> dict:
  """The reference and both exact optima evaluated at each ``kl_coef`` (no seeds: one task)."""
  out = {}
  for beta in betas:
    refs = references(task, jnp.float32(beta), int(config.egalitarian_steps))
    uniform = jnp.full(task.rewards.shape[1:], -np.log(task.rewards.shape[-1]), jnp.float32)
    rows = {"reference": uniform, **refs}
    out[f"{beta:g}"] = {
      name: {k: float(v) for k, v in evaluate(task, logp, jnp.float32(beta)).items()}
      for name, logp in rows.items()
    }
  return out


def summarize(
  history: dict[str, np.ndarray], base: dict[str, np.ndarray] | None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """Final values (mean ± 95% interval over seeds) and the paired differences against ``dpo``."""
  final = {k: np.asarray(v)[..., -1] for k, v in history.items()}
  out = {"final": {k: common.stats(v) for k, v in final.items()}}
  if base is not None:
    out["minus_dpo"] = {
      k: common.stats(final[k] - base[k]) for k in final if k in base and not k.startswith("weight")
    }
  return out, final


def tiny_lm_setup(config: ml_collections.ConfigDict) -> tuple[dict[str, Any], Any, Any, Any]:
  """The ``tiny_lm`` scenario's results entry, program factory, sweep and run config."""
  from experiments import pluralistic_lm

  task, lm_config = pluralistic_lm.make_task(config), pluralistic_lm.run_config(config)
  sweep = train_lib.sweep_from_config(
    lm_config, train_lib.config_hparams(lm_config, FIELDS, Hyper), FIELDS
  )
  entry: dict[str, Any] = {
    "groups": int(task.token_rewards.shape[0]),
    "shares": task.shares.tolist(),
    "info": {"steps": int(lm_config.steps), "learning_rate": float(lm_config.learning_rate)},
    "exact": {},
    "methods": {},
  }
  return entry, lambda m: pluralistic_lm.make_program(config, task, m), sweep, lm_config


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Every scenario x method through the engine; prints the tables, writes results and a PNG."""
  from experiments import pluralistic_lm
  from experiments import pluralistic_policy_report as report

  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  betas = [float(b) for b in np.ravel(config.vmap.axes.get("kl_coef", (config.kl_coef,)))]
  results: dict[str, Any] = {"axes": common.axes_of(sweep)}
  for scenario in common.names(config.scenarios):
    methods = common.names(config.methods)
    if scenario == "tiny_lm":
      entry, program_of, method_sweep, run_config = tiny_lm_setup(config)
      methods = [m for m in methods if m in pluralistic_lm.METHODS]
    else:
      task = make_task(config, scenario)
      if task is None:
        print(f"skipping {scenario}: its data is not at {config.data.paircomp_dir}")
        continue
      entry = {
        "groups": int(task.rewards.shape[0]),
        "shares": task.shares.tolist(),
        "info": {k: v for k, v in task.info.items() if k != "items"},
        "exact": exact_rows(config, task, betas),
        "methods": {},
      }
      program_of, method_sweep, run_config = (
        lambda m, task=task: make_program(config, task, m),
        sweep,
        config,
      )
    base = None  # dpo's final values: the other methods' paired differences
    for method in methods:
      out = training.run_sweep(
        program_of(method),
        method_sweep,
        workdir=os.path.join(workdir, scenario, method),
        name=f"{scenario}/{method}",
        **train_lib.run_options(run_config),
      )
      summary, final = summarize(out.history, base if method != "dpo" else None)
      if method == "dpo":
        base = final
      entry["methods"][method] = summary
      results[scenario] = entry
      common.write_results(workdir, results)  # A later method's failure keeps this one.
  if jax.process_index() == 0:
    report.print_report(config, results)
    if config.plot:
      print(f"Wrote {report.plot(results, os.path.join(workdir, 'pluralistic.png'))}")
  return results
