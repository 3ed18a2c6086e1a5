r"""An online K-wise arena simulated from a known Plackett-Luce model, one vote per step.

Each step (:func:`arena_step`) picks K items by a matchmaking rule, draws a vote on them from
the true model (:func:`~jaxpref.arena.sample_kwise_vote`), records it and updates the
leaderboard with one estimator:

- ``"pl"``: the vote is written into a fixed buffer of ``capacity`` Rankings rows (future rows
  carry weight 0, so the shape never changes inside ``lax.scan``) and the Plackett-Luce MAP is
  refitted on all votes so far by ``max_steps`` damped Newton steps warm-started at the previous
  fit (:func:`newton_refit`). From a warm start two steps land within round-off of
  :func:`~jaxpref.preference.fit_rankings`'s L-BFGS optimum once a few votes are in, at a fixed
  cost without a ``while_loop``, which is what makes a refit per vote affordable. A step may skip
  the refit (``refit=False``) to refit every few votes only; the leaderboard is then the last
  fit's.
- ``"thurstone"``: K-Sort Arena's K-wise Thurstone update; leaderboard = conservative score.
- ``"elo"``: online Elo on the vote's pairwise outcomes (ratings from 1000).

All settings that change shapes or code are static fields of :class:`Arena`; its numeric
hyperparameters (``flip_prob``, ``l2``, ``alpha``, ``k_factor``, ...) are pytree leaves, so a
sweep can trace and ``vmap`` them. The state is a :class:`ArenaState` with its own PRNG key, so
``jax.vmap(arena_step, in_axes=(None, 0))`` runs independent seeds.

After every vote the state records whether the leaderboard's order equals the true order
(every pair strictly in the true order; rank MSE = 0): the first vote at which it did
(``first_exact``, K-Sort Arena's convergence point) and the last vote at which it did not.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxpref.arena._kwise import (
  check_mode,
  check_strengths,
  kendall_tau,
  laplace_covariance,
  pl_derivatives,
  pl_value,
  rank_mse,
  sample_kwise_vote,
)
from jaxpref.arena._matchmaking import (
  EXPLOIT,
  check_set_size,
  information_matchmaking,
  ucb_matchmaking,
  uniform_matchmaking,
)
from jaxpref.arena._thurstone import (
  MU0,
  PAIR_SCALES,
  PERFORMANCE_NOISE,
  SIGMA0,
  ThurstoneState,
  conservative_score,
  elo_update,
  thurstone_init,
  thurstone_update,
)
from jaxpref.preference import PlackettLuce, Rankings
from jaxpref.types import Array, ArrayLike, PRNGKey

MATCHMAKING = ("uniform", "information", "ucb")
ESTIMATORS = ("pl", "thurstone", "elo")
ELO_START = 1000.0


@struct.dataclass
class Arena:
  """A simulated arena: static structure plus traced numeric hyperparameters.

  Attributes:
    num_items: ``n`` items.
    k: items shown per vote (``2 <= k <= n``).
    capacity: rows of the vote buffer (the PL estimator sees at most this many votes; later
      votes are dropped from it): at least the number of steps run.
    matchmaking: ``"uniform"``, ``"information"`` (needs ``estimator="pl"``) or ``"ucb"``.
    estimator: ``"pl"``, ``"thurstone"`` or ``"elo"``.
    mode: vote type, ``"rank"`` (full ranking) or ``"best"`` (best pick).
    max_steps: Newton steps per PL refit (:func:`newton_refit`).
    pair_scale: Thurstone pair scale, ``"trueskill"`` or ``"paper"``.
    exploit: UCB sign, ``"different"`` (the paper's formula) or ``"similar"``.
    flip_prob: probability that a vote is reversed.
    l2: PL prior strength (penalty ``l2 |theta|^2``).
    alpha: UCB exploration weight.
    num_sigmas: the conservative score's multiplier (3).
    performance_noise: Thurstone performance scale (TrueSkill's 25/6).
    prior_sigma: Thurstone prior standard deviation (TrueSkill's 25/3, around mean 25).
    k_factor: Elo step size (FastChat's 4).
  """

  num_items: int = struct.field(pytree_node=False)
  k: int = struct.field(pytree_node=False)
  capacity: int = struct.field(pytree_node=False)
  matchmaking: str = struct.field(pytree_node=False, default="uniform", kw_only=True)
  estimator: str = struct.field(pytree_node=False, default="pl", kw_only=True)
  mode: str = struct.field(pytree_node=False, default="rank", kw_only=True)
  max_steps: int = struct.field(pytree_node=False, default=2, kw_only=True)
  pair_scale: str = struct.field(pytree_node=False, default="trueskill", kw_only=True)
  exploit: str = struct.field(pytree_node=False, default="different", kw_only=True)
  flip_prob: float | Array = struct.field(default=0.0, kw_only=True)
  l2: float | Array = struct.field(default=1e-2, kw_only=True)
  alpha: float | Array = struct.field(default=1.0, kw_only=True)
  num_sigmas: float | Array = struct.field(default=3.0, kw_only=True)
  performance_noise: float | Array = struct.field(default=PERFORMANCE_NOISE, kw_only=True)
  prior_sigma: float | Array = struct.field(default=SIGMA0, kw_only=True)
  k_factor: float | Array = struct.field(default=4.0, kw_only=True)

  def __post_init__(self):
    """Checks the static structure (and the numbers that are concrete)."""
    check_arena(self)


def _concrete_float(x) -> float | None:
  try:
    return float(x)
  except (TypeError, jax.errors.ConcretizationTypeError):
    return None


def check_arena(arena: Arena) -> None:
  """Raises ``ValueError`` naming the first bad setting of ``arena``.

  Checks ``num_items >= 2``, ``2 <= k <= num_items``, ``capacity >= 1``, ``max_steps >= 1``,
  the names of the matchmaking rule, estimator, mode, pair scale and exploit sign, that the
  information rule runs with the PL estimator, and the concrete numbers (``0 <= flip_prob <= 1``,
  ``l2 >= 0``, positive scales).
  """
  if isinstance(arena.num_items, bool) or int(arena.num_items) < 2:
    raise ValueError(f"num_items must be >= 2; got {arena.num_items}.")
  check_set_size(arena.k, int(arena.num_items))
  for name in ("capacity", "max_steps"):
    value = getattr(arena, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
  for name, allowed in (
    ("matchmaking", MATCHMAKING),
    ("estimator", ESTIMATORS),
    ("pair_scale", PAIR_SCALES),
    ("exploit", EXPLOIT),
  ):
    if getattr(arena, name) not in allowed:
      raise ValueError(
        f"Unknown {name} {getattr(arena, name)!r}; choose one of {', '.join(allowed)}."
      )
  check_mode(arena.mode)
  if arena.matchmaking == "information" and arena.estimator != "pl":
    raise ValueError("matchmaking='information' uses the PL posterior: it needs estimator='pl'.")
  checks = {
    "flip_prob": lambda v: 0.0 <= v <= 1.0,
    "l2": lambda v: v >= 0.0,
    "alpha": lambda v: v >= 0.0,
    "num_sigmas": lambda v: v >= 0.0,
    "performance_noise": lambda v: v > 0.0,
    "prior_sigma": lambda v: v > 0.0,
    "k_factor": lambda v: v > 0.0,
  }
  for name, ok in checks.items():
    value = _concrete_float(getattr(arena, name))
    if value is not None and not (value == value and ok(value)):
      raise ValueError(f"{name}={value} is out of range.")


class ArenaState(NamedTuple):
  """One simulated arena.

  Attributes:
    theta: ``[n]`` true PL strengths.
    rankings: the vote buffer, ``[capacity, k]`` rows (weight 0 for rows not yet voted).
    counts: ``[n, n]`` int32, how often each pair was shown together (symmetric, zero diagonal).
    scores: ``[n]`` the leaderboard (larger = better) of the estimator.
    pl_scores: ``[n]`` the last PL fit (the warm start of the next).
    thurstone: the Thurstone ratings.
    elo: ``[n]`` Elo ratings.
    votes: int32 votes so far.
    first_exact: int32 the first vote count at which the order was exact (-1: not yet).
    last_inexact: int32 the last vote count at which it was not.
    key: PRNG key.
  """

  theta: Array
  rankings: Rankings
  counts: Array
  scores: Array
  pl_scores: Array
  thurstone: ThurstoneState
  elo: Array
  votes: Array
  first_exact: Array
  last_inexact: Array
  key: PRNGKey


def _leaderboard(arena: Arena, pl_scores, thurstone, elo) -> Array:
  if arena.estimator == "pl":
    return pl_scores
  if arena.estimator == "thurstone":
    return conservative_score(thurstone, num_sigmas=arena.num_sigmas)
  return elo


def arena_init(arena: Arena, theta: ArrayLike, key: PRNGKey) -> ArenaState:
  """The arena before any vote.

  Args:
    arena: the settings.
    theta: ``[n]`` true PL strengths (finite, no two equal for a meaningful exact order).
    key: PRNG key of the whole run.

  Returns:
    The :class:`ArenaState` (no votes; an empty buffer of placeholder rows with weight 0).

  Raises:
    ValueError: if concrete ``theta`` is not a finite ``[num_items]`` vector.
  """
  check_strengths(theta)
  theta = jnp.asarray(theta)
  if theta.shape != (arena.num_items,):
    raise ValueError(f"theta must have shape [{arena.num_items}]; got {theta.shape}.")
  dtype = theta.dtype if jnp.issubdtype(theta.dtype, jnp.floating) else jnp.zeros(()).dtype
  theta = theta.astype(dtype)
  n, K, T = arena.num_items, arena.k, arena.capacity
  buffer = Rankings(
    items=jnp.broadcast_to(jnp.arange(K, dtype=jnp.int32), (T, K)),
    size=jnp.full(T, K, jnp.int32),
    num_ranked=jnp.full(T, K - 1, jnp.int32),
    weight=jnp.zeros(T, dtype),
  )
  pl_scores = jnp.zeros(n, dtype)
  thurstone = thurstone_init(n, mu0=MU0, sigma0=1.0, dtype=dtype)
  thurstone = thurstone._replace(sigma2=thurstone.sigma2 * jnp.asarray(arena.prior_sigma) ** 2)
  elo = jnp.full(n, ELO_START, dtype)
  return ArenaState(
    theta=theta,
    rankings=buffer,
    counts=jnp.zeros((n, n), jnp.int32),
    scores=_leaderboard(arena, pl_scores, thurstone, elo),
    pl_scores=pl_scores,
    thurstone=thurstone,
    elo=elo,
    votes=jnp.zeros((), jnp.int32),
    first_exact=jnp.full((), -1, jnp.int32),
    last_inexact=jnp.zeros((), jnp.int32),
    key=key,
  )


def order_is_exact(scores: ArrayLike, truth: ArrayLike) -> Array:
  """Whether every pair of ``scores`` is strictly in the order of ``truth`` (ties fail)."""
  scores, truth = jnp.asarray(scores), jnp.asarray(truth)
  s = jnp.sign(scores[:, None] - scores[None, :])
  t = jnp.sign(truth[:, None] - truth[None, :])
  return jnp.all(s == t)


def newton_refit(model: PlackettLuce, rankings: Rankings, scores: Array, *, steps: int) -> Array:
  r"""``steps`` damped Newton steps on the PL MAP objective from ``scores`` (a warm start).

  Each step solves :math:`H d = -\nabla\mathcal{L}` (:func:`~jaxpref.arena.pl_derivatives`;
  :math:`H \succeq 2\lambda I`, so it is
  invertible for ``l2 > 0``) and moves to the best of :math:`\theta + 2^{-j} d`,
  :math:`j = 0..5`, or stays where none decreases :math:`\mathcal{L}`: monotone, quadratically
  convergent near the optimum, and a fixed, loop-free cost per vote. The result is centred.
  """

  def objective(s):
    return pl_value(s, rankings, model.l2)

  halvings = 0.5 ** jnp.arange(6, dtype=scores.dtype)

  def newton(s, _):
    value, g, H = pl_derivatives(s, rankings, model.l2)
    d = -jnp.linalg.solve(H, g)
    trial = s[None, :] + halvings[:, None] * d[None, :]
    values = jax.vmap(objective)(trial)
    best = jnp.argmin(values)
    s = jnp.where(values[best] < value, trial[best], s)
    return s - jnp.mean(s), None

  return jax.lax.scan(newton, scores, None, length=steps)[0]


def choose_items(arena: Arena, state: ArenaState, key: PRNGKey) -> Array:
  """``[k]`` items the arena's matchmaking rule shows next (see :mod:`jaxpref.arena`)."""
  if arena.matchmaking == "uniform":
    return uniform_matchmaking(key, arena.num_items, arena.k)
  if arena.matchmaking == "ucb":
    return ucb_matchmaking(
      key, state.scores, state.counts, arena.k, alpha=arena.alpha, exploit=arena.exploit
    )
  model = PlackettLuce(arena.num_items, l2=arena.l2)
  cov = laplace_covariance(model, {"scores": state.pl_scores}, state.rankings)
  return information_matchmaking(key, state.pl_scores, cov, arena.k)


def arena_step(arena: Arena, state: ArenaState, *, refit: bool | Array = True) -> ArenaState:
  """One vote: choose K items, draw the vote from the true model, record it, update the board.

  Args:
    arena: the settings.
    state: the arena.
    refit: for the PL estimator, whether to refit after this vote: a Python bool, or a traced
      scalar bool shared by all vmapped arenas (a ``lax.cond``; e.g. ``(t + 1) % 5 == 0`` from a
      loop counter, to refit every 5 votes).

  Returns:
    The next :class:`ArenaState`.
  """
  key, key_match, key_vote = jax.random.split(state.key, 3)
  shown = choose_items(arena, state, key_match)
  vote = sample_kwise_vote(key_vote, state.theta, shown, mode=arena.mode, flip_prob=arena.flip_prob)
  row = state.votes  # Out of the buffer once it is full: the write is dropped.
  buf = state.rankings
  rankings = buf._replace(
    items=buf.items.at[row].set(vote.items, mode="drop"),
    size=buf.size.at[row].set(vote.size, mode="drop"),
    num_ranked=buf.num_ranked.at[row].set(vote.num_ranked, mode="drop"),
    weight=buf.weight.at[row].set(vote.weight, mode="drop"),
  )
  K = arena.k
  counts = state.counts.at[shown[:, None], shown[None, :]].add(1 - jnp.eye(K, dtype=jnp.int32))
  pl_scores, thurstone, elo = state.pl_scores, state.thurstone, state.elo
  if arena.estimator == "pl":
    model = PlackettLuce(arena.num_items, l2=arena.l2)

    def fit(scores):
      return newton_refit(model, rankings, scores, steps=arena.max_steps)

    if isinstance(refit, bool):
      pl_scores = fit(pl_scores) if refit else pl_scores
    else:
      pl_scores = jax.lax.cond(refit, fit, lambda s: s, pl_scores)
  elif arena.estimator == "thurstone":
    thurstone = thurstone_update(
      thurstone,
      vote.items,
      vote.num_ranked,
      performance_noise=arena.performance_noise,
      pair_scale=arena.pair_scale,
    )
  else:
    elo = elo_update(elo, vote.items, vote.num_ranked, k_factor=arena.k_factor)
  scores = _leaderboard(arena, pl_scores, thurstone, elo)
  votes = state.votes + 1
  exact = order_is_exact(scores, state.theta)
  return ArenaState(
    theta=state.theta,
    rankings=rankings,
    counts=counts,
    scores=scores,
    pl_scores=pl_scores,
    thurstone=thurstone,
    elo=elo,
    votes=votes,
    first_exact=jnp.where((state.first_exact < 0) & exact, votes, state.first_exact),
    last_inexact=jnp.where(exact, state.last_inexact, votes),
    key=key,
  )


def arena_metrics(state: ArenaState) -> dict[str, Array]:
  """Scalar summaries of the leaderboard against the truth, for logging.

  Returns:
    ``{"kendall_tau", "rank_mse", "exact", "first_exact", "exact_since"}``: Kendall's tau-b and
    the rank MSE of ``scores`` against ``theta``; 1.0 if the order is exact now, else 0.0; the
    vote count at which the order was first exact; the vote count from which it has stayed
    exact (``last_inexact + 1``). The last two are NaN while they have not happened.
  """
  dtype = state.scores.dtype
  exact = order_is_exact(state.scores, state.theta)
  nan = jnp.asarray(jnp.nan, dtype)
  return {
    "kendall_tau": kendall_tau(state.scores, state.theta).astype(dtype),
    "rank_mse": rank_mse(state.scores, state.theta).astype(dtype),
    "exact": exact.astype(dtype),
    "first_exact": jnp.where(state.first_exact >= 0, state.first_exact.astype(dtype), nan),
    "exact_since": jnp.where(exact, (state.last_inexact + 1).astype(dtype), nan),
  }
