"""Wall-clock timing shared by the benchmark scripts."""

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(fn: Callable[[], Any], repeats: int, *, warmup: bool = True) -> float:
  """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call if ``warmup``.

  Pass ``warmup=False`` when the caller has just made (and timed) the first call itself.
  """
  if warmup:
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def interleaved_medians(
  fns: dict[str, Callable[[], Any]], repeats: int, *, budget: float | None = None
) -> dict[str, float]:
  """Median wall time of each ``fn()``, timed in alternating rounds after one warm-up call each.

  Every round calls each function once, starting from a different one each round, so slow
  spells of a shared machine fall on all of them alike rather than on whichever ran second.
  A function whose warm-up took more than ``budget / 4`` seconds is not repeated (its warm-up
  time is returned).
  """
  times: dict[str, list[float]] = {}
  for name, fn in fns.items():
    start = time.perf_counter()
    fn()
    times[name] = [time.perf_counter() - start]
  slow = {name for name, t in times.items() if budget is not None and t[0] > budget / 4}
  names = [name for name in fns if name not in slow]
  for name in names:
    times[name] = []
  for round_ in range(repeats if names else 0):
    for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
      start = time.perf_counter()
      fns[name]()
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(t) for name, t in times.items()}
