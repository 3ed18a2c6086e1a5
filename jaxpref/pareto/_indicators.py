r"""Quality indicators of an approximation set A against a reference front Z, and of a front alone.

Distances (minimisation form; ``sense="max"`` negates both sets):

* :math:`\mathrm{GD}(A; Z) = \frac{1}{|A|} \sum_{a \in A} \min_{z \in Z} \lVert a - z \rVert_2`,
  :math:`\mathrm{IGD}(A; Z) = \frac{1}{|Z|} \sum_{z \in Z} \min_{a \in A} \lVert a - z \rVert_2`
  (pymoo's default, p = 1);
* IGD+ and GD+ replace the distance by :math:`d^+(z, a) = \lVert \max(a - z, 0) \rVert_2`, which
  makes IGD+ weakly Pareto-compliant.

Distribution: Schott's spacing, PGMORL's sparsity, the R2 indicator; and controllability, the
rank correlation between weights and achieved objectives along a weight sweep.

References:
  Ishibuchi, Masuda, Tanigaki, Nojima, Modified distance calculation in generational distance and
  inverted generational distance, EMO 2015 (IGD+, GD+).
"""

import jax.numpy as jnp

from jaxpref.pareto._checks import check_points, check_valid, to_min
from jaxpref.types import Array, ArrayLike


def _sets(A, Z, sense, valid, where):
  A = check_points("A", A, where=where)
  Z = check_points("Z", Z, m=A.shape[1], where=where)
  valid = check_valid(valid, A.shape[0], where)
  return to_min(A, sense), to_min(Z, sense), valid


def _euclidean(a: Array, z: Array) -> Array:
  return jnp.sqrt(jnp.sum((a - z) ** 2, axis=-1))


def _plus(a: Array, z: Array) -> Array:
  return jnp.sqrt(jnp.sum(jnp.maximum(a - z, 0.0) ** 2, axis=-1))


def _distances(A, Z, valid, dist):
  # d[i, j] = dist(a_i, z_j); padding rows of A are pushed to +inf.
  d = dist(A[:, None, :], Z[None, :, :])
  return jnp.where(valid[:, None], d, jnp.inf)


def gd(A: ArrayLike, Z: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None) -> Array:
  """Generational distance: mean distance from each point of A to its nearest point of Z.

  Args:
    A: ``[n, m]`` approximation set.
    Z: ``[k, m]`` reference front.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` mask of the real rows of A.

  Returns:
    Scalar GD.

  References:
    Van Veldhuizen & Lamont, Multiobjective evolutionary algorithm research: a history and
    analysis, 1998.
  """
  A, Z, valid = _sets(A, Z, sense, valid, "gd")
  d = jnp.min(_distances(A, Z, valid, _euclidean), axis=1)
  return jnp.sum(jnp.where(valid, d, 0.0)) / jnp.sum(valid)


def gd_plus(
  A: ArrayLike, Z: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None
) -> Array:
  """GD+: :func:`gd` with the dominance-aware distance ``||max(a - z, 0)||``.

  Args:
    A: ``[n, m]`` approximation set.
    Z: ``[k, m]`` reference front.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` mask of the real rows of A.

  Returns:
    Scalar GD+.
  """
  A, Z, valid = _sets(A, Z, sense, valid, "gd_plus")
  d = jnp.min(_distances(A, Z, valid, _plus), axis=1)
  return jnp.sum(jnp.where(valid, d, 0.0)) / jnp.sum(valid)


def igd(A: ArrayLike, Z: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None) -> Array:
  """Inverted generational distance: mean distance from each point of Z to its nearest in A.

  Args:
    A: ``[n, m]`` approximation set.
    Z: ``[k, m]`` reference front.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` mask of the real rows of A.

  Returns:
    Scalar IGD.

  References:
    Coello Coello & Reyes Sierra, A study of the parallelization of a coevolutionary
    multi-objective evolutionary algorithm, MICAI 2004.

  Examples:
    >>> Z = jnp.array([[0.0, 1], [0.5, 0.5], [1, 0]])
    >>> A = jnp.array([[0.1, 1], [0.6, 0.6], [1, 0.2]])
    >>> round(float(igd(A, Z)), 6)
    0.14714
  """
  A, Z, valid = _sets(A, Z, sense, valid, "igd")
  return jnp.mean(jnp.min(_distances(A, Z, valid, _euclidean), axis=0))


