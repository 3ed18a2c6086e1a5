"""Host-side analyses of ``preference_models``' per-seed fits, their table and plots.

From the final per-seed states of ``jaxpref.training.run_sweep`` (``[*axes, seed]`` leading axes;
``state.fitted`` holds each seed's fits on the held-out-comparisons split): the maximal lottery of
each fitted model's game against the BT ranking, the accuracy of the mixture and of pooled BT on
each mixture group's held-out comparisons, and the worst group's held-out log-loss under pooled
BT and a group-robust BT fitted to those groups. Also ``heldout.png`` (held-out log-loss per model
and dataset) and ``lotteries.png`` (mean lottery mass of the top items), with 95% intervals.
"""

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref import preference as pm
from jaxpref import training


def _stats(values: Any, seeds: int) -> dict[str, list[float]]:
  """Per point mean and 95% half-width over the finite seeds of ``[points * seeds]`` values."""
  finite = [v[np.isfinite(v)] for v in np.reshape(np.asarray(values, np.float64), (-1, seeds))]
  out = [training.summarize(v) if v.size else training.Summary(np.nan, np.nan) for v in finite]
  return {"mean": [float(s.mean) for s in out], "ci95": [float(s.half_width) for s in out]}


def analyses(
  result: training.SweepResult, models: dict[str, Any], loaded: Any, top_k: int
) -> dict[str, Any]:
  """Lotteries and mixture-group analyses of every seed's stage-1 fits (``result.state.fitted``).

  Args:
    result: the dataset's sweep; ``state.fitted`` maps each model name to its ``[*axes, seed]``
      fitted params (``"mixture"``: one ``MixtureFit`` batch per candidate K), ``state.metrics``
      holds the chosen ``mixture_K`` and ``state.train`` / ``state.held`` the per-stage masks.
    models: the unbatched models by name; ``"mixture"``: the candidate mixtures (one per K).
    loaded: the dataset (``table.items``, ``pairs``, ``covariates``).
    top_k: items reported per lottery.

  Returns:
    ``{"lotteries": {"bt_ranking", model: {"values", "top"}}, "groups": {"per_seed", summaries}}``:
    ``values`` ``[*axes, seed, item]``, ``top`` per hyperparameter point (see
    :func:`jaxpref.preference.top_lottery_items`), ``per_seed`` one
    :func:`jaxpref.preference.mixture_groups_report` per point and seed, and the worst group's
    accuracy (mixture, pooled BT) and log-loss (pooled, group-robust BT; seeds with K > 1) as per
    point means and 95% half-widths over seeds.
  """
  state, shape, items = result.state, tuple(result.sweep.shape), loaded.table.items
  fitted, batch, seeds, n = state.fitted, len(shape), shape[-1], len(items)
  ks = [m.num_components for m in models["mixture"]]
  choice = np.vectorize(lambda k: ks.index(int(k)))(np.asarray(state.metrics["mixture_K"]))
  scores = np.asarray(fitted["bt"]["scores"]).reshape(-1, seeds, n).mean(axis=1)
  lotteries: dict[str, Any] = {"bt_ranking": [[items[i] for i in np.argsort(-s)] for s in scores]}
  for name, model in models.items():
    extra = {"choice": choice} if name == "mixture" else {}
    x = pm.maximal_lotteries(model, fitted[name], batch_dims=batch, **extra)
    top = [pm.top_lottery_items(p, items, top_k) for p in x.reshape(-1, seeds, n)]
    lotteries[name] = {"values": x.tolist(), "top": top}
  hps, per_seed = training.sweep_points(result.sweep)[0], []
  masks = [np.asarray(a)[..., 1, :].reshape(choice.size, -1) for a in (state.train, state.held)]

  def take(tree: Any, j: int) -> Any:  # Point j of [*axes, seed] leaves.
    return jax.tree.map(lambda x: jnp.asarray(x.reshape(-1, *x.shape[batch:])[j]), tree)

  for j, i in enumerate(choice.ravel()):
    bt = models["bt"].replace(l2=float(np.ravel(hps.bt_l2)[j]))
    args = (
      take(fitted["bt"], j),
      models["mixture"][i],
      take(fitted["mixture"][i], j),
      loaded.pairs,
    )
    report = pm.mixture_groups_report(
      bt, *args, masks[0][j], masks[1][j], covariates=loaded.covariates
    )
    per_seed.append(report)
  groups: dict[str, Any] = {"per_seed": per_seed}
  for m in ("mixture", "pooled"):
    worst = [np.nanmin(np.asarray(g[f"{m}_accuracy"], float)) for g in per_seed]
    groups[f"worst_{m}_accuracy"] = _stats(worst, seeds)
  for t in ("pooled", "robust"):
    groups[f"worst_{t}_logloss"] = _stats([g[f"worst_{t}"] for g in per_seed], seeds)
  return {"lotteries": lotteries, "groups": groups}


