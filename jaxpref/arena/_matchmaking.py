r"""Matchmaking: which K items an arena shows next.

Three rules, each returning ``[K]`` distinct item ids (K static):

- :func:`uniform_matchmaking`: K distinct items uniformly at random (K = 2: random pairs, the
  usual arena baseline).
- :func:`information_matchmaking`: greedy D-optimal design on the Laplace posterior of a
  Plackett-Luce model. With posterior covariance :math:`\Sigma` (of the centred strengths) and
  the current estimate :math:`\hat\theta`, showing the set :math:`S` adds the Fisher information
  of its first choice, :math:`E_S^\top A_S E_S` with
  :math:`A_S = \operatorname{diag}(p_S) - p_S p_S^\top`,
  :math:`p_S = \operatorname{softmax}(\hat\theta_S)`; the criterion is the log-determinant gain
  of the posterior precision, by the matrix determinant lemma

  .. math:: g(S) = \log\det(H + E_S^\top A_S E_S) - \log\det H
            = \log\det(I_{|S|} + A_S \Sigma_{SS}),

  the expected information gain of a Gaussian-linearized vote. It is exact for best-pick votes
  (the PL Fisher information does not depend on the outcome); for full rankings it counts the
  first choice only, a lower bound (the later choices add positive semi-definite terms). The set
  is grown greedily: the best pair (:math:`g = \log(1 + p(1-p)\,\mathrm{Var}(\theta_i -
  \theta_j))`), then one item at a time maximizing :math:`g` of the enlarged set; exact ties are
  broken at random.
- :func:`ucb_matchmaking`: K-Sort Arena's rule. The pivot is the item with the fewest
  comparisons, :math:`\arg\min_i \sum_q n_{iq}` (ties at random), and its K - 1 opponents are
  the items of largest :math:`U(i, q) = \pm|S_i - S_q| + \alpha\sqrt{\ln n / n_{iq}}`
  (:math:`n = \tfrac12 \sum_{i,q} n_{iq}` the pairs compared so far, :math:`U = \infty` for
  a pair never shown together, ties at random). The paper's formula has ``+|S_i - S_q|``
  (``exploit="different"``), while its text says exploitation favours models of *similar*
  skill, which is ``-|S_i - S_q|`` (``exploit="similar"``).

References:
  Li et al., K-Sort Arena: efficient and reliable benchmarking for generative models via K-wise
  human preferences, CVPR 2025 (arXiv 2408.14468); Auer, Cesa-Bianchi, Fischer, Finite-time
  analysis of the multiarmed bandit problem, Mach. Learn. 2002 (UCB1).
"""

import jax
import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike, PRNGKey

EXPLOIT = ("different", "similar")


def check_set_size(k: int, num_items: int) -> None:
  """Raises ``ValueError`` unless ``2 <= k <= num_items``."""
  if isinstance(k, bool) or not isinstance(k, int) or k < 2:
    raise ValueError(f"k (items shown per vote) must be an integer >= 2; got {k!r}.")
  if k > num_items:
    raise ValueError(f"k={k} items per vote is more than the {num_items} items.")


def _argmax_random_ties(key: PRNGKey, values: Array) -> Array:
  """Index of the largest value, exact ties broken uniformly at random."""
  u = jax.random.uniform(key, values.shape)
  return jnp.lexsort((u, -values))[0]


def _top_random_ties(key: PRNGKey, values: Array, k: int) -> Array:
  """Indices of the ``k`` largest values, exact ties broken uniformly at random."""
  u = jax.random.uniform(key, values.shape)
  return jnp.lexsort((u, -values))[:k]


def uniform_matchmaking(key: PRNGKey, num_items: int, k: int) -> Array:
  """``[k]`` distinct items drawn uniformly at random (in random order).

  Raises:
    ValueError: unless ``2 <= k <= num_items``.
  """
  check_set_size(k, num_items)
  return jax.random.permutation(key, num_items)[:k].astype(jnp.int32)


def set_information_gain(scores: ArrayLike, covariance: ArrayLike, members: ArrayLike) -> Array:
  r""":math:`\log\det(I + A_S \Sigma_{SS})` of the module docstring for a padded set.

  Args:
    scores: ``[n]`` current strengths :math:`\hat\theta`.
    covariance: ``[n, n]`` posterior covariance :math:`\Sigma`.
    members: ``[m]`` item ids of :math:`S`, ``-1`` for unused slots (they add nothing).

  Returns:
    The scalar gain (0 for a set of fewer than 2 items).
  """
  scores, covariance, members = map(jnp.asarray, (scores, covariance, members))
  valid = members >= 0
  idx = jnp.maximum(members, 0)
  logits = jnp.where(valid, scores[idx], -jnp.inf)
  p = jnp.where(valid, jax.nn.softmax(logits), 0.0)
  A = jnp.diag(p) - p[:, None] * p[None, :]
  sub = jnp.where(valid[:, None] & valid[None, :], covariance[idx[:, None], idx[None, :]], 0.0)
  m = members.shape[0]
  return jnp.linalg.slogdet(jnp.eye(m, dtype=sub.dtype) + A @ sub)[1]


