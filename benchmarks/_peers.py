"""The peers' exact equilibrium solvers, shared by the benchmark scripts.

Each takes a float64 ``[n, n]`` preference matrix and returns a policy. The LP is the max-v LP
(maximize v subject to P^T x >= v, x in the simplex) that pref_voting and nashpy also build.
"""

import numpy as np
import scipy.optimize


def scipy_lp(P: np.ndarray, method: str = "highs") -> np.ndarray:
  """Solves max v s.t. P^T x >= v, x in the simplex (scipy HiGHS)."""
  n = P.shape[0]
  res = scipy.optimize.linprog(
    np.r_[np.zeros(n), -1.0],
    A_ub=np.c_[-P.T, np.ones(n)],
    b_ub=np.zeros(n),
    A_eq=np.r_[np.ones(n), 0.0][None],
    b_eq=[1.0],
    bounds=[(0, None)] * n + [(None, None)],
    method=method,
  )
  return res.x[:n]


def highspy_lp(P: np.ndarray) -> np.ndarray:
  """The same LP passed straight to HiGHS."""
  import highspy

  n = P.shape[0]
  h = highspy.Highs()
  h.setOptionValue("output_flag", False)
  inf = highspy.kHighsInf
  lp = highspy.HighsLp()
  lp.num_col_, lp.num_row_ = n + 1, n + 1
  lp.col_cost_ = np.r_[np.zeros(n), -1.0]
  lp.col_lower_ = np.r_[np.zeros(n), -inf]
  lp.col_upper_ = np.full(n + 1, inf)
  dense = np.r_[np.c_[-P.T, np.ones(n)], np.r_[np.ones(n), 0.0][None]]
  lp.row_lower_ = np.r_[np.full(n, -inf), 1.0]
  lp.row_upper_ = np.r_[np.zeros(n), 1.0]
  lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
  lp.a_matrix_.start_ = np.arange(0, dense.size + 1, n + 1, dtype=np.int32)
  lp.a_matrix_.index_ = np.tile(np.arange(n + 1, dtype=np.int32), n + 1)
  lp.a_matrix_.value_ = dense.ravel()
  h.passModel(lp)
  h.run()
  return np.array(h.getSolution().col_value)[:n]


def nashpy_lp(P: np.ndarray) -> np.ndarray:
  """Nashpy's linear_program on the payoff P - 1/2."""
  import nashpy

  x, _ = nashpy.Game(P - 0.5).linear_program()
  return np.asarray(x)


def openspiel_lp(P: np.ndarray) -> np.ndarray:
  """OpenSpiel's zero-sum LP solver (cvxpy + ECOS) on the matrix game with payoff P - 1/2."""
  import pyspiel
  from open_spiel.python.algorithms import lp_solver

  A = P - 0.5
  game = pyspiel.create_matrix_game(A.tolist(), (-A).tolist())
  x, _, _, _ = lp_solver.solve_zero_sum_matrix_game(game)
  return np.asarray(x, dtype=np.float64).ravel()


def pref_voting_lp(P: np.ndarray) -> np.ndarray:
  """pref_voting's maximal lottery on the margin graph of P (margins 2P - 1)."""
  from pref_voting.probabilistic_methods import maximal_lottery
  from pref_voting.weighted_majority_graphs import MarginGraph

  n = P.shape[0]
  margins = 2 * P - 1
  edges = [(i, j, float(margins[i, j])) for i in range(n) for j in range(n) if margins[i, j] > 0]
  lottery = maximal_lottery(MarginGraph(list(range(n)), edges), algorithm="lp")
  return np.array([lottery.get(i, 0.0) for i in range(n)])


PEERS = {
  "scipy linprog (HiGHS)": scipy_lp,
  "highspy direct": highspy_lp,
  "nashpy linear_program": nashpy_lp,
  "OpenSpiel lp_solver": openspiel_lp,
  "pref_voting maximal_lottery": pref_voting_lp,
}
