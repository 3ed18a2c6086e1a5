"""Plackett-Luce against Bradley-Terry on real rankings, and the K-wise arena in simulation.

Config: ``configs/rankings.py``. Part ``fit``: each dataset's comparisons become rankings (one per
annotator and prompt whose comparisons are complete and transitive,
:func:`jaxpref.data.rankings_from_comparisons`; a user's long-form ranking CSV is read directly).
Seed ``s`` holds out a random ``test_fraction`` of the rankings; on the rest it fits

- ``pl``: Plackett-Luce on the rankings (each cut at its first tie: a top-k row),
- ``bt``: Bradley-Terry on every pair the same rankings imply (ties as half a win),
- with ties in the data, ``dl``: Davidson-Luce on the whole rankings with their tied places, and
  ``davidson``: Bradley-Terry with Davidson ties on their pairs,

with the same L2 strength, and scores the held-out rankings under each fit: the mean ranking
log-likelihood per held-out ranking (the ranking model's likelihood, evaluated with the pair
model's strengths for ``bt``/``davidson``: a Bradley-Terry strength vector is a Plackett-Luce one)
and the mean pairwise log-likelihood of the held-out rankings' pairs. One engine sweep per dataset
(``workdir/fit/<dataset>``), seeds vmapped. Part ``arena``: ``experiments.kwise_arena``.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from experiments import common, kwise_arena, preference_datasets, train_lib
from jaxpref import data, training
from jaxpref import preference as pm
from jaxpref.types import Array, PRNGKey

PARTS = ("fit", "arena")
MAX_TIE = 2  # The largest tie modelled: Davidson-BT fits map exactly onto Davidson-Luce with D = 2.


class Hyper(NamedTuple):
  """The traced hyperparameter of a fit point: the L2 strength of every model."""

  l2: Any


FIELDS = {"l2": "l2"}


class RankingData(NamedTuple):
  """One dataset's rankings, with and without ties, and the pairs they imply."""

  table: data.RankingTable
  cut: pm.Rankings  # Cut at the first tie (PL); rows with a tied best place are weight 0.
  tied: pm.Rankings  # Whole rankings with tiers (Davidson-Luce).
  pairs: pm.Pairs  # Every pair of every ranking (outcome 1/2 for a tie).
  pair_ranking: Array  # [pairs] the ranking each pair comes from.
  has_ties: bool
  skipped: int  # Comparison groups that gave no ranking (incomplete or intransitive).
  too_tied: int = 0  # Rankings left out for a tie larger than MAX_TIE.


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the parts, datasets, fractions and the arena section before anything runs."""
  parts = common.names(config.parts)
  if not parts or any(p not in PARTS for p in parts):
    raise ValueError(f"config.parts must name some of {', '.join(PARTS)}; got {config.parts!r}.")
  if "fit" in parts:
    _requested(config)
    if not 0 < config.test_fraction < 1:
      raise ValueError(f"config.test_fraction must be in (0, 1); got {config.test_fraction}.")
    if config.steps != 1:
      raise ValueError("config.steps must be 1 (one fit per seed).")
  if "arena" in parts:
    kwise_arena.validate_arena(config.arena)


def _requested(config: ml_collections.ConfigDict) -> list[str]:
  names = common.names(config.datasets)
  if "rankings_csv" in names:
    if not config.rankings_csv:
      raise ValueError("datasets includes 'rankings_csv' but config.rankings_csv is empty.")
    names = [n for n in names if n != "rankings_csv"]
  if names:
    preference_datasets.requested(_comparison_config(config, names))
  return common.names(config.datasets)


def _comparison_config(config: ml_collections.ConfigDict, names: list[str]):
  """The fields ``preference_datasets`` reads, for the comparison datasets among ``names``."""
  out = ml_collections.ConfigDict()
  out.datasets = "+".join(names)
  out.data = config.data
  out.csv = ml_collections.ConfigDict({"path": "", "covariates": "", "advantage": False})
  for k in ("item_a", "item_b", "outcome", "annotator"):
    out.csv[k] = k
  return out


def ranking_data(table: data.RankingTable, skipped: int = 0) -> RankingData:
  """Rankings with and without ties and the pairs they imply, padded to one width."""
  width = max(len(items) for items, _ in table.rankings)
  tied = pm.rankings_from_table(table, ties=True, width=width)[0]
  rows, ranked, weight = [], [], []
  for items, positions in table.rankings:  # Cut at the first tie; keep rows aligned with tied.
    gaps = np.flatnonzero(np.diff(positions) == 0)
    k = int(gaps[0]) if gaps.size else len(items) - 1
    rows.append([int(i) for i in items])
    ranked.append(max(k, 1))
    weight.append(1.0 if k >= 1 else 0.0)  # A tie for the best place holds no choice.
  cut = pm.make_rankings(rows, num_ranked=ranked, weight=weight, width=width)
  a, b, y, source = [], [], [], []
  for r, (items, positions) in enumerate(table.rankings):
    for i in range(len(items)):
      for j in range(i + 1, len(items)):
        a.append(items[i])
        b.append(items[j])
        y.append(0.5 if positions[i] == positions[j] else 1.0)
        source.append(r)
  has_ties = any(np.any(np.diff(p) == 0) for _, p in table.rankings)
  pairs = pm.make_pairs(np.array(a), np.array(b), np.array(y))
  return RankingData(table, cut, tied, pairs, jnp.asarray(source), has_ties, skipped)


def load(config: ml_collections.ConfigDict) -> dict[str, RankingData]:
  """Every requested dataset as rankings; datasets that give fewer than 10 are skipped."""
  names = _requested(config)
  out = {}
  comparison = [n for n in names if n != "rankings_csv"]
  if comparison:
    for name, d in preference_datasets.load_datasets(
      _comparison_config(config, comparison)
    ).items():
      table, skipped = data.rankings_from_comparisons(d.table)
      out[name] = (table, skipped)
  if "rankings_csv" in names:
    out["rankings_csv"] = (data.load_rankings(config.rankings_csv), 0)
  loaded = {}
  for name, (table, skipped) in out.items():
    table, too_tied = _drop_large_ties(table)
    if too_tied:
      print(f"{name}: {too_tied} rankings with a tie of more than {MAX_TIE} items left out")
    if len(table.rankings) < 10:
      logging.warning("skipping %s: only %d rankings", name, len(table.rankings))
      print(f"skipping {name}: only {len(table.rankings)} complete transitive rankings")
      continue
    loaded[name] = ranking_data(table, skipped)._replace(too_tied=too_tied)
  return loaded


def _drop_large_ties(table: data.RankingTable) -> tuple[data.RankingTable, int]:
  """Leaves out rankings with more than ``MAX_TIE`` items on one place (Davidson-Luce's D)."""
  keep = [
    k
    for k, (_, p) in enumerate(table.rankings)
    if np.max(np.unique(p, return_counts=True)[1]) <= MAX_TIE
  ]
  kept = table._replace(
    rankings=tuple(table.rankings[k] for k in keep), annotator=table.annotator[keep]
  )
  return kept, len(table.rankings) - len(keep)


def _models(n: int, l2: Array) -> dict[str, Any]:
  return {
    "pl": pm.PlackettLuce(n, l2=l2),
    "bt": pm.BradleyTerry(n, l2=l2),
    "dl": pm.PlackettLuce(n, l2=l2, ties="davidson", max_tie=MAX_TIE),
    "davidson": pm.BradleyTerry(n, l2=l2, ties="davidson"),
  }


def make_program(config: ml_collections.ConfigDict, d: RankingData) -> training.Program:
  """One fit point: a held-out split of the rankings, the models fitted, their held-out scores."""
  n, R = d.table.num_items, len(d.table.rankings)
  names = ("pl", "bt", "dl", "davidson") if d.has_ties else ("pl", "bt")

  def scores(hp: Hyper, key: PRNGKey) -> dict[str, Array]:
    test = pm.split_masks(key, R, config.test_fraction)[0]
    models = _models(n, hp.l2)
    train_pairs = d.pairs._replace(weight=d.pairs.weight * ~test[d.pair_ranking])
    fits = {
      "pl": pm.fit_rankings(models["pl"], d.cut._replace(weight=d.cut.weight * ~test)),
      "bt": pm.fit(models["bt"], train_pairs),
    }
    if d.has_ties:
      fits["dl"] = pm.fit_rankings(models["dl"], d.tied._replace(weight=d.tied.weight * ~test))
      fits["davidson"] = pm.fit(models["davidson"], train_pairs)
    out = {}
    held_pairs = test[d.pair_ranking]
    for name in names:
      params = fits[name].params
      tie_model = name in ("dl", "davidson")
      ranking_model = models["dl" if tie_model else "pl"]
      rows = d.tied if tie_model else d.cut
      # A BT fit's strengths (and Davidson's tie) are a PL (Davidson-Luce) model's parameters.
      ll = pm.ranking_log_likelihood(ranking_model, params, rows)
      held = test & (rows.weight > 0)
      out[f"{name}/ranking_ll"] = jnp.sum(jnp.where(held, ll, 0.0)) / jnp.sum(held)
      pair_model = models["davidson" if tie_model else "bt"]
      pll = pm.log_likelihood(pair_model, params, d.pairs)
      out[f"{name}/pair_ll"] = jnp.sum(jnp.where(held_pairs, pll, 0.0)) / jnp.sum(held_pairs)
      out[f"{name}/converged"] = fits[name].converged.astype(ll.dtype)
    return out

  def init(hp: Hyper, key: PRNGKey) -> dict[str, Array]:
    shapes = jax.eval_shape(scores, hp, key)
    return {
      "key": key,
      "metrics": jax.tree.map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), shapes),
    }

  def step(state: dict[str, Any], hp: Hyper, t: Array) -> dict[str, Any]:
    del t
    return {"key": state["key"], "metrics": scores(hp, state["key"])}

  return training.Program(init, step, lambda state, hp: state["metrics"])


