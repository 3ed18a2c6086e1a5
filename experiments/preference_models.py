r"""Preference models on real human comparisons: BT, BT with ties, GPM and a K-mixture.

For every dataset: held-out log-loss and accuracy on held-out comparisons (seen annotators) and on
held-out annotators (new people); the mixture's K chosen on a validation split; per-group
accuracy of the mixture against pooled BT; the worst group's held-out log-loss under pooled BT
and under a group-robust BT (fitted to the mixture's groups); and the maximal lottery of each
fitted model's game against the BT ranking, plus the egalitarian (max-min) lottery over the
mixture's groups. Writes
``results.json`` (via ``train_lib``), ``heldout.png`` and ``lotteries.png``, and prints a table.

Metrics, so that models with and without a tie model compare on the same footing:
``logloss`` is the mean binary log-loss of the winner on decisive comparisons
(:math:`-\log p(\text{winner} \mid \text{not a tie})`), ``accuracy`` the share of decisive
comparisons whose winner had probability > 1/2, and ``logloss3`` the three-outcome log-loss
(win / tie / loss), reported only for tie models on data with ties.
"""

import dataclasses
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np
from absl import logging

from jaxpref import data, equilibria
from jaxpref import preference as pm

matplotlib.use("Agg")
import matplotlib.pyplot as plt

MODELS = ("bt", "bt_ties", "gpm", "mixture")


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Where a dataset lives and how to read it."""

  path: str
  columns: dict[str, Any]
  advantage: bool
  covariates: tuple[str, ...] = ()
  llmfao_format: bool = False


def _registry(config: ml_collections.ConfigDict) -> dict[str, Dataset]:
  """Every dataset the experiment knows, with its path and columns under ``config``."""
  paircomp = config.data.paircomp_dir
  return {
    "llmfao": Dataset(config.data.llmfao, {}, advantage=True, llmfao_format=True),
    "soundquality": Dataset(
      os.path.join(paircomp, "SoundQuality.csv"), {}, False, ("progmat", "time")
    ),
    "topmodel2007": Dataset(
      os.path.join(paircomp, "Topmodel2007.csv"), {}, False, ("gender", "age")
    ),
    "cemschoice": Dataset(
      os.path.join(paircomp, "CEMSChoice.csv"), {}, False, ("study", "gender", "work")
    ),
    "football": Dataset(
      os.path.join(paircomp, "football.csv"),
      {"item_a": "home", "item_b": "away", "annotator": "season"},
      advantage=True,
    ),
    "csv": Dataset(
      config.csv.path,
      {k: config.csv[k] for k in ("item_a", "item_b", "outcome", "annotator")},
      bool(config.csv.advantage),
      tuple(c for c in config.csv.covariates.split(",") if c),
    ),
  }


def datasets(config: ml_collections.ConfigDict) -> dict[str, Dataset]:
  """The datasets the config asks for, by name (paircomp ones skipped if their folder is absent).

  Args:
    config: the experiment config.

  Returns:
    ``{name: Dataset}`` in the config's order.

  Raises:
    ValueError: on an unknown dataset name, or ``csv`` without ``csv.path``.
  """
  known = _registry(config)
  chosen = {}
  for name in _names(config, known):
    entry = known[name]
    if name not in ("llmfao", "csv") and not os.path.exists(entry.path):
      logging.warning("skipping %s: %s not found (set data.paircomp_dir)", name, entry.path)
      print(f"skipping {name}: {entry.path} not found (set --config.data.paircomp_dir)")
      continue
    chosen[name] = entry
  return chosen


def _names(config: ml_collections.ConfigDict, known: dict[str, Dataset]) -> list[str]:
  """The dataset names in ``config.datasets``, checked against ``known``."""
  names = [n.strip() for n in config.datasets.replace("+", ",").split(",") if n.strip()]
  unknown = [n for n in names if n not in known]
  if unknown or not names:
    raise ValueError(f"Unknown dataset(s) {unknown}; choose from {', '.join(known)}.")
  if "csv" in names and not config.csv.path:
    raise ValueError("datasets includes 'csv' but csv.path is empty; set --config.csv.path=FILE.")
  return names


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the config before anything runs (dataset names, sizes, fractions)."""
  _names(config, _registry(config))
  ks = _ks(config)
  if not ks or min(ks) < 1:
    raise ValueError(f"mixture.components must list K >= 1; got {config.mixture.components!r}.")
  for name in ("test_fraction", "val_fraction"):
    if not 0.0 < config[name] < 1.0:
      raise ValueError(f"{name} must be in (0, 1); got {config[name]}.")
  if config.gpm.dim < 2 or config.gpm.dim % 2:
    raise ValueError(f"gpm.dim must be even and >= 2; got {config.gpm.dim}.")


