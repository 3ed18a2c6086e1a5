r"""Weight vectors on the simplex :math:`\Delta^{m-1}` and unit preference directions.

Evaluation grids should be fixed and shared across methods (the same :func:`das_dennis` lattice and
reference point for every method compared); training samples :func:`dirichlet` weights.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, HostArray, PRNGKey


def das_dennis(num_objectives: int, divisions: int) -> HostArray:
  r"""The simplex lattice of Das and Dennis.

  All :math:`\lambda` with entries in :math:`\{0, 1/H, \ldots, 1\}` summing to one.
  There are :math:`\binom{H + m - 1}{m - 1}` of them, a static count, so the grid can be a vmapped
  axis. Rows come in lexicographic order of :math:`(H\lambda_1, \ldots, H\lambda_m)`, descending:
  for :math:`m = 2` the first row is :math:`(1, 0)` and the last :math:`(0, 1)`. This equals pymoo's
  ``get_reference_directions("das-dennis", m, n_partitions=H)`` as a set, and MOGFN's
  ``generate_simplex(m, H + 1)``.

  Args:
    num_objectives: m, at least 1.
    divisions: H, at least 1.

  Returns:
    ``[C(H + m - 1, m - 1), m]`` float64 numpy array (host side; it has a static shape).

  References:
    Das & Dennis, Normal-boundary intersection, SIAM J. Optim. 1998.

  Examples:
    >>> das_dennis(2, 4)[:, 0].tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0]
    >>> das_dennis(3, 12).shape
    (91, 3)
  """
  m, h = int(num_objectives), int(divisions)
  if m < 1 or h < 1:
    raise ValueError(f"das_dennis needs num_objectives >= 1 and divisions >= 1; got {m}, {h}.")
  rows = [c for c in itertools.product(range(h, -1, -1), repeat=m - 1) if sum(c) <= h]
  grid = np.array([[*c, h - sum(c)] for c in rows], dtype=np.float64) / h
  assert len(grid) == math.comb(h + m - 1, m - 1)
  return grid


def dirichlet(
  key: PRNGKey, num_objectives: int, num: int | None = None, *, alpha: float = 1.0
) -> Array:
  r"""Weights drawn from :math:`\mathrm{Dirichlet}(\alpha \mathbf{1})`.

  :math:`\alpha = 1` is uniform on the simplex (Panacea's and MOGFN's training distribution);
  :math:`\alpha < 1` favours corners, :math:`\alpha > 1` the centre.

  Args:
    key: PRNG key.
    num_objectives: m.
    num: number of vectors; ``None`` for a single ``[m]`` vector.
    alpha: concentration, > 0.

  Returns:
    ``[num, m]`` (or ``[m]``) weights.

  References:
    Zhong et al., Panacea: Pareto alignment via preference adaptation for LLMs, NeurIPS 2024.
    https://arxiv.org/abs/2402.02030

  Examples:
    >>> w = dirichlet(jax.random.key(0), 3, 4)
    >>> w.shape, bool(jnp.allclose(w.sum(-1), 1.0))
    ((4, 3), True)
  """
  if num_objectives < 1:
    raise ValueError(f"dirichlet needs num_objectives >= 1; got {num_objectives}.")
  shape = () if num is None else (num,)
  return jax.random.dirichlet(key, jnp.full((num_objectives,), alpha), shape=shape)


def unit_directions(
  key: PRNGKey, num_objectives: int, num: int | None = None, *, positive: bool = True
) -> Array:
  r"""Unit preference directions :math:`v / \lVert v \rVert_2` with Gaussian :math:`v` (DPA).

  With ``positive=True`` the absolute values are taken, so directions lie in the positive orthant
  (for two objectives, :math:`(\cos t, \sin t)` with :math:`t` in :math:`[0, \pi/2]`).

  Args:
    key: PRNG key.
    num_objectives: m.
    num: number of vectors; ``None`` for one.
    positive: restrict to the positive orthant.

  Returns:
    ``[num, m]`` (or ``[m]``) unit vectors.

  References:
    Wang et al., Arithmetic control of LLMs for diverse user preferences: directional preference
    alignment with multi-objective rewards, ACL 2024. https://arxiv.org/abs/2402.18571

  Examples:
    >>> v = unit_directions(jax.random.key(0), 2, 5)
    >>> bool(jnp.allclose(jnp.linalg.norm(v, axis=-1), 1.0)), bool((v >= 0).all())
    (True, True)
  """
  if num_objectives < 1:
    raise ValueError(f"unit_directions needs num_objectives >= 1; got {num_objectives}.")
  shape = (num_objectives,) if num is None else (num, num_objectives)
  v = jax.random.normal(key, shape)
  if positive:
    v = jnp.abs(v)
  return v / jnp.linalg.norm(v, axis=-1, keepdims=True)
