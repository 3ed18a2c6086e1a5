r"""Generative social choice at the oracle level: a proportional slate from a finite pool.

n agents have utilities ``U[i, s]`` for S candidate statements. A slate of k statements matches
every agent to one statement, n/k agents each. Balanced justified representation (BJR): no
statement s, level l and group of at least n/k agents who all have ``U[i, s] >= l`` while each
gets less than l from its matched statement. The greedy process (exact queries) picks, k times,
the statement and level with the largest l supported by n/k of the remaining agents, matches
those agents, and removes them; it satisfies BJR.

References:
  Fish, Goelz, Parkes, Procaccia, Rusak, Shapira, Wuethrich, Generative social choice, 2023.
  https://arxiv.org/abs/2309.01291
"""

from typing import Any

import numpy as np

from jaxpref.types import ArrayLike, HostArray


def _utilities(U: ArrayLike, k: int) -> HostArray:
  U = np.asarray(U, np.float64)
  if U.ndim != 2 or U.shape[0] == 0 or U.shape[1] == 0:
    raise ValueError(f"utilities must be a non-empty [agents, statements] array; got {U.shape}.")
  if not np.all(np.isfinite(U)):
    raise ValueError("utilities must be finite.")
  if k < 1 or U.shape[0] % k:
    raise ValueError(f"the slate size k = {k} must divide the number of agents {U.shape[0]}.")
  return U


def greedy_slate(U: ArrayLike, k: int) -> tuple[list[int], HostArray]:
  """The greedy BJR slate.

  Args:
    U: ``[n, S]`` utilities of n agents for S statements.
    k: slate size (divides n).

  Returns:
    ``(slate, match)``: the k chosen statements (repeats allowed) and ``[n]`` the slot index each
    agent is matched to.
  """
  U = _utilities(U, k)
  n, _ = U.shape
  size = n // k
  remaining = np.ones(n, bool)
  match = np.full(n, -1)
  slate: list[int] = []
  for slot in range(k):
    # For each statement, the size-th largest utility among the remaining agents is the best level
    # that `size` of them reach.
    vals = np.where(remaining[:, None], U, -np.inf)
    level = -np.sort(-vals, axis=0)[size - 1]
    s = int(np.argmax(level))
    order = np.argsort(-vals[:, s], kind="stable")[:size]
    match[order] = slot
    remaining[order] = False
    slate.append(s)
  return slate, match


def check_bjr(U: ArrayLike, slate: list[int], match: ArrayLike) -> dict[str, Any] | None:
  """A BJR violation ``{"statement", "level", "agents"}`` or None.

  Args:
    U: ``[n, S]`` utilities.
    slate: the k statements.
    match: ``[n]`` slot of each agent (n/k agents per slot).

  Returns:
    The first violation found, or None.
  """
  k = len(slate)
  U = _utilities(U, k)
  match = np.asarray(match)
  n = U.shape[0]
  if match.shape != (n,) or np.any(np.bincount(match, minlength=k) != n // k):
    raise ValueError(f"match must put exactly n/k = {n // k} agents in each of the {k} slots.")
  own = U[np.arange(n), np.asarray(slate)[match]]
  for s in range(U.shape[1]):
    for level in np.unique(U[:, s]):
      group = np.flatnonzero((U[:, s] >= level) & (own < level))
      if len(group) >= n // k:
        return {"statement": s, "level": float(level), "agents": group.tolist()}
  return None