def information_matchmaking(
  key: PRNGKey, scores: ArrayLike, covariance: ArrayLike, k: int
) -> Array:
  """``[k]`` items chosen greedily by expected information gain (the module's criterion).

  Args:
    key: PRNG key (breaks exact ties only).
    scores: ``[n]`` current PL strengths.
    covariance: ``[n, n]`` their posterior (Laplace) covariance.
    k: set size (static).

  Returns:
    ``[k]`` distinct item ids, in the order they were added.

  Raises:
    ValueError: unless ``2 <= k <= n``.
  """
  scores, covariance = jnp.asarray(scores), jnp.asarray(covariance)
  n = scores.shape[0]
  check_set_size(k, n)
  keys = jax.random.split(key, k - 1)
  # The best pair, in closed form: log(1 + p (1 - p) Var(theta_i - theta_j)).
  var = jnp.diag(covariance)
  var_diff = jnp.maximum(var[:, None] + var[None, :] - 2.0 * covariance, 0.0)
  p = jax.nn.sigmoid(scores[:, None] - scores[None, :])
  gain = jnp.log1p(p * (1.0 - p) * var_diff)
  gain = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, gain)
  flat = _argmax_random_ties(keys[0], gain.reshape(-1))
  flat = flat.astype(jnp.int32)
  members = jnp.full(k, -1, jnp.int32).at[0].set(flat // n).at[1].set(flat % n)
  candidates = jnp.arange(n, dtype=jnp.int32)

  def add(slot, members):
    def with_candidate(q):
      return set_information_gain(scores, covariance, members.at[slot].set(q))

    gains = jax.vmap(with_candidate)(candidates)
    taken = jnp.any(candidates[:, None] == members[None, :], axis=1)
    best = _argmax_random_ties(keys[slot - 1], jnp.where(taken, -jnp.inf, gains))
    return members.at[slot].set(best.astype(jnp.int32))

  return jax.lax.fori_loop(2, k, add, members)


def ucb_matchmaking(
  key: PRNGKey,
  scores: ArrayLike,
  counts: ArrayLike,
  k: int,
  *,
  alpha: float | Array = 1.0,
  exploit: str = "different",
) -> Array:
  r"""``[k]`` items by K-Sort Arena's UCB rule: the least-compared pivot and its best opponents.

  Args:
    key: PRNG key (breaks exact ties).
    scores: ``[n]`` leaderboard scores :math:`S` (K-Sort: the conservative score).
    counts: ``[n, n]`` :math:`n_{iq}`, how often ``i`` and ``q`` were compared (symmetric).
    k: set size (static).
    alpha: the exploration weight :math:`\alpha`.
    exploit: ``"different"`` (``+|S_i - S_q|``, the paper's formula) or ``"similar"``
      (``-|S_i - S_q|``, the paper's text).

  Returns:
    ``[k]`` distinct item ids, the pivot first.

  Raises:
    ValueError: unless ``2 <= k <= n``, or on an unknown ``exploit``.
  """
  if exploit not in EXPLOIT:
    raise ValueError(f"Unknown exploit {exploit!r}; choose one of {', '.join(EXPLOIT)}.")
  scores, counts = jnp.asarray(scores), jnp.asarray(counts)
  n = scores.shape[0]
  check_set_size(k, n)
  key_pivot, key_rest = jax.random.split(key)
  totals = jnp.sum(counts, axis=1)
  pivot = _argmax_random_ties(key_pivot, -totals.astype(scores.dtype))
  comparisons = jnp.sum(counts).astype(scores.dtype) / 2.0  # pairs compared so far
  n_iq = counts[pivot].astype(scores.dtype)
  log_n = jnp.log(jnp.maximum(comparisons, 1.0))
  bonus = jnp.where(n_iq > 0, alpha * jnp.sqrt(log_n / jnp.maximum(n_iq, 1.0)), jnp.inf)
  gap = jnp.abs(scores - scores[pivot])
  u = (gap if exploit == "different" else -gap) + bonus
  u = u.at[pivot].set(-jnp.inf)
  opponents = _top_random_ties(key_rest, u, k - 1)
  return jnp.concatenate([pivot[None], opponents]).astype(jnp.int32)
