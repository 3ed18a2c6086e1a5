r"""Vectorized sweeps: a typed hyperparameter pytree, swept axes and seeds, run in one program.

A :class:`Sweep` is built by :func:`make_sweep` from

- ``hparams``: the program's hyperparameters as a typed pytree of numbers (a ``NamedTuple``, a
  dataclass or a dict), their values when not swept;
- ``axes``: ``{field: values}`` for the fields swept, named by their path in the pytree
  (``"step_size"``, or ``"solver.step_size"`` for a nested one);
- ``seeds``: the number of seeds (the innermost axis).

Every point's program receives the same pytree type with scalar leaves (traced, so no shapes or
Python branches may depend on them); anything else is a static axis, run separately. The grid is
flattened hyperparameters-outer, seeds-inner into one leading *point* axis of length
:math:`N = \prod_k |A_k| \cdot S`, which :func:`~jaxpref.training.run_sweep` ``vmap``\s (and
shards) inside one ``jit``; :func:`unflatten` restores the ``[*axes, seed]`` shape. Experiments
declare the same thing in their config's ``vmap`` section, which the experiment runner turns into
a :class:`Sweep`.

Seed ``s`` uses the key ``fold_in(key(sweep.seed), s)`` at every hyperparameter point (common
random numbers), so points differ only by their hyperparameters.

References:
  Lu et al., Discovered Policy Optimisation (PureJaxRL), NeurIPS 2022,
  https://arxiv.org/abs/2210.05639 (vmapped seeds and hyperparameters in one compiled program).
"""

import itertools
import math
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxpref.metrics._intervals import Summary, summarize  # noqa: F401  (re-exported)
from jaxpref.types import HostArray, PRNGKey, PyTree


class Sweep(NamedTuple):
  """The vectorized grid of a run.

  Attributes:
    names: paths of the swept fields in ``hparams`` (dotted), outermost first.
    values: one ``[A_k]`` array of values per axis.
    num_seeds: ``S``, the innermost axis.
    seed: the base seed.
    seed_offset: index of the first seed, so that one seed of a sweep can be rerun alone.
    hparams: the typed hyperparameter pytree (unswept values); ``None`` for a bare grid whose
      points are ``{name: value}`` dicts.
  """

  names: tuple[str, ...]
  values: tuple[HostArray, ...]
  num_seeds: int
  seed: int
  seed_offset: int = 0
  hparams: PyTree = None

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
    """A JSON-able description (written with logs and checkpoints).

    It holds the unswept hyperparameter values too (``"hparams"``), so that a checkpoint of a
    sweep with other fixed values is refused on resumption.
    """
    out = {
      "axes": {n: v.tolist() for n, v in zip(self.names, self.values, strict=True)},
      "seeds": self.num_seeds,
      "seed": self.seed,
      "seed_offset": self.seed_offset,
    }
    if self.hparams is not None:
      out["hparams"] = {
        path: value.item() if isinstance(value, np.generic) else value
        for path, value in hparam_fields(self.hparams).items()
        if path not in self.names
      }
    return out


def _path_name(path: tuple[Any, ...]) -> str:
  parts = []
  for entry in path:
    for attr in ("name", "key", "idx"):
      if hasattr(entry, attr):
        parts.append(str(getattr(entry, attr)))
        break
    else:
      parts.append(str(entry))
  return ".".join(parts)


def hparam_fields(hparams: PyTree) -> dict[str, Any]:
  """``{dotted path: value}`` of every leaf of a hyperparameter pytree (``None`` counts as one)."""
  # A field left None is a leaf here, so that make_sweep rejects it rather than dropping it.
  leaves = jax.tree_util.tree_flatten_with_path(hparams, is_leaf=lambda x: x is None)[0]
  return {_path_name(path): value for path, value in leaves}