def table(results: dict[str, Any]) -> str:
  """The lotteries' top items and the mixture-group summaries, per dataset and point."""
  lines = ["maximal lottery of each model's game: top items, mass mean ± 95% (share of seeds)"]
  for name, r in results.items():
    lot, groups = r["lotteries"], r["groups"]
    for i, label in enumerate(r["labels"]):
      lines.append(f"{name} {label}: BT ranking {', '.join(lot['bt_ranking'][i][:5])}")
      for model in (m for m in lot if m != "bt_ranking"):
        top = lot[model]["top"][i]
        cells = [f"{t['item']} {t['mean']:.2f}±{t['ci95']:.2f} ({t['support']:.0%})" for t in top]
        lines.append(f"  {model:<8} {', '.join(cells)}")
      acc = [groups[f"worst_{m}_accuracy"] for m in ("mixture", "pooled")]
      lines.append(
        f"  worst mixture group's held-out accuracy: mixture {acc[0]['mean'][i]:.3f} ± "
        f"{acc[0]['ci95'][i]:.3f}, pooled BT {acc[1]['mean'][i]:.3f} ± {acc[1]['ci95'][i]:.3f}"
      )
      w = [groups[f"worst_{t}_logloss"] for t in ("pooled", "robust")]
      if np.isfinite(w[0]["mean"][i]):
        lines.append(
          f"  worst group's held-out log-loss (seeds with K > 1): pooled BT {w[0]['mean'][i]:.3f}"
          f" ± {w[0]['ci95'][i]:.3f}, group-robust BT {w[1]['mean'][i]:.3f} ± {w[1]['ci95'][i]:.3f}"
        )
      else:
        lines.append("  group-robust BT: K = 1 on every seed (no groups)")
  return "\n".join(lines)


def plot(results: dict[str, Any], workdir: str) -> None:
  """``heldout.png`` (decisive log-loss per model and dataset) and ``lotteries.png``."""
  panels: dict[str, Any] = {}
  for name, r in results.items():
    for i, label in enumerate(r["labels"]):
      tag = "" if label == "all" else f" {label}"
      for key, m in r["metrics"].items():
        if key.endswith("/logloss"):
          split, model, _ = key.split("/")
          cell = (np.ravel(m["mean"])[i], np.ravel(m["ci95"])[i])
          panels.setdefault(f"held-out {split}{tag}", {}).setdefault(model, {})[name] = cell
  path = os.path.join(workdir, "heldout.png")
  training.plot_interval_bars(panels, path, ylabel="decisive log-loss")
  panels = {}
  for name, r in results.items():
    lot = r["lotteries"]
    for i, label in enumerate(r["labels"]):
      tag = "" if label == "all" else f" {label}"
      panels[f"{name}{tag}: maximal lottery, top items"] = {
        m: {t["item"]: (t["mean"], t["ci95"]) for t in lot[m]["top"][i]}
        for m in lot
        if m != "bt_ranking"
      }
  training.plot_interval_bars(panels, os.path.join(workdir, "lotteries.png"), ylabel="mass")
