r"""Exact maximum-entropy Nash equilibrium (maximal lottery) of a preference game.

The symmetric zero-sum game with skew-symmetric payoff :math:`A = (P - P^\top)/2` (equal to
:math:`P - 1/2` for a valid preference matrix) has value 0, and its equilibria form the polytope

.. math:: \mathcal N = \{x \in \Delta_n : A x \le 0\}.

The solver works in three exact stages, all in float64 on the host:

1. **Support of all equilibria, by one LP.** By Kaplansky (1945), every strategy of a symmetric game
   is either played by some equilibrium or strictly loses against some equilibrium, and averaging
   the witnesses gives one equilibrium :math:`\bar x` that is *strictly complementary*. Scaled,
   that is a solution of

   .. math:: y \ge 0,\quad A y \le 0,\quad y - A y \ge 1,

   and any solution splits the items cleanly: :math:`y_i \ge 1/2` on the common support :math:`S` of
   the equilibria, :math:`-(Ay)_i \ge 1/2` off it. The solver uses the normalized form (maximize
   :math:`\varepsilon` over :math:`x \in \Delta_n` with :math:`Ax \le 0`,
   :math:`x - Ax \ge \varepsilon`), which is better scaled (HiGHS, ``scipy.optimize.linprog``).
   Strategies outside :math:`S`, dominated ones included, get exactly zero.
2. **Exact refinement.** On :math:`S` every equilibrium satisfies :math:`A_{SS} x_S = 0` and
   :math:`\mathbf 1^\top x_S = 1`. If the null space of :math:`A_{SS}` is one-dimensional the
   equilibrium is unique and is read off an SVD to machine precision.
3. **Maximum entropy** (degenerate games: ties, duplicated strategies). Maximize
   :math:`H(x) = -\sum_i x_i \log x_i` over :math:`\mathcal N` restricted to the affine hull above,
   subject to the remaining constraints :math:`A_{\bar S S} x_S \le 0`, with a log-barrier interior
   point method started from :math:`\bar x`; then the constraints found active are made equalities
   and Newton's method on the reduced problem polishes the point to machine precision (kept only if
   it stays feasible and does not lower the entropy). The entropy is strictly concave, so the
   maximizer is unique: clones share their mass equally, and a face cut by a non-coordinate
   constraint is handled correctly (see the canonical ``tie_face`` game).

Finally every answer is certified: its duality gap :math:`\max_i (Px)_i - \min_j (x^\top P)_j` is
computed in float64 and a ``RuntimeError`` is raised if it exceeds ``tol``.

References:
  Fishburn, Probabilistic social choice based on simple voting comparisons, Rev. Econ. Stud. 1984;
  Kaplansky, A contribution to von Neumann's theory of games, Ann. Math. 1945;
  Balduzzi et al., Re-evaluating evaluation (Nash averaging, max-entropy NE), NeurIPS 2018,
  https://arxiv.org/abs/1806.02643; Boyd & Vandenberghe, Convex Optimization, 2004, Ch. 11.
"""

import functools
import threading

import jax
import numpy as np
import scipy.linalg
import scipy.optimize

from jaxpref.games import check_preference_shape, validate_preference_matrix
from jaxpref.types import Array, ArrayLike, HostArray

_RANK_RTOL = 1e-11
_LOCAL = threading.local()  # a reused HiGHS instance per thread (see _value_lp)


def _null_space(M: HostArray) -> HostArray:
  """Orthonormal basis ``[k, r]`` of the null space of ``M [m, k]``."""
  k = M.shape[1]
  if M.shape[0] == 0:
    return np.eye(k)
  _, s, vt = scipy.linalg.svd(M, full_matrices=True)
  scale = max(s[0] if s.size else 0.0, 1.0)
  rank = int(np.sum(s > _RANK_RTOL * scale * max(M.shape)))
  return vt[rank:].T


def _strictly_complementary_support(A: HostArray) -> tuple[HostArray, HostArray]:
  """Returns ``(support mask, equilibrium)`` from the strictly complementary LP.

  Solves ``max eps`` over ``x`` in the simplex with ``A x <= 0`` and ``x - A x >= eps``; the optimum
  has ``eps > 0`` (Kaplansky), and then each item has ``x_i >= eps / 2`` or ``-(A x)_i >= eps / 2``.
  """
  n = A.shape[0]
  # Variables (x_1..x_n, eps); linprog minimizes, so the objective is -eps.
  c = np.zeros(n + 1)
  c[-1] = -1.0
  a_ub = np.block([[A, np.zeros((n, 1))], [A - np.eye(n), np.ones((n, 1))]])
  b_ub = np.zeros(2 * n)
  a_eq = np.concatenate([np.ones(n), [0.0]])[None, :]
  bounds = [(0, None)] * n + [(None, 1.0)]
  res = scipy.optimize.linprog(
    c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs"
  )
  if res.status != 0 or res.x[-1] <= 0:
    raise RuntimeError(f"maximal_lottery: the support LP failed ({res.message}).")
  x = np.clip(res.x[:n], 0.0, None)
  support = x > -(A @ x)
  x = np.where(support, x, 0.0)
  return support, x / x.sum()


