r"""Multi-gradient aggregation as weightings of the Gramian.

Given the Jacobian :math:`J \in \mathbb{R}^{m \times d}` of m objectives (row i is
:math:`\nabla L_i`), an aggregator returns an update direction :math:`A(J) = J^\top w`. Every
aggregator here is a *weighting* :math:`G \mapsto w` of the Gramian :math:`G = J J^\top`
(m x m), so the Jacobian never has to be stored: :func:`jaxpref.pareto.gramian_and_values`
builds G one column at a time and the direction is one more backward pass with cotangent w.

The quadratic programs have fixed iteration counts (jit-friendly) and an exact active-set
polish, so on small m the weights are exact to float precision.

References:
  Quinton & Rey, Jacobian descent for multi-objective optimization, 2024.
  https://arxiv.org/abs/2406.16232 (UPGrad, DualProj; the TorchJD library).
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxpref.pareto._checks import check_points, is_concrete
from jaxpref.types import Array, ArrayLike, PRNGKey


def _gramian(G: ArrayLike, where: str) -> Array:
  G = check_points("G", G, where=where)
  if G.shape[0] != G.shape[1]:
    raise ValueError(f"{where}: G must be a square [m, m] Gramian; got shape {G.shape}.")
  if is_concrete(G) and not bool(jnp.allclose(G, G.T, rtol=1e-6, atol=1e-8 * jnp.max(jnp.abs(G)))):
    raise ValueError(f"{where}: G must be symmetric (G = J J^T).")
  return G


def mean_weights(G: ArrayLike) -> Array:
  """Uniform weights 1/m: the direction is the mean gradient.

  Args:
    G: ``[m, m]`` Gramian (only its size is used).

  Returns:
    ``[m]`` weights.
  """
  G = _gramian(G, "mean_weights")
  m = G.shape[0]
  return jnp.full((m,), 1.0 / m, G.dtype)


def mgda_weights(G: ArrayLike, *, max_iters: int = 100, tol: float = 1e-9) -> Array:
  r"""MGDA: the min-norm point of the convex hull of the gradients, by Frank-Wolfe on G.

  .. math:: w = \arg\min_{\alpha \in \Delta} \alpha^\top G \alpha.

  :math:`-J^\top w` is a common descent direction, and :math:`\lVert J^\top w \rVert = 0` certifies
  Pareto stationarity. Frank-Wolfe with exact line search: start at :math:`1/m`; pick
  :math:`t = \arg\min_t (G\alpha)_t`; with :math:`a = (G\alpha)_t`, :math:`b = \alpha^\top G
  \alpha`, :math:`c = G_{tt}`, step :math:`\gamma = 1` if :math:`c \le a`, 0 if :math:`b \le a`,
  else :math:`(b - a)/(b + c - 2a)`; stop when :math:`\gamma <` ``tol`` or after ``max_iters``.
  For m = 2 the first step is exact.

  Args:
    G: ``[m, m]`` Gramian.
    max_iters: Frank-Wolfe iterations at most.
    tol: stop when the step falls below this.

  Returns:
    ``[m]`` weights on the simplex.

  References:
    Desideri, Multiple-gradient descent algorithm (MGDA), C. R. Math. 2012;
    Sener & Koltun, Multi-task learning as multi-objective optimization, NeurIPS 2018.

  Examples:
    >>> J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
    >>> w = mgda_weights(J @ J.T)
    >>> [round(float(v), 6) for v in w], [round(abs(float(v)), 6) for v in J.T @ w]
    ([0.6, 0.4], [0.0, 1.0, 1.0])
  """
  return _mgda(_gramian(G, "mgda_weights"), max_iters, tol)


@functools.partial(jax.jit, static_argnums=(1,))
def _mgda(G: Array, max_iters: int, tol: float | Array) -> Array:
  m = G.shape[0]

  def cond(carry):
    _, gamma, k = carry
    return (k < max_iters) & (gamma >= tol)

  def body(carry):
    alpha, _, k = carry
    Ga = G @ alpha
    t = jnp.argmin(Ga)
    a, b, c = Ga[t], alpha @ Ga, G[t, t]
    gamma = jnp.where(c <= a, 1.0, jnp.where(b <= a, 0.0, (b - a) / (b + c - 2 * a)))
    alpha = (1 - gamma) * alpha + gamma * jax.nn.one_hot(t, m, dtype=G.dtype)
    return alpha, gamma, k + 1

  alpha0 = jnp.full((m,), 1.0 / m, G.dtype)
  alpha, _, _ = jax.lax.while_loop(cond, body, (alpha0, jnp.asarray(jnp.inf, G.dtype), 0))
  return alpha


def pcgrad_weights(G: ArrayLike, key: PRNGKey | None = None) -> Array:
  r"""PCGrad ("gradient surgery") written as a weighting of G.

  For each i, :math:`g_i' = g_i`, then for each :math:`j \ne i` in a random order, if
  :math:`g_i' \cdot g_j < 0`: :math:`g_i' \leftarrow g_i' - \frac{g_i' \cdot g_j}{\lVert g_j
  \rVert^2} g_j`. The update is the **sum** :math:`\sum_i g_i'`. Every :math:`g_i'` is a
  combination :math:`\sum_k c_{ik} g_k`, and all inner products come from G, so the weights are
  :math:`w = \sum_i c_i`.

  Args:
    G: ``[m, m]`` Gramian.
    key: PRNG key for the projection orders (stochastic for m > 2); ``None`` uses the natural
      order.

  Returns:
    ``[m]`` weights (not normalised).

  References:
    Yu, Kumar, Gupta, Levine, Hausman, Finn, Gradient surgery for multi-task learning,
    NeurIPS 2020. https://arxiv.org/abs/2001.06782

  Examples:
    >>> J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
    >>> [round(float(v), 4) for v in J.T @ pcgrad_weights(J @ J.T)]
    [0.5848, 3.8012, 3.8012]
  """
  return _pcgrad(_gramian(G, "pcgrad_weights"), key)


@jax.jit
def _pcgrad(G: Array, key: PRNGKey | None) -> Array:
  m = G.shape[0]
  if key is None:
    orders = jnp.tile(jnp.arange(m), (m, 1))
  else:
    orders = jax.vmap(lambda k: jax.random.permutation(k, m))(jax.random.split(key, m))

  def project(i, order):
    def step(c, j):
      dot = c @ G[:, j]
      conflict = (j != i) & (dot < 0) & (G[j, j] > 0)
      coef = jnp.where(conflict, dot / jnp.where(G[j, j] > 0, G[j, j], 1.0), 0.0)
      return c - coef * jax.nn.one_hot(j, m, dtype=G.dtype), None

    c, _ = jax.lax.scan(step, jax.nn.one_hot(i, m, dtype=G.dtype), order)
    return c

  return jnp.sum(jax.vmap(project)(jnp.arange(m), orders), axis=0)


def _box_qp(G: Array, lower: Array, sweeps: int) -> Array:
  r""":math:`\arg\min_{v \ge l} v^\top G v` by coordinate descent plus an active-set polish."""
  m = G.shape[0]
  diag = jnp.where(jnp.diag(G) > 0, jnp.diag(G), 1.0)

  def sweep(_, v):
    def coord(k, v):
      return v.at[k].set(jnp.maximum(lower[k], v[k] - (G[k] @ v) / diag[k]))

    return jax.lax.fori_loop(0, m, coord, v)

  v = jax.lax.fori_loop(0, sweeps, sweep, lower)
  # Polish: solve the KKT system exactly on the free set; keep it if it stays feasible and
  # optimal (gradient >= 0 on the active set).
  free = v > lower
  both = free[:, None] & free[None, :]
  M = jnp.where(both, G, jnp.eye(m, dtype=G.dtype))
  rhs = jnp.where(free, -(G @ jnp.where(free, 0.0, lower)), lower)
  exact = jnp.linalg.solve(M, rhs)
  grad = G @ exact
  scale = jnp.maximum(jnp.max(jnp.abs(G)), 1e-30) * jnp.maximum(jnp.max(jnp.abs(exact)), 1.0)
  ok = jnp.all(jnp.isfinite(exact)) & jnp.all(exact >= lower - 1e-9 * jnp.abs(lower).max())
  ok = ok & jnp.all(jnp.where(free, True, grad >= -1e-9 * scale))
  return jnp.where(ok, jnp.maximum(exact, lower), v)


def _normalized(G: Array, ridge: float) -> Array:
  trace = jnp.trace(G)
  G = G / jnp.where(trace > 0, trace, 1.0)
  return G + ridge * jnp.eye(G.shape[0], dtype=G.dtype)


def _preference(weights: ArrayLike | None, m: int, dtype, where: str) -> Array:
  if weights is None:
    return jnp.full((m,), 1.0 / m, dtype)
  weights = check_points("weights", weights, ndim=1, m=m, where=where)
  if is_concrete(weights) and bool(jnp.any(weights < 0)):
    raise ValueError(f"{where}: weights must be non-negative.")
  return weights


def upgrad_weights(
  G: ArrayLike, weights: ArrayLike | None = None, *, ridge: float = 0.0, sweeps: int = 100
) -> Array:
  r"""UPGrad: the sum of the projections of each weighted gradient onto the dual cone of J.

  .. math:: w = \sum_i w^{(i)}, \qquad w^{(i)} = \arg\min_{v \ge p_i e_i} v^\top G v,

  i.e. :math:`J^\top w^{(i)}` is the projection of :math:`p_i g_i` onto
  :math:`\{x : Jx \ge 0\}`. The result is non-conflicting (:math:`J A(J) \ge 0` elementwise),
  linear under scaling of the rows, and in the row span. G is first divided by its trace (which
  leaves the argmin unchanged); ``ridge`` then adds :math:`\epsilon I` as TorchJD does (1e-4 there;
  0 here gives the exact weights).

  Args:
    G: ``[m, m]`` Gramian.
    weights: ``[m]`` non-negative preference weights (the paper's p); 1/m by default.
    ridge: diagonal regularisation after trace normalisation.
    sweeps: coordinate-descent sweeps before the exact active-set polish.

  Returns:
    ``[m]`` weights.

  References:
    Quinton & Rey, Jacobian descent for multi-objective optimization, 2024.
    https://arxiv.org/abs/2406.16232

  Examples:
    >>> J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
    >>> w = upgrad_weights(J @ J.T)
    >>> [round(float(v), 6) for v in w], [round(float(v), 5) for v in J.T @ w]
    ([1.111111, 0.789474], [0.2924, 1.90058, 1.90058])
  """
  G = _gramian(G, "upgrad_weights")
  m = G.shape[0]
  p = _preference(weights, m, G.dtype, "upgrad_weights")
  return _upgrad(G, p, ridge, sweeps)


@functools.partial(jax.jit, static_argnums=(3,))
def _upgrad(G: Array, p: Array, ridge: float | Array, sweeps: int) -> Array:
  Gn = _normalized(G, ridge)
  lowers = p[:, None] * jnp.eye(G.shape[0], dtype=G.dtype)
  return jnp.sum(jax.vmap(lambda low: _box_qp(Gn, low, sweeps))(lowers), axis=0)


def dualproj_weights(
  G: ArrayLike, weights: ArrayLike | None = None, *, ridge: float = 0.0, sweeps: int = 100
) -> Array:
  r"""DualProj: the projection of the preference-weighted mean gradient onto the dual cone.

  .. math:: w = \arg\min_{v \ge p} v^\top G v.

  Args:
    G: ``[m, m]`` Gramian.
    weights: ``[m]`` non-negative preference weights (the paper's p); 1/m by default.
    ridge: diagonal regularisation after trace normalisation.
    sweeps: coordinate-descent sweeps before the exact active-set polish.

  Returns:
    ``[m]`` weights.

  References:
    Quinton & Rey, Jacobian descent for multi-objective optimization, 2024.
    https://arxiv.org/abs/2406.16232

  Examples:
    >>> J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
    >>> [round(float(v), 4) for v in J.T @ dualproj_weights(J @ J.T)]  # exact: (11/18, 1/2)
    [0.5556, 1.1111, 1.1111]
    >>> [round(float(v), 4) for v in J.T @ dualproj_weights(J @ J.T, ridge=1e-4)]  # TorchJD's
    [0.5563, 1.1109, 1.1109]
  """
  G = _gramian(G, "dualproj_weights")
  m = G.shape[0]
  p = _preference(weights, m, G.dtype, "dualproj_weights")
  return _dualproj(G, p, ridge, sweeps)


@functools.partial(jax.jit, static_argnums=(3,))
def _dualproj(G: Array, p: Array, ridge: float | Array, sweeps: int) -> Array:
  return _box_qp(_normalized(G, ridge), p, sweeps)


AGGREGATORS = ("mean", "mgda", "pcgrad", "upgrad", "dualproj")


def aggregator_weighting(
  name: str, weights: ArrayLike | None = None, *, key: PRNGKey | None = None
) -> Callable[[Array], Array]:
  r"""The weighting ``G -> w`` of a named aggregator, with preference weights p.

  UPGrad and DualProj take p natively. The others are applied to the rows scaled by p, i.e. to
  :math:`G' = \mathrm{diag}(p) G \mathrm{diag}(p)`, and return :math:`w = p \odot w'(G')`: "mean"
  is then linear scalarization :math:`w = p`, and MGDA and PCGrad act on :math:`p_i g_i` (an
  objective with :math:`p_i = 0` drops out). Without p every aggregator is its unweighted self.

  Args:
    name: one of :data:`AGGREGATORS` (``"mean"``, ``"mgda"``, ``"pcgrad"``, ``"upgrad"``,
      ``"dualproj"``).
    weights: ``[m]`` non-negative preference weights p, or ``None``.
    key: PRNG key for PCGrad's projection orders.

  Returns:
    A function of the ``[m, m]`` Gramian returning ``[m]`` weights, for
    :func:`jaxpref.pareto.aggregate`.

  Examples:
    >>> J = jnp.array([[-4.0, 1, 1], [6, 1, 1]])
    >>> aggregator_weighting("mean", jnp.array([0.25, 0.75]))(J @ J.T).tolist()
    [0.25, 0.75]
  """
  if name not in AGGREGATORS:
    raise ValueError(f"Unknown aggregator {name!r}; known: {', '.join(AGGREGATORS)}.")

  def weighting(G: Array) -> Array:
    G = _gramian(G, f"aggregator_weighting({name!r})")
    m = G.shape[0]
    p = _preference(weights, m, G.dtype, f"aggregator_weighting({name!r})")
    if name == "upgrad":
      return _upgrad(G, p, 0.0, 100)
    if name == "dualproj":
      return _dualproj(G, p, 0.0, 100)
    if name == "mean":
      return p
    scale = jnp.ones((m,), G.dtype) if weights is None else p
    scaled = G * scale[:, None] * scale[None, :]
    if name == "mgda":
      return scale * _mgda(scaled, 100, 1e-9)
    return scale * _pcgrad(scaled, key)

  return weighting
