"""The ``tiny_lm`` scenario of ``pluralistic_policy``: a LoRA-adapted decoder for two groups.

A random-init decoder (``lm_tasks.tiny_task``: random token prompts, the adapter off is the
reference) answers prompts; two annotator groups score a response by the mean of their per-token
rewards ``u_g = shared * s + / - opposed * d`` (``s, d ~ N(0, 1)`` per token: a shared part and
one they disagree on) and prefer by Bradley-Terry with ``lm.scale``. Each step samples two
responses per prompt from the policy; an annotator of group g (drawn by the shares) labels the
pair with a Bernoulli vote. Methods: ``dpo`` (pooled votes), ``group_robust_dpo`` (GRPO, groups
known) and ``maxmin_rlhf`` (policy gradient on the groups' rewards, here the oracle's own: no
reward model is learned for the LM, with the max-min group weights). Metrics: each group's win
rate against the reference on fixed prompts (the same samples for every group), its mean reward,
the worst and the minority group, KL. No exact optimum exists for a sequence policy, so no gaps.
"""

import copy
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments import lm_tasks
from jaxpref import losses, models, training
from jaxpref.types import Array, PRNGKey

METHODS = ("dpo", "group_robust_dpo", "maxmin_rlhf")


class LMTask(NamedTuple):
  """The decoder split, prompts, the groups' token rewards and shares."""

  base: lm_tasks.Task
  token_rewards: Array  # [G, V]
  shares: np.ndarray  # [G]
  scale: float


class LMState(NamedTuple):
  """One point: adapter leaves, Adam state, sampling and evaluation keys, group weights, loss."""

  lora: list[Array]
  opt_state: Any
  key: PRNGKey
  eval_key: PRNGKey
  weights: Array
  loss: Array


def task_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The fields ``lm_tasks.tiny_task`` reads, from ``config.lm``."""
  return lm_tasks.tiny_task_config(config, scale=config.lm.scale)


def make_task(config: ml_collections.ConfigDict) -> LMTask:
  """The tiny decoder and two groups' token rewards (majority ``1 - minority``)."""
  base = lm_tasks.tiny_task(task_config(config))
  k_s, k_d = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), 7))
  V = int(config.lm.vocab)
  s, d = jax.random.normal(k_s, (V,)), jax.random.normal(k_d, (V,))
  shared, opposed = config.synthetic.shared, config.synthetic.opposed
  rewards = jnp.stack([shared * s + opposed * d, shared * s - opposed * d])
  shares = np.array([1.0 - config.synthetic.minority, config.synthetic.minority])
  return LMTask(base, rewards, shares, float(config.lm.scale))


