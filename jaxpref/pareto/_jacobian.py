r"""Per-objective gradients of pytrees: Jacobians, Gramians, and aggregated updates.

Two routes to the Gramian :math:`G = J J^\top` of a vector-valued loss
:math:`L(\theta) \in \mathbb{R}^m`:

* :func:`gramian` of a stored Jacobian (``jax.jacrev``: memory m x d);
* :func:`gramian_and_values`, which never stores J: column j of G is
  :math:`J (J^\top e_j)`, one reverse pass (``vjp``) and one forward pass (``jvp``), computed
  ``chunk_size`` columns at a time. Peak memory is ``chunk_size`` gradients instead of m, at the
  price of 2m passes; the update :math:`J^\top w` is then one more reverse pass
  (:func:`aggregate`). This is the Gramian-only ("autogram") route for many objectives, e.g. one
  objective per example.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxpref.types import Array, PyTree


def gramian(jacobian: PyTree) -> Array:
  """Gramian ``G[i, j] = <g_i, g_j>`` of a pytree of per-objective gradients.

  Args:
    jacobian: pytree whose leaves have a leading objective axis m (e.g. from ``jax.jacrev``).

  Returns:
    ``[m, m]`` Gramian, summed leaf by leaf (no flattened copy of the Jacobian).

  Examples:
    >>> J = {"w": jnp.array([[-4.0, 1], [6, 1]]), "b": jnp.array([[1.0], [1.0]])}
    >>> gramian(J).tolist()
    [[18.0, -22.0], [-22.0, 38.0]]
  """
  leaves = jax.tree.leaves(jacobian)
  if not leaves:
    raise ValueError("gramian: the Jacobian pytree has no leaves.")
  m = leaves[0].shape[0]
  if any(leaf.ndim < 1 or leaf.shape[0] != m for leaf in leaves):
    raise ValueError(
      "gramian: every leaf needs the same leading objective axis; got shapes "
      f"{[leaf.shape for leaf in leaves]}."
    )
  return sum(jnp.tensordot(x, x, axes=(tuple(range(1, x.ndim)),) * 2) for x in leaves)


def combine(jacobian: PyTree, weights: Array) -> PyTree:
  r"""The aggregated update :math:`J^\top w`: each leaf contracted with the weights.

  Args:
    jacobian: pytree with a leading objective axis m on every leaf.
    weights: ``[m]`` weights.

  Returns:
    A pytree shaped like one gradient.
  """
  return jax.tree.map(lambda x: jnp.tensordot(weights.astype(x.dtype), x, axes=1), jacobian)


def gramian_and_values(
  fn: Callable[..., Array],
  params: PyTree,
  *args: Any,
  chunk_size: int | None = None,
) -> tuple[Array, Array]:
  r"""The values :math:`L(\theta)` and the Gramian :math:`J J^\top` without storing J.

  Args:
    fn: ``fn(params, *args) -> [m]`` vector of objectives.
    params: the parameters (any pytree).
    *args: further arguments of ``fn``.
    chunk_size: columns of G computed together (``vmap``); ``None`` does all m at once, 1 keeps
      one gradient in memory at a time.

  Returns:
    ``(values [m], G [m, m])``.

  Examples:
    >>> J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
    >>> _, G = gramian_and_values(lambda th: J @ th, jnp.zeros(3), chunk_size=1)
    >>> G.tolist()
    [[18.0, -22.0], [-22.0, 38.0]]
  """
  values, pullback = jax.vjp(lambda p: fn(p, *args), params)
  m = values.shape[0]

  def column(e):
    (g,) = pullback(e)
    return jax.jvp(lambda p: fn(p, *args), (params,), (g,))[1]

  eye = jnp.eye(m, dtype=values.dtype)
  columns = jax.lax.map(column, eye, batch_size=chunk_size or m)
  return values, (columns + columns.T) / 2


def aggregate(
  fn: Callable[..., Array],
  params: PyTree,
  weighting: Callable[[Array], Array],
  *args: Any,
  chunk_size: int | None = None,
) -> tuple[PyTree, Array, Array]:
  r"""One aggregated update direction :math:`J^\top w(G)` through the Gramian-only route.

  Args:
    fn: ``fn(params, *args) -> [m]`` vector of objectives (losses).
    params: the parameters.
    weighting: ``G -> w``, e.g. :func:`upgrad_weights` or ``functools.partial`` of one.
    *args: further arguments of ``fn``.
    chunk_size: see :func:`gramian_and_values`.

  Returns:
    ``(direction, values [m], weights [m])``; ``direction`` is shaped like ``params`` (a descent
    step subtracts it).

  Examples:
    >>> from jaxpref.pareto import upgrad_weights
    >>> J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
    >>> d, _, w = aggregate(lambda th: J @ th, jnp.zeros(3), upgrad_weights)
    >>> [round(float(v), 5) for v in d]
    [0.2924, 1.90058, 1.90058]
  """
  values, G = gramian_and_values(fn, params, *args, chunk_size=chunk_size)
  weights = weighting(G)
  _, pullback = jax.vjp(lambda p: fn(p, *args), params)
  (direction,) = pullback(weights.astype(values.dtype))
  return direction, values, weights
