"""Bootstrap leaderboards: 1,000 Bradley-Terry refits as one compiled program vs choix in a loop.

  python benchmarks/arena_bootstrap.py [--resamples 1000] [--choix-fits 20] [--alpha 0.01]

Data: LLMFAO crowd judgments (8,931 comparisons of 59 LLMs, shipped with jaxpref). The objective
is the one of ``benchmarks/preference_fit.py`` (a tie as one win each way, ``l2 = alpha``, choix's
``alpha``), so every method fits the same MAP estimate. jaxpref: ``arena.bootstrap_leaderboard``
(the full fit plus ``--resamples`` multinomial resamples refitted by vmapped, warm-started L-BFGS
in one ``jit``), timed after its compile (listed apart). choix: a Python loop that expands each
resample's counts into a list of wins and calls ``opt_pairwise`` (Newton-CG, its default) or
``ilsr_pairwise``; ``--choix-fits`` resamples are timed and the per-fit time is multiplied out to
``--resamples`` (the loop is linear in the number of fits). The score difference is the largest
gap between jaxpref's and choix's Newton-CG fit of the same resamples, after centring.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from jaxpref import arena, data  # noqa: E402
from jaxpref import preference as pm  # noqa: E402


def _pairs(table: data.Comparisons) -> tuple[pm.Pairs, np.ndarray, np.ndarray]:
  """Decisive rows as wins; a tie as two rows, one win each way (choix has no ties)."""
  a, b, y = table.item_a, table.item_b, table.outcome
  tie = y == 0.5
  winner = np.concatenate([np.where(y >= 0.5, a, b), b[tie]])
  loser = np.concatenate([np.where(y >= 0.5, b, a), a[tie]])
  return pm.make_pairs(winner, loser, np.ones(len(winner))), winner, loser


def main() -> None:
  """Times both sides on the same resamples and prints the table."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--resamples", type=int, default=1000)
  parser.add_argument("--choix-fits", type=int, default=20)
  parser.add_argument("--alpha", type=float, default=0.01)
  args = parser.parse_args()
  table = data.load_llmfao()
  pairs, winner, loser = _pairs(table)
  n, rows = table.num_items, len(winner)
  model = pm.BradleyTerry(n, l2=args.alpha)
  key = jax.random.key(0)

  def run() -> arena.BootstrapLeaderboard:
    board = arena.bootstrap_leaderboard(model, pairs, key, num_resamples=args.resamples)
    return jax.block_until_ready(board)

  start = time.perf_counter()
  board = run()
  first = time.perf_counter() - start
  times = []
  for _ in range(3):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  ours = statistics.median(times)
  weights = np.asarray(arena.resample_weights(key, rows, args.resamples))
  print(
    f"LLMFAO crowd, {rows} rows (ties as a win each way), n = {n}, alpha = {args.alpha}, "
    f"{args.resamples} resamples; converged {float(jnp.mean(board.converged)):.3f}"
  )
  print(f"{'method':44s} {'s total':>9s} {'ms/fit':>9s} {'ratio':>7s} {'max diff':>9s}")
  per = ours / (args.resamples + 1)
  print(f"{'jaxpref bootstrap_leaderboard (one jit)':44s} {ours:9.2f} {1e3 * per:9.2f} {1.0:7.1f}")
  print(f"{'  compile + first run':44s} {first:9.2f}")
  try:
    import choix
  except ImportError:
    print("choix is not installed (pip install -e '.[bench]'): no peer timing")
    return
  k = min(args.choix_fits, args.resamples)
  for name, fit in (
    ("choix opt_pairwise Newton-CG, Python loop", lambda d: choix.opt_pairwise(n, d, args.alpha)),
    ("choix ilsr_pairwise, Python loop", lambda d: choix.ilsr_pairwise(n, d, args.alpha)),
  ):
    diffs, start = [], time.perf_counter()
    for r in range(k):
      counts = weights[r].astype(int)
      wins, losses = np.repeat(winner, counts).tolist(), np.repeat(loser, counts).tolist()
      d = list(zip(wins, losses, strict=True))
      theta = fit(d)
      diffs.append(np.max(np.abs((theta - theta.mean()) - np.asarray(board.samples[r]))))
    each = (time.perf_counter() - start) / k
    total = each * (args.resamples + 1)
    print(
      f"{name:44s} {total:9.2f} {1e3 * each:9.2f} {total / ours:7.1f} {max(diffs):9.1e}"
      f"   ({k} fits timed)"
    )


if __name__ == "__main__":
  main()