def _ks(config: ml_collections.ConfigDict) -> list[int]:
  return [int(k) for k in str(config.mixture.components).split(",") if k.strip()]


def _load(entry: Dataset) -> data.Comparisons:
  if entry.llmfao_format:
    return data.load_llmfao(entry.path or None)  # "" = the copy shipped with jaxpref
  return data.load_comparisons(entry.path, **entry.columns)


class _Models:
  """Fits the four models of one dataset on one training table."""

  def __init__(self, config, table: data.Comparisons, entry: Dataset, covariates, key):
    self.config = config
    self.n = table.num_items
    self.has_ties = bool(np.any(table.outcome == 0.5))
    adv = entry.advantage
    self.specs = {
      "bt": pm.BradleyTerry(self.n, advantage=adv, l2=config.bt.l2),
      "gpm": pm.GeneralPreference(self.n, dim=config.gpm.dim, advantage=adv, l2=config.gpm.l2),
    }
    if self.has_ties:
      self.specs["bt_ties"] = pm.BradleyTerry(
        self.n, ties=config.bt.ties, advantage=adv, l2=config.bt.l2
      )
    self.component = self.specs["bt_ties" if self.has_ties else "bt"]
    self.covariates = covariates
    self.num_annotators = max(table.num_annotators, 1)
    self.key = key

  def _mixture(self, k: int) -> pm.Mixture:
    dim = 0 if self.covariates is None else self.covariates.shape[1]
    return pm.Mixture(
      self.component,
      k,
      self.num_annotators,
      covariate_dim=dim,
      mixing_l2=self.config.mixture.mixing_l2,
    )

  def fit_mixture(self, k: int, pairs: pm.Pairs):
    # Restarts run one after another: on CPU a vmapped L-BFGS while_loop pays for every branch of
    # its line search in every batch member (3 restarts: 13 s vmapped vs 4.5 s in a loop).
    mixture = self._mixture(k)
    fits = [
      pm.fit_mixture(mixture, pairs, key, self.covariates, em_steps=self.config.mixture.em_steps)
      for key in jax.random.split(self.key, self.config.mixture.restarts)
    ]
    return mixture, max(fits, key=lambda f: float(f.log_likelihood))

  def fit_all(self, pairs: pm.Pairs, k: int) -> dict[str, Any]:
    fitted = {}
    for name, model in self.specs.items():
      if name == "gpm":
        keys = jax.random.split(self.key, self.config.gpm.restarts)
        fits = [pm.fit(model, pairs, key) for key in keys]
        fitted[name] = (model, min(fits, key=lambda f: float(f.objective)).params)
      else:
        fitted[name] = (model, pm.fit(model, pairs).params)
    fitted["mixture"] = self.fit_mixture(k, pairs)
    return fitted


def _probs(name: str, fitted, pairs: pm.Pairs, new_people: bool, covariates) -> np.ndarray:
  """``[R, 3]`` outcome probabilities of each test row under a fitted model."""
  model, params = fitted
  if name != "mixture":
    return np.asarray(pm.outcome_probabilities(model, params, pairs))
  mixture, fit = model, params
  if new_people:
    weights = jnp.exp(pm.prior_log_weights(mixture, fit.params, covariates))
  else:
    weights = fit.responsibilities
  per_component = jax.vmap(pm.outcome_probabilities, in_axes=(None, 0, None))(
    mixture.component, fit.params.components, pairs
  )  # [K, R, 3]
  return np.einsum("rk,krc->rc", np.asarray(weights[pairs.annotator]), np.asarray(per_component))


