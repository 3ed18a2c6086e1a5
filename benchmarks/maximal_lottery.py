"""Exact equilibria: jaxpref.equilibria.maximal_lottery against the LP the peers use.

  python benchmarks/maximal_lottery.py [--sizes 3,10,50,200] [--games 200]

For each n, the same uniform random games (EGPO generator) are solved by every method, each result's
duality gap is checked in float64, and the table prints ms per game and the ratio to jaxpref.
Peers: the max-v LP through scipy.optimize.linprog (HiGHS; the LP pref_voting and nashpy build),
the same LP passed straight to highspy, and nashpy's linear_program where installed. jaxpref also
selects the max-entropy equilibrium and certifies it, which the peers do not.
"""

import argparse
import time

import jax
import numpy as np
import scipy.optimize

jax.config.update("jax_enable_x64", True)

from jaxpref import games  # noqa: E402
from jaxpref.equilibria import maximal_lottery  # noqa: E402


def scipy_lp(P: np.ndarray) -> np.ndarray:
  """Solves max v s.t. P^T x >= v, x in the simplex (scipy HiGHS)."""
  n = P.shape[0]
  res = scipy.optimize.linprog(
    np.r_[np.zeros(n), -1.0],
    A_ub=np.c_[-P.T, np.ones(n)],
    b_ub=np.zeros(n),
    A_eq=np.r_[np.ones(n), 0.0][None],
    b_eq=[1.0],
    bounds=[(0, None)] * n + [(None, None)],
    method="highs",
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


def _gap(P, x):
  return float(np.max(P @ x) - np.min(x @ P))


def main() -> None:
  """Runs the comparison and prints the table."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="3,10,50,200")
  parser.add_argument("--games", type=int, default=200)
  args = parser.parse_args()
  methods = {"jaxpref maximal_lottery": lambda P: maximal_lottery(P), "scipy linprog": scipy_lp}
  for name, fn in (("highspy direct", highspy_lp), ("nashpy linear_program", nashpy_lp)):
    try:
      fn(np.array([[0.5, 0.7], [0.3, 0.5]]))
      methods[name] = fn
    except ImportError:
      print(f"({name} not installed; skipped)")
  header = f"{'n':>4} {'games':>5}  {'method':<24} {'ms/game':>9} {'games/s':>9}"
  print(f"{header} {'max gap':>9} {'ratio':>6}")
  for n in (int(s) for s in args.sizes.split(",")):
    batch = args.games if n <= 50 else max(args.games // 10, 5)
    P = np.asarray(games.uniform_random_game(jax.random.key(n), n, (batch,)))
    base = None
    for name, fn in methods.items():
      start = time.perf_counter()
      X = [fn(p) for p in P]
      ms = 1e3 * (time.perf_counter() - start) / batch
      gap = max(_gap(p, x) for p, x in zip(P, X, strict=True))
      base = base or ms
      print(f"{n:>4} {batch:>5}  {name:<24} {ms:9.2f} {1e3 / ms:9.0f} {gap:9.1e} {ms / base:6.2f}")


if __name__ == "__main__":
  main()
