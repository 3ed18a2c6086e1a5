"""Exact Kemeny rankings by integer programming: time against m, and against pref_voting.

  python benchmarks/kemeny_ilp.py [--profiles 5] [--voters 51] [--repeats 5]

Part 1, side by side at m = 6, 7, 8 (impartial culture, ``--voters`` voters, ``--profiles``
profiles per m): jaxpref's ``kemeny_ilp`` (one optimal ranking), ``kemeny_winners`` (all tied
first places: the same answer as the enumerating rules) and ``kemeny_young`` (m! enumeration),
and pref_voting's ``kemeny_young`` (enumeration; the ``[bench]`` extra, skipped when missing).
Every method's winners are checked equal; times are medians over ``--repeats`` per profile,
summed over the profiles; ratio = pref_voting / jaxpref.

Part 2, time against m for ``kemeny_ilp`` alone: uniform random profiles (the hard case) at
m = 10, 20, 30, 40, 50 and Mallows profiles (phi = 0.8, a shared centre ranking) at m = 40, 60,
``--voters`` voters, ``--profiles`` profiles per row (one call each: the median and the largest
time, with the cuts and rounds of the slowest). Every answer is certified optimal.
"""

import argparse
import platform
import statistics
import time

import numpy as np
import scipy
from _timing import median_seconds as _time

from jaxpref import social


def _uniform(rng: np.random.Generator, m: int, voters: int) -> np.ndarray:
  return np.argsort(rng.random((voters, m)), axis=1)


def _mallows(rng: np.random.Generator, m: int, voters: int, phi: float = 0.8) -> np.ndarray:
  """Repeated insertion: the centre's i-th item goes to place j <= i w.p. ∝ phi^(i - j)."""
  centre = rng.permutation(m)
  rows = []
  for _ in range(voters):
    row: list[int] = []
    for i, c in enumerate(centre):
      p = phi ** (i - np.arange(i + 1))
      row.insert(int(rng.choice(i + 1, p=p / p.sum())), int(c))
    rows.append(row)
  return np.array(rows)


def _pref_voting():
  try:
    from pref_voting.other_methods import kemeny_young
    from pref_voting.profiles import Profile
  except ImportError:
    return None
  return lambda rankings: kemeny_young(Profile(rankings.tolist()))


def main() -> None:
  """Prints the two tables."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--profiles", type=int, default=5)
  parser.add_argument("--voters", type=int, default=51)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  cpu = platform.processor() or platform.machine()
  print(f"scipy {scipy.__version__} (HiGHS) on {cpu}, {args.voters} voters")
  rng = np.random.default_rng(0)
  peer = _pref_voting()
  if peer is None:
    print("pref_voting is not installed: its column is empty (pip install -e '.[bench]').")

  print(f"\n{args.profiles} impartial-culture profiles per m; seconds summed over the profiles")
  widths = {"m": 3, "kemeny_ilp": 11, "kemeny_winners": 15, "kemeny_young": 13}
  widths |= {"pref_voting": 12, "pv/ilp": 8, "pv/win": 8}
  print(" ".join(f"{name:>{w}}" for name, w in widths.items()))
  for m in (6, 7, 8):
    t = dict.fromkeys(("ilp", "winners", "enum", "peer"), 0.0)
    for _ in range(args.profiles):
      rankings = _uniform(rng, m, args.voters)
      p = social.Profile.from_rankings(rankings)
      winners = social.kemeny_young(p)
      assert social.kemeny_winners(p) == winners
      assert social.kemeny_ilp(p).ranking[0] in winners
      t["ilp"] += _time(lambda p=p: social.kemeny_ilp(p), args.repeats)
      t["winners"] += _time(lambda p=p: social.kemeny_winners(p), args.repeats)
      t["enum"] += _time(lambda p=p: social.kemeny_young(p), args.repeats, warmup=False)
      if peer is not None:
        assert sorted(peer(rankings)) == winners
        t["peer"] += _time(lambda r=rankings: peer(r), args.repeats, warmup=False)
    theirs = (
      f"{t['peer']:12.4f} {t['peer'] / t['ilp']:7.1f}x {t['peer'] / t['winners']:7.1f}x"
      if peer is not None
      else f"{'-':>12} {'-':>8} {'-':>8}"
    )
    print(f"{m:>3} {t['ilp']:11.4f} {t['winners']:15.4f} {t['enum']:13.4f} {theirs}")

  print(f"\nkemeny_ilp alone, {args.profiles} profiles per row (one call each)")
  print(
    f"{'profiles':<9} {'m':>3} {'median s':>9} {'max s':>8} {'cuts':>6} {'rounds':>6} "
    f"{'disagreements':>13}"
  )
  for kind, sizes, sample in (
    ("uniform", (10, 20, 30, 40, 50), _uniform),
    ("Mallows", (40, 60), _mallows),
  ):
    for m in sizes:
      runs = []
      for _ in range(args.profiles):
        p = social.Profile.from_rankings(sample(rng, m, args.voters))
        start = time.perf_counter()
        r = social.kemeny_ilp(p)
        runs.append((time.perf_counter() - start, r))
        assert r.optimal and r.lower_bound == r.disagreements
      slowest = max(runs, key=lambda run: run[0])
      med = statistics.median(s for s, _ in runs)
      r = slowest[1]
      print(
        f"{kind:<9} {m:>3} {med:9.3f} {slowest[0]:8.3f} {r.cuts:>6} {r.rounds:>6} "
        f"{r.disagreements:13.0f}"
      )


if __name__ == "__main__":
  main()
