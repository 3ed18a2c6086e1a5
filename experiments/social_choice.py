"""Social choice on real judgments: see ``configs/social_choice.py``."""

import os
from typing import Any

import matplotlib
import ml_collections
import numpy as np
import scipy.stats

from experiments import common
from jaxpref import data, equilibria, games, social
from jaxpref.training import _plots

SURVEYS = {
  "topmodel2007": "Topmodel2007.csv",
  "germanparties2009": "GermanParties2009.csv",
  "firstnames": "FirstNames.csv",
  "cemschoice": "CEMSChoice.csv",
}
DATASETS = ("llmfao", "gpt4", *SURVEYS)
MARGIN_RULES = (
  "copeland",
  "llull",
  "minimax",
  "leximax",
  "ranked_pairs",
  "beat_path",
  "split_cycle",
  "top_cycle",
  "uncovered_set",
  "bradley_terry",
)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError`` on an unknown or empty dataset list."""
  names = common.names(config.datasets)
  if not names:
    raise ValueError("datasets is empty; choose from " + ", ".join(DATASETS) + ".")
  for name in names:
    if name not in DATASETS:
      raise ValueError(f"Unknown dataset {name!r}; known: {', '.join(DATASETS)}.")


def _support(table: data.Comparisons, rows: np.ndarray | None = None) -> np.ndarray:
  """``N[a, b]``: judgments of a over b (ties half each way), over ``rows`` (a mask) or all."""
  sel = slice(None) if rows is None else rows
  wins, _ = games.comparison_counts(
    table.item_a[sel], table.item_b[sel], table.outcome[sel], table.num_items
  )
  return wins


def _maximal_lottery(election) -> np.ndarray:
  """The election's maximal lottery: the max-entropy equilibrium of its majority game."""
  return np.asarray(equilibria.maximal_lottery(social.majority_game(election)), np.float64)


def _margin_rules(election) -> dict[str, list[int]]:
  out = {}
  for name in MARGIN_RULES:
    if name == "ranked_pairs":
      out[name] = social.ranked_pairs(election, all_tiebreaks=election.num_candidates <= 8)
    else:
      out[name] = social.RULES[name](election)
  return out


def _rule_scores(election, board: social.Leaderboard | None) -> dict[str, np.ndarray]:
  """A score per candidate for each rule that ranks everyone (higher is better)."""
  S = social.path_strengths(election)
  scores = {
    "copeland": social.copeland_scores(election).astype(float),
    "minimax": -social.minimax_scores(election),
    "beat_path": np.sum(S > S.T, axis=1).astype(float),
    "bradley_terry": social.bradley_terry_scores(election),
    "maximal_lottery": _maximal_lottery(election),
  }
  if isinstance(election, social.Profile):
    scores |= {
      "borda": social.borda_scores(election),
      "plurality": social.plurality_scores(election),
      "dowdall": social.dowdall_scores(election),
    }
  if board is not None:
    for rule in ("borda", "plurality", "dowdall", "copeland", "mean"):
      scores[f"prompts/{rule}"] = board.score(rule)
    scores["prompts/minimax"] = -board.score("minimax")
  return scores


