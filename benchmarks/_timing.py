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