@functools.cache
def _highspy():
  """The ``highspy`` module, or None (looked up once: a failed import costs ~60 us per game)."""
  try:
    import highspy  # optional: the [test] and [bench] extras
  except ImportError:
    return None
  return highspy


def _value_lp(A: HostArray) -> HostArray | None:
  """An equilibrium from the plain value LP (max v: A x + v <= 0, x in the simplex), or None.

  Calls HiGHS directly through ``highspy`` when it is installed (no scipy wrapper overhead, about
  3x faster at n <= 10), else ``scipy.optimize.linprog``'s HiGHS.
  """
  n = A.shape[0]
  highspy = _highspy()
  if highspy is not None:
    h = getattr(_LOCAL, "highs", None)
    if h is None:  # one solver per thread, reused: building one costs as much as a small LP
      h = _LOCAL.highs = highspy.Highs()
      h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + 1, n + 1
    cost = np.zeros(n + 1)
    cost[n] = -1.0
    lower = np.zeros(n + 1)
    lower[n] = -inf
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, np.full(n + 1, inf)
    dense = np.ones((n + 1, n + 1))  # rows: A x + v <= 0 (n), then sum x = 1
    dense[:n, :n] = A
    dense[n, n] = 0.0
    row_lower = np.full(n + 1, -inf)
    row_lower[n] = 1.0
    row_upper = np.zeros(n + 1)
    row_upper[n] = 1.0
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.arange(0, dense.size + 1, n + 1, dtype=np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(n + 1, dtype=np.int32), n + 1)
    lp.a_matrix_.value_ = dense.ravel()
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
      return None
    x = np.array(h.getSolution().col_value)[:n]
  else:
    c = np.r_[np.zeros(n), -1.0]
    a_ub = np.c_[A, np.ones(n)]
    a_eq = np.r_[np.ones(n), 0.0][None, :]
    bounds = [(0, None)] * n + [(None, None)]
    res = scipy.optimize.linprog(
      c, A_ub=a_ub, b_ub=np.zeros(n), A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs"
    )
    if res.status != 0:
      return None
    x = res.x[:n]
  x = np.clip(x, 0.0, None)
  return x / x.sum()


def _support(A: HostArray) -> tuple[HostArray, HostArray, bool]:
  """``(support mask, equilibrium, from the value LP)``: the support of every equilibrium.

  Fast path: an equilibrium x of the plain value LP whose items are all clearly in
  (``x_i > 1e-9``) or clearly out (``(A x)_i < -1e-9``) is strictly complementary, and then its
  support is the support of all equilibria (any equilibrium y has ``sum_i y_i (A x)_i = 0``, so
  ``y_i = 0`` wherever ``(A x)_i < 0``). Otherwise (degenerate games) the strictly complementary
  LP decides.
  """
  x = _value_lp(A)
  if x is not None:
    Ax = A @ x
    on = x > 1e-9
    if np.all(on | (Ax < -1e-9)) and Ax.max() <= 1e-9:
      return on, np.where(on, x, 0.0) / x[on].sum(), True
  support, x = _strictly_complementary_support(A)
  return support, x, False


def _duality_gap(P: HostArray, x: HostArray) -> float:
  """The certificate: max_i (P x)_i - min_j (x^T P)_j in float64."""
  return float(np.max(P @ x) - np.min(x @ P))


def _entropy(x: HostArray) -> float:
  pos = x[x > 0]
  return float(-np.sum(pos * np.log(pos)))


