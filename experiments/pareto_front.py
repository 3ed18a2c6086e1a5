"""Pareto fronts from one preference-conditioned model against per-weight baselines.

See ``configs/pareto_front.py`` for the three parts and the command line.
"""

import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import nnx

from jaxpref import data, models, pareto
from jaxpref import preference as pm

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PARTS = ("ff", "kl", "llmfao")
FF_EXACT_HV = 0.34209  # Spec A.0 (pymoo/moocore on a dense front), reference (1, 1).


def _widths(text: str) -> list[int]:
  return [int(w) for w in str(text).split(",") if w.strip()]


def _names(text: str) -> list[str]:
  return [w.strip() for w in str(text).replace("+", ",").split(",") if w.strip()]


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` on unknown parts, conditionings or scalarizations, or bad sizes."""
  for part in _names(config.parts):
    if part not in PARTS:
      raise ValueError(
        f"Unknown part {part!r} in parts={config.parts!r}; known: {', '.join(PARTS)}."
      )
  if not _names(config.parts):
    raise ValueError("parts is empty; choose from " + ", ".join(PARTS) + ".")
  for c in _names(config.ff.conditionings):
    if c not in models.CONDITIONINGS:
      raise ValueError(f"Unknown conditioning {c!r}; known: {', '.join(models.CONDITIONINGS)}.")
  for m in _names(config.ff.methods):
    if m not in pareto.SCALARIZATIONS:
      raise ValueError(f"Unknown scalarization {m!r}; known: {', '.join(pareto.SCALARIZATIONS)}.")
  if config.kl.num_objectives not in (2, 3):
    raise ValueError(f"kl.num_objectives must be 2 or 3; got {config.kl.num_objectives}.")
  low = -1 / (config.kl.num_objectives - 1)  # Equicorrelated m x m matrices need c > -1/(m-1).
  if not low < config.kl.correlation < 1:
    raise ValueError(
      f"kl.correlation must lie in ({low:.3g}, 1) for {config.kl.num_objectives} objectives; "
      f"got {config.kl.correlation}."
    )
  for name in ("kl.kl_coef", "llmfao.kl_coef"):
    part, key = name.split(".")
    if config[part][key] <= 0:
      raise ValueError(f"{name} must be > 0; got {config[part][key]}.")
  if config.grid < 2 or config.kl.sweep < 1:
    raise ValueError("grid must be >= 2 and kl.sweep >= 1.")


# ---------------------------------------------------------------------------------------------
# (a) Fonseca-Fleming Pareto-set learning.


def fonseca_fleming(x: jax.Array) -> jax.Array:
  """The two Fonseca-Fleming objectives of ``x [..., n]`` (minimised)."""
  n = x.shape[-1]
  f1 = 1 - jnp.exp(-jnp.sum((x - 1 / jnp.sqrt(n)) ** 2, -1))
  f2 = 1 - jnp.exp(-jnp.sum((x + 1 / jnp.sqrt(n)) ** 2, -1))
  return jnp.stack([f1, f2], -1)


def _ff_true_front(num: int = 20_001) -> np.ndarray:
  s = np.linspace(-1, 1, num)
  return np.stack([1 - np.exp(-((s - 1) ** 2)), 1 - np.exp(-((s + 1) ** 2))], axis=1)


def _ff(cfg: ml_collections.ConfigDict, grid: np.ndarray, seed: int) -> dict[str, Any]:
  true_front = _ff_true_front()
  dense_hv = pareto.hypervolume_host(true_front, ref_point=[1, 1])
  # The best a finite set can do: the exact TCH solutions for the grid's weights (ideal 0).
  tch_idx = [int(np.argmin(np.max(w * true_front, axis=1))) for w in grid]
  grid_ceiling = pareto.hypervolume_host(true_front[tch_idx], ref_point=[1, 1])
  runs = {}
  for cond in _names(cfg.conditionings):
    for method in _names(cfg.methods):
      model = models.ConditionedMLP(
        1,
        _widths(cfg.hidden),
        cfg.dim,
        num_objectives=2,
        conditioning=cond,
        rank=cfg.rank,
        rngs=nnx.Rngs(seed),
      )

      def objectives(m, weights, key):
        del key
        return fonseca_fleming(4 * jnp.tanh(m(jnp.ones((weights.shape[0], 1)), weights) / 4))

      history = models.fit_pareto_set(
        model,
        objectives,
        jax.random.key(seed),
        num_objectives=2,
        steps=cfg.steps,
        learning_rate=cfg.learning_rate,
        log_every=max(1, cfg.steps // 6),
        method=method,
        ideal=jnp.zeros(2),
        mu=cfg.mu,
        num_weights=cfg.num_weights,
      )
      F = np.asarray(objectives(model, jnp.asarray(grid, jnp.float32), None), np.float64)
      hv = pareto.hypervolume_host(F, ref_point=[1, 1])
      runs[f"{cond}/{method}"] = {
        "hv": hv,
        "hv_ratio": hv / FF_EXACT_HV,
        "igd_plus": float(pareto.igd_plus(F, true_front[::20])),
        "controllability": np.asarray(pareto.controllability(grid, F, sense="min")).tolist(),
        "front_points_distinct": len(np.unique(np.round(F, 3), axis=0)),
        "seconds": history["seconds"],
        "front": F.tolist(),
      }
      logging.info("ff %s/%s: HV %.5f (%.2f%%)", cond, method, hv, 100 * hv / FF_EXACT_HV)
  return {
    "exact_hv": FF_EXACT_HV,
    "dense_front_hv": dense_hv,
    "grid_points": len(grid),
    "grid_ceiling_hv": grid_ceiling,
    "runs": runs,
  }


# ---------------------------------------------------------------------------------------------
# Shared by (b) and (c): KL-regularized multi-objective categorical policies.


def closed_form(
  log_ref: jax.Array, R: jax.Array, weights: jax.Array, *, kl_coef: float
) -> jax.Array:
  r"""Log of the optimum :math:`\pi^*_w \propto \pi_{ref} \exp(w^\top r / \beta)`.

  Args:
    log_ref: ``[P, V]`` reference log-probabilities.
    R: ``[P, V, m]`` rewards.
    weights: ``[..., m]`` preference weight vectors w.
    kl_coef: KL weight :math:`\beta`.

  Returns:
    ``[..., P, V]`` log-probabilities.
  """
  return jax.nn.log_softmax(log_ref + jnp.einsum("pvm,...m->...pv", R, weights) / kl_coef, axis=-1)


def policy_values(
  logp: jax.Array, log_ref: jax.Array, R: jax.Array, *, kl_coef: float
) -> jax.Array:
  r"""Per-objective KL-regularized values :math:`J_i = E_x E_\pi r_i - \beta KL`: ``[..., m]``.

  ``kl_coef`` is the KL weight :math:`\beta`.
  """
  p = jnp.exp(logp)
  rewards = jnp.einsum("...pv,pvm->...m", p, R) / R.shape[0]
  kl = jnp.sum(p * (logp - log_ref), axis=(-2, -1)) / R.shape[0]
  return rewards - kl_coef * kl[..., None]


def expected_rewards(logp: jax.Array, R: jax.Array) -> jax.Array:
  """``E_x E_pi r``: ``[..., m]``."""
  return jnp.einsum("...pv,pvm->...m", jnp.exp(logp), R) / R.shape[0]


def mean_kl(logp_a: jax.Array, logp_b: jax.Array) -> jax.Array:
  """Mean over prompts of KL(a || b): ``[...]``."""
  return jnp.mean(jnp.sum(jnp.exp(logp_a) * (logp_a - logp_b), axis=-1), axis=-1)


def _train(model: nnx.Module, loss_fn: Callable, steps: int, lr: float) -> float:
  """Full-batch Adam on ``loss_fn(model)``, steps as one scan; returns wall seconds."""
  opt = nnx.Optimizer(model, optax.adam(lr), wrt=nnx.Param)
  graphdef, state = nnx.split((model, opt))

  @jax.jit
  def run(state):
    def body(state, _):
      m, o = nnx.merge(graphdef, state)
      grads = nnx.grad(loss_fn)(m)
      o.update(m, grads)
      return nnx.state((m, o)), None

    return jax.lax.scan(body, state, None, length=steps)[0]

  start = time.perf_counter()
  state = jax.block_until_ready(run(state))
  nnx.update((model, opt), state)
  return time.perf_counter() - start


def _conditioned_policy(X, log_ref, R, kl_coef, hidden, rank, steps, lr, num_weights, seed):
  m = R.shape[-1]
  model = models.ConditionedMLP(
    X.shape[1],
    hidden,
    R.shape[1],
    num_objectives=m,
    conditioning="svd_lora",
    rank=rank,
    rngs=nnx.Rngs(seed),
  )

  def logp_fn(model, weights):  # weights [B, m] -> [B, P, V]
    return jax.nn.log_softmax(log_ref + model(X[None], weights[:, None, :]), axis=-1)

  def objectives(model, weights, key):
    del key
    return -policy_values(logp_fn(model, weights), log_ref, R, kl_coef=kl_coef)

  history = models.fit_pareto_set(
    model,
    objectives,
    jax.random.key(seed),
    num_objectives=m,
    steps=steps,
    learning_rate=lr,
    log_every=max(1, steps // 4),
    method="ls",
    num_weights=num_weights,
  )
  return model, logp_fn, history["seconds"]


def _front_metrics(logp, exact_logp, log_ref, R, kl_coef, grid, ref_point) -> dict[str, Any]:
  # The front lives in the space of KL-regularized values J_i = E r_i - kl_coef * KL, where the
  # closed form is optimal for every weight; raw rewards would reward drifting from pi_ref.
  F = np.asarray(policy_values(logp, log_ref, R, kl_coef=kl_coef), np.float64)
  kl = np.asarray(mean_kl(exact_logp, logp))
  return {
    "max_kl_to_closed_form": float(kl.max()),
    "mean_kl_to_closed_form": float(kl.mean()),
    "hv": pareto.hypervolume_host(F, ref_point=ref_point, sense="max"),
    "controllability": np.asarray(pareto.controllability(grid, F)).tolist(),
    "front": F.tolist(),
  }


def _synthetic_task(cfg, key):
  """Prompts, reference logits and m reward tables with a set correlation."""
  kx, kref, kw, kr = jax.random.split(key, 4)
  P, d, V, m = cfg.num_prompts, cfg.features, cfg.vocab, cfg.num_objectives
  X = jax.random.normal(kx, (P, d))
  log_ref = jax.nn.log_softmax(0.5 * jax.random.normal(kref, (P, V)), axis=-1)
  W = jax.random.normal(kw, (m, d, V)) / jnp.sqrt(d)
  base = jnp.einsum("pd,mdv->pvm", X, W)
  noise = jax.random.normal(kr, (P, V, m))
  R = base + 0.5 * noise
  # Mix so that every pair of rewards has correlation ~ cfg.correlation.
  c = cfg.correlation
  C = (1 - c) * jnp.eye(m) + c * jnp.ones((m, m))
  L = jnp.linalg.cholesky(C)
  Z = (R - R.mean((0, 1))) / R.std((0, 1))
  return X, log_ref, jnp.einsum("pvk,mk->pvm", Z, L)


def _kl(cfg: ml_collections.ConfigDict, grid: np.ndarray, seed: int) -> dict[str, Any]:
  X, log_ref, R = _synthetic_task(cfg, jax.random.key(seed + 1))
  m, kl_coef, hidden = cfg.num_objectives, cfg.kl_coef, _widths(cfg.hidden)
  grid = pareto.das_dennis(m, cfg.sweep if m > 2 else len(grid) - 1)
  sweep = pareto.das_dennis(m, cfg.sweep)
  exact = closed_form(log_ref, R, jnp.asarray(grid, jnp.float32), kl_coef=kl_coef)
  exact_F = np.asarray(policy_values(exact, log_ref, R, kl_coef=kl_coef), np.float64)
  span = exact_F.max(0) - exact_F.min(0)
  ref_point = exact_F.min(0) - 0.1 * span  # Fixed for every method: below the exact front's nadir.
  results: dict[str, Any] = {
    "reference_point": ref_point.tolist(),
    "kl_coef": kl_coef,
    "grid_points": len(grid),
  }
  results["closed_form"] = {
    "hv": pareto.hypervolume_host(exact_F, ref_point=ref_point, sense="max"),
    "front": exact_F.tolist(),
  }
  sweep_j = jnp.asarray(sweep, jnp.float32)
  sweep_exact = closed_form(log_ref, R, sweep_j, kl_coef=kl_coef)
  sweep_F = np.asarray(policy_values(sweep_exact, log_ref, R, kl_coef=kl_coef))
  results["closed_form_sweep"] = {
    "hv": pareto.hypervolume_host(sweep_F, ref_point=ref_point, sense="max")
  }

  # One conditioned policy (Panacea SVD-LoRA, LS).
  model, logp_fn, seconds = _conditioned_policy(
    X, log_ref, R, kl_coef, hidden, cfg.rank, cfg.steps, cfg.learning_rate, cfg.num_weights, seed
  )
  logp = logp_fn(model, jnp.asarray(grid, jnp.float32))
  results["conditioned"] = {
    **_front_metrics(logp, exact, log_ref, R, kl_coef, grid, ref_point),
    "seconds": seconds,
    "models_trained": 1,
  }

  def policy(model):
    return jax.nn.log_softmax(log_ref + model(X), axis=-1)

  # MODPO: one model per weight, trained on the preferences of the weight's largest objective
  # with the other rewards as margins.
  V = R.shape[1]
  modpo_logps, seconds = [], 0.0
  for w in sweep:
    primary = int(np.argmax(w))
    others = [i for i in range(m) if i != primary]
    dr = R[:, :, None, :] - R[:, None, :, :]  # [P, V, V, m]: r(y) - r(y')
    target = jax.nn.sigmoid(dr[..., primary])  # BT probability that y beats y' under r_primary
    margin = jnp.einsum("pabk,k->pab", dr[..., others], jnp.asarray(w[others], jnp.float32))

    def loss_fn(model, w=w, primary=primary, target=target, margin=margin):
      ratio = policy(model) - log_ref
      z = (kl_coef * (ratio[:, :, None] - ratio[:, None, :]) - margin) / w[primary]
      bce = -(target * jax.nn.log_sigmoid(z) + (1 - target) * jax.nn.log_sigmoid(-z))
      return jnp.sum(bce) / (R.shape[0] * V * V)

    net = models.MLP(X.shape[1], hidden, V, rngs=nnx.Rngs(seed))
    seconds += _train(net, loss_fn, cfg.baseline_steps, cfg.learning_rate)
    modpo_logps.append(policy(net))
  results["modpo"] = {
    **_front_metrics(jnp.stack(modpo_logps), sweep_exact, log_ref, R, kl_coef, sweep, ref_point),
    "seconds": seconds,
    "models_trained": len(sweep),
  }

  # Rewarded Soups: one expert per reward from a shared init, parameters interpolated.
  experts, seconds = [], 0.0
  for i in range(m):
    net = models.MLP(X.shape[1], hidden, V, rngs=nnx.Rngs(seed))

    def loss_fn(model, i=i):
      return -policy_values(policy(model), log_ref, R, kl_coef=kl_coef)[i]

    seconds += _train(net, loss_fn, cfg.baseline_steps, cfg.learning_rate)
    experts.append(nnx.split(net))
  graphdef = experts[0][0]
  soups = []
  for w in sweep:
    state = jax.tree.map(
      lambda *xs, w=w: sum(wi * x for wi, x in zip(w, xs, strict=True)), *[s for _, s in experts]
    )
    soups.append(policy(nnx.merge(graphdef, state)))
  results["rewarded_soups"] = {
    **_front_metrics(jnp.stack(soups), sweep_exact, log_ref, R, kl_coef, sweep, ref_point),
    "seconds": seconds,
    "models_trained": m,
  }
  # The conditioned policy on the baselines' sweep, for a like-for-like HV.
  cond_sweep = logp_fn(model, sweep_j)
  results["conditioned"]["hv_on_sweep"] = pareto.hypervolume_host(
    np.asarray(policy_values(cond_sweep, log_ref, R, kl_coef=kl_coef), np.float64),
    ref_point=ref_point,
    sense="max",
  )
  results["conditioned"]["max_kl_on_sweep"] = float(jnp.max(mean_kl(sweep_exact, cond_sweep)))
  return results


# ---------------------------------------------------------------------------------------------
# (c) LLMFAO: crowd vs GPT-4 as two rewards over 59 LLMs.


def _llmfao(cfg: ml_collections.ConfigDict, grid: np.ndarray, seed: int) -> dict[str, Any] | None:
  if not os.path.isfile(cfg.gpt4):
    print(f"skipping llmfao: no GPT-4 judgments at {cfg.gpt4!r} (set --config.llmfao.gpt4=FILE)")
    return None
  crowd = data.load_llmfao(cfg.crowd or None)
  gpt4 = data.load_llmfao(cfg.gpt4)
  if list(crowd.items) != list(gpt4.items):
    raise ValueError("llmfao: the crowd and GPT-4 files name different sets of models.")
  scores = []
  for table in (crowd, gpt4):
    model = pm.BradleyTerry(num_items=table.num_items, l2=cfg.l2)
    s = np.asarray(pm.fit(model, pm.pairs_from_table(table)).params["scores"], np.float64)
    scores.append((s - s.mean()) / s.std())
  S = np.stack(scores, axis=1)  # [59, 2] standardized BT strengths
  items = list(crowd.items)
  nd = np.asarray(pareto.nondominated_mask(jnp.asarray(S), sense="max"))
  R = jnp.asarray(S, jnp.float32)[None]  # one "prompt": [1, 59, 2]
  log_ref = jnp.full((1, len(items)), -np.log(len(items)), jnp.float32)
  X = jnp.ones((1, 1), jnp.float32)
  model, logp_fn, seconds = _conditioned_policy(
    X, log_ref, R, cfg.kl_coef, [64], 4, cfg.steps, cfg.learning_rate, 16, seed
  )
  weights = jnp.asarray(grid, jnp.float32)
  exact = closed_form(log_ref, R, weights, kl_coef=cfg.kl_coef)
  exact_F = np.asarray(policy_values(exact, log_ref, R, kl_coef=cfg.kl_coef), np.float64)
  ref_point = S.min(0)  # Worst standardized strength on each judge: every sensible policy beats it.
  metrics = _front_metrics(logp_fn(model, weights), exact, log_ref, R, cfg.kl_coef, grid, ref_point)
  metrics["closed_form_hv"] = pareto.hypervolume_host(exact_F, ref_point=ref_point, sense="max")
  metrics["seconds"] = seconds
  corr = float(np.corrcoef(S[:, 0], S[:, 1])[0, 1])
  order = np.argsort(-S[nd, 0])
  return {
    "models": len(items),
    "crowd_comparisons": crowd.num_comparisons,
    "gpt4_comparisons": gpt4.num_comparisons,
    "judge_correlation": corr,
    "pareto_optimal": [
      {"model": items[i], "crowd": float(S[i, 0]), "gpt4": float(S[i, 1])}
      for i in np.flatnonzero(nd)[order]
    ],
    "reference_point": ref_point.tolist(),
    "kl_coef": cfg.kl_coef,
    "policy": metrics,
    "scores": S.tolist(),
    "items": items,
    "closed_form_front": exact_F.tolist(),
  }


# ---------------------------------------------------------------------------------------------


def _plot_ff(r: dict[str, Any], path: str) -> None:
  true_front = _ff_true_front(2001)
  methods = sorted({k.split("/")[1] for k in r["runs"]})
  conds = sorted({k.split("/")[0] for k in r["runs"]})
  fig, axes = plt.subplots(1, len(conds), figsize=(4.2 * len(conds), 4), squeeze=False)
  for ax, cond in zip(axes[0], conds, strict=True):
    ax.plot(*true_front.T, color="0.7", lw=4, label=f"true front (HV {FF_EXACT_HV})")
    for method in methods:
      run = r["runs"][f"{cond}/{method}"]
      F = np.asarray(run["front"])
      ax.plot(*F.T, ".", ms=3, label=f"{method.upper()}: HV {run['hv']:.4f}")
    ax.set_xlabel("f1")
    ax.set_ylabel("f2")
    ax.set_title(f"Fonseca-Fleming, one {cond} model")
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _plot_kl(r: dict[str, Any], path: str) -> None:
  fig, ax = plt.subplots(figsize=(6, 5))
  ax.plot(*np.asarray(r["closed_form"]["front"])[:, :2].T, color="0.7", lw=4, label="closed form")
  styles = {"conditioned": "o", "modpo": "s", "rewarded_soups": "^"}
  for name, marker in styles.items():
    F = np.asarray(r[name]["front"])[:, :2]
    ax.plot(*F.T, marker, ms=4, mfc="none", label=f"{name} ({r[name]['models_trained']} models)")
  ax.set_xlabel("J1 = E r1 - kl_coef * KL")
  ax.set_ylabel("J2 = E r2 - kl_coef * KL")
  ax.set_title(f"KL-regularized policy fronts (kl_coef = {r['kl_coef']})")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _plot_llmfao(r: dict[str, Any], path: str) -> None:
  S = np.asarray(r["scores"])
  fig, ax = plt.subplots(figsize=(7, 6))
  ax.scatter(*S.T, s=12, color="0.6", label="59 LLMs (standardized BT strength)")
  names = {p["model"] for p in r["pareto_optimal"]}
  for i, item in enumerate(r["items"]):
    if item in names:
      ax.scatter(*S[i], s=30, color="tab:red")
      ax.annotate(item, S[i], fontsize=7, xytext=(3, 3), textcoords="offset points")
  ax.plot(
    *np.asarray(r["closed_form_front"]).T, color="0.3", lw=3, label="closed-form policy front"
  )
  ax.plot(
    *np.asarray(r["policy"]["front"]).T, ".", ms=3, color="tab:blue", label="one conditioned policy"
  )
  ax.set_xlabel("crowd strength")
  ax.set_ylabel("GPT-4 strength")
  ax.set_title(f"LLMFAO: crowd vs GPT-4 (correlation {r['judge_correlation']:.2f})")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _report(results: dict[str, Any]) -> None:
  if "ff" in results:
    r = results["ff"]
    print(
      f"Fonseca-Fleming (n = 2): exact HV {r['exact_hv']}, best possible with {r['grid_points']} "
      f"grid points {r['grid_ceiling_hv']:.5f}"
    )
    print(
      f"  {'model/scalarization':<20} {'HV':>8} {'% exact':>8} {'IGD+':>8} {'distinct':>8} {'s':>6}"
    )
    for name, run in r["runs"].items():
      print(
        f"  {name:<20} {run['hv']:8.5f} {100 * run['hv_ratio']:8.2f} {run['igd_plus']:8.4f} "
        f"{run['front_points_distinct']:8d} {run['seconds']:6.1f}"
      )
  if "kl" in results:
    r = results["kl"]
    print(
      f"\nKL-regularized {len(r['reference_point'])}-objective policy (kl_coef {r['kl_coef']}): "
      f"closed-form HV {r['closed_form_sweep']['hv']:.4f} on the baselines' sweep"
    )
    print(f"  {'method':<16} {'models':>6} {'max KL':>9} {'HV sweep':>9} {'control.':>14} {'s':>6}")
    for name in ("conditioned", "modpo", "rewarded_soups"):
      q = r[name]
      hv = q.get("hv_on_sweep", q["hv"])
      kl = q.get("max_kl_on_sweep", q["max_kl_to_closed_form"])
      ctl = ",".join(f"{c:.2f}" for c in q["controllability"])
      print(
        f"  {name:<16} {q['models_trained']:>6} {kl:9.2e} {hv:9.4f} {ctl:>14} {q['seconds']:6.1f}"
      )
    print(
      f"  conditioned on the {r['grid_points']}-point grid: max KL "
      f"{r['conditioned']['max_kl_to_closed_form']:.2e}"
    )
  if results.get("llmfao"):
    r = results["llmfao"]
    q = r["policy"]
    print(
      f"\nLLMFAO crowd vs GPT-4 ({r['models']} LLMs, judge correlation "
      f"{r['judge_correlation']:.3f}): {len(r['pareto_optimal'])} Pareto-optimal LLMs"
    )
    for p in r["pareto_optimal"]:
      print(f"  {p['model']:<32} crowd {p['crowd']:+.2f}  GPT-4 {p['gpt4']:+.2f}")
    print(
      f"  conditioned router policy: max KL to closed form {q['max_kl_to_closed_form']:.2e}, "
      f"HV {q['hv']:.4f} vs closed form {q['closed_form_hv']:.4f}"
    )


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the configured parts; returns their results (also printed and plotted)."""
  validate(config)
  parts = _names(config.parts)
  grid = pareto.das_dennis(2, config.grid)
  results: dict[str, Any] = {}
  if "ff" in parts:
    results["ff"] = _ff(config.ff, grid, config.seed)
  if "kl" in parts:
    results["kl"] = _kl(config.kl, grid, config.seed)
  if "llmfao" in parts:
    results["llmfao"] = _llmfao(config.llmfao, grid, config.seed)
  _report(results)
  if config.plot:
    for name, plot in (("ff", _plot_ff), ("kl", _plot_kl), ("llmfao", _plot_llmfao)):
      if results.get(name):
        path = os.path.join(
          workdir, f"{name}_fronts.png" if name != "llmfao" else "llmfao_front.png"
        )
        plot(results[name], path)
        print(f"Wrote {path}")
  return results
