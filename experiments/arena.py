"""An arena report on LLMFAO: leaderboards with uncertainty, judges, matchmaking, Kemeny.

Config: ``configs/arena.py``. Parts (``config.parts``):

- ``leaderboard``: one engine program per point: seed s draws an independent bootstrap of
  ``bootstrap.resamples`` resamples of the crowd's comparisons (whole judgments, multinomial) and
  refits Bradley-Terry (Davidson ties, a left-position advantage) on each, runs one-pass online Elo
  (FastChat's k = 4) over ``elo.permutations`` random orders, and recomputes the maximal lottery
  of the empirical game on ``lottery.resamples`` resamples. Its metrics are per model: the
  bootstrap interval of the BT strength and rank, Elo's rank range over orders, and how often each
  model is in the lottery's support. Seeds are independent replications, so the report gives each
  endpoint's mean over seeds with its 95% interval (the Monte Carlo error of the bootstrap).
- ``judges``: :func:`jaxpref.arena.judge_report` and pairwise agreement for the crowd (shipped),
  GPT-4 and GPT-3.5 (``data.llmfao_dir``; skipped with a note where absent).
- ``matchmaking``: the K-wise arena simulation (``experiments/kwise_arena.py``) with pairs:
  votes to Kendall tau >= 0.9 for uniform and information-based matchmaking.
- ``kemeny``: each prompt's BT ranking of the models judged on it, aggregated by exact Kemeny
  (integer program), against the pooled BT order.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common, kwise_arena, train_lib
from jaxpref import arena, data, equilibria, social, training
from jaxpref import preference as pm
from jaxpref.training import _plots
from jaxpref.types import Array, PRNGKey

PARTS = ("leaderboard", "judges", "matchmaking", "kemeny")
JUDGE_FILES = {"gpt4": "gpt4-crowd-comparisons.csv", "gpt3": "gpt3-crowd-comparisons.csv"}


class Hyper(NamedTuple):
  """The traced hyperparameters of a leaderboard point."""

  l2: Any
  k_factor: Any


FIELDS = {"bt.l2": "l2", "elo.k_factor": "k_factor"}


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the parts, counts and the matchmaking section before anything runs."""
  parts = common.names(config.parts)
  if not parts or any(p not in PARTS for p in parts):
    raise ValueError(f"config.parts must name some of {', '.join(PARTS)}; got {config.parts!r}.")
  for name in ("bootstrap.resamples", "elo.permutations", "lottery.resamples"):
    section, field = name.split(".")
    if int(config[section][field]) < 1:
      raise ValueError(f"config.{name} must be >= 1; got {config[section][field]}.")
  if config.steps != 1:
    raise ValueError("config.steps must be 1 (one bootstrap per seed).")
  if "matchmaking" in parts:
    kwise_arena.validate_arena(config.matchmaking)
  if config.data.llmfao and not os.path.isfile(config.data.llmfao):
    raise ValueError(f"data.llmfao: no file at {config.data.llmfao!r}.")


def crowd(config: ml_collections.ConfigDict) -> data.Comparisons:
  """The crowd's judgments (shipped with jaxpref unless ``data.llmfao`` names a file)."""
  return data.load_llmfao(config.data.llmfao or None)


def judges(config: ml_collections.ConfigDict) -> dict[str, data.Comparisons]:
  """``{"crowd": ..., "gpt4": ..., "gpt3": ...}``: the judge files that exist."""
  out = {"crowd": crowd(config)}
  for name, file in JUDGE_FILES.items():
    path = os.path.join(config.data.llmfao_dir, file)
    if os.path.isfile(path):
      out[name] = data.load_llmfao(path)
    else:
      print(f"judges: skipping {name}: {path} not found (set --config.data.llmfao_dir)")
  return out


