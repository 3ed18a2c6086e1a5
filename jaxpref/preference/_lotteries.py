"""Maximal lotteries of fitted models, batched over seeds, and their summary over seeds.

A batch of fitted parameters (leading ``[*batch]`` axes, e.g. the ``[*axes, seed]`` final states of
``jaxpref.training.run_sweep``) becomes a batch of games (:func:`fitted_game`, vmapped) and each
game its maximal lottery (:func:`jaxpref.equilibria.maximal_lottery`, exact, on the host).
"""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.equilibria._maximal_lottery import maximal_lottery
from jaxpref.metrics import summarize
from jaxpref.preference._aggregate import utilitarian_matrix
from jaxpref.preference._fit import preference_matrix
from jaxpref.preference._mixture import Mixture, MixtureFit, component_matrices
from jaxpref.preference._models import Params, PreferenceModel
from jaxpref.types import Array, ArrayLike, HostArray


def fitted_game(model: PreferenceModel | Mixture, params: Params | MixtureFit) -> Array:
  """The ``[n, n]`` game of a fitted model.

  Args:
    model: a preference model, or a :class:`~jaxpref.preference.Mixture`.
    params: its parameters; for a mixture its :class:`~jaxpref.preference.MixtureFit`, whose
      components are weighted by the mean responsibility of the annotators (utilitarian game).

  Returns:
    ``[n, n]`` preference matrix (:func:`~jaxpref.preference.preference_matrix`).
  """
  if isinstance(model, Mixture):
    weights = jnp.mean(params.responsibilities, axis=0)
    return utilitarian_matrix(component_matrices(model, params.params), weights)
  return preference_matrix(model, params)


def maximal_lotteries(
  model: PreferenceModel | Mixture | Sequence[PreferenceModel | Mixture],
  params: Any,
  *,
  batch_dims: int = 1,
  choice: ArrayLike | None = None,
) -> HostArray:
  """``[*batch, n]`` maximal lottery of the game of every fitted model in a batch.

  Args:
    model: the (unbatched) model; or candidate models (e.g. mixtures with different K), one of
      which each batch member picks by ``choice``.
    params: its parameters (or :class:`~jaxpref.preference.MixtureFit`) with ``batch_dims``
      leading axes; for candidates, a sequence with one such batch per candidate.
    batch_dims: how many leading axes ``params`` has.
    choice: ``[*batch]`` index of each member's candidate (iff ``model`` is a sequence); only
      the chosen games are solved.

  Returns:
    ``[*batch, n]`` float64 maximal lotteries (exact, certified on the host).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxpref.preference import BradleyTerry
    >>> params = {"scores": jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 3.0]])}
    >>> maximal_lotteries(BradleyTerry(3), params).round(3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
  """
  if isinstance(model, (list, tuple)):
    choice = np.asarray(choice)
    flat = [
      jax.tree.map(lambda x: np.reshape(x, (-1, *np.shape(x)[batch_dims:])), p) for p in params
    ]
    first = model[0].component if isinstance(model[0], Mixture) else model[0]
    out = np.zeros((choice.size, first.num_items))
    for i, (candidate, p) in enumerate(zip(model, flat, strict=True)):
      if (chosen := choice.ravel() == i).any():
        picked = jax.tree.map(lambda x, c=chosen: jnp.asarray(x[np.flatnonzero(c)]), p)
        out[chosen] = maximal_lotteries(candidate, picked)
    return out.reshape(*choice.shape, -1)
  game = fitted_game
  for _ in range(batch_dims):
    game = jax.vmap(game, in_axes=(None, 0))
  games = np.asarray(game(model, params), np.float64)
  return np.asarray(maximal_lottery(0.5 * (games + 1.0 - np.swapaxes(games, -1, -2))))


def top_lottery_items(
  lotteries: HostArray, items: tuple[str, ...] | list[str], top_k: int, *, atol: float = 1e-9
) -> list[dict[str, Any]]:
  """The ``top_k`` items of ``[seed, n]`` lotteries by mean mass over seeds.

  Args:
    lotteries: ``[seed, n]`` lotteries of one hyperparameter point.
    items: the ``n`` item names.
    top_k: how many items.
    atol: mass above which an item counts as in the support.

  Returns:
    ``[{"item", "mean", "ci95", "support"}]``: the mean mass, the half-width of its 95% interval
    over seeds (NaN for one seed) and the share of seeds whose support holds the item; items
    without mass on any seed are left out.

  Examples:
    >>> import numpy as np
    >>> top = top_lottery_items(np.array([[1.0, 0.0], [0.5, 0.5]]), ["a", "b"], 2)
    >>> [(t["item"], t["mean"], t["support"]) for t in top]
    [('a', 0.75, 1.0), ('b', 0.25, 0.5)]
  """
  x = np.asarray(lotteries, np.float64)
  s = summarize(x, axis=0)
  order = np.argsort(-s.mean, kind="stable")[:top_k]
  support = np.mean(x > atol, axis=0)
  return [
    {
      "item": str(items[i]),
      "mean": float(s.mean[i]),
      "ci95": float(s.half_width[i]),
      "support": float(support[i]),
    }
    for i in order
    if support[i] > 0
  ]
