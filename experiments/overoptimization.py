"""Reward over-optimization on an exact bandit: gold vs proxy along the KL axis, with seeds.

Config: ``configs/overoptimization.py`` (``part=smollm2`` runs ``experiments/
overoptimization_lm.py`` instead). Seed s draws a task: gold rewards ``g[x, y] ~ N(0, 1)`` for
``prompts`` x ``responses`` and a reference ``softmax(ref_scale * N(0, 1))`` per prompt. A proxy
Bradley-Terry reward is fitted by Newton's method (ridge ``l2``) on the first ``comparisons`` of
``max_comparisons`` pairs drawn from the reference and labelled by the gold BT model
(``comparisons`` is a vmapped axis: the proxy's "size", as in Gao et al.'s CPU check). Every
policy is scored by its gold and proxy win rates against the reference,
``E_{y~pi, y'~ref} sigmoid(r(y) - r(y'))``, and its reward gains ``E_pi r - E_ref r``, along
``KL(pi || ref)``:

- exact curves, in the state: best-of-n by the proxy (``overoptimization.best_of_n_policy``) over
  ``best_of_n`` and the KL-optimal policies ``ref * exp(proxy / beta)`` over ``betas``;
- trained policies (one engine run per trainer, ``kl_coef`` and ``comparisons`` vmapped, logits
  ``log ref + theta`` trained by Adam from ``theta = 0``), logged along training:
  ``policy_gradient`` (the exact gradient of ``E_pi proxy - beta KL``); ``online_dpo`` (``batch``
  pairs per prompt sampled from the policy, proxy-labelled, DPO with ``beta``); ``constrained``
  (Moskovitz et al.: the same gradient on the Lagrangian with the proxy gain
  ``E_pi proxy - E_ref proxy`` kept ``<=`` its proxy point, the multiplier by dual ascent; the
  proxy point is the proxy gain where the gold win rate peaked along the exact KL-optimal path on
  ``calibration_tasks`` separate tasks with proxies of the same size, so the run's own gold is
  never used); ``transformed`` (Wang et al.: the same gradient on
  ``log sigmoid(proxy - r_ref(x))``, ``r_ref`` the ``reference_quantile`` of the proxy over
  ``reference_samples`` reference samples; its KL weight is ``transform_beta_scale * kl_coef``,
  since the transformed reward saturates and would otherwise stay near the reference).

Returns and writes (``results.json``): per proxy size the exact curves (mean ± 95% interval over
seeds), the gold peak and the drop from it at the end of each curve (paired by seed), Gao et
al.'s two laws fitted per seed with their peaks; per trainer and point the final and peak gold
and proxy win rates and KL. ``overoptimization.png`` draws the curves.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from scipy import stats

from experiments import common, train_lib
from jaxpref import losses, overoptimization, training
from jaxpref.types import Array, PRNGKey

TRAINERS = ("policy_gradient", "online_dpo", "constrained", "transformed")
METRICS = ("kl", "gold_win_rate", "proxy_win_rate", "gold_gain", "proxy_gain", "multiplier")
CALIBRATION_BETAS = np.geomspace(10.0, 0.003, 32)  # The fine path locating the proxy point.
MATCHED_KL = (1.0, 2.0, 3.0, 4.0)  # results.json compares every curve's gold at these KLs.


class Hyper(NamedTuple):
  """The traced hyperparameters of one point."""

  comparisons: Any
  kl_coef: Any
  learning_rate: Any


FIELDS = {"comparisons": "comparisons", "kl_coef": "kl_coef", "learning_rate": "learning_rate"}


class Task(NamedTuple):
  """One bandit: gold and proxy rewards, the reference, and each response's win rates."""

  gold: Array  # [X, n]
  proxy: Array  # [X, n]
  ref: Array  # [X, n]
  gold_wins: Array  # [X, n] E_{y'~ref} sigmoid(g(y) - g(y'))
  proxy_wins: Array  # [X, n] the same under the proxy