def igd_plus(
  A: ArrayLike, Z: ArrayLike, *, sense: str = "min", valid: ArrayLike | None = None
) -> Array:
  """IGD+: :func:`igd` with the distance ``d+(z, a) = ||max(a - z, 0)||`` (weakly Pareto-compliant).

  Args:
    A: ``[n, m]`` approximation set.
    Z: ``[k, m]`` reference front.
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` mask of the real rows of A.

  Returns:
    Scalar IGD+.

  Examples:
    >>> Z = jnp.array([[0.0, 1], [0.5, 0.5], [1, 0]])
    >>> A = jnp.array([[0.1, 1], [0.6, 0.6], [1, 0.2]])
    >>> round(float(igd_plus(A, Z)), 6)
    0.14714
  """
  A, Z, valid = _sets(A, Z, sense, valid, "igd_plus")
  return jnp.mean(jnp.min(_distances(A, Z, valid, _plus), axis=0))


def spacing(F: ArrayLike, *, valid: ArrayLike | None = None) -> Array:
  r"""Schott's spacing: spread of nearest-neighbour L1 distances along the front (0 = even).

  .. math:: d_i = \min_{j \ne i} \sum_k |F_{ik} - F_{jk}|, \qquad
     S = \sqrt{\tfrac{1}{n - 1} \sum_i (\bar d - d_i)^2}.

  Args:
    F: ``[n, m]`` objective values (n >= 2 valid rows).
    valid: optional ``[n]`` mask of real rows.

  Returns:
    Scalar spacing.

  References:
    Schott, Fault tolerant design using single and multicriteria genetic algorithm optimization,
    MSc thesis, MIT 1995.

  Examples:
    >>> float(spacing(jnp.array([[0.0, 2], [1, 1], [2, 0]])))
    0.0
  """
  F = check_points("F", F, where="spacing")
  n = F.shape[0]
  valid = check_valid(valid, n, "spacing")
  d = jnp.sum(jnp.abs(F[:, None, :] - F[None, :, :]), axis=-1)
  d = jnp.where(valid[None, :] & ~jnp.eye(n, dtype=bool), d, jnp.inf)
  nearest = jnp.where(valid, jnp.min(d, axis=1), 0.0)
  count = jnp.sum(valid)
  mean = jnp.sum(nearest) / count
  return jnp.sqrt(jnp.sum(jnp.where(valid, (nearest - mean) ** 2, 0.0)) / (count - 1))


def sparsity(F: ArrayLike, *, valid: ArrayLike | None = None) -> Array:
  r"""PGMORL's sparsity: mean squared gap between consecutive values of each sorted objective.

  .. math::
     \mathrm{Sp} = \frac{1}{|P| - 1} \sum_j \sum_i \big(\tilde P_j(i) - \tilde P_j(i+1)\big)^2,

  with :math:`\tilde P_j` the sorted j-th objective. Lower is denser; 0 for a single point.

  Args:
    F: ``[n, m]`` objective values.
    valid: optional ``[n]`` mask of real rows.

  Returns:
    Scalar sparsity.

  References:
    Xu, Tian, Ma, Rus, Sueda, Matusik, Prediction-guided multi-objective reinforcement learning
    for continuous robot control, ICML 2020.

  Examples:
    >>> float(sparsity(jnp.array([[0.0, 2], [1, 1], [2, 0]])))
    2.0
  """
  F = check_points("F", F, where="sparsity")
  n = F.shape[0]
  valid = check_valid(valid, n, "sparsity")
  count = jnp.sum(valid)
  S = jnp.sort(jnp.where(valid[:, None], F, jnp.inf), axis=0)  # Padding sorts last.
  gaps = jnp.diff(S, axis=0)
  real = (jnp.arange(n - 1) < count - 1)[:, None]
  return jnp.sum(jnp.where(real, gaps**2, 0.0)) / jnp.maximum(count - 1, 1)