def _summary(result: training.SweepResult) -> dict[str, Any]:
  """Every metric's mean and 95% interval, and the paired differences PL - BT (DL - Davidson)."""
  final = {k: np.asarray(v[..., -1]) for k, v in result.history.items()}
  out = {k: common.stats(v) for k, v in final.items()}
  for a, b in (("pl", "bt"), ("dl", "davidson")):
    for m in ("ranking_ll", "pair_ll"):
      if f"{a}/{m}" in final:
        out[f"{a}-{b}/{m}"] = common.stats(final[f"{a}/{m}"] - final[f"{b}/{m}"])
  return out


def run_fit(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Part ``fit``: one engine sweep per dataset."""
  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  results = {}
  for name, d in load(config).items():
    options = train_lib.run_options(config)
    out = training.run_sweep(
      make_program(config, d), sweep, workdir=os.path.join(workdir, name), name=name, **options
    )
    sizes = [len(items) for items, _ in d.table.rankings]
    results[name] = {
      "rankings": len(d.table.rankings),
      "skipped_groups": d.skipped,
      "too_tied": d.too_tied,
      "items": d.table.num_items,
      "list_sizes": sorted(set(sizes)),
      "tied_rankings": int(sum(np.any(np.diff(p) == 0) for _, p in d.table.rankings)),
      "metrics": _summary(out),
    }
  return results


def _line(stats: dict[str, Any]) -> str:
  mean, half = float(np.ravel(stats["mean"])[0]), float(np.ravel(stats["ci95"])[0])
  return f"{mean:+.4f} ± {half:.4f}"


def print_fit(config: ml_collections.ConfigDict, results: dict[str, Any]) -> None:
  """The held-out table: per dataset and model, then the paired differences."""
  seeds = config.vmap.seeds
  print(
    f"held-out rankings ({config.test_fraction:.0%} per seed, l2 {config.l2}, {seeds} seeds): "
    "mean log-likelihood per held-out ranking / per held-out pair, mean ± 95% CI"
  )
  for name, r in results.items():
    m = r["metrics"]
    print(
      f"  {name}: {r['rankings']} rankings of {r['list_sizes']} items "
      f"({r['tied_rankings']} with ties; {r['skipped_groups']} groups not a ranking)"
    )
    for model in ("pl", "bt", "dl", "davidson", "pl-bt", "dl-davidson"):
      if f"{model}/ranking_ll" in m:
        print(
          f"    {model:<12} ranking {_line(m[f'{model}/ranking_ll'])}   "
          f"pair {_line(m[f'{model}/pair_ll'])}"
        )


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the configured parts; ``results.json`` holds ``{"fit": ..., "arena": ...}``."""
  results = {}
  parts = common.names(config.parts)
  if "fit" in parts:
    results["fit"] = run_fit(config, os.path.join(workdir, "fit"))
    common.write_results(workdir, results)
    if jax.process_index() == 0:
      print_fit(config, results["fit"])
  if "arena" in parts:
    results["arena"] = kwise_arena.run_arena(config.arena, os.path.join(workdir, "arena"))
    common.write_results(workdir, results)
    if jax.process_index() == 0:
      print(kwise_arena.format_results(results["arena"]))
  return results
