"""Part (b) of ``configs/pareto_front.py``: every multi-objective method on a KL-regularized bandit.

``make_kl(config)`` returns one :class:`~experiments.pareto_programs.Part` per method of
``config.kl.methods``; ``experiments/pareto_front.py`` runs each with ``training.run_sweep`` in
``workdir/kl/<method>``. Every method sees the same task per seed (prompts, reference policy, m
correlated reward tables, drawn from the point's key) and is judged against the closed form
``pi_ref exp(w^T r / kl_coef)`` (``pareto.closed_form_policy``) on the same weight sweep. Per-weight
models are stacked on a leading axis and trained with ``jax.vmap``; all gradients are exact
(expectations over the V responses), so the methods differ only in what they optimise:

* ``panacea``: one SVD-LoRA-conditioned policy, LS with Dirichlet weights per step.
* ``modpo``: one model per weight, ``pareto.modpo_population_loss`` (objective 1's Bradley-Terry
  pairs with the other rewards as margins).
* ``rewarded_soups``: one expert per reward, interpolated with ``pareto.interpolate_params``.
* ``cpo``: one policy with preference tokens (target levels, concat-conditioned); CDPO
  (``losses.cpo``) over every response pair, objective m free (maximised), the others conditioned
  on a level ``lo + token * (hi - lo)`` of each prompt's reward range; evaluated with token = w.
* ``dpa``: one policy conditioned on a unit direction v; rejection-sampling fine-tuning rounds
  (``pareto.rejection_sampling_targets`` on ``pareto.directional_rewards``); evaluated at
  v = w / |w|.
* ``pama``: one model per weight, exact policy gradient with PAMA's combined advantage
  (``pareto.pama_advantage``, radius ``kl.pama_radius``; 0 is LS, 1 the paper's rule).
* ``dynamic_weighting``: one model per initial weight, LS policy gradient whose weights take a
  mirror step (``pareto.mirror_weights``) every ``kl.dynamic_every`` steps from the Gramian of the
  per-objective gradients; its target is the closed form at its final weights.
* ``map``: no training; MAP's dual (``pareto.palette_weights``) estimated from
  ``kl.map_samples`` draws of the reference per prompt, for the palette of the closed-form
  front's expected rewards; the policy is ``pi_ref exp(lambda^T r)`` (decoding-time).
* ``mgda``, ``pcgrad``, ``upgrad``, ``dualproj``: one model per weight, the per-objective value
  gradients combined by ``pareto.aggregate`` (Gramian-only) with
  ``pareto.aggregator_weighting(name, w)``.

Design choices where the papers leave room: ``docs/multiobjective.md``.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from experiments.pareto_programs import (
  Net,
  Part,
  PolicyHyper,
  conditioned,
  conditioned_logp,
  conditioned_step,
  simplex_draws,
  step_key,
  widths,
)
from jaxpref import losses, models, pareto, training
from jaxpref.types import Array, PRNGKey

METHODS = (
  "panacea",
  "modpo",
  "rewarded_soups",
  "cpo",
  "dpa",
  "pama",
  "dynamic_weighting",
  "map",
  *(a for a in pareto.AGGREGATORS if a != "mean"),
)
PER_WEIGHT = ("modpo", "pama", "dynamic_weighting", "mgda", "pcgrad", "upgrad", "dualproj")
GRADIENT_METHODS = ("pama", "dynamic_weighting", "mgda", "pcgrad", "upgrad", "dualproj")


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


def _adam(params, opt_state, direction, learning_rate):
  """One Adam step along a given (descent) direction."""
  updates, opt_state = optax.adam(learning_rate).update(direction, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def make_kl(config: ml_collections.ConfigDict) -> dict[str, Part]:
  """``{method: Part}`` for the methods of ``config.kl.methods``, all on the same task per seed."""
  cfg = config.kl
  m, hidden = cfg.num_objectives, widths(cfg.hidden)
  grid = jnp.asarray(pareto.das_dennis(m, cfg.sweep if m > 2 else config.grid), jnp.float32)
  sweep = jnp.asarray(pareto.das_dennis(m, cfg.sweep), jnp.float32)
  k = sweep.shape[0]
  mlp = Net(lambda rngs: models.MLP(cfg.features, hidden, cfg.vocab, rngs=rngs))
  prompted = Net(
    lambda rngs: models.ConditionedMLP(
      cfg.features, hidden, cfg.vocab, num_objectives=m, conditioning="concat", rngs=rngs
    )
  )
  panacea = conditioned(cfg.features, hidden, cfg.vocab, m, cfg.rank)
  stack = lambda tree, n: jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *x.shape)), tree)  # noqa: E731
  free = jnp.arange(m) < m - 1  # CPO: the last objective is free (maximised).
  round_len = max(1, int(config.steps) // max(1, cfg.dpa_rounds))

  def base_state(key):
    k_task, k_model, k_run = jax.random.split(key, 3)
    state = {"key": jax.random.key_data(k_run), "task": synthetic_task(cfg, k_task)}
    return state, k_model

  def mlp_policy(params, X, log_ref):
    return jax.nn.log_softmax(log_ref + mlp(params)(X), axis=-1)

  def neg_values(params, task, kl_coef):
    X, log_ref, R = task
    return -pareto.policy_values(mlp_policy(params, X, log_ref), log_ref, R, kl_coef=kl_coef)

  def levels(R, tokens):
    """CPO's targets ``[B, P, m]``: level ``token`` of each prompt's reward range."""
    lo, hi = R.min(1), R.max(1)
    return lo[None] + tokens[:, None, :] * (hi - lo)[None]

  def prompted_logp(params, X, log_ref, cond):
    return jax.nn.log_softmax(log_ref + prompted(params)(X[None], cond[:, None, :]), axis=-1)

  def directions(w):
    return w / jnp.linalg.norm(w, axis=-1, keepdims=True)

  # Per-weight updates: (net, w, extra, key, hp, task, t) -> (net, extra).
  def modpo_update(net, w, extra, key, hp, task, t):
    X, log_ref, R = task
    loss = lambda n: pareto.modpo_population_loss(  # noqa: E731
      jax.nn.log_softmax(log_ref + n(X), -1), log_ref, R, w, kl_coef=hp.kl_coef
    )
    return mlp.step(net, loss, hp.learning_rate), extra

  def pama_update(net, w, extra, key, hp, task, t):
    X, log_ref, R = task

    def surrogate(params):
      logp = mlp_policy(params, X, log_ref)
      p = jax.lax.stop_gradient(jnp.exp(logp))
      shaped = R - hp.kl_coef * jax.lax.stop_gradient(logp - log_ref)[..., None]  # [P, V, m]
      adv = shaped - jnp.einsum("pv,pvm->pm", p, shaped)[:, None, :]
      s = pareto.pama_advantage(adv, w, radius=cfg.pama_radius)
      return -jnp.mean(jnp.sum(p * jax.lax.stop_gradient(s) * logp, axis=-1))

    grads = jax.grad(surrogate)(net[0])
    return _adam(*net, grads, hp.learning_rate), extra

  def dynamic_update(net, w, extra, key, hp, task, t):
    weights, gram_sum = extra
    _, G = pareto.gramian_and_values(neg_values, net[0], task, hp.kl_coef)
    gram_sum = gram_sum + G
    grads = jax.grad(lambda p: weights @ neg_values(p, task, hp.kl_coef))(net[0])
    new = _adam(*net, grads, hp.learning_rate)
    due = (t + 1) % cfg.dynamic_every == 0
    moved = pareto.mirror_weights(
      weights, gram_sum / cfg.dynamic_every, step_size=hp.learning_rate, mu=cfg.dynamic_mu
    )
    weights = jnp.where(due, moved.astype(weights.dtype), weights)
    return new, (weights, jnp.where(due, 0.0, gram_sum))

  def aggregator_update(name):
    def update(net, w, extra, key, hp, task, t):
      weighting = pareto.aggregator_weighting(name, w, key=key)
      direction, _, _ = pareto.aggregate(neg_values, net[0], weighting, task, hp.kl_coef)
      return _adam(*net, direction, hp.learning_rate), extra

    return update

  updates = {
    "modpo": modpo_update,
    "pama": pama_update,
    "dynamic_weighting": dynamic_update,
    **{a: aggregator_update(a) for a in ("mgda", "pcgrad", "upgrad", "dualproj")},
  }

  def closed(task, hp, weights):
    _, log_ref, R = task
    return pareto.closed_form_policy(log_ref, R, weights, kl_coef=hp.kl_coef)

  def per_weight(method: str) -> training.Program:
    update = updates[method]

    def init(hp: PolicyHyper, key: PRNGKey) -> dict[str, Any]:
      del hp
      state, k_model = base_state(key)
      extra = (sweep, jnp.zeros((k, m, m))) if method == "dynamic_weighting" else jnp.zeros((k,))
      return {**state, "models": stack(mlp.init(k_model), k), "extra": extra}

    def step(state, hp: PolicyHyper, t: Array):
      keys = jax.random.split(step_key(state, t), k)
      nets, extra = jax.vmap(lambda net, w, ex, kk: update(net, w, ex, kk, hp, state["task"], t))(
        state["models"], sweep, state["extra"], keys
      )
      return {**state, "models": nets, "extra": extra}

    def logps(state, hp):
      X, log_ref, _ = state["task"]
      logp = jax.vmap(lambda p: mlp_policy(p, X, log_ref))(state["models"][0])
      target_w = state["extra"][0] if method == "dynamic_weighting" else sweep
      return logp, closed(state["task"], hp, target_w)

    return init, step, logps

  def conditioned_program(method: str):
    def init(hp: PolicyHyper, key: PRNGKey) -> dict[str, Any]:
      del hp
      state, k_model = base_state(key)
      if method == "panacea":
        return {**state, "net": panacea.init(k_model)}
      net = prompted.init(k_model)
      return {**state, "net": net, "frozen": net[0]} if method == "dpa" else {**state, "net": net}

    def step(state, hp: PolicyHyper, t: Array):
      key = step_key(state, t)
      task = state["task"]
      X, log_ref, R = task
      if method == "panacea":
        net = conditioned_step(panacea, state["net"], key, task, hp, cfg.num_weights)
        return {**state, "net": net}
      k_draw, k_sample = jax.random.split(key)
      if method == "cpo":
        tokens = simplex_draws(k_draw, cfg.num_weights, m)
        c = levels(R, tokens)  # [B, P, m]
        V = log_ref.shape[1]
        a = jnp.broadcast_to(jnp.arange(V)[:, None], (V, V)).reshape(-1)
        b = jnp.broadcast_to(jnp.arange(V)[None, :], (V, V)).reshape(-1)

        def loss(net):
          logp = jax.nn.log_softmax(log_ref + net(X[None], tokens[:, None, :]), axis=-1)

          def one(lp, cc):  # [P, V], [P, m] -> mean CDPO loss over the prompt's V^2 pairs
            ex = losses.Example(
              logp=lp[:, a], logp2=lp[:, b], ref_logp=log_ref[:, a], ref_logp2=log_ref[:, b],
              margin=R[:, a], margin2=R[:, b],
            )  # fmt: skip
            cdpo = lambda e, c1: losses.cpo(  # noqa: E731
              e, condition=c1, conditioned=free, kl_coef=hp.kl_coef,
              temperature=cfg.cpo_temperature,
            )[0]  # fmt: skip
            per_pair = jax.vmap(jax.vmap(cdpo, in_axes=(0, None)), in_axes=(0, 0))(ex, cc)
            return jnp.mean(per_pair)

          return jnp.mean(jax.vmap(one)(logp, c))

        return {**state, "net": prompted.step(state["net"], loss, hp.learning_rate)}
      # DPA: a new round starts every round_len steps from the current policy.
      frozen = jax.tree.map(
        lambda f, p: jnp.where(t % round_len == 0, p, f), state["frozen"], state["net"][0]
      )
      v = pareto.unit_directions(k_draw, m, cfg.num_weights)
      sampler = prompted_logp(frozen, X, log_ref, v)  # [B, P, V]
      scores = pareto.directional_rewards(R[None], v[:, None, None, :])
      targets = pareto.rejection_sampling_targets(
        k_sample, sampler, scores, num_samples=cfg.dpa_samples
      )

      def loss(net):
        logp = jax.nn.log_softmax(log_ref + net(X[None], v[:, None, :]), axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))

      return {**state, "net": prompted.step(state["net"], loss, hp.learning_rate), "frozen": frozen}

    def logps(state, hp):
      X, log_ref, _ = state["task"]
      params = state["net"][0]
      if method == "panacea":
        logp = conditioned_logp(panacea(params), X, log_ref, sweep)
      elif method == "cpo":
        logp = prompted_logp(params, X, log_ref, sweep)
      else:
        logp = prompted_logp(params, X, log_ref, directions(sweep))
      return logp, closed(state["task"], hp, sweep)

    return init, step, logps

  def soups_program():
    def init(hp: PolicyHyper, key: PRNGKey) -> dict[str, Any]:
      del hp
      state, k_model = base_state(key)
      return {**state, "models": stack(mlp.init(k_model), m)}

    def step(state, hp: PolicyHyper, t: Array):
      task = state["task"]

      def expert(net, i):
        return mlp.step(net, lambda n: -pareto.policy_values(
          jax.nn.log_softmax(task[1] + n(task[0]), -1), task[1], task[2], kl_coef=hp.kl_coef
        )[i], hp.learning_rate)  # fmt: skip

      return {**state, "models": jax.vmap(expert)(state["models"], jnp.arange(m))}

    def logps(state, hp):
      X, log_ref, _ = state["task"]
      soup = lambda w: mlp_policy(pareto.interpolate_params(state["models"][0], w), X, log_ref)  # noqa: E731
      return jax.vmap(soup)(sweep), closed(state["task"], hp, sweep)

    return init, step, logps

  def map_program():
    def init(hp: PolicyHyper, key: PRNGKey) -> dict[str, Any]:
      del hp
      state, _ = base_state(key)
      return state

    def step(state, hp: PolicyHyper, t: Array):
      del hp, t
      return state

    def logps(state, hp):
      _, log_ref, R = state["task"]
      target = closed(state["task"], hp, sweep)
      palettes = jnp.einsum("kpv,pvm->km", jnp.exp(target), R) / R.shape[0]
      P = log_ref.shape[0]
      draws = jax.random.categorical(
        jax.random.wrap_key_data(state["key"]), log_ref[:, None, :], shape=(P, cfg.map_samples)
      )
      sampled = jnp.take_along_axis(R, draws[..., None], axis=1)  # [P, N, m]
      uniform = jnp.full((P, cfg.map_samples), -jnp.log(cfg.map_samples))
      lam = jax.vmap(lambda c: pareto.palette_weights(uniform, sampled, c).weights)(palettes)
      logp = jax.nn.log_softmax(log_ref[None] + jnp.einsum("pvm,km->kpv", R, lam), axis=-1)
      return logp, target

    return init, step, logps

  def part(method: str) -> Part:
    if method in PER_WEIGHT:
      init, step, logps = per_weight(method)
    elif method in ("panacea", "cpo", "dpa"):
      init, step, logps = conditioned_program(method)
    elif method == "rewarded_soups":
      init, step, logps = soups_program()
    else:
      init, step, logps = map_program()

    def fronts(state, hp):
      _, log_ref, R = state["task"]
      logp, target = logps(state, hp)
      value = lambda lp: pareto.policy_values(lp, log_ref, R, kl_coef=hp.kl_coef)  # noqa: E731
      return {
        "front": value(logp),
        "closed_form": value(closed(state["task"], hp, sweep)),
        "closed_form_grid": value(closed(state["task"], hp, grid)),
        "front/logp": logp,
        "target/logp": target,
      }

    def point_metrics(state, hp):
      logp, target = logps(state, hp)
      return {"max_kl": jnp.max(pareto.policy_kl(target, logp))}

    models_trained = {"map": 0, "rewarded_soups": m, "panacea": 1, "cpo": 1, "dpa": 1}
    models_trained = models_trained.get(method, k)
    info = {"sweep": np.asarray(sweep), "grid": np.asarray(grid), "models": models_trained}
    return Part(training.Program(init, step, point_metrics), fronts, info)

  return {method: part(method) for method in common.names(cfg.methods)}
