"""`equilibria.solve`'s first call in a fresh process: cold and warm executable cache, and off.

  python benchmarks/solve_compile.py [--sizes 10:1000,50:1000,200:100] [--rounds 2]

Each measurement is a new Python process (so nothing is compiled yet) that solves the same
uniform random games (float32, tol 1e-4) twice: the first call's wall time minus the second's is
the first call's overhead ("compile"). Three settings per size, in alternating rounds: ``off``
(``JAXPREF_CACHE_DIR=""``, every process compiles), ``cold`` (a new, empty cache folder: compile
and write the executable) and ``warm`` (the folder the cold run filled: load it). Also printed:
the seconds XLA spent compiling (JAX's backend-compile events), which the warm run should not
spend on the solver's program.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_CHILD = """
import json, sys, time
import jax, jax.numpy as jnp
from jaxpref import equilibria
from jaxpref.games import uniform_random_game
n, games = int(sys.argv[1]), int(sys.argv[2])
P = uniform_random_game(jax.random.key(n), n, (games,)).astype(jnp.float32)
jax.block_until_ready(P)
compile_s = [0.0]
def listen(event, seconds, **kw):
  if event == "/jax/core/compile/backend_compile_duration":
    compile_s[0] += seconds
jax.monitoring.register_event_duration_secs_listener(listen)
start = time.perf_counter()
first = equilibria.solve(P, tol=1e-4)
jax.block_until_ready(first)
first_s = time.perf_counter() - start
start = time.perf_counter()
jax.block_until_ready(equilibria.solve(P, tol=1e-4))
warm_s = time.perf_counter() - start
print(json.dumps({"first": first_s, "warm": warm_s, "xla": compile_s[0],
                  "converged": bool(first.converged.all())}))
"""


def _run(n: int, games: int, cache: str) -> dict:
  env = {**os.environ, "JAXPREF_CACHE_DIR": cache}
  out = subprocess.run(
    [sys.executable, "-c", _CHILD, str(n), str(games)],
    env=env,
    capture_output=True,
    text=True,
    check=True,
  )
  return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
  """Runs every size and setting and prints one table."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="10:1000,50:1000,200:100")
  parser.add_argument("--rounds", type=int, default=2)
  args = parser.parse_args()
  print(f"{'n':>5} {'games':>6} {'setting':>7} {'first s':>8} {'compile s':>10} {'XLA s':>6}")
  for item in args.sizes.split(","):
    n, games = (int(v) for v in item.split(":"))
    rows: dict[str, list[dict]] = {"off": [], "cold": [], "warm": []}
    for _ in range(args.rounds):
      with tempfile.TemporaryDirectory() as folder:
        rows["off"].append(_run(n, games, ""))
        rows["cold"].append(_run(n, games, folder))
        rows["warm"].append(_run(n, games, folder))
    for setting, runs in rows.items():
      assert all(r["converged"] for r in runs)
      first = statistics.median(r["first"] for r in runs)
      overhead = statistics.median(r["first"] - r["warm"] for r in runs)
      xla = statistics.median(r["xla"] for r in runs)
      print(f"{n:>5} {games:>6} {setting:>7} {first:8.2f} {overhead:10.2f} {xla:6.2f}")


if __name__ == "__main__":
  main()