def _max_entropy_barrier(x0: HostArray, D: HostArray, G: HostArray) -> HostArray:
  """Maximizes ``H(x0 + D z)`` subject to ``x > 0`` and ``G x <= 0`` by a log-barrier method."""
  z = np.zeros(D.shape[1])
  m = x0.size + G.shape[0]
  GD = G @ D  # constant across iterations

  def parts(z, t):
    x = x0 + D @ z
    s = -(G @ x)
    if np.any(x <= 0) or np.any(s <= 0):
      return -np.inf, None, None
    f = t * _entropy(x) + np.sum(np.log(x)) + np.sum(np.log(s))
    gx = t * (-np.log(x) - 1.0) + 1.0 / x - G.T @ (1.0 / s)
    hx_diag = -t / x - 1.0 / x**2
    H = (D.T * hx_diag) @ D - GD.T @ (GD / s[:, None] ** 2)
    return f, D.T @ gx, H

  t = 1.0
  while True:
    for _ in range(100):  # Newton with backtracking on the barrier objective.
      f, g, H = parts(z, t)
      step = np.linalg.solve(H, -g)
      if float(g @ step) <= 1e-14:  # Newton decrement: centred for this t.
        break
      a = 1.0
      while a > 1e-12 and parts(z + a * step, t)[0] < f + 0.25 * a * float(g @ step):
        a *= 0.5
      if a <= 1e-12:  # no progress left at float64 precision
        break
      z = z + a * step
    if m / t < 1e-10:
      break
    t *= 20.0
  return x0 + D @ z


def _max_entropy_on_affine(x0: HostArray, D: HostArray) -> HostArray | None:
  """Maximizes ``H(x0 + D w)`` by damped Newton (``None`` if the iterate leaves ``x > 0``)."""
  w = np.zeros(D.shape[1])
  for _ in range(100):
    x = x0 + D @ w
    if np.any(x <= 0):
      return None
    g = D.T @ (-np.log(x) - 1.0)
    H = -(D.T / x) @ D
    step = np.linalg.solve(H, -g)
    a = 1.0
    while np.any(x0 + D @ (w + a * step) <= 0) and a > 1e-20:
      a *= 0.5
    w = w + a * step
    if float(g @ step) < 1e-28 and a == 1.0:  # Newton decrement at float64 precision
      break
  x = x0 + D @ w
  return x if np.all(x > 0) else None


def _polish(x_s: HostArray, N: HostArray, G: HostArray) -> HostArray:
  """Refines a barrier solution to machine precision on its active face.

  Constraints with slack below a threshold become equalities; the point is projected onto them and
  Newton maximizes the entropy there. Weakly active constraints (zero multiplier) leave slacks of
  order ``t^{-1/2}`` at the barrier's end, so several thresholds are tried; the feasible candidate
  with the highest entropy wins, and the barrier point stands if none beats it.
  """
  sums = N.sum(axis=0)
  best, best_h = x_s, _entropy(x_s)
  slack = -(G @ x_s)
  for threshold in (1e-9, 1e-7, 1e-5, 1e-3):
    active = slack < threshold
    M = np.vstack([sums[None, :], G[active] @ N])
    rhs = np.concatenate([[1.0], np.zeros(int(active.sum()))])
    w = N.T @ x_s
    w = w - np.linalg.lstsq(M, M @ w - rhs, rcond=None)[0]
    x_p = _max_entropy_on_affine(N @ w, N @ _null_space(M))
    if x_p is None or np.any(G @ x_p > 1e-13):
      continue
    h = _entropy(x_p)
    if h >= best_h - 1e-12:
      best, best_h = x_p, max(h, best_h)
  return best


def _solve_one(P: HostArray, tol: float) -> HostArray:
  n = P.shape[0]
  A = 0.5 * (P - P.T)
  support, x_lp, vertex = _support(A)
  S = np.flatnonzero(support)
  out = np.flatnonzero(~support)
  B = A[np.ix_(S, S)]
  N = _null_space(B)  # [k, r]: equilibria on S lie in span(N) with sum 1
  if N.shape[1] > 1 and vertex:  # a face of equilibria: start from the central LP point
    _, x_lp = _strictly_complementary_support(A)
  x_bar = N @ (N.T @ x_lp[S]) if N.shape[1] else x_lp[S]
  x_bar = x_bar / x_bar.sum()
  if N.shape[1] > 1 and np.all(x_bar > 0):
    sums = N.sum(axis=0)
    D = N @ _null_space(sums[None, :])  # directions inside the affine hull
    G = A[np.ix_(out, S)]
    x_s = _max_entropy_barrier(x_bar, D, G)
    x_s = _polish(x_s, N, G)
  else:
    x_s = x_bar
  x = np.zeros(n)
  x[S] = np.clip(x_s, 0.0, None)
  x /= x.sum()
  if not np.all(np.isfinite(x)):
    raise RuntimeError("maximal_lottery: the refinement produced non-finite values.")
  game = 0.5 + A  # P's antisymmetric part: P itself up to rounding (float32 data: ~1e-8).
  gap = _duality_gap(game, x)
  if gap > tol:
    # Fall back on the LP's own equilibrium before giving up.
    gap_lp = _duality_gap(game, x_lp)
    if gap_lp > tol:
      raise RuntimeError(
        f"maximal_lottery: certified duality gap {min(gap, gap_lp):.3g} exceeds tol={tol:g}."
      )
    x = x_lp
  return x


