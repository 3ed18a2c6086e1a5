"""Policy-level preference objectives on a neural contextual bandit: see the config's docstring."""

import importlib.util
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import optax
from absl import logging
from flax import nnx

from jaxpref import losses, metrics, models

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# name -> (sampling scheme, oracle queries per prompt per update)
SCHEMES = {
  "online_dpo": ("policy_pairs", 1),
  "online_ipo": ("policy_pairs", 1),
  "online_ipo_uniform": ("uniform_vs_policy", 2),
  "egpo": ("uniform_vs_policy", 4),
  "nash_md_pg": ("policy_vs_mixture", 1),
  "sppo": ("policy_win_rate", None),
  "inpo": ("policy_pairs", 1),
  "custom": ("policy_pairs", 1),
  "combined": ("policy_pairs", 1),
}
# Registered losses that a combination may use (they read pairs sampled from the policy).
COMBINABLE = ("dpo", "ipo", "cdpo", "rdpo")


def parse_combination(text: str) -> dict[str, float]:
  """``"dpo:0.5,ipo:0.5"`` -> ``{"dpo": 0.5, "ipo": 0.5}``; raises on unknown names or weights."""
  out = {}
  for part in _names(text):
    name, _, weight = part.partition(":")
    if name not in COMBINABLE:
      raise ValueError(f"combination: unknown loss {name!r}; known: {', '.join(COMBINABLE)}.")
    try:
      out[name] = float(weight or 1.0)
    except ValueError:
      raise ValueError(
        f"combination: weight of {name!r} must be a number; got {weight!r}."
      ) from None
  return out


def _names(text: str) -> list[str]:
  return [w.strip() for w in str(text).replace("+", ",").split(",") if w.strip()]