def make_program(config: ml_collections.ConfigDict, table: data.Comparisons) -> training.Program:
  """One replication: a BT bootstrap, Elo over random orders, lotteries under resampling."""
  pairs = pm.pairs_from_table(table)
  n, rows = table.num_items, table.num_comparisons
  B, E, L = (
    int(config.bootstrap.resamples),
    int(config.elo.permutations),
    int(config.lottery.resamples),
  )
  level = float(config.bootstrap.level)

  def replicate(hp: Hyper, key: PRNGKey) -> dict[str, Array]:
    k_boot, k_elo, k_lot = jax.random.split(key, 3)
    model = pm.BradleyTerry(n, ties=config.bt.ties or None, advantage=config.bt.advantage, l2=hp.l2)
    weights = arena.resample_weights(k_boot, rows, B)
    board = arena.leaderboard_from_weights(model, pairs, weights, level=level)
    elo = arena.elo_permutations(k_elo, pairs, n, num_permutations=E, k_factor=hp.k_factor)
    elo_ranks = arena.ranks(elo)
    lot_weights = arena.resample_weights(k_lot, rows, L)
    lotteries = jax.vmap(
      lambda w: equilibria.maximal_lottery(
        arena.comparison_game(pairs._replace(weight=pairs.weight * w), n)
      )
    )(lot_weights)
    out = {}
    per_item = {
      "bt_score": board.scores,
      "bt_low": board.low,
      "bt_high": board.high,
      "bt_rank_low": board.rank_low.astype(board.scores.dtype),
      "bt_rank_high": board.rank_high.astype(board.scores.dtype),
      "elo_mean": jnp.mean(elo, axis=0),
      "elo_rank_min": jnp.min(elo_ranks, axis=0).astype(elo.dtype),
      "elo_rank_max": jnp.max(elo_ranks, axis=0).astype(elo.dtype),
      "lottery_support": jnp.mean(lotteries > 1e-6, axis=0),
      "lottery_mass": jnp.mean(lotteries, axis=0),
    }
    for name, values in per_item.items():
      for i in range(n):
        out[f"{name}/{i:02d}"] = values[i]
    out["bt_converged"] = jnp.mean(board.converged.astype(elo.dtype))
    out["lottery_valid"] = jnp.mean(jnp.all(jnp.isfinite(lotteries), axis=-1).astype(elo.dtype))
    return out

  def init(hp: Hyper, key: PRNGKey) -> dict[str, Any]:
    shapes = jax.eval_shape(replicate, hp, key)
    nan = jax.tree.map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), shapes)
    return {"key": key, "metrics": nan}

  def step(state: dict[str, Any], hp: Hyper, t: Array) -> dict[str, Any]:
    del t
    return {"key": state["key"], "metrics": replicate(hp, state["key"])}

  return training.Program(init, step, lambda state, hp: state["metrics"])


