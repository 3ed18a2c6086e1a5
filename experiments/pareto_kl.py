"""Part (b) of ``configs/pareto_front.py``: a KL-regularized multi-objective bandit as a program.

``make_kl(config)`` returns the per-point :class:`~experiments.pareto_programs.Part` that
``experiments/pareto_front.py`` runs with ``training.run_sweep``: each seed draws a synthetic task
(prompts, reference policy, m correlated reward tables) and trains, in one state, a conditioned
SVD-LoRA policy (LS), one MODPO model per weight of the sweep (``pareto.modpo_population_loss``,
``vmap``-ped over the weights) and one Rewarded-Soups expert per reward (``vmap``-ped over the
rewards, interpolated with ``pareto.interpolate_params``). Reports, per point, the largest KL from
the closed form ``pareto.closed_form_policy`` to each method's policy; the fronts (values
``pareto.policy_values`` on the sweep) go to the host for the exact hypervolume.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.pareto_programs import (
  Net,
  Part,
  PolicyHyper,
  conditioned,
  conditioned_logp,
  conditioned_step,
  step_key,
  widths,
)
from jaxpref import models, pareto, training
from jaxpref.types import Array, PRNGKey


def synthetic_task(cfg: ml_collections.ConfigDict, key: PRNGKey) -> tuple[Array, Array, Array]:
  """Prompts ``X [P, d]``, reference log-probs ``[P, V]`` and correlated rewards ``[P, V, m]``."""
  kx, kref, kw, kr = jax.random.split(key, 4)
  P, d, V, m = cfg.num_prompts, cfg.features, cfg.vocab, cfg.num_objectives
  X = jax.random.normal(kx, (P, d))
  log_ref = jax.nn.log_softmax(0.5 * jax.random.normal(kref, (P, V)), axis=-1)
  W = jax.random.normal(kw, (m, d, V)) / jnp.sqrt(d)
  R = jnp.einsum("pd,mdv->pvm", X, W) + 0.5 * jax.random.normal(kr, (P, V, m))
  c = cfg.correlation  # Mix so that every pair of rewards has correlation ~ c.
  L = jnp.linalg.cholesky((1 - c) * jnp.eye(m) + c * jnp.ones((m, m)))
  Z = (R - R.mean((0, 1))) / R.std((0, 1))
  return X, log_ref, jnp.einsum("pvk,mk->pvm", Z, L)


def make_kl(config: ml_collections.ConfigDict) -> Part:
  """Conditioned policy, MODPO per weight and Rewarded-Soups experts, vmapped, on one task."""
  cfg = config.kl
  m, hidden = cfg.num_objectives, widths(cfg.hidden)
  grid = pareto.das_dennis(m, cfg.sweep if m > 2 else config.grid)
  sweep = jnp.asarray(pareto.das_dennis(m, cfg.sweep), jnp.float32)
  cond = conditioned(cfg.features, hidden, cfg.vocab, m, cfg.rank)
  mlp = Net(lambda rngs: models.MLP(cfg.features, hidden, cfg.vocab, rngs=rngs))
  stack = lambda tree, k: jax.tree.map(lambda x: jnp.broadcast_to(x, (k, *x.shape)), tree)  # noqa: E731

  def init(hp: PolicyHyper, key: PRNGKey) -> dict[str, Any]:
    del hp
    k_task, k_cond, k_mlp, k_run = jax.random.split(key, 4)
    base = mlp.init(k_mlp)  # Shared initialisation of every baseline model.
    return {
      "key": jax.random.key_data(k_run),
      "task": synthetic_task(cfg, k_task),
      "conditioned": cond.init(k_cond),
      "modpo": stack(base, sweep.shape[0]),
      "soups": stack(base, m),
    }

  def step(state, hp: PolicyHyper, t: Array):
    X, log_ref, R = state["task"]
    policy = lambda net: jax.nn.log_softmax(log_ref + net(X), axis=-1)  # noqa: E731

    def modpo(net, w):
      return mlp.step(
        net,
        lambda n: pareto.modpo_population_loss(policy(n), log_ref, R, w, kl_coef=hp.kl_coef),
        hp.learning_rate,
      )

    def expert(net, i):
      loss = lambda n: -pareto.policy_values(policy(n), log_ref, R, kl_coef=hp.kl_coef)[i]  # noqa: E731
      return mlp.step(net, loss, hp.learning_rate)

    key = step_key(state, t)
    active = t < cfg.baseline_steps  # The baselines stop after baseline_steps.
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)  # noqa: E731
    return {
      **state,
      "conditioned": conditioned_step(
        cond, state["conditioned"], key, state["task"], hp, cfg.num_weights
      ),
      "modpo": keep(jax.vmap(modpo)(state["modpo"], sweep), state["modpo"]),
      "soups": keep(jax.vmap(expert)(state["soups"], jnp.arange(m)), state["soups"]),
    }

  def fronts(state, hp):
    X, log_ref, R = state["task"]
    policy = lambda params: jax.nn.log_softmax(log_ref + mlp(params)(X), axis=-1)  # noqa: E731
    soups = jax.vmap(lambda w: policy(pareto.interpolate_params(state["soups"][0], w)))(sweep)
    logps = {
      "closed_form": pareto.closed_form_policy(log_ref, R, sweep, kl_coef=hp.kl_coef),
      "closed_form_grid": pareto.closed_form_policy(
        log_ref, R, jnp.asarray(grid, jnp.float32), kl_coef=hp.kl_coef
      ),
      "conditioned": conditioned_logp(cond(state["conditioned"][0]), X, log_ref, sweep),
      "conditioned_grid": conditioned_logp(
        cond(state["conditioned"][0]), X, log_ref, jnp.asarray(grid, jnp.float32)
      ),
      "modpo": jax.vmap(policy)(state["modpo"][0]),
      "rewarded_soups": soups,
    }
    values = {k: pareto.policy_values(v, log_ref, R, kl_coef=hp.kl_coef) for k, v in logps.items()}
    values.update({f"{k}/logp": v for k, v in logps.items()})
    return values

  def point_metrics(state, hp):
    F = fronts(state, hp)
    exact, exact_grid = F["closed_form/logp"], F["closed_form_grid/logp"]
    out = {
      "conditioned/max_kl_grid": jnp.max(pareto.policy_kl(exact_grid, F["conditioned_grid/logp"]))
    }
    for name in ("conditioned", "modpo", "rewarded_soups"):
      out[f"{name}/max_kl"] = jnp.max(pareto.policy_kl(exact, F[f"{name}/logp"]))
    return out

  info = {
    "sweep": np.asarray(sweep),
    "grid": np.asarray(grid),
    "models": {"conditioned": 1, "modpo": int(sweep.shape[0]), "rewarded_soups": m},
  }
  return Part(training.Program(init, step, point_metrics), fronts, info)
