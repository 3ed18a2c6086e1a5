r"""Linear social choice (Ge et al., 2024): rankings induced by linear rewards of features.

Candidates have features :math:`x_c`; a rule outputs a ranking induced by
:math:`r_\theta(c) = \langle \theta, x_c \rangle`.

* :func:`linear_loss_fit` fits :math:`\theta` by minimising
  :math:`\sum_{a \ne b} w_{a \succ b}\, \ell(r_\theta(b) - r_\theta(a))` with the logistic loss
  :math:`\ell(z) = \log(1 + e^z)` (linear Bradley-Terry-Luce, the RLHF reward model), or the
  majority-based loss over the pairs with :math:`w_{a \succ b} > 1/2` only (their Thm 3.6);
* :func:`is_feasible`: does some :math:`\theta` induce a ranking strictly (an LP);
* :func:`lcpo`: leximax Copeland subject to Pareto optimality, which satisfies PO, PMC, majority
  consistency and winner monotonicity (their Thm 4.3);
* :func:`theorem_3_1_instance`: the construction on which linear BTL fails PO and PMC.

Host side (scipy): these are small LPs and smooth convex fits.

References:
  Ge, Halpern, Micha, Procaccia, Shapira, Vorobeychik, Wu, Axioms for AI alignment from human
  feedback, NeurIPS 2024. https://arxiv.org/abs/2405.14758
"""

import itertools

import numpy as np
import scipy.optimize
import scipy.special

from jaxpref.social._profile import Profile
from jaxpref.types import ArrayLike, HostArray


def _features(X: ArrayLike, profile: Profile) -> HostArray:
  X = np.asarray(X, dtype=np.float64)
  if X.ndim != 2 or X.shape[0] != profile.num_candidates:
    raise ValueError(
      f"features must be [m = {profile.num_candidates} candidates, d]; got shape {X.shape}."
    )
  if not np.all(np.isfinite(X)):
    raise ValueError("features must be finite.")
  return X


def linear_loss_fit(X: ArrayLike, profile: Profile, *, majority: bool = False) -> HostArray:
  r"""The parameter :math:`\theta` minimising the (majority-based) logistic pairwise loss.

  Args:
    X: ``[m, d]`` candidate features.
    profile: the voters' rankings; :math:`w_{a \succ b}` is the fraction preferring a to b.
    majority: use only the majority pairs (Thm 3.6's loss) instead of all pairs (BTL).

  Returns:
    ``[d]`` parameter (BFGS to a gradient norm of 1e-10; unregularised, as in the paper).
  """
  X = _features(X, profile)
  W = profile.support() / profile.num_voters
  if majority:
    W = (W > 0.5).astype(np.float64)
  a, b = np.nonzero(W > 0)
  w, D = W[a, b], X[b] - X[a]  # loss terms w * softplus(<theta, x_b - x_a>)

  def f(theta):
    z = D @ theta
    return float(np.sum(w * np.logaddexp(0.0, z))), D.T @ (w * scipy.special.expit(z))

  res = scipy.optimize.minimize(
    f, np.zeros(X.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-10}
  )
  return res.x


def induced_ranking(X: ArrayLike, theta: ArrayLike) -> list[int]:
  """Candidates sorted by reward ``X theta``, best first (ties by index)."""
  r = np.asarray(X, np.float64) @ np.asarray(theta, np.float64)
  return [int(c) for c in np.lexsort((np.arange(len(r)), -r))]


def linear_btl(X: ArrayLike, profile: Profile) -> list[int]:
  """The ranking induced by the linear BTL fit (the standard RLHF reward model)."""
  return induced_ranking(X, linear_loss_fit(X, profile))


def majority_loss_rule(X: ArrayLike, profile: Profile) -> list[int]:
  """The ranking induced by the majority-based loss (satisfies PMC, Ge et al. Thm 3.6)."""
  return induced_ranking(X, linear_loss_fit(X, profile, majority=True))


