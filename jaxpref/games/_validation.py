"""Validation of preference matrices.

A preference matrix ``P[..., n, n]`` holds ``P[i, j] = Prob(i beats j)``; it must be finite, lie in
``[0, 1]`` and satisfy ``P + P^T = 1`` (so the diagonal is 1/2). :func:`validate_preference_matrix`
runs on the host and raises a message naming the first bad entry: call it before ``jit``, on the
data you are about to hand to a solver. Inside ``jit`` the shape is still checked
(:func:`check_preference_shape`) and :func:`is_preference_matrix` gives a traced flag per matrix,
which ``solve`` and the metrics use to return ``converged=False`` / NaN instead of a number.
"""

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike, HostArray


def _index(idx: tuple[int, ...]) -> str:
  return "P[" + ", ".join(str(int(i)) for i in idx) + "]"


def check_preference_shape(shape: tuple[int, ...], dtype: Any) -> None:
  """Raises ``ValueError`` unless ``shape``/``dtype`` can hold ``[..., n, n]`` probabilities.

  Static (shapes and dtypes are known under ``jit``): conditions 1 and 2 of
  :func:`validate_preference_matrix`, and a non-empty batch.
  """
  shape = tuple(shape)
  if np.dtype(dtype) == bool or not (
    np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
  ):
    raise ValueError(f"P must be a real array of probabilities; got dtype {np.dtype(dtype)}.")
  if len(shape) < 2:
    raise ValueError(f"P must have shape [..., n, n] (at least 2 axes); got shape {shape}.")
  if shape[-1] != shape[-2]:
    raise ValueError(f"P must be square in its last two axes; got shape {shape}.")
  if shape[-1] < 2:
    raise ValueError(
      f"A preference game needs at least 2 items; got n = {shape[-1]} (shape {shape})."
    )
  if math.prod(shape) == 0:
    raise ValueError(f"P is empty (shape {shape}).")


def is_preference_matrix(P: ArrayLike, *, atol: float = 1e-6) -> Array:
  """``[...]`` whether each matrix of ``P`` is a preference matrix; traceable (``jit``, ``vmap``).

  The value conditions 3-5 of :func:`validate_preference_matrix` (finite, in [0, 1] and
  ``P + P^T = 1`` up to ``atol``) as a boolean per matrix; the shape is checked statically.

  Args:
    P: ``[..., n, n]`` array.
    atol: absolute tolerance on the range and antisymmetry conditions.

  Returns:
    ``[...]`` booleans.

  Raises:
    ValueError: on a shape or dtype that cannot hold preference matrices.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> P = jnp.array([[[0.5, 0.7], [0.3, 0.5]], [[0.5, 0.7], [0.7, 0.5]]])
    >>> jax.jit(is_preference_matrix)(P).tolist()
    [True, False]
  """
  P = jnp.asarray(P)
  check_preference_shape(P.shape, P.dtype)
  P = P.astype(jnp.result_type(float)) if not jnp.issubdtype(P.dtype, jnp.floating) else P
  finite = jnp.all(jnp.isfinite(P), axis=(-2, -1))
  in_range = jnp.all(jnp.abs(P - 0.5) <= 0.5 + atol, axis=(-2, -1))
  antisymmetric = jnp.all(jnp.abs(P + jnp.swapaxes(P, -1, -2) - 1) <= atol, axis=(-2, -1))
  return finite & in_range & antisymmetric


def validate_preference_matrix(P: ArrayLike, *, atol: float = 1e-6) -> HostArray:
  r"""Checks that ``P`` is a (batch of) preference matrices and returns it as a host array.

  The conditions, checked in this order, each with its own message naming the first offending
  index in C order over ``(..., i, j)``:

  1. ``P`` is real with shape ``[..., n, n]`` (at least two axes, square in the last two);
  2. ``n >= 2``;
  3. every entry is finite (no NaN or inf);
  4. every entry lies in :math:`[0, 1]` (up to ``atol``);
  5. :math:`P_{ij} + P_{ji} = 1` for all :math:`i, j` (up to ``atol``), including :math:`P_{ii} =
  1/2`.

  This is the game of Munos et al. (2024), Sec. 3: a symmetric constant-sum game with payoff
  :math:`P(\pi \succ \pi') = \pi^\top P \pi'` and value 1/2.

  Args:
    P: ``[..., n, n]`` array, ``P[..., i, j]`` the probability that item ``i`` beats item ``j``.
    atol: absolute tolerance on the range and antisymmetry conditions.

  Returns:
    ``P`` as a ``numpy`` array (its own dtype), unchanged.

  Raises:
    ValueError: if any condition fails; the message names the condition and the first offending
      index.
    TypeError: if ``P`` is a tracer (inside ``jit``/``vmap``), where values cannot be checked.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024. https://arxiv.org/abs/2312.00886

  Examples:
    >>> import numpy as np
    >>> P = validate_preference_matrix(np.array([[0.5, 0.7], [0.3, 0.5]]))
    >>> validate_preference_matrix(np.array([[0.5, 0.7], [0.7, 0.5]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: P is not antisymmetric: P[0, 1] + P[1, 0] = 1.4, expected 1 ...
  """
  if isinstance(P, jax.core.Tracer):
    raise TypeError(
      "validate_preference_matrix needs concrete values and cannot run inside jit/vmap; "
      "validate the matrix before tracing."
    )
  P = np.asarray(P)
  check_preference_shape(P.shape, P.dtype)
  bad = ~np.isfinite(P)
  if bad.any():
    idx = tuple(np.argwhere(bad)[0])
    raise ValueError(f"P must be finite: {_index(idx)} = {P[idx]}.")
  Pf = P.astype(np.float64)
  bad = (Pf < -atol) | (Pf > 1 + atol)
  if bad.any():
    idx = tuple(np.argwhere(bad)[0])
    raise ValueError(f"P must lie in [0, 1]: {_index(idx)} = {Pf[idx]:.6g} (atol={atol:g}).")
  total = Pf + np.swapaxes(Pf, -1, -2)
  bad = np.abs(total - 1.0) > atol
  if bad.any():
    idx = tuple(np.argwhere(bad)[0])
    i, j = idx[-2:]
    if i == j:
      raise ValueError(
        f"P is not antisymmetric: the diagonal must be 1/2 but {_index(idx)} = {Pf[idx]:.6g} "
        f"(atol={atol:g})."
      )
    jdx = (*idx[:-2], j, i)
    raise ValueError(
      f"P is not antisymmetric: {_index(idx)} + {_index(jdx)} = {total[idx]:.6g}, expected 1 "
      f"(P + P^T = 1, atol={atol:g})."
    )
  return P
