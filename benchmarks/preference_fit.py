"""Bradley-Terry maximum a posteriori fits: jaxpref.preference.fit against choix, same data.

  python benchmarks/preference_fit.py [--repeats 5] [--alpha 0.01] [--data ../shared/data]

Data: LLMFAO crowd judgments (8,931 comparisons of 59 LLMs, shipped with jaxpref), Premier League
football (1,900 matches, 29 teams) and SoundQuality (21,924 comparisons, 8 items) when the shared
folder is there. choix has no ties, so a tie is one win each way; jaxpref fits the same
objective (outcome 1/2 with weight 2, ``l2 = alpha``). Reports the median wall time of a fit
(jaxpref after its one-off compile, which is listed apart), the largest score difference to
choix's Newton-CG at a tight tolerance, and the ratio to jaxpref's time. Peers:
``choix.opt_pairwise`` (Newton-CG, its default; and BFGS) and ``choix.ilsr_pairwise`` (iterative
Luce spectral ranking).
"""

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from jaxpref import data  # noqa: E402
from jaxpref import preference as pm  # noqa: E402


def _tables(root: str) -> dict[str, data.Comparisons]:
  tables = {"llmfao": data.load_llmfao()}
  football = os.path.join(root, "paircomp", "football.csv")
  if os.path.exists(football):
    tables["football"] = data.load_comparisons(
      football, item_a="home", item_b="away", annotator="season"
    )
  sound = os.path.join(root, "paircomp", "SoundQuality.csv")
  if os.path.exists(sound):
    tables["soundquality"] = data.load_comparisons(sound)
  return tables


def _choix_data(table: data.Comparisons) -> list[tuple[int, int]]:
  wins = []
  for a, b, y in zip(table.item_a.tolist(), table.item_b.tolist(), table.outcome, strict=True):
    if y == 1.0:
      wins.append((a, b))
    elif y == 0.0:
      wins.append((b, a))
    else:
      wins += [(a, b), (b, a)]
  return wins


def _time(fn, repeats: int) -> tuple[float, np.ndarray]:
  times, out = [], None
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times), np.asarray(out)


def main() -> None:
  """Runs the comparison and prints one table per dataset."""
  import importlib.metadata

  import choix

  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--alpha", type=float, default=0.01)
  shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
  parser.add_argument("--data", default=shared)
  args = parser.parse_args()
  version = importlib.metadata.version("choix")
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}, choix {version}")
  print("| data | K | n | method | ms/fit | max abs score diff | ratio |")
  print("|---|---|---|---|---|---|---|")
  for name, table in _tables(args.data).items():
    wins = _choix_data(table)
    n = table.num_items
    reference = choix.opt_pairwise(n, wins, alpha=args.alpha, tol=1e-12)
    pairs = pm.pairs_from_table(table)
    pairs = pairs._replace(weight=jnp.where(pairs.outcome == 0.5, 2.0, 1.0))
    model = pm.BradleyTerry(n, l2=args.alpha)
    start = time.perf_counter()
    jax.block_until_ready(pm.fit(model, pairs))
    compile_s = time.perf_counter() - start

    def ours(model=model, pairs=pairs):
      return jax.block_until_ready(pm.fit(model, pairs).params["scores"])

    methods = {
      "jaxpref fit (L-BFGS, jit)": ours,
      "choix opt_pairwise Newton-CG": lambda n=n, w=wins: choix.opt_pairwise(
        n, w, alpha=args.alpha
      ),
      "choix opt_pairwise BFGS": lambda n=n, w=wins: choix.opt_pairwise(
        n, w, alpha=args.alpha, method="BFGS"
      ),
      "choix ilsr_pairwise": lambda n=n, w=wins: choix.ilsr_pairwise(n, w, alpha=args.alpha),
    }
    base = None
    for method, fn in methods.items():
      seconds, scores = _time(fn, args.repeats)
      base = base or seconds
      diff = np.max(np.abs((scores - scores.mean()) - reference))
      print(
        f"| {name} | {len(wins)} | {n} | {method} | {1e3 * seconds:.2f} | {diff:.1e} | "
        f"{seconds / base:.1f} |"
      )
    print(f"| {name} | | | jaxpref one-off compile + first fit | {1e3 * compile_s:.0f} | | |")


if __name__ == "__main__":
  main()