def load_custom_loss(spec: str) -> Callable:
  """Imports ``function`` from ``file.py:function``; raises ``ValueError`` naming the problem."""
  path, _, name = spec.rpartition(":")
  if not path or not os.path.isfile(path):
    raise ValueError(f"custom_loss must be 'file.py:function'; no file at {path!r}.")
  spec_ = importlib.util.spec_from_file_location("_jaxpref_custom_loss", path)
  module = importlib.util.module_from_spec(spec_)
  spec_.loader.exec_module(module)
  if not callable(getattr(module, name, None)):
    raise ValueError(f"custom_loss: {path} has no function {name!r}.")
  return getattr(module, name)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` on unknown losses or oracle, bad sizes, or a bad custom loss."""
  for name in _names(config.losses):
    if name not in SCHEMES or name == "custom":
      known = ", ".join(k for k in SCHEMES if k != "custom")
      raise ValueError(f"Unknown loss {name!r} in losses; known: {known}.")
  if config.oracle not in ("cyclic", "bt"):
    raise ValueError(f'oracle must be "cyclic" or "bt"; got {config.oracle!r}.')
  if config.responses < 2 or config.prompts < 1 or config.queries < 1 or config.evals < 1:
    raise ValueError("responses >= 2, prompts >= 1, queries >= 1 and evals >= 1 are required.")
  if config.kl_coef <= 0:
    raise ValueError(f"kl_coef must be > 0; got {config.kl_coef}.")
  if config.custom_loss:
    load_custom_loss(config.custom_loss)
  if config.get("combination"):
    parse_combination(config.combination)


def make_task(config: ml_collections.ConfigDict, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Prompt features ``[P, d]`` and oracle matrices ``[P, n, n]`` with ``P + P^T = 1``."""
  kx, kw = jax.random.split(key)
  n = config.responses
  X = jax.random.normal(kx, (config.prompts, config.features))
  W = jax.random.normal(kw, (config.features, n)) / jnp.sqrt(config.features)
  s = X @ W
  i = jnp.arange(n)
  C = jnp.sin(2 * jnp.pi * (i[:, None] - i[None, :]) / n)  # skew-symmetric cyclic part
  gamma = config.cycle if config.oracle == "cyclic" else 0.0
  return X, jax.nn.sigmoid(s[:, :, None] - s[:, None, :] + gamma * C)


def _examples(scheme, key, logp, P, config, opponent=None) -> losses.Example:
  """One example per prompt, sampled per ``scheme`` with Bernoulli labels from the oracle.

  ``opponent`` (log-probabilities) is the policy the uniform pairs are compared against in the
  ``uniform_vs_policy`` scheme (EGPO's extrapolated policy); the current policy by default.
  """
  prompts, n = logp.shape
  sg = jax.lax.stop_gradient(logp)
  idx = jnp.arange(prompts)
  k1, k2, k3, k4 = jax.random.split(key, 4)
  log_ref = jnp.full(n, -jnp.log(n))

  def label(k, a, b):
    return jax.random.bernoulli(k, P[idx, a, b]).astype(logp.dtype)

  if scheme == "policy_pairs":
    y, y2 = jax.random.categorical(k1, sg), jax.random.categorical(k2, sg)
    return losses.Example(
      logp=logp[idx, y],
      logp2=logp[idx, y2],
      ref_logp=log_ref[y],
      ref_logp2=log_ref[y2],
      anchor=sg[idx, y],
      anchor2=sg[idx, y2],
      pref=label(k3, y, y2),
    )
  if scheme == "uniform_vs_policy":
    y, y2 = jax.random.randint(k1, (prompts,), 0, n), jax.random.randint(k2, (prompts,), 0, n)
    opp = jax.random.categorical(k3, sg if opponent is None else opponent)
    ka, kb = jax.random.split(k4)
    return losses.Example(
      logp=logp[idx, y],
      logp2=logp[idx, y2],
      ref_logp=log_ref[y],
      ref_logp2=log_ref[y2],
      win=label(ka, y, opp),
      win2=label(kb, y2, opp),
    )
  if scheme == "policy_vs_mixture":
    y = jax.random.categorical(k1, sg)
    mix = losses.geometric_mixture(sg, jnp.broadcast_to(log_ref, sg.shape), mixture=config.mixture)
    y2 = jax.random.categorical(k2, mix)
    return losses.Example(logp=logp[idx, y], ref_logp=log_ref[y], pref=label(k3, y, y2))
  # policy_win_rate (SPPO): K opponents per sampled response.
  y = jax.random.categorical(k1, sg)
  opps = jax.random.categorical(k2, sg, shape=(config.sppo_samples, prompts))
  wins = jax.vmap(lambda k, o: label(k, y, o))(jax.random.split(k3, config.sppo_samples), opps)
  return losses.Example(logp=logp[idx, y], anchor=sg[idx, y], win=jnp.mean(wins, axis=0))


def _loss_fn(name: str, config, custom: Callable | None) -> Callable:
  kl_coef = config.kl_coef
  if name == "online_dpo":
    return lambda e: losses.dpo(e, kl_coef=kl_coef)[0]
  if name == "online_ipo":
    return lambda e: losses.ipo(e, kl_coef=kl_coef)[0]
  if name in ("online_ipo_uniform", "egpo"):
    return lambda e: losses.online_ipo(e, kl_coef=kl_coef)[0]
  if name == "nash_md_pg":
    return lambda e: losses.nash_md_pg(e, kl_coef=kl_coef)[0]
  if name == "sppo":
    return lambda e: losses.sppo(e, step_size=config.sppo_step_size)[0]
  if name == "inpo":  # order each labelled pair as (winner, loser)

    def inpo(e):
      swap = e.pref < 0.5
      won = losses.Example(
        logp=jnp.where(swap, e.logp2, e.logp),
        logp2=jnp.where(swap, e.logp, e.logp2),
        ref_logp=e.ref_logp,
        ref_logp2=e.ref_logp2,
        anchor=jnp.where(swap, e.anchor2, e.anchor),
        anchor2=jnp.where(swap, e.anchor, e.anchor2),
        pref=jnp.ones_like(e.pref),
      )
      return losses.inpo(won, step_size=config.inpo_step_size, kl_coef=kl_coef)[0]

    return inpo
  if name == "combined":
    weights = parse_combination(config.combination)
    hp = {
      "dpo": {"kl_coef": kl_coef},
      "ipo": {"kl_coef": kl_coef},
      "cdpo": {"kl_coef": kl_coef},
      "rdpo": {"kl_coef": kl_coef},
    }
    hp = {k: v for k, v in hp.items() if k in weights}
    return lambda e: losses.combined_loss(e, weights=weights, hparams=hp)[0]
  return lambda e: custom(e)[0]


def evaluate(policy_logits: jax.Array, P: jax.Array, kl_coef: float) -> dict[str, float]:
  """Exact metrics of the policy averaged over prompts."""
  pi = jax.nn.softmax(policy_logits, axis=-1)
  n = pi.shape[-1]
  ref = jnp.full(n, 1.0 / n)
  return {
    "regularized_gap": float(
      jnp.mean(metrics.regularized_duality_gap(P, pi, kl_coef=kl_coef, ref_policy=ref))
    ),
    "duality_gap": float(jnp.mean(metrics.duality_gap(P, pi))),
    "win_rate_vs_ref": float(jnp.mean(metrics.win_rate(P, pi, jnp.broadcast_to(ref, pi.shape)))),
  }


def train_one(name, config, X, P, custom=None) -> dict[str, Any]:
  """Trains one loss to the query budget; returns its curve and wall time."""
  scheme, per = SCHEMES[name]
  per = config.sppo_samples if per is None else per
  updates = max(1, config.queries // (per * config.prompts))
  chunk = max(1, updates // config.evals)
  model = models.MLP(
    config.features,
    [int(h) for h in config.hidden.split(",")],
    config.responses,
    rngs=nnx.Rngs(config.seed),
  )
  graphdef, params = nnx.split(model)
  tx = optax.adam(config.learning_rate)
  loss_of = _loss_fn(name, config, custom)

  def batch_loss(params, opponent, key):
    logp = jax.nn.log_softmax(nnx.merge(graphdef, params)(X))
    opp_logp = None
    if name == "egpo":  # the opponent's win rates come from the extrapolated policy
      opp_logp = jax.nn.log_softmax(jax.lax.stop_gradient(nnx.merge(graphdef, opponent)(X)))
    ex = _examples(scheme, key, logp, P, config, opp_logp)
    return jnp.mean(jax.vmap(loss_of)(ex))

  @jax.jit
  def run(params, opt_state, key):
    def body(carry, k):
      params, opt_state = carry
      if name == "egpo":
        step = losses.extragradient_step(lambda p, o: batch_loss(p, o, k), tx, params, opt_state)
        return (step.params, step.opt_state), step.loss
      loss, g = jax.value_and_grad(batch_loss)(params, params, k)
      upd, opt_state = tx.update(g, opt_state, params)
      return (optax.apply_updates(params, upd), opt_state), loss

    return jax.lax.scan(body, (params, opt_state), jax.random.split(key, chunk))

  opt_state = tx.init(params)
  key = jax.random.key(config.seed + 1)
  curve = [{"queries": 0, **evaluate(model(X), P, config.kl_coef)}]
  start = time.perf_counter()
  for c in range(max(1, updates // chunk)):
    key, sub = jax.random.split(key)
    (params, opt_state), loss = run(params, opt_state, sub)
    logits = nnx.merge(graphdef, params)(X)
    curve.append(
      {
        "queries": (c + 1) * chunk * per * config.prompts,
        "loss": float(jnp.mean(loss)),
        **evaluate(logits, P, config.kl_coef),
      }
    )
  seconds = time.perf_counter() - start
  logging.info(
    "%s: gap %.4f after %d queries", name, curve[-1]["regularized_gap"], curve[-1]["queries"]
  )
  return {"curve": curve, "final": curve[-1], "seconds": seconds, "queries_per_update": per}


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains every configured loss; returns curves and final metrics (printed and plotted)."""
  validate(config)
  X, P = make_task(config, jax.random.key(config.seed))
  names = _names(config.losses)
  custom = load_custom_loss(config.custom_loss) if config.custom_loss else None
  if custom is not None:
    names.append("custom")
  if config.get("combination"):
    names.append("combined")
  results = {name: train_one(name, config, X, P, custom) for name in names}
  print(
    f"{config.oracle} oracle, n = {config.responses}, {config.prompts} prompts,"
    f" kl_coef {config.kl_coef}, {config.queries} queries per loss"
  )
  print(f"  {'loss':<20} {'reg. gap':>9} {'gap':>8} {'win vs ref':>10} {'updates':>8} {'s':>6}")
  init = next(iter(results.values()))["curve"][0]
  print(
    f"  {'(initial policy)':<20} {init['regularized_gap']:9.4f} {init['duality_gap']:8.4f} "
    f"{init['win_rate_vs_ref']:10.3f}"
  )
  for name, r in results.items():
    f = r["final"]
    updates = f["queries"] // (r["queries_per_update"] * config.prompts)
    print(
      f"  {name:<20} {f['regularized_gap']:9.4f} {f['duality_gap']:8.4f} "
      f"{f['win_rate_vs_ref']:10.3f} {updates:8d} {r['seconds']:6.1f}"
    )
  if config.plot:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
      q = [c["queries"] for c in r["curve"]]
      axes[0].plot(q, [c["regularized_gap"] for c in r["curve"]], label=name)
      axes[1].plot(q, [c["duality_gap"] for c in r["curve"]], label=name)
    for ax, title in zip(axes, ("KL-regularized duality gap", "duality gap"), strict=True):
      ax.set_xlabel("oracle queries")
      ax.set_yscale("log")
      ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(workdir, "curves.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Wrote {path}")
  return results
