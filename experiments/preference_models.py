"""Preference models on real human comparisons: BT, BT with ties, GPM and a K-mixture, over seeds.

Config: ``configs/preference_models.py``. Every dataset is one ``jaxpref.training.run_sweep`` (in
``workdir/<dataset>``) whose points are seeds (times any vmapped ``bt.l2`` / ``gpm.l2``): a point
draws its held-out comparisons, validation rows and held-out annotators as masks from its key,
and the random initializations of GPM and the mixture's EM. Step ``t`` runs stage ``STAGES[t]``
in one traced body: fit every model (the mixture at every candidate K) on the stage's training
rows and score its held-out rows; the validation stage picks K per seed in the graph. Returns,
per dataset, every metric as a ``[*axes, seed]`` array with its mean and 95% interval, and
prints the table. Metrics: :func:`jaxpref.preference.heldout_metrics`. The state keeps each seed's
fits of the held-out-comparisons stage; ``experiments/preference_models_report.py`` turns them into
maximal lotteries, the mixture's per-group accuracy and group-robust BT, and writes heldout.png and
lotteries.png. The datasets and their loading live in ``experiments/preference_datasets.py``.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common, train_lib
from experiments import preference_datasets as datasets
from experiments import preference_models_report as report
from jaxpref import preference as pm
from jaxpref import training
from jaxpref.types import Array, PRNGKey

MODELS = ("bt", "bt_ties", "gpm", "mixture")
SPLITS = ("comparisons", "annotators")
STAGES = ("validation", *SPLITS)  # What step t fits and scores.


class Hyper(NamedTuple):
  """The vmappable hyperparameters (traced scalars at each point)."""

  bt_l2: float
  gpm_l2: float


FIELDS = {"bt.l2": "bt_l2", "gpm.l2": "gpm_l2"}


def _sweep(config: ml_collections.ConfigDict) -> training.Sweep:
  return train_lib.sweep_from_config(
    config, train_lib.config_hparams(config, FIELDS, Hyper), FIELDS
  )


def _ks(config: ml_collections.ConfigDict) -> list[int]:
  return [int(k) for k in str(config.mixture.components).split(",") if k.strip()]


def validate(config: ml_collections.ConfigDict) -> training.Sweep:
  """Checks names, sizes, swept values and every dataset's columns before anything compiles."""
  datasets.requested(config)
  ks = _ks(config)
  if not ks or min(ks) < 1:
    raise ValueError(f"mixture.components must list K >= 1; got {config.mixture.components!r}.")
  for name in ("test_fraction", "val_fraction"):
    if not 0.0 < config[name] < 1.0:
      raise ValueError(f"{name} must be in (0, 1); got {config[name]}.")
  if config.gpm.dim < 2 or config.gpm.dim % 2:
    raise ValueError(f"gpm.dim must be even and >= 2; got {config.gpm.dim}.")
  if config.steps != len(STAGES):
    raise ValueError(f"steps must be {len(STAGES)} (one per stage {STAGES}); got {config.steps}.")
  for name in ("gpm.restarts", "mixture.restarts", "mixture.em_steps"):
    section, field = name.split(".")
    if config[section][field] < 1:
      raise ValueError(f"{name} must be >= 1; got {config[section][field]}.")
  sweep = _sweep(config)
  points, _ = training.sweep_points(sweep)
  for path, name in FIELDS.items():
    bad = np.asarray(getattr(points, name))
    if (bad < 0).any():
      raise ValueError(f"{path} must be >= 0; got {bad.min():g} in the sweep.")
  for loaded in datasets.load_datasets(
    config
  ).values():  # Columns and sizes of every dataset first.
    table = loaded.table
    pm.split_masks(
      jax.random.key(0), table.num_comparisons, config.test_fraction, config.val_fraction
    )
    if table.num_annotators >= 2:
      pm.split_masks(jax.random.key(0), table.num_annotators, config.test_fraction)
  return sweep


class PointState(NamedTuple):
  """One point: the rows each stage fits and scores, its fit key and its metrics so far."""

  train: Array  # [3, R] rows fitted at each stage (see STAGES).
  held: Array  # [3, R] rows scored at each stage.
  key: PRNGKey
  val_ll: Array  # [len(K)] validation log-likelihood of the mixture at each candidate K.
  metrics: dict[str, Array]
  fitted: dict[str, Any]  # Stage-1 (held-out comparisons) fits: params; the mixture's per K.


def metric_names(loaded: datasets.Loaded) -> list[str]:
  """``split/model/metric`` names reported for a dataset (``logloss3`` for tie models)."""
  ties = bool(np.any(loaded.table.outcome == 0.5))
  names = []
  for split in SPLITS if loaded.table.num_annotators >= 2 else SPLITS[:1]:
    for model in MODELS if ties else ("bt", "gpm", "mixture"):
      extra = ("logloss3",) if ties and model in ("bt_ties", "mixture") else ()
      names += [f"{split}/{model}/{m}" for m in ("logloss", "accuracy", *extra)]
  return [*names, "mixture_K"]


