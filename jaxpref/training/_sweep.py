r"""Vectorized sweeps: hyperparameter axes and seeds declared in the config, run in one program.

A config declares its vectorized axes in ``config.vmap``:

- ``config.vmap.seeds``: the number of seeds (the innermost axis);
- ``config.vmap.axes``: a tree mirroring the config whose leaves are tuples of values, e.g.
  ``config.vmap.axes.solver.step_size = (0.5, 1.0, 2.0)`` sweeps the field
  ``config.solver.step_size``.

Swept fields must be numbers that the program reads as traced scalars (no shapes, no Python
branches); anything else is a static axis, listed as separate runs by the config's ``sweep``
function. The grid of points is flattened hyperparameters-outer, seeds-inner into one leading
*point* axis of length :math:`N = \prod_k |A_k| \cdot S`, which :func:`~jaxpref.training.run_sweep`
``vmap``\s (and shards) inside one ``jit``; :func:`unflatten` restores the ``[*axes, seed]`` shape.

Seed ``s`` uses the key ``fold_in(key(config.seed), s)`` at every hyperparameter point (common
random numbers), so points differ only by their hyperparameters.

References:
  Lu et al., Discovered Policy Optimisation (PureJaxRL), NeurIPS 2022,
  https://arxiv.org/abs/2210.05639 (vmapped seeds and hyperparameters in one compiled program).
"""

import itertools
import math
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
import scipy.stats

from jaxpref.types import Array, HostArray, PRNGKey, PyTree


class Sweep(NamedTuple):
  """The vectorized grid of a run.

  Attributes:
    names: dotted config paths of the hyperparameter axes, outermost first.
    values: one ``[A_k]`` array of values per axis.
    num_seeds: ``S``, the innermost axis.
    seed: the base seed (``config.seed``).
    seed_offset: index of the first seed (``config.vmap.seed_offset``), so that one seed of a
      sweep can be rerun alone.
  """

  names: tuple[str, ...]
  values: tuple[HostArray, ...]
  num_seeds: int
  seed: int
  seed_offset: int = 0

  @property
  def shape(self) -> tuple[int, ...]:
    """``(*[A_k], S)``: the leading shape of every result."""
    return (*(len(v) for v in self.values), self.num_seeds)

  @property
  def hparam_shape(self) -> tuple[int, ...]:
    """``(*[A_k])``: the hyperparameter grid without seeds."""
    return self.shape[:-1]

  @property
  def num_points(self) -> int:
    """``N``: hyperparameter points times seeds."""
    return math.prod(self.shape)

  def labels(self) -> list[str]:
    """One label per hyperparameter point (row-major), e.g. ``"step_size=0.5 kl_coef=0.1"``."""
    short = [n.rsplit(".", 1)[-1] for n in self.names]
    if len(set(short)) < len(short):
      short = list(self.names)
    return [
      " ".join(f"{s}={v:g}" for s, v in zip(short, combo, strict=True)) or "all"
      for combo in itertools.product(*(v.tolist() for v in self.values))
    ]

  def to_json(self) -> dict[str, Any]:
    """A JSON-able description (written with logs and checkpoints)."""
    return {
      "axes": {n: v.tolist() for n, v in zip(self.names, self.values, strict=True)},
      "seeds": self.num_seeds,
      "seed": self.seed,
      "seed_offset": self.seed_offset,
    }


def _leaves(node: ml_collections.ConfigDict, prefix: str = "") -> list[tuple[str, Any]]:
  out = []
  for key in node:
    value = node[key]
    path = f"{prefix}{key}"
    if isinstance(value, ml_collections.ConfigDict):
      out.extend(_leaves(value, path + "."))
    else:
      out.append((path, value))
  return out


def _config_field(config: ml_collections.ConfigDict, path: str) -> Any:
  node = config
  for part in path.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ValueError(
        f"config.vmap.axes.{path}: the config has no field {path!r} to sweep "
        "(axes mirror the config: vmap.axes.solver.step_size sweeps solver.step_size)."
      )
    node = node[part]
  return node