def _solve_batch(P: HostArray, tol: float, atol: float) -> HostArray:
  P = validate_preference_matrix(P, atol=atol).astype(np.float64)
  flat = P.reshape(-1, *P.shape[-2:])
  out = np.stack([_solve_one(g, tol) for g in flat])
  return out.reshape(P.shape[:-1])


def maximal_lottery(P: ArrayLike, *, tol: float = 1e-9, atol: float = 1e-6) -> HostArray | Array:
  r"""Exact maximum-entropy Nash equilibrium (maximal lottery) of preference games.

  Returns the unique :math:`x^*` maximizing :math:`H(x) = -\sum_i x_i \log x_i` over the equilibria
  :math:`\{x \in \Delta_n : (P x)_i \le 1/2 \ \forall i\}` of the symmetric constant-sum game
  :math:`x^\top P y`: the maximal lottery of Fishburn (1984), the von Neumann / minimax winner of
  NLHF and SPO. A Condorcet winner gets mass 1; strategies outside the common support of all
  equilibria, dominated ones included, get exactly 0; identical (duplicated) strategies share their
  mass equally. The algorithm (an LP for the support, exact null-space refinement, a barrier method
  plus Newton polishing for the entropy) is described in the module docstring.

  Every returned equilibrium is certified in float64:
  :math:`\max_i (Px)_i - \min_j (x^\top P)_j \le` ``tol``, else ``RuntimeError``.

  Runs on the host (HiGHS via SciPy) and loops over the leading axes. Called with concrete arrays it
  returns a float64 ``numpy`` array. Called on a tracer (inside ``jit`` or ``vmap``) it runs through
  ``jax.pure_callback`` and returns an array of ``P``'s dtype; enable ``jax_enable_x64`` to keep the
  certified precision there. Under tracing a wrong shape still raises ``ValueError``, but a game
  that fails validation or certification cannot raise: its row is NaN (nothing is printed). The
  certificate is the duality gap in ``(P - P^T)/2 + 1/2``, which is ``P`` up to rounding.

  Args:
    P: ``[..., n, n]`` preference matrices (validated with ``validate_preference_matrix``).
    tol: the duality gap every returned equilibrium must certify.
    atol: tolerance of the preference-matrix validation.

  Returns:
    ``[..., n]`` maximum-entropy equilibria.

  Raises:
    ValueError: if ``P`` is not a preference matrix (see ``validate_preference_matrix``).
    RuntimeError: if the LP fails or the certificate cannot be met.

  References:
    Fishburn, Probabilistic social choice based on simple voting comparisons, Rev. Econ. Stud. 1984;
    Munos et al., Nash Learning from Human Feedback, ICML 2024, https://arxiv.org/abs/2312.00886;
    Balduzzi et al., Re-evaluating evaluation, NeurIPS 2018, https://arxiv.org/abs/1806.02643

  Examples:
    >>> import numpy as np
    >>> rps = np.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    >>> np.round(maximal_lottery(rps), 6)
    array([0.333333, 0.333333, 0.333333])
    >>> clones = rps[np.ix_([0, 0, 1, 2], [0, 0, 1, 2])]  # rock duplicated
    >>> np.round(maximal_lottery(clones), 6)
    array([0.166667, 0.166667, 0.333333, 0.333333])
  """
  if isinstance(P, jax.core.Tracer):
    result = jax.ShapeDtypeStruct(P.shape[:-1], P.dtype)

    check_preference_shape(P.shape, P.dtype)  # Static: a plain ValueError at trace time.

    def one(g):  # An exception in a callback is printed by the runtime: NaN marks the game.
      try:
        return _solve_batch(g, tol, atol)
      except (ValueError, RuntimeError, np.linalg.LinAlgError):
        return np.full(g.shape[:-1], np.nan)

    def host(p):
      p = np.asarray(p)
      flat = p.reshape(-1, *p.shape[-2:])
      return np.stack([one(g) for g in flat]).reshape(p.shape[:-1]).astype(p.dtype)

    return jax.pure_callback(host, result, P, vmap_method="broadcast_all")
  return _solve_batch(np.asarray(P), tol, atol)