def _kendall(scores: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
  names = list(scores)
  K = np.ones((len(names), len(names)))
  for i, a in enumerate(names):
    for j, b in enumerate(names):
      if i < j:
        K[i, j] = K[j, i] = scipy.stats.kendalltau(scores[a], scores[b]).statistic
  return names, K


def _summary(election, items, winners, scores, top_k) -> dict[str, Any]:
  ml = _maximal_lottery(election)
  order = np.argsort(-ml, kind="stable")
  cw = social.condorcet_winner(election)
  named = {rule: [items[c] for c in w] for rule, w in winners.items()}
  distinct = sorted({tuple(w) for w in named.values()})
  names, K = _kendall(scores)
  return {
    "candidates": len(items),
    "condorcet_winner": None if cw is None else items[cw],
    "smith_set": [items[c] for c in social.top_cycle(election)],
    "maximal_lottery": [
      (items[c], float(ml[c])) for c in order[: min(top_k, int(np.sum(ml > 1e-9)))]
    ],
    "winners": named,
    "distinct_winner_sets": len(distinct),
    "kendall_rules": names,
    "kendall_tau": K.tolist(),
  }


def _llmfao(path: str | None, top_k: int) -> dict[str, Any]:
  table = data.load_llmfao(path)
  items = list(table.items)
  election = social.PairwiseCounts(_support(table))
  prompts = np.unique(table.prompt)
  S = np.full((len(items), len(prompts)), np.nan)
  for t, prompt in enumerate(prompts):
    N = _support(table, table.prompt == prompt)
    total = N.sum(1) + N.sum(0)
    S[:, t] = np.where(total > 0, N.sum(1) / np.where(total > 0, total, 1), np.nan)
  missing = int(np.isnan(S).sum())
  S = np.where(np.isnan(S), np.nanmedian(S, axis=0, keepdims=True), S)
  board = social.Leaderboard(S)
  winners = _margin_rules(election)
  for rule in social.LEADERBOARD_RULES:
    winners[f"prompts/{rule}"] = board.winners(rule)
  out = _summary(election, items, winners, _rule_scores(election, board), top_k)
  out |= {"judgments": table.num_comparisons, "prompts": len(prompts), "imputed_cells": missing}
  return out


def _survey(path: str, top_k: int) -> dict[str, Any]:
  table = data.load_comparisons(path, annotator="subject")
  items, m = list(table.items), table.num_items
  election = social.PairwiseCounts(_support(table))
  winners = _margin_rules(election)
  ballots = []
  for subject in range(table.num_annotators):
    N = _support(table, table.annotator == subject)
    wins = np.sum(N == 1, axis=1)
    complete = np.sum(N + N.T == 1) == m * (m - 1) and not np.any(N == 0.5)
    if complete and sorted(wins.tolist()) == list(range(m)):  # strict and transitive
      ballots.append(np.argsort(-wins))
  profile = social.Profile.from_rankings(np.array(ballots))
  for name, rule in social.RULES.items():
    winners[f"ballots/{name}"] = rule(profile)
  out = _summary(profile, items, winners, _rule_scores(profile, None), top_k)
  out |= {
    "respondents": table.num_annotators,
    "linear_ballots": len(ballots),
    "pairwise_condorcet_winner": (
      None
      if social.condorcet_winner(election) is None
      else items[social.condorcet_winner(election)]
    ),
  }
  return out


def _undefined(r: dict[str, Any]) -> list[str]:
  """The rules whose Kendall tau is undefined (NaN) against every other rule, with the reason."""
  K, rules = np.asarray(r["kendall_tau"], np.float64), r["kendall_rules"]
  out = []
  for i, rule in enumerate(rules):
    if len(rules) > 1 and np.all(np.isnan(np.delete(K[i], i))):
      tied = len(r["winners"].get(rule, [])) == r["candidates"]
      why = f"ties all {r['candidates']} candidates" if tied else "gives everyone the same score"
      out.append(f"{rule} {why}")
  return out


def _plot(results: dict[str, Any], path: str) -> None:
  """One heat map of Kendall tau between the rules' rankings per electorate, a grid 3 wide."""
  names = [k for k, r in results.items() if r]
  values = np.concatenate([np.ravel(results[k]["kendall_tau"]) for k in names]).astype(float)
  low = np.nanmin(values) if np.isfinite(values).any() else 0.0
  # Agreement that is all positive gets a sequential scale over [0, 1]; any negative tau, the
  # diverging one over [-1, 1] (white = unrelated rankings).
  vmin, cmap = (0.0, "viridis") if low >= 0 else (-1.0, "RdBu")
  cmap = matplotlib.colormaps[cmap].with_extremes(bad="0.88")
  with _plots.styled():
    fig, axes = _plots.subplots(len(names), cols=3, panel=(4.8, 4.9), extra_width=0.9)
    for ax, name in zip(axes, names, strict=True):
      r = results[name]
      K, labels = np.asarray(r["kendall_tau"], np.float64), r["kendall_rules"]
      im = ax.imshow(K, vmin=vmin, vmax=1.0, cmap=cmap)
      for (i, j), v in np.ndenumerate(K):
        text = "n/a" if np.isnan(v) else f"{v:.2f}".replace("1.00", "1").replace("0.", ".", 1)
        red, green, blue, _ = cmap(im.norm(v))
        dark = np.isfinite(v) and 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="w" if dark else "k")
      ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", rotation_mode="anchor")
      ax.set_yticks(range(len(labels)), labels)
      ax.grid(False)
      ax.set_title(f"{name} ({r['candidates']} candidates)")
      undefined = _undefined(r)
      if undefined:
        _plots.note(ax, "n/a: tau undefined, " + "; ".join(undefined) + " (no order to compare)")
    fig.colorbar(
      im, ax=axes, shrink=0.6, label="Kendall tau between two rules' rankings (1 = same order)"
    )
    fig.suptitle(
      "Agreement of the rules' rankings per electorate; prompts/* rules take the prompts as "
      "voters (LLMFAO), borda/plurality/dowdall the linear ballots (surveys)"
    )
    _plots.save(fig, path)


def _report(results: dict[str, Any]) -> None:
  for name, r in results.items():
    if not r:
      continue
    extra = (
      f"{r['linear_ballots']} of {r['respondents']} respondents give linear orders"
      if "respondents" in r
      else f"{r['judgments']} judgments, {r['prompts']} prompts, {r['imputed_cells']} cells imputed"
    )
    print(f"\n{name} ({r['candidates']} candidates; {extra})")
    print(f"  Condorcet winner: {r['condorcet_winner']}; Smith set: {', '.join(r['smith_set'])}")
    ml = ", ".join(f"{c} {p:.3f}" for c, p in r["maximal_lottery"])
    print(f"  maximal lottery: {ml}")
    print(f"  {r['distinct_winner_sets']} distinct winner sets across {len(r['winners'])} rules:")
    for rule, w in r["winners"].items():
      print(f"    {rule:<26} {', '.join(w) if len(w) <= 4 else f'{len(w)} tied'}")


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs every rule on the configured electorates; returns the results (printed and plotted)."""
  validate(config)
  results: dict[str, Any] = {}
  for name in common.names(config.datasets):
    if name == "llmfao":
      results[name] = _llmfao(config.data.llmfao or None, config.top_k)
    elif name == "gpt4":
      if not os.path.isfile(config.data.gpt4):
        print(f"skipping gpt4: no file at {config.data.gpt4!r}")
        continue
      results[name] = _llmfao(config.data.gpt4, config.top_k)
    else:
      path = os.path.join(config.data.paircomp_dir, SURVEYS[name])
      if not os.path.isfile(path):
        print(f"skipping {name}: no file at {path!r}")
        continue
      results[name] = _survey(path, config.top_k)
  _report(results)
  if config.plot and results:
    path = os.path.join(workdir, "rule_disagreement.png")
    _plot(results, path)
    print(f"\nWrote {path}")
  return results