def run_leaderboard(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Part ``leaderboard``: the engine sweep and a per-model summary over seeds."""
  table = crowd(config)
  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  out = training.run_sweep(
    make_program(config, table),
    sweep,
    workdir=workdir,
    name="leaderboard",
    **train_lib.run_options(config),
  )
  final = {k: np.asarray(v[..., -1]) for k, v in out.history.items()}
  names = ("bt_score", "bt_low", "bt_high", "bt_rank_low", "bt_rank_high", "elo_mean")
  names += ("elo_rank_min", "elo_rank_max", "lottery_support", "lottery_mass")
  models = []
  for i, item in enumerate(table.items):
    row = {"model": item}
    for name in names:
      s = common.stats(final[f"{name}/{i:02d}"])
      row[name] = {"mean": float(np.ravel(s["mean"])[0]), "ci95": float(np.ravel(s["ci95"])[0])}
    models.append(row)
  models.sort(key=lambda r: -r["bt_score"]["mean"])
  return {
    "comparisons": table.num_comparisons,
    "models": models,
    "bt_converged": common.stats(final["bt_converged"]),
    "lottery_valid": common.stats(final["lottery_valid"]),
    "resamples_per_seed": int(config.bootstrap.resamples),
  }


def run_judges(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Part ``judges``: the per-judge report and the agreement of every pair of judges."""
  tables = judges(config)
  report = arena.judge_report(tables)
  agreement = {}
  names = list(tables)
  for i, a in enumerate(names):
    for b in names[i + 1 :]:
      agree = arena.judge_agreement(tables[a], tables[b])
      agreement[f"{a}-{b}"] = {
        "agreement": float(agree.agreement),
        "agreement_without_ties": float(agree.agreement_without_ties),
        "kappa": float(agree.kappa),
        "pairs": int(agree.pairs),
      }
  return {"report": report, "agreement": agreement}


def run_kemeny(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Part ``kemeny``: per-prompt BT rankings aggregated by exact Kemeny vs the pooled BT order."""
  table = crowd(config)
  n = table.num_items
  model = pm.BradleyTerry(n, l2=float(config.bt.l2))
  pairs = pm.pairs_from_table(table)
  pooled = np.asarray(pm.fit(model, pairs).params["scores"])
  rankings = []
  for prompt in np.unique(table.prompt):  # Masked weights: one compiled fit for every prompt.
    rows = table.prompt == prompt
    seen = np.unique(np.concatenate([table.item_a[rows], table.item_b[rows]]))
    sub = pairs._replace(weight=pairs.weight * jnp.asarray(rows, pairs.weight.dtype))
    scores = np.asarray(pm.fit(model, sub).params["scores"])
    rankings.append([int(i) for i in seen[np.argsort(-scores[seen], kind="stable")]])
  result = social.kemeny_leaderboard(rankings, items=list(range(n)))
  order = list(result.ranking)
  position = np.empty(n)
  position[order] = -np.arange(n)
  tau = float(arena.kendall_tau(jnp.asarray(position), jnp.asarray(pooled)))
  return {
    "prompts": len(rankings),
    "ranking": [table.items[i] for i in order],
    "kendall_tau_vs_pooled_bt": tau,
    "disagreements": float(result.disagreements),
    "optimal": bool(result.optimal),
  }


def print_report(results: dict[str, Any], top: int) -> None:
  """The tables the README quotes."""
  if "leaderboard" in results:
    lb = results["leaderboard"]
    print(
      f"LLMFAO crowd leaderboard ({lb['comparisons']} judgments; BT with Davidson ties and a "
      f"position advantage; {lb['resamples_per_seed']} resamples per seed; mean over seeds):"
    )
    print(
      f"  {'model':<28} {'BT score [95% bootstrap]':>26} {'rank':>9} {'Elo ranks':>10}"
      f" {'lottery':>8}"
    )
    for r in lb["models"][:top]:
      bt = f"{r['bt_score']['mean']:+.2f} [{r['bt_low']['mean']:+.2f}, {r['bt_high']['mean']:+.2f}]"
      rank = f"{r['bt_rank_low']['mean']:.0f}-{r['bt_rank_high']['mean']:.0f}"
      elo = f"{r['elo_rank_min']['mean']:.0f}-{r['elo_rank_max']['mean']:.0f}"
      print(
        f"  {r['model'][:28]:<28} {bt:>26} {rank:>9} {elo:>10} {r['lottery_support']['mean']:8.2f}"
      )
  if "judges" in results:
    print("judges (triads within a prompt; position: share of decisive verdicts won by the left):")
    for name, row in results["judges"]["report"].items():
      cells = ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float))
      print(f"  {name}: {cells}")
    for pair, a in results["judges"]["agreement"].items():
      print(
        f"  agreement {pair}: {a['agreement']:.3f} (without ties "
        f"{a['agreement_without_ties']:.3f}), kappa {a['kappa']:.3f}, {a['pairs']} pairs"
      )
  if "matchmaking" in results:
    print(kwise_arena.format_results(results["matchmaking"]))
  if "kemeny" in results:
    k = results["kemeny"]
    print(
      f"Kemeny over {k['prompts']} prompts' BT rankings (optimal: {k['optimal']}): Kendall tau "
      f"{k['kendall_tau_vs_pooled_bt']:.3f} to the pooled BT order; top: "
      f"{', '.join(k['ranking'][:5])}"
    )


def plot_leaderboard(result: dict[str, Any], path: str) -> str:
  """Every model's BT strength with its bootstrap interval, Elo's rank range and lottery support."""
  rows = result["models"]
  y = np.arange(len(rows))[::-1]
  with _plots.styled():
    fig, (ax, ax_rank) = _plots.subplots(2, cols=2, panel=(5.5, 0.16 * len(rows) + 1.5))
    mean = np.array([r["bt_score"]["mean"] for r in rows])
    low = np.array([r["bt_low"]["mean"] for r in rows])
    high = np.array([r["bt_high"]["mean"] for r in rows])
    support = np.array([r["lottery_support"]["mean"] for r in rows])
    ax.errorbar(
      mean,
      y,
      xerr=[mean - low, high - mean],
      fmt="o",
      ms=3,
      capsize=2,
      color=_plots.style(0)["color"],
      label="BT strength",
    )
    ax.scatter(
      mean[support >= 0.5],
      y[support >= 0.5],
      s=40,
      facecolors="none",
      edgecolors=_plots.style(3)["color"],
      label="in the maximal lottery's support (>= half the resamples)",
    )
    ax.set_yticks(y, [r["model"][:26] for r in rows], fontsize=6)
    ax.set(xlabel="BT strength (95% bootstrap interval)", title="Bradley-Terry")
    for k, (lo, hi, label) in enumerate(
      (
        ("bt_rank_low", "bt_rank_high", "BT bootstrap"),
        ("elo_rank_min", "elo_rank_max", "Elo over orders"),
      )
    ):
      a = np.array([r[lo]["mean"] for r in rows])
      b = np.array([r[hi]["mean"] for r in rows])
      ax_rank.hlines(
        y + (0.2 if k else -0.2), a, b, lw=2, label=label, **{"color": _plots.style(k)["color"]}
      )
    ax_rank.set_yticks(y, ["" for _ in rows])
    ax_rank.set(xlabel="rank range (1 = best)", title="rank intervals")
    _plots.legend_outside(fig, where="below")
    fig.suptitle(f"LLMFAO crowd, {result['comparisons']} judgments (mean interval ends over seeds)")
    return _plots.save(fig, path)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the configured parts; ``results.json`` holds one entry per part."""
  parts = common.names(config.parts)
  results: dict[str, Any] = {}
  if "judges" in parts:
    results["judges"] = run_judges(config)
    common.write_results(workdir, results)
  if "leaderboard" in parts:
    results["leaderboard"] = run_leaderboard(config, os.path.join(workdir, "leaderboard"))
    common.write_results(workdir, results)
    if config.plot and jax.process_index() == 0:
      plot_leaderboard(results["leaderboard"], os.path.join(workdir, "leaderboard.png"))
  if "matchmaking" in parts:
    results["matchmaking"] = kwise_arena.run_arena(
      config.matchmaking, os.path.join(workdir, "matchmaking")
    )
    common.write_results(workdir, results)
  if "kemeny" in parts:
    results["kemeny"] = run_kemeny(config)
    common.write_results(workdir, results)
  if jax.process_index() == 0:
    print_report(results, int(config.top))
  return results
