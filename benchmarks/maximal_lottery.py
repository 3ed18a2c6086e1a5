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

jax.config.update("jax_enable_x64", True)

from _peers import highspy_lp, nashpy_lp, scipy_lp  # noqa: E402

from jaxpref import games  # noqa: E402
from jaxpref.equilibria import maximal_lottery  # noqa: E402


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