def r2(
  F: ArrayLike,
  weights: ArrayLike,
  *,
  ideal: ArrayLike,
  sense: str = "max",
  valid: ArrayLike | None = None,
) -> Array:
  r"""The R2 indicator: mean over weights of the best weighted Tchebycheff distance to utopia.

  .. math:: R2(A; W, u) = \frac{1}{|W|} \sum_{w \in W} \min_{a \in A} \max_i w_i |u_i - a_i|.

  Lower is better. MOGFN uses it on rewards in [0, 1] with utopia 1 (hence ``sense="max"`` by
  default; the sense only matters through the absolute value, so it is recorded for symmetry).
  The utopia point :math:`u` is ``ideal``, as in :func:`jaxpref.pareto.tchebycheff`.

  Args:
    F: ``[n, m]`` objective values.
    weights: ``[k, m]`` weight vectors.
    ideal: ``[m]`` utopia point :math:`u` (keyword-only).
    sense: ``"min"`` or ``"max"``.
    valid: optional ``[n]`` mask of real rows.

  Returns:
    Scalar R2.

  References:
    Hansen & Jaszkiewicz, Evaluating the quality of approximations to the non-dominated set, 1998;
    Jain et al., Multi-objective GFlowNets, ICML 2023.

  Examples:
    >>> F = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> float(r2(F, jnp.array([[0.5, 0.5]]), ideal=jnp.ones(2)))
    0.5
  """
  F = check_points("F", F, where="r2")
  W = check_points("weights", weights, m=F.shape[1], where="r2")
  u = check_points("ideal", ideal, ndim=1, m=F.shape[1], where="r2")
  valid = check_valid(valid, F.shape[0], "r2")
  F, u = to_min(F, sense), to_min(u, sense)
  t = jnp.max(W[:, None, :] * jnp.abs(u - F)[None, :, :], axis=-1)  # [k, n]
  return jnp.mean(jnp.min(jnp.where(valid[None, :], t, jnp.inf), axis=1))


def _ranks(x: Array) -> Array:
  """Average ranks (1-based, ties share their mean rank) along axis 0."""
  less = jnp.sum(x[None, :] < x[:, None], axis=1)
  equal = jnp.sum(x[None, :] == x[:, None], axis=1)
  return less + (equal + 1) / 2


def controllability(weights: ArrayLike, values: ArrayLike, *, sense: str = "max") -> Array:
  r"""Spearman rank correlation between :math:`\lambda_i` and objective i along a weight sweep.

  For a model evaluated at weights :math:`\lambda^{(1)}, \ldots, \lambda^{(k)}` with achieved
  objectives :math:`J(\pi_{\lambda^{(t)}})`, the per-objective correlation between
  :math:`\lambda_i` and the objective's *goodness* (:math:`J_i` for ``"max"``, :math:`-L_i` for
  ``"min"``). 1 means raising an objective's weight never makes that objective worse.

  Args:
    weights: ``[k, m]`` swept weights.
    values: ``[k, m]`` achieved objectives.
    sense: ``"min"`` or ``"max"``.

  Returns:
    ``[m]`` correlations (NaN for an objective whose weight or value never changes).

  Examples:
    >>> weights = jnp.array([[0.0, 1], [0.5, 0.5], [1, 0]])
    >>> controllability(weights, jnp.array([[0.1, 0.9], [0.5, 0.6], [0.7, 0.2]])).tolist()
    [1.0, 1.0]
  """
  W = check_points("weights", weights, where="controllability")
  V = -to_min(check_points("values", values, m=W.shape[1], where="controllability"), sense)
  if V.shape[0] != W.shape[0]:
    raise ValueError(
      f"controllability: weights and values need the same number of rows; got {W.shape}, {V.shape}."
    )
  rw, rv = _ranks(W), _ranks(V)
  rw, rv = rw - rw.mean(0), rv - rv.mean(0)
  return jnp.sum(rw * rv, 0) / jnp.sqrt(jnp.sum(rw**2, 0) * jnp.sum(rv**2, 0))
