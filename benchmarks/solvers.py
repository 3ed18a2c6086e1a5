"""Batched equilibria at a certified gap: jaxpref.equilibria.solve against the exact peers.

  python benchmarks/solvers.py [--sizes 10:1000,50:1000,200:100,1000:1] [--budget 20]

For each (n, batch) the same uniform random games (EGPO generator, float32 as jaxpref solves them;
the peers get the same matrices in float64, made exactly antisymmetric) are solved by jaxpref's
default `solve` (restarted projected extragradient with support polish, float32, tol 1e-4) and by
every installed peer: scipy `linprog` (HiGHS), HiGHS called directly (highspy), nashpy, OpenSpiel's
LP solver (cvxpy + ECOS) and pref_voting's maximal lottery. Every answer's duality gap is checked in
float64 and must be <= 1e-4. Peers run one game per call, each in its own subprocess (HiGHS inside
highspy and inside pref_voting's ortools cannot share a process), for at most `--budget` seconds.
Prints games/s and the ratio jaxpref / peer.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from _peers import PEERS

from jaxpref.equilibria import solve
from jaxpref.games import uniform_random_game

TOL = 1e-4


def gap64(P: np.ndarray, x: np.ndarray) -> np.ndarray:
  """Duality gap 2 max_i (P x)_i - 1 in float64 (P exactly antisymmetric)."""
  x = np.asarray(x, np.float64)
  x = np.clip(x, 0, None)
  x = x / x.sum(-1, keepdims=True)
  return 2 * np.max(np.einsum("...ij,...j->...i", P, x), -1) - 1


def run_peer(name: str, games_file: str, budget: float) -> dict:
  """Solves games one per call until the budget is spent (runs inside a subprocess)."""
  fn = PEERS[name]
  games = np.load(games_file)
  fn(games[0])  # imports and first-call setup are not timed
  times, gaps = [], []
  for P in games:
    t = time.perf_counter()
    x = fn(P)
    times.append(time.perf_counter() - t)
    gaps.append(float(gap64(P, x)))
    if sum(times) > budget:
      break
  return {"games": len(times), "seconds": sum(times), "max_gap": max(gaps)}


def peer_subprocess(name: str, games_file: str, budget: float) -> dict:
  """Runs one peer in a fresh process and returns its JSON summary (or an error)."""
  cmd = [
    sys.executable,
    __file__,
    "--peer",
    name,
    "--games-file",
    games_file,
    "--budget",
    str(budget),
  ]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=budget * 4 + 600)
  if out.returncode != 0:
    last = (out.stderr.strip().splitlines() or ["failed"])[-1]
    return {"error": last[:80]}
  return json.loads(out.stdout.strip().splitlines()[-1])


def bench_jaxpref(P32: jax.Array, repeats: int = 3) -> dict:
  """Times jaxpref's default solve: the first call (with compilation) and a median of repeats."""
  t = time.perf_counter()
  result = solve(P32, tol=TOL)
  result.gap.block_until_ready()
  first = time.perf_counter() - t
  runs = []
  for _ in range(repeats):
    t = time.perf_counter()
    result = solve(P32, tol=TOL)
    result.gap.block_until_ready()
    runs.append(time.perf_counter() - t)
  seconds = float(np.median(runs))
  return {
    "seconds": seconds,
    "compile": first - seconds,
    "policy": np.asarray(result.policy),
    "converged": bool(result.converged.all()),
    "steps_median": float(np.median(result.num_steps)),
    "steps_max": int(result.num_steps.max()),
    "queries_mean": float(np.mean(result.num_queries)),
  }


def main() -> None:
  """Runs every size, prints per-size lines and a markdown table."""
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--sizes", default="10:1000,50:1000,200:100,1000:1")
  parser.add_argument("--budget", type=float, default=20.0, help="seconds per peer and size")
  parser.add_argument("--peers", default=",".join(PEERS))
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--peer", help=argparse.SUPPRESS)
  parser.add_argument("--games-file", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.peer:
    print(json.dumps(run_peer(args.peer, args.games_file, args.budget)))
    return

  print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; tol {TOL}; float32 jaxpref")
  rows = []
  for spec in args.sizes.split(","):
    n, batch = (int(v) for v in spec.split(":"))
    P32 = uniform_random_game(jax.random.key(args.seed + n), n, (batch,)).astype(jnp.float32)
    p64 = np.asarray(P32, np.float64)
    p64 = (p64 + 1.0 - np.swapaxes(p64, -1, -2)) / 2  # exactly P + P^T = 1
    jp = bench_jaxpref(P32)
    g = gap64(p64, jp["policy"])
    ok = jp["converged"] and g.max() <= TOL
    jp_rate = batch / jp["seconds"]
    print(
      f"\nn={n} batch={batch}: jaxpref {jp_rate:,.0f} games/s ({jp['seconds'] * 1e3:.1f} ms/batch, "
      f"compile {jp['compile']:.2f} s), max gap {g.max():.1e} ({'ok' if ok else 'FAILED'}), "
      f"steps median {jp['steps_median']:.0f} max {jp['steps_max']}, "
      f"queries/game {jp['queries_mean']:.0f}"
    )
    rows.append((n, batch, "jaxpref solve", jp_rate, g.max(), 1.0))
    with tempfile.TemporaryDirectory() as tmp:
      games_file = os.path.join(tmp, "games.npy")
      np.save(games_file, p64)
      for name in args.peers.split(","):
        r = peer_subprocess(name, games_file, args.budget)
        if "error" in r:
          print(f"  {name:30s} unavailable: {r['error']}")
          continue
        rate = r["games"] / r["seconds"]
        print(
          f"  {name:30s} {rate:10,.1f} games/s over {r['games']} games, "
          f"max gap {r['max_gap']:.1e}; "
          f"jaxpref is {jp_rate / rate:,.1f}x"
        )
        rows.append((n, batch, name, rate, r["max_gap"], jp_rate / rate))
  print("\n| n | batch | method | games/s | max gap (float64) | jaxpref speed-up |")
  print("|---|---|---|---|---|---|")
  for n, batch, name, rate, gap, ratio in rows:
    print(f"| {n} | {batch} | {name} | {rate:,.1f} | {gap:.1e} | {ratio:,.1f}x |")


if __name__ == "__main__":
  main()
