"""Curry-DPO's curriculum on a tabular policy: shuffled vs easy-to-hard vs iterative with resets.

Config: ``configs/curriculum.py``. Seed s draws a task: true rewards ``r[x, y] ~ N(0, 1)`` for
``prompts`` x ``responses``, and ``lists`` rated lists per prompt of ``list_size`` distinct
responses (ratings ``r + rating_noise * N(0, 1)``). Each list gives Curry-DPO's pairs (its best
response against each other one, :func:`jaxpref.losses.curriculum_pairs`), ``N`` pairs in all. A
softmax policy over responses (logits per prompt, uniform reference) is trained with DPO
(``kl_coef``) and Adam on minibatches of ``batch`` pairs for ``epochs`` passes, the pairs fed in
one of three orders (a static axis, one engine run each, seeds vmapped):

- ``shuffled``: a new random order every epoch;
- ``curriculum``: every epoch easy to hard (:func:`jaxpref.losses.curriculum_order`, ``buckets``
  gap quantiles, shuffled within each);
- ``iterative``: the steps split into ``buckets`` equal stages, stage b training on bucket b's
  pairs only, and the reference reset to the current policy between stages (Curry-DPO's iterative
  variant).

Every order makes the same number of updates on the same pairs. Reported: the policy's expected
true reward, its ranking accuracy (the share of response pairs whose true order the policy's
probabilities keep, Chen et al.) and its KL to the uniform reference, mean ± 95% interval over
seeds, and the paired differences against ``shuffled``.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common, train_lib
from jaxpref import losses, training
from jaxpref.types import Array, PRNGKey

ORDERS = ("shuffled", "curriculum", "iterative")
METRICS = ("expected_reward", "ranking_accuracy", "kl_to_reference")


class Hyper(NamedTuple):
  """The traced hyperparameters of one point."""

  learning_rate: Any
  kl_coef: Any


FIELDS = {"learning_rate": "learning_rate", "kl_coef": "kl_coef"}


class State(NamedTuple):
  """One point: the task, the pair schedule, the policy and its optimizer, the reference."""

  reward: Array  # [X, n] true rewards
  chosen: Array  # [N] (prompt, response) of each pair's preferred response, flattened
  rejected: Array  # [N]
  schedule: Array  # [steps, batch] pair indices
  logits: Array  # [X, n]
  opt_state: Any
  ref_logits: Array  # [X, n]


def sizes(config: ml_collections.ConfigDict) -> tuple[int, int]:
  """``(pairs N, steps)``: every epoch is N / batch updates."""
  n_pairs = int(config.prompts) * int(config.lists) * (int(config.list_size) - 1)
  return n_pairs, int(config.epochs) * n_pairs // int(config.batch)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks orders, sizes and divisibility before anything compiles."""
  for name in common.names(config.orders):
    if name not in ORDERS:
      raise ValueError(f"Unknown order {name!r} in config.orders; known: {', '.join(ORDERS)}.")
  for field in ("prompts", "lists", "epochs", "batch", "buckets"):
    if int(config[field]) < 1:
      raise ValueError(f"config.{field} must be >= 1; got {config[field]}.")
  if not 2 <= int(config.list_size) <= int(config.responses):
    raise ValueError(
      f"config.list_size must be in [2, responses={config.responses}]; got {config.list_size}."
    )
  n_pairs, steps = sizes(config)
  if n_pairs % int(config.batch) or n_pairs % int(config.buckets):
    raise ValueError(
      f"the {n_pairs} pairs must split evenly into batches of {config.batch} and "
      f"{config.buckets} buckets."
    )
  if steps % int(config.buckets):
    raise ValueError(f"the {steps} steps must split evenly into {config.buckets} stages.")
  if config.steps != steps:
    raise ValueError(f"config.steps is derived ({steps}): set epochs or batch, not steps.")


def task(config: ml_collections.ConfigDict, key: PRNGKey) -> tuple[Array, Array, Array, Array]:
  """``(reward [X, n], chosen [N], rejected [N], gap [N])`` of one seed's task."""
  X, n, K, L = (int(config[k]) for k in ("prompts", "responses", "list_size", "lists"))
  k_r, k_list, k_noise = jax.random.split(key, 3)
  reward = jax.random.normal(k_r, (X, n))
  shown = jnp.argsort(jax.random.uniform(k_list, (X, L, n)), axis=-1)[..., :K]  # [X, L, K]
  noisy = reward[jnp.arange(X)[:, None, None], shown]
  rating = noisy + config.rating_noise * jax.random.normal(k_noise, shown.shape)
  pairs = jax.vmap(jax.vmap(losses.curriculum_pairs))(rating)  # [X, L, K - 1]
  base = jnp.arange(X)[:, None, None] * n
  chosen = (base + jnp.take_along_axis(shown, pairs.chosen, -1)).reshape(-1)
  rejected = (base + jnp.take_along_axis(shown, pairs.rejected, -1)).reshape(-1)
  return reward, chosen, rejected, pairs.gap.reshape(-1)