def make_sweep(
  hparams: PyTree,
  *,
  axes: dict[str, Any] | None = None,
  seeds: int = 1,
  seed: int = 0,
  seed_offset: int = 0,
) -> Sweep:
  """A validated :class:`Sweep` over a typed hyperparameter pytree (compiles nothing).

  Args:
    hparams: the program's hyperparameters (numbers), e.g. a ``NamedTuple``.
    axes: ``{field path: values}``; each axis a non-empty sequence of finite numbers (integers
      for an integer field). Axes are ordered as given, outermost first.
    seeds: number of seeds ``S >= 1``.
    seed: the base seed.
    seed_offset: index of the first seed.

  Returns:
    The :class:`Sweep`.

  Raises:
    ValueError: naming the axis and the problem: a path naming no field (the fields are listed),
      an empty axis, a non-number, a non-finite value, a fraction for an integer field; or a
      non-numeric field, a bad seed count or offset.

  Examples:
    >>> from typing import NamedTuple
    >>> class HP(NamedTuple):
    ...   step_size: float = 1.0
    ...   kl_coef: float = 0.1
    >>> make_sweep(HP(), axes={"step_size": (0.5, 2.0)}, seeds=3).shape
    (2, 3)
  """
  if isinstance(seeds, bool) or not isinstance(seeds, int | np.integer) or seeds < 1:
    raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}.")
  if isinstance(seed_offset, bool) or not isinstance(seed_offset, int | np.integer):
    raise ValueError(f"seed_offset must be an integer >= 0, got {seed_offset!r}.")
  if seed_offset < 0:
    raise ValueError(f"seed_offset must be an integer >= 0, got {seed_offset!r}.")
  fields = hparam_fields(hparams)
  for path, default in fields.items():
    if isinstance(default, bool) or not isinstance(default, int | float | np.number):
      raise ValueError(
        f"hyperparameter {path!r} must be a number (got {type(default).__name__}); static "
        "settings belong in the program, not in the swept hyperparameters."
      )
  names, values = [], []
  for path, raw in (axes or {}).items():
    if path not in fields:
      raise ValueError(
        f"axis {path!r} names no hyperparameter; the sweepable fields are {sorted(fields)}."
      )
    default = fields[path]
    if isinstance(raw, int | float) and not isinstance(raw, bool):
      raw = (raw,)
    if not isinstance(raw, tuple | list) or not raw:
      raise ValueError(f"axis {path!r}: expected a non-empty tuple of numbers, got {raw!r}.")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in raw):
      raise ValueError(f"axis {path!r}: values must be numbers, got {raw!r}.")
    integer = isinstance(default, int | np.integer)
    if integer and any(not float(v).is_integer() for v in raw):
      raise ValueError(f"axis {path!r}: {path} is an integer field, got {raw!r}.")
    array = np.asarray(raw, dtype=np.int32 if integer else np.float64)
    if not np.all(np.isfinite(array)):
      raise ValueError(f"axis {path!r}: values must be finite, got {raw!r}.")
    names.append(path)
    values.append(array)
  return Sweep(tuple(names), tuple(values), int(seeds), int(seed), int(seed_offset), hparams)


def sweep_points(sweep: Sweep) -> tuple[PyTree, HostArray]:
  """The flattened grid: hyperparameters outer, seeds inner.

  Args:
    sweep: the grid.

  Returns:
    ``(hparams, seeds)``: ``hparams`` is ``sweep.hparams`` with ``[N]`` leaves (swept values, or
    the field's value repeated), or a ``{name: [N]}`` dict when the sweep has no pytree; ``seeds``
    the ``[N]`` seed indices (offset by ``sweep.seed_offset``).

  Examples:
    >>> s = Sweep(("lr",), (np.array([0.1, 0.2]),), num_seeds=2, seed=0)
    >>> hp, seeds = sweep_points(s)
    >>> hp["lr"].tolist(), seeds.tolist()
    ([0.1, 0.1, 0.2, 0.2], [0, 1, 0, 1])
  """
  grids = np.meshgrid(*sweep.values, np.arange(sweep.num_seeds), indexing="ij")
  swept = {n: g.reshape(-1) for n, g in zip(sweep.names, grids[:-1], strict=True)}
  seeds = (grids[-1].reshape(-1) + sweep.seed_offset).astype(np.int32)
  if sweep.hparams is None:
    return swept, seeds
  num = seeds.shape[0]
  leaves, treedef = jax.tree_util.tree_flatten_with_path(sweep.hparams)
  columns = []
  for path, default in leaves:
    name = _path_name(path)
    dtype = np.int32 if isinstance(default, int | np.integer) else np.float64
    columns.append(swept[name].astype(dtype) if name in swept else np.full(num, default, dtype))
  return jax.tree.unflatten(treedef, columns), seeds


def seed_keys(seed: int, seeds: HostArray) -> PRNGKey:
  """``[N]`` keys ``fold_in(key(seed), s)``, the same for a seed at every hyperparameter point."""
  base = jax.random.key(seed)
  return jax.vmap(lambda s: jax.random.fold_in(base, s))(np.asarray(seeds, np.uint32))


def point_sweep(sweep: Sweep, index: int) -> Sweep:
  """The sweep of point ``index`` alone: its values set, one seed, no axes.

  Running it gives the same numbers as the point's slice of the vectorized run (the seed keys are
  :func:`seed_keys` of the point's seed index); used by the loop-equals-vmap tests.

  Args:
    sweep: a sweep with a hyperparameter pytree.
    index: a flat point index in ``[0, N)``.

  Returns:
    A one-point :class:`Sweep`.
  """
  points, seeds = sweep_points(sweep)
  one = jax.tree.map(lambda v: v[index].item(), points)
  return Sweep((), (), 1, sweep.seed, int(seeds[index]), one)


def unflatten(tree: PyTree, sweep: Sweep) -> PyTree:
  """Reshapes leading ``[N, ...]`` leaves into ``[*axes, seed, ...]``."""
  return jax.tree.map(lambda x: x.reshape(*sweep.shape, *x.shape[1:]), tree)
