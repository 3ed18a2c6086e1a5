"""K-wise arena simulation: how many votes each matchmaking rule and estimator need for the order.

A known Plackett-Luce model ranks ``models`` items with log-strengths evenly spaced over
``spread`` (item order shuffled per seed). Each engine step is one vote of
:func:`jaxpref.arena.arena_step`; each rule is a static program run by
:func:`jaxpref.training.run_sweep` over ``seeds`` vmapped seeds in ``workdir/<rule>/``:

- ``uniform_pairs``: random pairs (K = 2) + Plackett-Luce (= Bradley-Terry) MAP refit per vote;
- ``uniform``: K random items + PL MAP;
- ``information``: K items by greedy expected information gain on the PL Laplace posterior
  + PL MAP;
- ``ksort``: K-Sort Arena: Thurstone K-wise update + UCB matchmaking, leaderboard mu - 3 sigma;
- ``elo_pairs``: random pairs + online Elo (k_factor 4), the paper's baseline.

Returns per rule the Kendall tau (tau-b) curve against votes (mean and 95% interval over seeds),
the votes until the estimated order first equals the true one (K-Sort Arena's "rank MSE reaches
0"; mean and 95% interval over the seeds that reached it, and how many never did), the votes from
which it stayed exact, and writes ``kendall_tau.png``.

``config`` is a section (e.g. ``config.arena`` of ``configs/rankings.py``) with: ``models``,
``k``, ``votes``, ``rules`` ("a,b" names of :data:`RULES`), ``spread``, ``flip_prob``, ``mode``,
``l2``, ``alpha``, ``exploit``, ``pair_scale``, ``k_factor``, ``newton_steps``, ``refit_every``,
``log_every``, ``seeds``, ``seed``, ``plot``, ``backend``, ``devices``; missing fields take
:data:`DEFAULTS`.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from jaxpref import arena, training
from jaxpref.training import _plots
from jaxpref.types import Array, PRNGKey

# name -> (items per vote: None = config.k, matchmaking, estimator)
RULES = {
  "uniform_pairs": (2, "uniform", "pl"),
  "uniform": (None, "uniform", "pl"),
  "information": (None, "information", "pl"),
  "ksort": (None, "ucb", "thurstone"),
  "elo_pairs": (2, "uniform", "elo"),
}
LABELS = {
  "uniform_pairs": "random pairs + PL MLE",
  "uniform": "random K-sets + PL MLE",
  "information": "information K-sets + PL MLE",
  "ksort": "K-Sort (Thurstone + UCB)",
  "elo_pairs": "random pairs + online Elo",
}
TAU_THRESHOLDS = (0.9, 0.95)  # Votes to reach these Kendall taus are reported (at log resolution).
DEFAULTS = {
  "models": 20,  # items ranked (the paper's simulation: 50)
  "k": 4,  # items shown per vote (K-Sort's default)
  "votes": 1000,  # votes per run (engine steps)
  "rules": "uniform_pairs,uniform,information,ksort,elo_pairs",
  "spread": 6.0,  # true log-strengths evenly spaced over [-spread/2, spread/2]
  "flip_prob": 0.0,  # probability that a vote is reversed (the paper tests 0.05)
  "mode": "rank",  # "rank": full rankings; "best": best pick
  "l2": 0.01,  # PL prior strength (penalty l2 |theta|^2)
  "alpha": 1.0,  # UCB exploration weight
  "exploit": "different",  # UCB sign: "different" (paper's formula) or "similar" (its text)
  "pair_scale": "trueskill",  # Thurstone pair scale: "trueskill" or "paper"
  "k_factor": 4.0,  # Elo step
  "newton_steps": 2,  # Newton steps per PL refit
  "refit_every": 1,  # refit the PL leaderboard every this many votes
  "log_every": 0,  # votes between logged points of the curves (0: votes // 50)
  "seeds": 8,
  "seed": 0,
  "plot": True,
  "backend": "jit",
  "devices": -1,
}


class Hyper(NamedTuple):
  """The traced hyperparameters of one point."""

  spread: float
  flip_prob: float
  l2: float
  alpha: float
  k_factor: float


def _get(config: ml_collections.ConfigDict, name: str) -> Any:
  return config.get(name, DEFAULTS[name])


def settings(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The section's values, defaults filled in."""
  out = {name: _get(config, name) for name in DEFAULTS}
  out["rules"] = common.names(out["rules"])
  if not out["log_every"]:
    out["log_every"] = max(1, int(out["votes"]) // 50)
  return out


def hyperparameters(config: ml_collections.ConfigDict) -> Hyper:
  """The typed hyperparameters at their config values."""
  s = settings(config)
  return Hyper(*(float(s[name]) for name in Hyper._fields))


def make_arena(config: ml_collections.ConfigDict, rule: str, hp: Hyper | None = None):
  """The :class:`jaxpref.arena.Arena` of ``rule`` (numbers from ``hp`` when given)."""
  s = settings(config)
  hp = hyperparameters(config) if hp is None else hp
  k, matchmaking, estimator = RULES[rule]
  return arena.Arena(
    int(s["models"]),
    int(s["k"]) if k is None else k,
    int(s["votes"]),
    matchmaking=matchmaking,
    estimator=estimator,
    mode=s["mode"],
    max_steps=int(s["newton_steps"]),
    pair_scale=s["pair_scale"],
    exploit=s["exploit"],
    flip_prob=hp.flip_prob,
    l2=hp.l2,
    alpha=hp.alpha,
    k_factor=hp.k_factor,
  )


def validate_arena(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` naming the first bad setting of the section; compiles nothing."""
  unknown = sorted(set(config.keys()) - set(DEFAULTS))
  if unknown:
    raise ValueError(f"arena: unknown field(s) {unknown}; known: {', '.join(sorted(DEFAULTS))}.")
  s = settings(config)
  for name in ("models", "k", "votes", "seeds", "newton_steps", "refit_every", "log_every"):
    value = s[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"arena.{name} must be an integer >= 1; got {value!r}.")
  if not s["rules"]:
    raise ValueError(f"arena.rules is empty; choose from {', '.join(RULES)}.")
  for rule in s["rules"]:
    if rule not in RULES:
      raise ValueError(f"arena.rules: unknown rule {rule!r}; known: {', '.join(RULES)}.")
  if not float(s["spread"]) > 0:
    raise ValueError(f"arena.spread must be > 0; got {s['spread']}.")
  if not float(s["l2"]) > 0:
    raise ValueError(f"arena.l2 must be > 0 (the Newton refit needs it); got {s['l2']}.")
  for rule in s["rules"]:
    try:
      make_arena(config, rule)
    except ValueError as e:
      raise ValueError(f"arena (rule {rule}): {e}") from None


def make_program(config: ml_collections.ConfigDict, rule: str) -> training.Program:
  """One point's program: the arena of ``rule``, one vote per engine step."""
  s = settings(config)
  n, refit_every = int(s["models"]), int(s["refit_every"])
  base = jnp.linspace(0.5, -0.5, n)

  def init(hp: Hyper, key: PRNGKey) -> arena.ArenaState:
    key_order, key_run = jax.random.split(key)
    theta = hp.spread * base[jax.random.permutation(key_order, n)]
    return arena.arena_init(make_arena(config, rule, hp), theta, key_run)

  def step(state: arena.ArenaState, hp: Hyper, t: Array) -> arena.ArenaState:
    refit = True if refit_every == 1 else (t + 1) % refit_every == 0
    return arena.arena_step(make_arena(config, rule, hp), state, refit=refit)

  def metrics(state: arena.ArenaState, hp: Hyper) -> dict[str, Array]:
    del hp
    return arena.arena_metrics(state)

  return training.Program(init, step, metrics)


def _first_log(tau: np.ndarray, steps: np.ndarray, threshold: float) -> np.ndarray:
  """``[seeds]`` the first logged vote count with Kendall tau >= threshold (NaN if never)."""
  tau = np.asarray(tau)
  hit = tau >= threshold
  first = np.asarray(steps, np.float64)[np.argmax(hit, axis=1)]
  return np.where(hit.any(axis=1), first, np.nan)


def _reached(values: np.ndarray) -> dict[str, Any]:
  """Mean and 95% interval over the seeds with a finite value; how many have none."""
  values = np.asarray(values, np.float64).reshape(-1)
  done = values[np.isfinite(values)]
  s = training.summarize(done) if done.size else None
  return {
    "values": [None if not np.isfinite(v) else float(v) for v in values],
    "mean": float(s.mean) if s is not None else None,
    "ci95": float(s.half_width) if s is not None and np.isfinite(s.half_width) else None,
    "never": int(values.size - done.size),
  }


def _plot(curves: dict[str, dict[str, Any]], path: str, seeds: int) -> str:
  with _plots.styled():
    fig, axes = _plots.subplots(2, cols=2, panel=(5.2, 3.6), extra_width=2.6)
    for ax, metric, ylabel, log in (
      (axes[0], "kendall_tau", "Kendall tau to the true order", False),
      (axes[1], "rank_mse", "rank MSE", True),
    ):
      reached = []
      for i, (rule, c) in enumerate(curves.items()):
        mean, half = np.asarray(c[metric]["mean"]), np.nan_to_num(c[metric]["ci95"])
        label = LABELS.get(rule, rule)
        if _plots.draw_curve(
          ax, c["votes"], mean, i, label=label, low=mean - half, high=mean + half, log=log
        ):
          reached.append(label)
      ax.set(xlabel="votes", ylabel=ylabel, title=ylabel)
      if log:
        _plots.note_not_drawn(ax, reached)
    _plots.legend_outside(fig, title="rule")
    fig.suptitle(f"mean over {seeds} seed(s), band = 95% interval")
    return _plots.save(fig, path)


def run_arena(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs every rule of the section through the engine; returns curves and votes to the order.

  Args:
    config: the arena section (fields in the module docstring).
    workdir: output folder; each rule's engine run is in ``workdir/<rule>/``.

  Returns:
    ``{rule: {"label", "k", "votes" [logs], "kendall_tau"/"rank_mse": {"mean", "ci95"} [logs],
    "final_kendall_tau": stats, "votes_to_exact" / "votes_exact_since": {"values", "mean",
    "ci95", "never"}}}``.
  """
  validate_arena(config)
  s = settings(config)
  sweep = training.make_sweep(hyperparameters(config), seeds=int(s["seeds"]), seed=int(s["seed"]))
  results: dict[str, Any] = {}
  provenance = {k: v for k, v in s.items() if k not in ("plot", "backend", "devices")}
  for rule in s["rules"]:
    result = training.run_sweep(
      make_program(config, rule),
      sweep,
      steps=int(s["votes"]),
      workdir=os.path.join(workdir, rule),
      log_every=int(s["log_every"]),
      backend=str(s["backend"]),
      devices=int(s["devices"]),
      tensorboard=False,
      provenance={**provenance, "rule": rule},
      name=rule,
    )
    h = result.history  # {metric: [seed, logs]}
    curve = {}
    for metric in ("kendall_tau", "rank_mse"):
      summary = training.summarize(h[metric], axis=0)
      curve[metric] = {"mean": summary.mean.tolist(), "ci95": summary.half_width.tolist()}
    results[rule] = {
      "label": LABELS[rule],
      "k": make_arena(config, rule).k,
      "votes": result.log_steps.tolist(),
      **curve,
      "final_kendall_tau": common.stats(h["kendall_tau"][:, -1]),
      "votes_to_exact": _reached(h["first_exact"][:, -1]),
      **{
        f"votes_to_tau_{t}": _reached(_first_log(h["kendall_tau"], result.log_steps, t))
        for t in TAU_THRESHOLDS
      },
      "votes_exact_since": _reached(h["exact_since"][:, -1]),
    }
  if s["plot"] and jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    _plot(results, os.path.join(workdir, "kendall_tau.png"), int(s["seeds"]))
  return results


def _votes(v: dict[str, Any]) -> str:
  seeds = len(v["values"])
  if v["mean"] is None:
    return f"never ({seeds}/{seeds} seeds)"
  ci = "nan" if v["ci95"] is None else f"{v['ci95']:.0f}"
  return f"{v['mean']:.0f} ± {ci} (never: {v['never']}/{seeds})"


def format_results(results: dict[str, Any]) -> str:
  """A table of votes to Kendall tau >= 0.9 and to the exact order per rule (for a CLI)."""
  head = f"{'rule':32s} {'K':>2s} {'final tau':>16s}"
  lines = [f"{head} {'votes to tau >= 0.9':>26s} {'votes to exact order':>28s}"]
  for r in results.values():
    tau = r["final_kendall_tau"]
    to_tau = _votes(r["votes_to_tau_0.9"]) if "votes_to_tau_0.9" in r else "-"
    lines.append(
      f"{r['label']:32s} {r['k']:2d} {tau['mean']:8.3f} ± {tau['ci95']:.3f} {to_tau:>26s} "
      f"{_votes(r['votes_to_exact']):>28s}"
    )
  return "\n".join(lines)