def _decisive_win(p: np.ndarray) -> np.ndarray:
  """``[R]`` probability that the first item wins, given that the comparison is not a tie."""
  return p[:, 0] / (p[:, 0] + p[:, 2])


def _metrics(p: np.ndarray, outcome: np.ndarray, tie_model: bool) -> dict[str, float | None]:
  decisive = outcome != 0.5
  win = _decisive_win(p)
  won = outcome[decisive] == 1.0
  pw = np.clip(win[decisive], 1e-300, 1.0)
  pl = np.clip(1.0 - win[decisive], 1e-300, 1.0)
  logloss = float(-np.mean(np.where(won, np.log(pw), np.log(pl))))
  accuracy = float(np.mean((win[decisive] > 0.5) == won))
  result: dict[str, float | None] = {"logloss": logloss, "accuracy": accuracy, "logloss3": None}
  if tie_model:
    col = np.where(outcome == 1.0, 0, np.where(outcome == 0.5, 1, 2))
    result["logloss3"] = float(-np.mean(np.log(p[np.arange(len(p)), col])))
  return result


def _evaluate(models: _Models, fitted, test: pm.Pairs, outcome, new_people: bool):
  """``(metrics, probabilities)`` of every fitted model on the test rows."""
  metrics, probs = {}, {}
  for name, fit in fitted.items():
    tie_model = models.has_ties and (
      name == "bt_ties" or (name == "mixture" and models.component.ties is not None)
    )
    probs[name] = _probs(name, fit, test, new_people, models.covariates)
    metrics[name] = _metrics(probs[name], outcome, tie_model)
  return metrics, probs


def _per_group(fitted, probs, test: pm.Pairs, outcome: np.ndarray, k: int) -> dict[str, Any]:
  """Accuracy of the mixture and of pooled BT on each group's held-out decisive comparisons."""
  fit = fitted["mixture"][1]
  group = np.asarray(jnp.argmax(fit.responsibilities, axis=1))[np.asarray(test.annotator)]
  decisive = outcome != 0.5
  sizes, mix_acc, bt_acc = [], [], []
  for g in range(k):
    rows = decisive & (group == g)
    sizes.append(int(np.sum(rows)))
    won = outcome[rows] == 1.0
    for p, acc in ((probs["mixture"], mix_acc), (probs["bt"], bt_acc)):
      win = _decisive_win(p[rows])
      acc.append(float(np.mean((win > 0.5) == won)) if rows.any() else None)
  return {"test_rows": sizes, "mixture_accuracy": mix_acc, "bt_accuracy": bt_acc}


def _group_robust(fitted, train: pm.Pairs, test: pm.Pairs, k: int) -> dict[str, Any]:
  """Pooled BT vs a BT minimizing the worst group's log-loss, over the mixture's groups."""
  assign = jnp.argmax(fitted["mixture"][1].responsibilities, axis=1)
  model, pooled = fitted["bt"]
  robust = pm.fit_group_robust(model, train, assign[train.annotator], k)
  loss = {
    name: np.asarray(pm.group_losses(model, params, test, assign[test.annotator], k))
    for name, params in (("pooled", pooled), ("robust", robust.params))
  }
  return {
    "test_group_loss_pooled": loss["pooled"].tolist(),
    "test_group_loss_robust": loss["robust"].tolist(),
    "worst_pooled": float(loss["pooled"].max()),
    "worst_robust": float(loss["robust"].max()),
    "weights": np.asarray(robust.group_weights).tolist(),
  }