def schedule(config: ml_collections.ConfigDict, order: str, key: PRNGKey, gap: Array) -> Array:
  """``[steps, batch]`` pair indices of every update under ``order``."""
  n_pairs, steps = sizes(config)
  E, B, buckets = int(config.epochs), int(config.batch), int(config.buckets)
  keys = jax.random.split(key, E)
  if order == "shuffled":
    rows = jax.vmap(lambda k: jax.random.permutation(k, n_pairs))(keys)
  elif order == "curriculum":
    rows = jax.vmap(lambda k: losses.curriculum_order(k, gap, buckets=buckets))(keys)
  else:  # iterative: stage b cycles through bucket b's pairs, reshuffled each pass.
    easy_first = losses.curriculum_order(key, gap, buckets=buckets).reshape(buckets, -1)
    per_stage = steps // buckets * B
    passes = -(-per_stage // easy_first.shape[1])
    stage_keys = jax.random.split(key, buckets * passes).reshape(buckets, passes)

    def stage(members, ks):
      return jax.vmap(lambda k: jax.random.permutation(k, members))(ks).reshape(-1)[:per_stage]

    rows = jax.vmap(stage)(easy_first, stage_keys)
  return rows.reshape(steps, B)


def make_program(config: ml_collections.ConfigDict, order: str) -> training.Program:
  """The per-point program of one order: one DPO minibatch update per step, exact metrics."""
  X, n = int(config.prompts), int(config.responses)
  _, steps = sizes(config)
  stage_length = steps // int(config.buckets)

  def log_policy(logits: Array) -> Array:
    return jax.nn.log_softmax(logits, axis=-1).reshape(-1)

  def init(hp: Hyper, key: PRNGKey) -> State:
    k_task, k_order = jax.random.split(key)
    reward, chosen, rejected, gap = task(config, k_task)
    logits = jnp.zeros((X, n), reward.dtype)
    return State(
      reward,
      chosen,
      rejected,
      schedule(config, order, k_order, gap),
      logits,
      optax.adam(hp.learning_rate).init(logits),
      logits,
    )

  def step(state: State, hp: Hyper, t: Array) -> State:
    reset = (order == "iterative") & (t > 0) & (t % stage_length == 0)
    ref_logits = jnp.where(reset, state.logits, state.ref_logits)
    batch = state.schedule[t]
    ref = log_policy(ref_logits)

    def loss_fn(logits):
      logp = log_policy(logits)
      a, b = state.chosen[batch], state.rejected[batch]
      example = losses.Example(
        logp=logp[a], logp2=logp[b], ref_logp=ref[a], ref_logp2=ref[b], pref=jnp.ones_like(ref[a])
      )
      return jnp.mean(jax.vmap(lambda e: losses.dpo(e, kl_coef=hp.kl_coef)[0])(example))

    grads = jax.grad(loss_fn)(state.logits)
    updates, opt_state = optax.adam(hp.learning_rate).update(grads, state.opt_state)
    return state._replace(
      logits=optax.apply_updates(state.logits, updates), opt_state=opt_state, ref_logits=ref_logits
    )

  def metrics(state: State, hp: Hyper) -> dict[str, Array]:
    del hp
    pi = jax.nn.softmax(state.logits, axis=-1)
    r = state.reward
    higher = r[:, :, None] > r[:, None, :]
    kept = pi[:, :, None] >= pi[:, None, :]
    return {
      "expected_reward": jnp.mean(jnp.sum(pi * r, axis=-1)),
      "ranking_accuracy": jnp.sum(higher & kept) / jnp.sum(higher),
      "kl_to_reference": jnp.mean(jnp.sum(pi * (jnp.log(pi) + jnp.log(n)), axis=-1)),
    }

  return training.Program(init, step, metrics)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """One engine run per order; prints the table with paired differences against ``shuffled``."""
  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  results, finals = {}, {}
  for order in common.names(config.orders):
    out = training.run_sweep(
      make_program(config, order),
      sweep,
      workdir=os.path.join(workdir, order),
      name=order,
      **train_lib.run_options(config),
    )
    finals[order] = {k: np.asarray(v[..., -1]) for k, v in out.history.items()}
    results[order] = {"final": {k: common.stats(v) for k, v in finals[order].items()}}
  if "shuffled" in finals:
    for order in finals:
      if order != "shuffled":
        results[order]["minus_shuffled"] = {
          k: common.stats(finals[order][k] - finals["shuffled"][k]) for k in METRICS
        }
  common.write_results(workdir, results)
  if jax.process_index() == 0:
    n_pairs, steps = sizes(config)
    print(
      f"Curry-DPO orders: {n_pairs} pairs, {steps} DPO updates of {config.batch}, "
      f"{config.vmap.seeds} seeds (mean ± 95% CI; difference to shuffled, paired by seed)"
    )
    for order, r in results.items():
      cells = []
      for k in METRICS:
        f = r["final"][k]
        cell = f"{k} {float(np.ravel(f['mean'])[0]):.4f} ± {float(np.ravel(f['ci95'])[0]):.4f}"
        if "minus_shuffled" in r:
          d = r["minus_shuffled"][k]
          cell += f" ({float(np.ravel(d['mean'])[0]):+.4f} ± {float(np.ravel(d['ci95'])[0]):.4f})"
        cells.append(cell)
      print(f"  {order:<11} " + "   ".join(cells))
  return results