def run_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``config`` with the LM's steps, logging, learning rate and KL weight."""
  out = copy.deepcopy(config)
  out.kl_coef = float(config.lm.kl_coef)
  out.steps = int(config.lm.steps)
  out.log.every = max(1, int(config.lm.steps) // 4)
  out.learning_rate = float(config.lm.learning_rate)
  return out


def make_program(config: ml_collections.ConfigDict, task: LMTask, method: str) -> training.Program:
  """The per-point program of one method on the tiny LM (hyperparameters as the bandit's)."""
  if method not in METHODS:
    raise ValueError(f"The tiny_lm scenario runs {', '.join(METHODS)}; got {method!r}.")
  base = task.base
  graphdef, treedef = base.graphdef, jax.tree.structure(base.lora)
  prompts, start = jnp.asarray(base.tokens), jnp.asarray(base.start)
  n, B, G = prompts.shape[0], int(config.lm.batch_prompts), task.token_rewards.shape[0]
  kw = dict(max_new_tokens=int(config.lm.max_new_tokens), eos_id=base.eos_id)
  shares = jnp.asarray(task.shares, jnp.float32)
  minority = int(np.argmin(task.shares))

  def rewards(tokens: Array, mask: Array) -> Array:  # [N, G] each group's mean token reward
    return lm_tasks.mean_token_rewards(task.token_rewards, tokens, mask)

  def split(lora):
    return (graphdef, jax.tree.unflatten(treedef, lora), base.rest)

  def init(hp, key: PRNGKey) -> LMState:
    k_lora, k_eval, k_run = jax.random.split(key, 3)
    leaves = lm_tasks.init_adapter(base, k_lora)
    weights = jnp.full((G,), 1.0 / G, jnp.float32)
    return LMState(
      leaves, optax.adam(hp.learning_rate).init(leaves), k_run, k_eval, weights, jnp.zeros(())
    )

  def step(state: LMState, hp, t: Array) -> LMState:
    del t
    key, k_rows, k_pol, k_group, k_vote = jax.random.split(state.key, 5)
    rows = jnp.repeat(jax.random.choice(k_rows, n, (B,), replace=n < B), 2)
    pol = models.sample_padded(split(state.lora), prompts[rows], start[rows], k_pol, **kw)
    tokens, mask, first = pol.full()
    r = rewards(pol.tokens, pol.mask).reshape(B, 2, G)
    group = jax.random.choice(k_group, G, (B,), p=shares)
    p = jax.nn.sigmoid(task.scale * (r[jnp.arange(B), 0, group] - r[jnp.arange(B), 1, group]))
    vote = jax.random.bernoulli(k_vote, p).astype(jnp.float32)

    def logps(lora, gate):
      return models.sequence_log_probs(
        nnx.merge(*split(lora)), tokens, mask, start=first, gate=jnp.full((2 * B,), gate)
      )

    ref = logps(state.lora, 0.0).reshape(B, 2)
    weights = state.weights

    def objective(lora):
      lp = logps(lora, 1.0).reshape(B, 2)
      if method == "maxmin_rlhf":
        reg = jax.lax.stop_gradient(r @ weights - hp.kl_coef * (lp - ref))  # [B, 2]
        ex = losses.Example(logp=lp, ref_logp=ref, rewards=r, score=reg[:, ::-1])  # other sample
        per, _ = jax.vmap(
          jax.vmap(lambda e: losses.maxmin_rlhf(e, weights=weights, kl_coef=hp.kl_coef))
        )(ex)
        return jnp.mean(per), jnp.mean(r, axis=(0, 1))
      ex = losses.Example(
        logp=lp[:, 0], logp2=lp[:, 1], ref_logp=ref[:, 0], ref_logp2=ref[:, 1], pref=vote,
        group=group,
      )  # fmt: skip
      per = jax.vmap(lambda e: losses.dpo(e, kl_coef=hp.kl_coef)[0])(ex)
      if method == "dpo":
        return jnp.mean(per), weights
      _, alpha, _ = losses.group_robust_weights(
        weights, jax.lax.stop_gradient(per), group, step_size=hp.group_step_size
      )
      scaled = losses.group_batch_weights(alpha, group)
      robust, _ = jax.vmap(
        lambda e: losses.group_robust_dpo(e, weights=scaled, kl_coef=hp.kl_coef)
      )(ex)
      return jnp.mean(robust), alpha

    (loss, signal), grads = jax.value_and_grad(objective, has_aux=True)(state.lora)
    updates, opt_state = optax.adam(hp.learning_rate).update(grads, state.opt_state)
    lora = optax.apply_updates(state.lora, updates)
    if method == "group_robust_dpo":
      weights = signal
    elif method == "maxmin_rlhf":
      weights = losses.egalitarian_weights(weights, signal, step_size=hp.group_step_size)
    return LMState(lora, opt_state, key, state.eval_key, weights, loss)

  def metrics(state: LMState, hp) -> dict[str, Array]:
    del hp
    rows = jnp.arange(int(config.lm.eval_prompts)) % n
    out: dict[str, Array] = {}
    wins = []
    for g in range(G):
      res = models.evaluate_vs_reference(
        split(state.lora),
        prompts[rows],
        start[rows],
        state.eval_key,
        features=lambda t, m, g=g: rewards(t, m)[:, g],
        prefer=lambda a, b: jax.nn.sigmoid(task.scale * (a - b)),
        **kw,
      )
      wins.append(res["win_rate"])
      out[f"win/g{g}"], out[f"reward/g{g}"] = res["win_rate"], res["reward"]
      out["kl"] = res["kl"]
    win = jnp.stack(wins)
    out |= {"worst_win": jnp.min(win), "minority_win": win[minority], "loss": state.loss}
    return out | {f"weight/k{k}": state.weights[k] for k in range(G)}

  return training.Program(init, step, metrics)