class Curves(NamedTuple):
  """The exact curves of one task: best-of-n over n, KL-optimal over beta (``[len]`` each)."""

  bon: dict[str, Array]
  kl_optimal: dict[str, Array]


class State(NamedTuple):
  """One point: the task, its exact curves, the proxy point, the trained policy and multiplier."""

  task: Task
  curves: Curves
  threshold: Array  # the proxy point (a proxy gain E_pi proxy - E_ref proxy) of ``constrained``
  r_ref: Array  # [X] the transformed trainer's reference rewards
  theta: Array  # [X, n] policy logits minus log ref
  opt_state: Any
  lagrange: overoptimization.Lagrange
  key: PRNGKey


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the part, trainers, sizes and grids before anything compiles."""
  if config.part not in ("bandit", "smollm2"):
    raise ValueError(f"config.part must be 'bandit' or 'smollm2'; got {config.part!r}.")
  if config.part == "smollm2":
    from experiments import overoptimization_lm

    overoptimization_lm.validate(config)
    return
  for name in common.names(config.trainers):
    if name not in TRAINERS:
      raise ValueError(
        f"Unknown trainer {name!r} in config.trainers; known: {', '.join(TRAINERS)}."
      )
  for field in ("prompts", "max_comparisons", "newton_steps", "calibration_tasks", "batch"):
    if int(config[field]) < 1:
      raise ValueError(f"config.{field} must be >= 1; got {config[field]}.")
  if int(config.responses) < 2:
    raise ValueError(f"config.responses must be >= 2; got {config.responses}.")
  sizes = list(config.vmap.axes.get("comparisons", (config.comparisons,)))
  for m in sizes:
    if not 1 <= m <= int(config.max_comparisons):
      raise ValueError(
        f"comparisons must lie in [1, max_comparisons={config.max_comparisons}]; got {m}."
      )
  try:
    ns, betas = common.floats(config.best_of_n), common.floats(config.betas)
  except ValueError:
    raise ValueError("config.best_of_n and config.betas must be comma-separated numbers.") from None
  if not ns or min(ns) < 1:
    raise ValueError(f"best-of-n needs every n >= 1; got {config.best_of_n!r}.")
  if not betas or min(betas) <= 0:
    raise ValueError(f"config.betas must be positive; got {config.betas!r}.")
  if not 0.0 <= float(config.reference_quantile) <= 1.0:
    raise ValueError(
      f"config.reference_quantile must lie in [0, 1]; got {config.reference_quantile}."
    )
  if float(config.l2) <= 0:
    raise ValueError(f"config.l2 must be > 0 (the proxy's fit needs it); got {config.l2}.")


def fit_proxy(wins: Array, *, l2: float, steps: int) -> Array:
  r"""Ridge Bradley-Terry scores of one prompt by Newton's method.

  Minimizes :math:`-\sum_{ij} W_{ij} \log\sigma(\theta_i - \theta_j) + \frac{l_2}{2}\|\theta\|^2`
  with the closed-form gradient and Hessian (positive definite through the ridge).

  Args:
    wins: ``[n, n]`` ``W[i, j]`` = times i beat j.
    l2: the ridge.
    steps: Newton iterations (static).

  Returns:
    ``[n]`` the scores.
  """
  N = wins + wins.T
  eye = jnp.eye(wins.shape[0], dtype=wins.dtype)

  def newton(theta, _):
    p = jax.nn.sigmoid(theta[:, None] - theta[None, :])
    grad = -jnp.sum(wins - N * p, axis=1) + l2 * theta
    c = N * p * (1 - p)
    hess = jnp.diag(jnp.sum(c, axis=1) + l2) - c * (1 - eye)
    return theta - jnp.linalg.solve(hess, grad), None

  theta, _ = jax.lax.scan(newton, jnp.zeros(wins.shape[0], wins.dtype), None, length=int(steps))
  return theta


def sample_rows(key: PRNGKey, probs: Array, count: int) -> Array:
  """``[X, count]`` draws from each row of ``probs [X, n]`` by inverse CDF (O(count) memory)."""
  cdf = jnp.cumsum(probs, axis=-1)
  u = jax.random.uniform(key, (probs.shape[0], count), probs.dtype) * cdf[:, -1:]
  draws = jax.vmap(lambda c, v: jnp.searchsorted(c, v, side="right"))(cdf, u)
  return jnp.minimum(draws, probs.shape[-1] - 1)


def win_weights(r: Array, ref: Array) -> Array:
  """``[X, n]``: each response's probability of beating a reference sample under reward ``r``."""
  return jnp.einsum("xij,xj->xi", jax.nn.sigmoid(r[:, :, None] - r[:, None, :]), ref)


