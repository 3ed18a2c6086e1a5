"""Seeded games shared by the solver tests (EGPO's generator, numpy default_rng)."""

import numpy as np


def egpo_game(seed: int, n: int = 10) -> tuple[np.ndarray, np.random.Generator]:
  """EGPO's random game: strict lower triangle Uniform(0, 1), upper = 1 - lower^T, diagonal 1/2."""
  rng = np.random.default_rng(seed)
  lower = np.tril(rng.uniform(size=(n, n)), -1)
  return lower + np.triu(1.0 - lower.T, 1) + 0.5 * np.eye(n), rng