def _lp_feasible(X: HostArray, pairs: list[tuple[int, int]]) -> bool:
  """Is there theta with <theta, x_a - x_b> >= 1 for every (a, b) in pairs?"""
  if not pairs:
    return True
  A = np.array([X[b] - X[a] for a, b in pairs])
  res = scipy.optimize.linprog(
    np.zeros(X.shape[1]),
    A_ub=A,
    b_ub=-np.ones(len(pairs)),
    bounds=[(None, None)] * X.shape[1],
    method="highs",
  )
  return res.status == 0


def is_feasible(X: ArrayLike, ranking: list[int]) -> bool:
  """Whether some linear reward induces ``ranking`` (best first) strictly (an LP).

  Args:
    X: ``[m, d]`` candidate features.
    ranking: a permutation of the candidates, best first.

  Returns:
    True if some theta gives ``<theta, x_a> > <theta, x_b>`` for consecutive a above b.
  """
  X = np.asarray(X, np.float64)
  if sorted(ranking) != list(range(len(X))):
    raise ValueError(f"ranking {ranking} is not a permutation of 0..{len(X) - 1}.")
  return _lp_feasible(X, list(itertools.pairwise(ranking)))


def lcpo(X: ArrayLike, profile: Profile) -> list[int]:
  """Leximax Copeland subject to Pareto optimality (Ge et al., Sec. 4).

  Fills positions 1..m: a candidate is admissible at the next position if some linear reward
  ranks the prefix as fixed, the candidate next, above every unranked candidate, and keeps every
  Pareto pair (all voters prefer a to b) among the unranked ones; the admissible candidate with the
  most majority wins is placed (ties by index). O(m^2) small LPs.

  Args:
    X: ``[m, d]`` candidate features.
    profile: the voters' rankings.

  Returns:
    The ranking, best first (feasible by construction).
  """
  X = _features(X, profile)
  m = profile.num_candidates
  W = profile.support() / profile.num_voters
  copeland = np.sum(W > 0.5, axis=1)
  pareto_pairs = [(a, b) for a in range(m) for b in range(m) if a != b and W[a, b] >= 1 - 1e-12]
  prefix: list[int] = []
  while len(prefix) < m:
    unranked = [c for c in range(m) if c not in prefix]
    best = None
    for c in sorted(unranked, key=lambda c: (-copeland[c], c)):
      pairs = list(itertools.pairwise(prefix))
      pairs += [(prefix[-1], c)] if prefix else []
      pairs += [(c, u) for u in unranked if u != c]
      pairs += [
        (a, b) for a, b in pareto_pairs if a in unranked and b in unranked and c not in (a, b)
      ]
      if _lp_feasible(X, pairs):
        best = c
        break
    if best is None:  # cannot happen for feasible profiles; keep the Copeland order
      best = sorted(unranked, key=lambda c: (-copeland[c], c))[0]
    prefix.append(best)
  return prefix


def theorem_3_1_instance(p: float = 0.7, delta: float = 0.5, eps: float = 0.01):
  """Ge et al.'s Theorem 3.1 construction: six candidates in R^2 and two voter types.

  Candidates 0..5 are a, a', b, b', c', c with a = (2, 1), b = (1, 1), c = (0, 0),
  a' = a - (eps, 0), b' = b - (eps, 0), c' = (-eps, delta eps). A fraction p ranks
  a > a' > b > b' > c' > c and 1 - p the reverse-by-copies c' > c > b' > b > a' > a; every voter
  prefers c' to c, and the majority ranking is feasible.

  Returns:
    ``(X [6, 2], profile)``.
  """
  X = np.array(
    [[2, 1], [2 - eps, 1], [1, 1], [1 - eps, 1], [-eps, delta * eps], [0, 0]], dtype=np.float64
  )
  profile = Profile.from_rankings([[0, 1, 2, 3, 4, 5], [4, 5, 3, 2, 1, 0]], [p, 1 - p])
  return X, profile