def _lotteries(fitted, items: tuple[str, ...], top_k: int) -> dict[str, Any]:
  out: dict[str, Any] = {}
  scores = np.asarray(fitted["bt"][1]["scores"])
  out["bt_ranking"] = [items[i] for i in np.argsort(-scores, kind="stable")[:top_k]]
  games = {}
  for name, fit in fitted.items():
    if name == "mixture":
      mixture, mf = fit
      components = np.asarray(pm.component_matrices(mixture, mf.params))
      weights = np.asarray(jnp.mean(mf.responsibilities, axis=0))
      games[name] = np.asarray(pm.utilitarian_matrix(components, weights))
      egalitarian = pm.maxmin_lottery(components)
      out["mixture_maxmin"] = {
        "value": egalitarian.value,
        "group_values": egalitarian.group_values.tolist(),
        "top": _top(egalitarian.lottery, items, top_k),
      }
    else:
      games[name] = np.asarray(pm.preference_matrix(*fit))
  for name, P in games.items():
    x = np.asarray(equilibria.maximal_lottery(P))
    out[name] = {"support": int(np.sum(x > 0)), "top": _top(x, items, top_k), "lottery": x.tolist()}
  return out


def _top(x: np.ndarray, items, top_k: int) -> list[tuple[str, float]]:
  order = np.argsort(-x, kind="stable")
  return [(items[i], float(x[i])) for i in order[:top_k] if x[i] > 1e-9]


def _padded(table: data.Comparisons, size: int) -> pm.Pairs:
  """Pairs padded with weight-0 rows to ``size``: every split shares one shape, so one compile."""
  pairs = pm.pairs_from_table(table)
  pad = size - table.num_comparisons
  filler = pm.make_pairs(np.zeros(pad, int), np.ones(pad, int), np.ones(pad), weight=np.zeros(pad))
  return jax.tree.map(lambda x, f: jnp.concatenate([x, f.astype(x.dtype)]), pairs, filler)


def run_dataset(config, name: str, entry: Dataset) -> dict[str, Any]:
  """Runs every comparison on one dataset; returns its results."""
  start = time.perf_counter()
  table = _load(entry)
  key = jax.random.key(config.seed)
  covariates = None
  if entry.covariates and table.num_annotators:
    x, _ = data.covariate_matrix(table, entry.covariates)
    covariates = jnp.asarray(x)
  result: dict[str, Any] = {
    "comparisons": table.num_comparisons,
    "items": table.num_items,
    "annotators": table.num_annotators,
    "tie_share": float(np.mean(table.outcome == 0.5)),
    "covariates": list(entry.covariates) if covariates is not None else [],
  }
  # Held-out comparisons; K chosen on a validation split of the training comparisons.
  train, test = data.split_comparisons(table, test_fraction=config.test_fraction, seed=config.seed)
  fit_part, val = data.split_comparisons(
    train, test_fraction=config.val_fraction, seed=config.seed + 1
  )
  models = _Models(config, table, entry, covariates, key)
  size = table.num_comparisons
  val_pairs, fit_pairs = pm.pairs_from_table(val), _padded(fit_part, size)
  val_ll = {}
  for k in _ks(config):
    mixture, fit = models.fit_mixture(k, fit_pairs)
    ll = pm.mixture_log_likelihood(
      mixture, fit.params, val_pairs, fit.responsibilities[val_pairs.annotator]
    )
    val_ll[k] = float(jnp.mean(ll))
  k = max(val_ll, key=val_ll.get)
  result["mixture_K"] = k
  result["validation_loglik"] = {str(kk): v for kk, v in val_ll.items()}
  test_pairs = pm.pairs_from_table(test)
  fitted = models.fit_all(_padded(train, size), k)
  result["heldout_comparisons"], probs = _evaluate(models, fitted, test_pairs, test.outcome, False)
  result["per_group"] = _per_group(fitted, probs, test_pairs, test.outcome, k)
  if k > 1:
    result["group_robust"] = _group_robust(fitted, _padded(train, size), test_pairs, k)
  result["lotteries"] = _lotteries(fitted, table.items, config.top_k)
  # Held-out annotators: new people, predicted from the prior (or their covariates).
  if table.num_annotators >= 2:
    a_train, a_test = data.split_annotators(
      table, test_fraction=config.test_fraction, seed=config.seed
    )
    fitted = models.fit_all(_padded(a_train, size), k)
    result["heldout_annotators"] = _evaluate(
      models, fitted, pm.pairs_from_table(a_test), a_test.outcome, True
    )[0]
  result["seconds"] = time.perf_counter() - start
  logging.info("%s done in %.1f s", name, result["seconds"])
  return result