def sweep_from_config(config: ml_collections.ConfigDict) -> Sweep:
  """Reads and validates ``config.vmap`` (before anything is compiled).

  Args:
    config: an experiment config with ``seed`` and an optional ``vmap`` section.

  Returns:
    The :class:`Sweep`; without ``config.vmap`` a single point with one seed.

  Raises:
    ValueError: on a non-positive seed count, an axis naming no config field, a non-numeric or
      boolean field, an empty axis, or values that are not finite numbers.
  """
  vmap = config.get("vmap")
  if vmap is None:
    return Sweep((), (), 1, int(config.get("seed", 0)))
  seeds, offset = vmap.get("seeds", 1), vmap.get("seed_offset", 0)
  if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
    raise ValueError(f"config.vmap.seeds must be an integer >= 1, got {seeds!r}.")
  if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
    raise ValueError(f"config.vmap.seed_offset must be an integer >= 0, got {offset!r}.")
  names, values = [], []
  axes = vmap.get("axes") or ml_collections.ConfigDict()
  for path, raw in _leaves(axes):
    default = _config_field(config, path)
    if isinstance(default, bool) or not isinstance(default, int | float):
      raise ValueError(
        f"config.vmap.axes.{path}: only numeric fields can be vmapped (got "
        f"{type(default).__name__}); sweep it as a static axis in the config's sweep()."
      )
    if isinstance(raw, int | float) and not isinstance(raw, bool):
      raw = (raw,)
    if not isinstance(raw, tuple | list) or not raw:
      raise ValueError(f"config.vmap.axes.{path}: expected a non-empty tuple of numbers.")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in raw):
      raise ValueError(f"config.vmap.axes.{path}: values must be numbers, got {raw!r}.")
    if isinstance(default, int) and any(not float(v).is_integer() for v in raw):
      raise ValueError(f"config.vmap.axes.{path}: {path} is an integer field, got {raw!r}.")
    array = np.asarray(raw, dtype=np.int32 if isinstance(default, int) else np.float64)
    if not np.all(np.isfinite(array)):
      raise ValueError(f"config.vmap.axes.{path}: values must be finite, got {raw!r}.")
    names.append(path)
    values.append(array)
  return Sweep(tuple(names), tuple(values), seeds, int(config.get("seed", 0)), offset)


def sweep_points(sweep: Sweep) -> tuple[dict[str, HostArray], HostArray]:
  """The flattened grid: hyperparameters outer, seeds inner.

  Args:
    sweep: the grid.

  Returns:
    ``(hparams, seeds)``: ``hparams[name]`` is ``[N]`` and ``seeds`` the ``[N]`` seed indices
    (offset by ``sweep.seed_offset``).

  Examples:
    >>> s = Sweep(("lr",), (np.array([0.1, 0.2]),), num_seeds=2, seed=0)
    >>> hp, seeds = sweep_points(s)
    >>> hp["lr"].tolist(), seeds.tolist()
    ([0.1, 0.1, 0.2, 0.2], [0, 1, 0, 1])
  """
  grids = np.meshgrid(*sweep.values, np.arange(sweep.num_seeds), indexing="ij")
  hparams = {n: g.reshape(-1) for n, g in zip(sweep.names, grids[:-1], strict=True)}
  return hparams, (grids[-1].reshape(-1) + sweep.seed_offset).astype(np.int32)


def seed_keys(seed: int, seeds: HostArray) -> PRNGKey:
  """``[N]`` keys ``fold_in(key(seed), s)``, the same for a seed at every hyperparameter point."""
  base = jax.random.key(seed)
  return jax.vmap(lambda s: jax.random.fold_in(base, s))(np.asarray(seeds, np.uint32))


def point_config(
  config: ml_collections.ConfigDict, sweep: Sweep, index: int
) -> ml_collections.ConfigDict:
  """The config of point ``index`` alone: its values set, one seed, no vmapped axes.

  Running it gives the same numbers as the point's slice of the vectorized run when the
  program derives its key with :func:`seed_keys` (used by the loop-equals-vmap tests).

  Args:
    config: the sweep's config.
    sweep: its :class:`Sweep`.
    index: a flat point index in ``[0, N)``.

  Returns:
    A new ConfigDict; its ``vmap.seed_offset`` holds the point's seed index.
  """
  hparams, seeds = sweep_points(sweep)
  out = ml_collections.ConfigDict(config.to_dict())
  for name, values in hparams.items():
    node = out
    *parents, leaf = name.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = type(node[leaf])(values[index].item())
  out.vmap.axes = ml_collections.ConfigDict()
  out.vmap.seeds = 1
  out.vmap.seed_offset = int(seeds[index])
  return out


def unflatten(tree: PyTree, sweep: Sweep) -> PyTree:
  """Reshapes leading ``[N, ...]`` leaves into ``[*axes, seed, ...]``."""
  return jax.tree.map(lambda x: x.reshape(*sweep.shape, *x.shape[1:]), tree)


class Summary(NamedTuple):
  """Mean over seeds with a two-sided 95% Student-t interval ``mean ± half_width``."""

  mean: HostArray
  half_width: HostArray


def summarize(values: Array | HostArray, axis: int = -1) -> Summary:
  r"""Mean over seeds and the half-width of its 95% confidence interval.

  .. math:: \bar x \pm t_{0.975,\,S-1}\, s / \sqrt{S}

  with the sample standard deviation :math:`s`; the half-width is NaN for one seed.

  Args:
    values: results with a seed axis.
    axis: the seed axis.

  Returns:
    :class:`Summary` with the seed axis removed.

  Examples:
    >>> s = summarize(np.array([1.0, 2.0, 3.0]))
    >>> float(s.mean), round(float(s.half_width), 4)
    (2.0, 2.4841)
  """
  values = np.asarray(values, np.float64)
  num = values.shape[axis]
  mean = values.mean(axis=axis)
  if num < 2:
    return Summary(mean, np.full_like(mean, np.nan))
  sem = values.std(axis=axis, ddof=1) / math.sqrt(num)
  return Summary(mean, scipy.stats.t.ppf(0.975, num - 1) * sem)