def models(config: ml_collections.ConfigDict, loaded: datasets.Loaded, hp: Hyper) -> dict[str, Any]:
  """The models of a dataset at ``hp``; ``"mixture"`` maps to one Mixture per candidate K."""
  table, adv, covariates = loaded.table, loaded.entry.advantage, loaded.covariates
  n, ties, gpm_dim = table.num_items, bool(np.any(table.outcome == 0.5)), config.gpm.dim
  out = {"bt": pm.BradleyTerry(n, advantage=adv, l2=hp.bt_l2)}
  if ties:
    out["bt_ties"] = pm.BradleyTerry(n, ties=config.bt.ties, advantage=adv, l2=hp.bt_l2)
  out["gpm"] = pm.GeneralPreference(n, dim=gpm_dim, advantage=adv, l2=hp.gpm_l2)
  dim, people = 0 if covariates is None else covariates.shape[1], max(table.num_annotators, 1)
  component, mix_l2 = out["bt_ties" if ties else "bt"], config.mixture.mixing_l2
  out["mixture"] = [
    pm.Mixture(component, k, people, covariate_dim=dim, mixing_l2=mix_l2) for k in _ks(config)
  ]
  return out


def make_program(config: ml_collections.ConfigDict, loaded: datasets.Loaded) -> training.Program:
  """The per-point program of one dataset (static: its rows, models and candidate K).

  Step ``t`` runs stage ``STAGES[t]`` with one traced body (one compile): it fits every model on
  that stage's training rows and scores its held-out rows; the validation stage records the
  mixture's validation log-likelihood per K, and the later stages report the K it picks.
  """
  table, pairs, covariates = loaded.table, loaded.pairs, loaded.covariates
  rows, people = table.num_comparisons, max(table.num_annotators, 1)
  ties, has_people = bool(np.any(table.outcome == 0.5)), table.num_annotators >= 2
  ks, names = _ks(config), metric_names(loaded)
  outcome = pairs.outcome

  def fit_mixture(model: pm.Mixture, weighted: pm.Pairs, key: PRNGKey) -> pm.MixtureFit:
    fits = jax.vmap(
      lambda kk: pm.fit_mixture(model, weighted, kk, covariates, em_steps=config.mixture.em_steps)
    )(jax.random.split(key, config.mixture.restarts))
    return jax.tree.map(lambda x: x[jnp.argmax(fits.log_likelihood)], fits)

  def fit_all(hp: Hyper, weighted: pm.Pairs, key: PRNGKey) -> dict[str, Any]:
    fitted = {}
    for i, (name, model) in enumerate(models(config, loaded, hp).items()):
      if name == "mixture":  # Every candidate K.
        keys = [jax.random.fold_in(key, 100 + m.num_components) for m in model]
        fitted[name] = [fit_mixture(m, weighted, kk) for m, kk in zip(model, keys, strict=True)]
      elif name == "gpm":  # Random restarts (vmapped); the best objective is kept.
        keys = jax.random.split(jax.random.fold_in(key, i), config.gpm.restarts)
        fits = jax.vmap(lambda kk, m=model: pm.fit(m, weighted, kk))(keys)
        best = jnp.argmin(fits.objective)
        fitted[name] = jax.tree.map(lambda x, b=best: x[b], fits.params)
      else:
        fitted[name] = pm.fit(model, weighted).params
    return fitted

  def init(hp: Hyper, key: PRNGKey) -> PointState:
    k_rows, k_people, k_fit = jax.random.split(key, 3)
    test, val = pm.split_masks(k_rows, rows, config.test_fraction, config.val_fraction)
    new = jnp.zeros(rows, bool)
    if has_people:
      new = pm.split_masks(k_people, people, config.test_fraction)[0][pairs.annotator]
    train = jnp.stack([~test & ~val, ~test, ~new])
    held = jnp.stack([val, test, new])
    nan = {m: jnp.full((), jnp.nan, outcome.dtype) for m in names}
    shapes = jax.eval_shape(fit_all, hp, pairs, k_fit)
    fitted = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    return PointState(train, held, k_fit, jnp.full(len(ks), jnp.nan, outcome.dtype), nan, fitted)

  def stage(state: PointState, hp: Hyper, t: Array) -> PointState:
    held, new_people = state.held[t], t == 2
    weighted = pairs._replace(weight=pairs.weight * state.train[t])
    fitted = fit_all(hp, weighted, jax.random.fold_in(state.key, t))
    out, specs = {}, models(config, loaded, hp)
    for name, model in list(specs.items())[:-1]:  # The mixture is last.
      probs = pm.outcome_probabilities(model, fitted[name], pairs)
      out[name] = pm.heldout_metrics(probs, outcome, held, tie_model=name == "bt_ties")
    per_k, scores = [], []
    for model, fit in zip(specs["mixture"], fitted["mixture"], strict=True):
      probs = [
        pm.mixture_outcome_probabilities(model, fit, pairs, new_people=b, covariates=covariates)
        for b in (False, True)
      ]
      probs = jnp.where(new_people, probs[1], probs[0])
      per_k.append(pm.heldout_metrics(probs, outcome, held, tie_model=ties))
      ll = pm.mixture_log_likelihood(
        model, fit.params, pairs, fit.responsibilities[pairs.annotator]
      )
      scores.append(jnp.sum(jnp.where(held, ll, 0.0)) / jnp.sum(held))
    val_ll = jnp.where(t == 0, jnp.stack(scores), state.val_ll)
    k_index = jnp.argmax(val_ll)
    out["mixture"] = jax.tree.map(lambda *v: jnp.stack(v)[k_index], *per_k)
    metrics = dict(state.metrics, mixture_K=jnp.asarray(ks, outcome.dtype)[k_index])
    for s, split in enumerate(SPLITS, start=1):
      for name, values in out.items():
        for m, v in values.items():
          if f"{split}/{name}/{m}" in metrics:
            metrics[f"{split}/{name}/{m}"] = jnp.where(t == s, v, metrics[f"{split}/{name}/{m}"])
    fitted = jax.tree.map(lambda a, b: jnp.where(t == 1, a, b), fitted, state.fitted)
    return state._replace(val_ll=val_ll, metrics=metrics, fitted=fitted)

  def step(state: PointState, hp: Hyper, t: Array) -> PointState:
    if has_people:
      return stage(state, hp, t)
    return jax.lax.cond(t < 2, stage, lambda s, h, tt: s, state, hp, t)  # No people to hold out.

  return training.Program(init, step, lambda state, hp: state.metrics)