def table(results: dict[str, Any]) -> str:
  """The results as a text table (one line per dataset, split and model)."""
  lines = [
    f"{'dataset':<13} {'split':<12} {'model':<8} {'logloss':>8} {'acc':>6} {'logloss3':>8}  K"
  ]
  for name, r in results.items():
    for split in ("heldout_comparisons", "heldout_annotators"):
      for model, m in r.get(split, {}).items():
        l3 = f"{m['logloss3']:8.4f}" if m["logloss3"] is not None else f"{'-':>8}"
        short = "comparisons" if split == "heldout_comparisons" else "annotators"
        lines.append(
          f"{name:<13} {short:<12} {model:<8} {m['logloss']:8.4f} {m['accuracy']:6.3f} {l3}  "
          f"{r['mixture_K'] if model == 'mixture' else ''}"
        )
  lines.append("")
  lines.append("maximal lottery of each model's game (top items) vs the BT ranking:")
  for name, r in results.items():
    lot = r["lotteries"]
    lines.append(f"{name}: BT ranking {', '.join(lot['bt_ranking'][:3])}")
    for model in MODELS:
      if model in lot:
        top = ", ".join(f"{i} {m:.2f}" for i, m in lot[model]["top"][:3])
        lines.append(f"  {model:<8} support {lot[model]['support']:>2}: {top}")
    if "group_robust" in r:
      gr = r["group_robust"]
      lines.append(
        f"  worst-group test log-loss over the {r['mixture_K']} groups: pooled BT "
        f"{gr['worst_pooled']:.3f}, group-robust BT {gr['worst_robust']:.3f}"
      )
    mm = lot["mixture_maxmin"]
    top = ", ".join(f"{i} {m:.2f}" for i, m in mm["top"][:3])
    lines.append(f"  max-min  worst-group value {mm['value']:.3f}: {top}")
  return "\n".join(lines)


def _plot(results: dict[str, Any], workdir: str) -> None:
  names = list(results)
  fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
  width = 0.2
  for ax, split in zip(axes, ("heldout_comparisons", "heldout_annotators"), strict=True):
    for i, model in enumerate(MODELS):
      vals = [results[n].get(split, {}).get(model, {}).get("logloss", np.nan) for n in names]
      ax.bar(np.arange(len(names)) + (i - 1.5) * width, vals, width, label=model)
    ax.set_xticks(np.arange(len(names)), names, rotation=20)
    ax.set_title(split.replace("_", " "))
    ax.set_ylabel("decisive log-loss (lower is better)")
  lows = [
    m["logloss"]
    for r in results.values()
    for s in r.values()
    if isinstance(s, dict)
    for m in s.values()
    if isinstance(m, dict) and "logloss" in m
  ]
  axes[0].set_ylim(max(0.0, min(lows) - 0.05), max(lows) + 0.05)
  axes[0].legend()
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "heldout.png"), dpi=120)
  plt.close(fig)

  fig, axes = plt.subplots(len(names), 1, figsize=(12, 2.6 * len(names)), squeeze=False)
  for ax, name in zip(axes[:, 0], names, strict=True):
    lot = results[name]["lotteries"]
    models = [m for m in MODELS if m in lot]
    n = len(lot["bt"]["lottery"])
    for i, model in enumerate(models):
      ax.bar(np.arange(n) + (i - 1.5) * width, lot[model]["lottery"], width, label=model)
    ax.set_title(f"{name}: maximal lottery per model")
    ax.set_ylabel("mass")
  axes[0, 0].legend()
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "lotteries.png"), dpi=120)
  plt.close(fig)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs the experiment on every configured dataset and writes its table and plots.

  Args:
    config: the ``preference_models`` config.
    workdir: output directory.

  Returns:
    ``{dataset: results}``.
  """
  results = {}
  for name, entry in datasets(config).items():
    print(f"fitting {name} ...", flush=True)
    results[name] = run_dataset(config, name, entry)
  print(table(results))
  if config.plot and jax.process_index() == 0:
    _plot(results, workdir)
  return results