def draw_task(config: ml_collections.ConfigDict, key: PRNGKey, comparisons: Array) -> Task:
  """Gold rewards, the reference and a proxy fitted on the first ``comparisons`` pairs."""
  X, n, M = int(config.prompts), int(config.responses), int(config.max_comparisons)
  k_gold, k_ref, k_a, k_b, k_label = jax.random.split(key, 5)
  gold = jax.random.normal(k_gold, (X, n))
  ref = jax.nn.softmax(config.ref_scale * jax.random.normal(k_ref, (X, n)), axis=-1)
  x = jnp.arange(M) % X  # pair i asks prompt i mod X: the first m pairs spread evenly
  a = sample_rows(k_a, ref, M // X + 1).T.reshape(-1)[:M]
  b = sample_rows(k_b, ref, M // X + 1).T.reshape(-1)[:M]
  label = jax.random.bernoulli(k_label, jax.nn.sigmoid(gold[x, a] - gold[x, b])).astype(gold.dtype)
  used = (jnp.arange(M) < comparisons).astype(gold.dtype)
  wins = jnp.zeros((X, n, n), gold.dtype).at[x, a, b].add(used * label)
  wins = wins.at[x, b, a].add(used * (1 - label))
  if config.proxy_is_gold:
    proxy = gold
  else:
    fit = jax.vmap(lambda w: fit_proxy(w, l2=float(config.l2), steps=int(config.newton_steps)))
    proxy = fit(wins)
  return Task(gold, proxy, ref, win_weights(gold, ref), win_weights(proxy, ref))


def evaluate(task: Task, pi: Array) -> dict[str, Array]:
  """KL to the reference, gold and proxy win rates and reward gains of ``pi [X, n]``."""
  ratio = jnp.where(pi > 0, pi / task.ref, 1.0)
  return {
    "kl": jnp.mean(jnp.sum(pi * jnp.log(ratio), axis=-1)),
    "gold_win_rate": jnp.mean(jnp.sum(pi * task.gold_wins, axis=-1)),
    "proxy_win_rate": jnp.mean(jnp.sum(pi * task.proxy_wins, axis=-1)),
    "gold_gain": jnp.mean(jnp.sum((pi - task.ref) * task.gold, axis=-1)),
    "proxy_gain": jnp.mean(jnp.sum((pi - task.ref) * task.proxy, axis=-1)),
  }


def kl_optimal_curve(task: Task, betas: Array) -> dict[str, Array]:
  """:func:`evaluate` of the KL-optimal policies ``ref * exp(proxy / beta)``, per beta."""
  return jax.vmap(
    lambda b: evaluate(
      task, overoptimization.kl_regularized_policy(task.proxy, kl_coef=b, ref_policy=task.ref)
    )
  )(betas)


def exact_curves(task: Task, ns: Array, betas: Array) -> Curves:
  """The exact best-of-n and KL-optimal curves of ``task``."""
  bon = jax.vmap(
    lambda k: evaluate(task, overoptimization.best_of_n_policy(task.proxy, k, ref_policy=task.ref))
  )
  return Curves(bon(ns), kl_optimal_curve(task, betas))


def proxy_point(config: ml_collections.ConfigDict, key: PRNGKey, comparisons: Array) -> Array:
  """Mean proxy gain at the gold win rate's peak on the KL-optimal path, over calibration tasks."""
  betas = jnp.asarray(CALIBRATION_BETAS, jnp.result_type(float))

  def one(k):
    task = draw_task(config, k, comparisons)
    path = kl_optimal_curve(task, betas)
    return path["proxy_gain"][jnp.argmax(path["gold_win_rate"])]

  return jnp.mean(jax.vmap(one)(jax.random.split(key, int(config.calibration_tasks))))


def make_program(config: ml_collections.ConfigDict, trainer: str) -> training.Program:
  """The per-point program of one trainer: one Adam update per step, exact metrics."""
  ns = jnp.asarray(common.floats(config.best_of_n), jnp.result_type(float))
  betas = jnp.asarray(common.floats(config.betas), jnp.result_type(float))
  X, n = int(config.prompts), int(config.responses)

  def init(hp: Hyper, key: PRNGKey) -> State:
    k_task, k_cal, k_ref, k_run = jax.random.split(key, 4)
    task = draw_task(config, k_task, hp.comparisons)
    threshold = proxy_point(config, k_cal, hp.comparisons) if trainer == "constrained" else 0.0
    samples = sample_rows(k_ref, task.ref, int(config.reference_samples))
    r_ref = overoptimization.reference_reward(
      jnp.take_along_axis(task.proxy, samples, axis=-1), quantile=float(config.reference_quantile)
    )
    theta = jnp.zeros((X, n), task.gold.dtype)
    return State(
      task,
      exact_curves(task, ns, betas),
      jnp.asarray(threshold, task.gold.dtype),
      r_ref,
      theta,
      optax.adam(hp.learning_rate).init(theta),
      overoptimization.lagrange_init(1, dtype=task.gold.dtype),
      k_run,
    )

  def step(state: State, hp: Hyper, t: Array) -> State:
    del t
    task = state.task
    log_ref = jnp.log(task.ref)
    key, k_pairs, k_labels = jax.random.split(state.key, 3)

    def objective(theta):  # minimized
      logp = jax.nn.log_softmax(log_ref + theta, axis=-1)
      pi = jnp.exp(logp)
      kl = jnp.sum(pi * (logp - log_ref), axis=-1)
      if trainer == "online_dpo":
        B = int(config.batch)
        draws = sample_rows(k_pairs, jax.lax.stop_gradient(pi), 2 * B)  # [X, 2B]
        y = draws.T.reshape(2, B, X)
        rows = jnp.arange(X)
        p = jax.nn.sigmoid(task.proxy[rows, y[0]] - task.proxy[rows, y[1]])
        example = losses.Example(
          logp=logp[rows, y[0]],
          logp2=logp[rows, y[1]],
          ref_logp=log_ref[rows, y[0]],
          ref_logp2=log_ref[rows, y[1]],
          pref=jax.random.bernoulli(k_labels, p).astype(logp.dtype),
        )
        per = jax.vmap(jax.vmap(lambda e: losses.dpo(e, kl_coef=hp.kl_coef)[0]))(example)
        return jnp.mean(per)
      if trainer == "transformed":
        reward = overoptimization.log_sigmoid_transform(task.proxy, state.r_ref[:, None])
      elif trainer == "constrained":
        reward = overoptimization.lagrangian_reward(
          task.proxy, task.proxy[..., None], state.lagrange, senses="<="
        )
      else:
        reward = task.proxy
      beta = hp.kl_coef * (config.transform_beta_scale if trainer == "transformed" else 1.0)
      return -jnp.mean(jnp.sum(pi * reward, axis=-1) - beta * kl)

    grads = jax.grad(objective)(state.theta)
    updates, opt_state = optax.adam(hp.learning_rate).update(grads, state.opt_state)
    theta = optax.apply_updates(state.theta, updates)
    lagrange = state.lagrange
    if trainer == "constrained":
      pi = jax.nn.softmax(log_ref + theta, axis=-1)
      lagrange = overoptimization.lagrange_step(
        lagrange,
        evaluate(task, pi)["proxy_gain"][None],
        thresholds=state.threshold[None],
        step_size=config.dual_step_size,
        senses="<=",
      )
    return state._replace(theta=theta, opt_state=opt_state, lagrange=lagrange, key=key)

  def metrics(state: State, hp: Hyper) -> dict[str, Array]:
    del hp
    pi = jax.nn.softmax(jnp.log(state.task.ref) + state.theta, axis=-1)
    return {**evaluate(state.task, pi), "multiplier": state.lagrange.multipliers[0]}

  return training.Program(init, step, metrics)


def at_kl(kl: np.ndarray, value: np.ndarray, target: float) -> np.ndarray:
  """``[...]``: ``value`` interpolated at KL = ``target`` along each ``[..., points]`` curve.

  The curve is read in order of increasing KL; NaN where it never reaches ``target``.
  """
  kl, value = np.asarray(kl, float), np.asarray(value, float)
  flat_k, flat_v = kl.reshape(-1, kl.shape[-1]), value.reshape(-1, kl.shape[-1])
  out = np.full(flat_k.shape[0], np.nan)
  for i, (k, v) in enumerate(zip(flat_k, flat_v, strict=True)):
    order = np.argsort(k)
    if k[order[0]] <= target <= k[order[-1]]:
      out[i] = np.interp(target, k[order], v[order])
  return out.reshape(kl.shape[:-1])


def _finite_stat(values: np.ndarray) -> dict[str, Any]:
  """``common.stats`` over the finite seeds of each cell (a fit without a peak has d* = inf)."""
  values = np.asarray(values, float)
  finite = np.isfinite(values)
  n = finite.sum(axis=-1)
  safe = np.where(finite, values, 0.0)
  mean = safe.sum(axis=-1) / np.maximum(n, 1)
  var = np.where(finite, (safe - mean[..., None]) ** 2, 0.0).sum(axis=-1) / np.maximum(n - 1, 1)
  t = np.array([stats.t.ppf(0.975, max(k - 1, 1)) for k in n.ravel()]).reshape(n.shape)
  half = np.where(n > 1, t * np.sqrt(var / np.maximum(n, 1)), np.nan)
  return {
    "values": np.where(finite, values, np.nan).tolist(),
    "mean": np.where(n > 0, mean, np.nan).tolist(),
    "ci95": half.tolist(),
    "finite_seeds": n.tolist(),
  }


def summarize_curves(curves: Curves, axis_values: dict[str, list[float]]) -> dict[str, Any]:
  """Per curve: mean ± 95% interval of each metric, gold peak and drop, gold at KL, fitted laws."""
  out: dict[str, Any] = {}
  for name, curve in (("best_of_n", curves.bon), ("kl_optimal", curves.kl_optimal)):
    c = {k: np.asarray(v) for k, v in curve.items()}  # [..., seed, points]
    gold = c["gold_win_rate"]
    peak = np.argmax(gold.mean(axis=-2), axis=-1)  # [...] the mean curve's peak
    at_peak = np.take_along_axis(gold, peak[..., None, None], axis=-1)[..., 0]
    entry = {
      "x": axis_values[name],
      **{k: common.stats(np.moveaxis(v, -1, -2)) for k, v in c.items()},
      "peak_index": peak.tolist(),
      "gold_at_peak": common.stats(at_peak),
      "peak_minus_end": common.stats(at_peak - gold[..., -1]),
      "kl_at_peak": common.stats(
        np.take_along_axis(c["kl"], peak[..., None, None], axis=-1)[..., 0]
      ),
      "gold_at_kl": {str(k): _finite_stat(at_kl(c["kl"], gold, k)) for k in MATCHED_KL},
    }
    form = "bon" if name == "best_of_n" else "rl"
    d, gain = np.sqrt(np.maximum(c["kl"], 0.0)), c["gold_gain"]
    flat_d, flat_g = d.reshape(-1, d.shape[-1]), gain.reshape(-1, gain.shape[-1])
    fits = [
      overoptimization.fit_scaling_law(a, g, form=form) for a, g in zip(flat_d, flat_g, strict=True)
    ]
    shape = d.shape[:-1]
    for field in ("slope", "decay", "peak_distance"):
      values = np.array([float(getattr(f, field)) for f in fits]).reshape(shape)
      entry[f"fit_{field}"] = _finite_stat(values)
    out[name] = entry
  return out


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """The bandit part (or the SmolLM2 part); prints the tables, writes results.json and a PNG."""
  if config.part == "smollm2":
    from experiments import overoptimization_lm

    return overoptimization_lm.run(config, workdir)
  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  results: dict[str, Any] = {"axes": common.axes_of(sweep), "trainers": {}}
  curves, histories, log_steps = None, {}, None
  for trainer in common.names(config.trainers):
    out = training.run_sweep(
      make_program(config, trainer),
      sweep,
      workdir=os.path.join(workdir, trainer),
      name=trainer,
      **train_lib.run_options(config),
    )
    log_steps = np.asarray(out.log_steps)
    if curves is None:
      curves = out.state.curves
    h = {k: np.asarray(v) for k, v in out.history.items()}  # [*axes, seed, logs]
    histories[trainer] = h
    gold = h["gold_win_rate"]
    peak = np.argmax(gold, axis=-1)
    results["trainers"][trainer] = {
      "final": {k: common.stats(v[..., -1]) for k, v in h.items()},
      "gold_peak": common.stats(gold.max(axis=-1)),
      "kl_at_gold_peak": common.stats(
        np.take_along_axis(h["kl"], peak[..., None], axis=-1)[..., 0]
      ),
      "peak_minus_final": common.stats(gold.max(axis=-1) - gold[..., -1]),
      "gain_peak_minus_final": common.stats(h["gold_gain"].max(axis=-1) - h["gold_gain"][..., -1]),
      "gold_at_kl": {str(k): _finite_stat(at_kl(h["kl"], gold, k)) for k in MATCHED_KL},
    }
    if trainer == "constrained":
      results["trainers"][trainer]["threshold"] = common.stats(np.asarray(out.state.threshold))
    common.write_results(workdir, results)
  base = histories.get("policy_gradient")
  if base is not None:
    for trainer, h in histories.items():
      if trainer != "policy_gradient":
        results["trainers"][trainer]["gold_minus_policy_gradient"] = common.stats(
          h["gold_win_rate"][..., -1] - base["gold_win_rate"][..., -1]
        )
        results["trainers"][trainer]["gold_at_kl_minus_policy_gradient"] = {
          str(k): _finite_stat(
            at_kl(h["kl"], h["gold_win_rate"], k) - at_kl(base["kl"], base["gold_win_rate"], k)
          )
          for k in MATCHED_KL
        }
  if curves is not None:
    axis_values = {
      "best_of_n": common.floats(config.best_of_n),
      "kl_optimal": common.floats(config.betas),
    }
    results["curves"] = summarize_curves(curves, axis_values)
  results["log_steps"] = log_steps.tolist() if log_steps is not None else []
  common.write_results(workdir, results)
  if jax.process_index() == 0:
    print_report(config, results, sweep)
    plot(os.path.join(workdir, "overoptimization.png"), config, results, histories, sweep)
  return results


def point_index(axes: list[str], i_size: int, i_beta: int) -> tuple[int, ...]:
  """The index into ``[*axes, ...]`` results of proxy size ``i_size`` and beta ``i_beta``."""
  return tuple(i_size if a == "comparisons" else i_beta if a == "kl_coef" else 0 for a in axes)


def _cell(stat: dict[str, Any], index: tuple[int, ...]) -> str:
  mean, ci = np.asarray(stat["mean"]), np.asarray(stat["ci95"])
  return f"{float(mean[index]):.3f} ± {float(ci[index]):.3f}"


def print_report(config: ml_collections.ConfigDict, results: dict[str, Any], sweep) -> None:
  """Prints the curves' peaks and the trainers' finals per proxy size (and beta)."""
  swept = common.axes_of(sweep)
  axes = list(swept)
  sizes = [int(v) for v in swept.get("comparisons", [config.comparisons])]
  betas = [float(v) for v in swept.get("kl_coef", [config.kl_coef])]

  print(f"over-optimization bandit: {config.prompts} prompts x {config.responses} responses, "
        f"{config.vmap.seeds} seeds (mean ± 95% interval)")  # fmt: skip
  for i, m in enumerate(sizes):
    print(f"proxy fitted on {m} comparisons")
    for name in ("best_of_n", "kl_optimal"):
      c = results.get("curves", {}).get(name)
      if c is None:
        continue
      ix = point_index(axes, i, 0)
      print(
        f"  {name:<11} gold win rate at its peak {_cell(c['gold_at_peak'], ix)} "
        f"(KL {_cell(c['kl_at_peak'], ix)}), peak - end {_cell(c['peak_minus_end'], ix)}; "
        f"proxy win rate at the end {_cell(c['proxy_win_rate'], (*ix, -1))}; "
        f"fitted peak sqrt(KL) {_cell(c['fit_peak_distance'], ix)}; gold at KL "
        + ", ".join(f"{k}: {_cell(c['gold_at_kl'][k], ix)}" for k in c["gold_at_kl"])
      )
    for trainer, r in results["trainers"].items():
      for j, b in enumerate(betas):
        ix = point_index(axes, i, j)
        f = r["final"]
        line = (
          f"  {trainer:<15} beta {b:<5g} final gold {_cell(f['gold_win_rate'], ix)} proxy "
          f"{_cell(f['proxy_win_rate'], ix)} KL {_cell(f['kl'], ix)}; peak gold "
          f"{_cell(r['gold_peak'], ix)} (peak - final {_cell(r['peak_minus_final'], ix)})"
        )
        if j == len(betas) - 1:
          line += "; gold at KL " + ", ".join(
            f"{k}: {_cell(r['gold_at_kl'][k], ix)}" for k in r["gold_at_kl"]
          )
        if j == len(betas) - 1 and "gold_at_kl_minus_policy_gradient" in r:
          d = r["gold_at_kl_minus_policy_gradient"]
          line += "; minus policy_gradient at KL " + ", ".join(f"{k}: {_cell(d[k], ix)}" for k in d)
        if "gold_minus_policy_gradient" in r:
          line += f"; gold - policy_gradient {_cell(r['gold_minus_policy_gradient'], ix)}"
        print(line)


def plot(path: str, config, results: dict[str, Any], histories, sweep) -> None:
  """Gold (solid) and proxy (dashed) win rates vs KL, one panel per proxy size."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  swept = common.axes_of(sweep)
  axes = list(swept)
  sizes = [int(v) for v in swept.get("comparisons", [config.comparisons])]
  fig, panels = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False)

  def pick(values, i_size, i_beta):  # [*axes, seed, points] -> [seed, points]
    return np.asarray(values)[point_index(axes, i_size, i_beta)]

  colors = {"best_of_n": "k", "kl_optimal": "tab:gray"}
  colors |= dict(zip(TRAINERS, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=True))
  for i, m in enumerate(sizes):
    ax = panels[0, i]
    for name, c in results.get("curves", {}).items():
      kl = np.mean(pick(c["kl"]["values"], i, 0), axis=-1)  # [points, seed] -> [points]
      for key, style in (("gold_win_rate", "-"), ("proxy_win_rate", "--")):
        ax.plot(kl, np.mean(pick(c[key]["values"], i, 0), axis=-1), style, color=colors[name],
                label=f"{name} ({key.split('_')[0]})")  # fmt: skip
    j = len(swept.get("kl_coef", [0])) - 1  # the smallest beta travels furthest
    for trainer, h in histories.items():
      kl = pick(h["kl"], i, j).mean(axis=0)
      gold = pick(h["gold_win_rate"], i, j).mean(axis=0)
      ax.plot(kl, gold, "-o", ms=2, color=colors[trainer], label=f"{trainer} (gold)")
    ax.set_title(f"proxy from {m} comparisons")
    ax.set_xlabel("KL(pi || ref) [nats]")
    ax.set_ylabel("win rate vs reference")
  panels[0, 0].legend(fontsize=6)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
