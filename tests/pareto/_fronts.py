"""Random fronts shared by the Pareto tests: padded to one size with a valid mask."""

import numpy as np


def random_fronts(seed: int, count: int, m: int, max_n: int = 40):
  """``count`` fronts of 3..max_n points in [0, 1]^m, padded to ``max_n`` rows.

  Points are drawn near a spherical front (so most are mutually non-dominated) mixed with uniform
  points, rounded to 2 decimals so duplicates and ties occur, and some lie outside the reference
  point (1, ..., 1).

  Returns:
    ``(F [count, max_n, m], valid [count, max_n], sizes [count])``.
  """
  rng = np.random.default_rng(seed)
  F = np.zeros((count, max_n, m))
  valid = np.zeros((count, max_n), dtype=bool)
  sizes = rng.integers(3, max_n + 1, size=count)
  for k, n in enumerate(sizes):
    g = np.abs(rng.normal(size=(n, m)))
    sphere = 1.0 - g / np.linalg.norm(g, axis=1, keepdims=True) * rng.uniform(0.6, 1.0, (n, 1))
    uniform = rng.uniform(0.0, 1.1, (n, m))
    pick = rng.uniform(size=(n, 1)) < 0.7
    F[k, :n] = np.round(np.where(pick, sphere, uniform), 2)
    valid[k, :n] = True
  return F, valid, sizes