def summary(result: training.SweepResult) -> dict[str, Any]:
  """Every final metric as its ``[*axes, seed]`` values, mean and 95% half-width over seeds."""
  out = {}
  for name, values in result.history.items():
    final = np.asarray(values[..., -1])
    s = training.summarize(final)
    out[name] = {"values": final.tolist(), "mean": np.asarray(s.mean).tolist()}
    out[name]["ci95"] = np.asarray(s.half_width).tolist()
  return out


def table(results: dict[str, Any]) -> str:
  """Mean ± 95% half-width of every dataset, split and model (one line per hyperparameter point)."""
  lines = [
    f"{'dataset':<13} {'split':<12} {'point':<22} {'model':<8} {'logloss':>17} {'accuracy':>15}"
  ]
  for name, r in results.items():
    labels, m = r["labels"], r["metrics"]
    for split in SPLITS:
      for model in MODELS:
        key = f"{split}/{model}"
        if f"{key}/logloss" not in m:
          continue
        for i, label in enumerate(labels):
          ll, acc = m[f"{key}/logloss"], m[f"{key}/accuracy"]
          cells = [
            f"{np.ravel(x['mean'])[i]:.4f} ± {np.ravel(x['ci95'])[i]:.4f}" for x in (ll, acc)
          ]
          lines.append(
            f"{name:<13} {split:<12} {label:<22} {model:<8} {cells[0]:>17} {cells[1]:>15}"
          )
    k = m["mixture_K"]
    lines.append(f"{name:<13} mixture K chosen on validation: {np.ravel(k['values']).tolist()}")
  return "\n".join(lines)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Loads every dataset, then runs one sweep per dataset into ``workdir/<dataset>``."""
  loaded = datasets.load_datasets(config)  # Every dataset's columns are read before the first fit.
  sweep = _sweep(config)
  results = {}
  for name, d in loaded.items():
    print(f"fitting {name} ...", flush=True)
    options = train_lib.run_options(config)
    result = training.run_sweep(
      make_program(config, d), sweep, workdir=os.path.join(workdir, name), name=name, **options
    )
    table_ = d.table
    results[name] = {
      "comparisons": table_.num_comparisons,
      "items": table_.num_items,
      "annotators": table_.num_annotators,
      "tie_share": float(np.mean(table_.outcome == 0.5)),
      "covariates": list(d.entry.covariates) if d.covariates is not None else [],
      "shape": list(result.sweep.shape),
      "labels": result.sweep.labels(),
      "resumed_from": result.resumed_from,
      "metrics": summary(result),
      **report.analyses(
        result, models(config, d, Hyper(config.bt.l2, config.gpm.l2)), d, config.top_k
      ),
    }
    common.write_results(workdir, results)  # A later dataset's failure keeps this one.
  if jax.process_index() == 0:
    print(table(results) + "\n" + report.table(results))
    if config.plot:
      report.plot(results, workdir)
  return results
