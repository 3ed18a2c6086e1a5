r"""Simulating a dueling bandit on a known preference matrix, with von Neumann regret."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.bandits._base import DuelingBandit
from jaxpref.equilibria import maximal_lottery
from jaxpref.games import validate_preference_matrix
from jaxpref.types import Array, ArrayLike, PRNGKey


class Simulation(NamedTuple):
  """What :func:`simulate` returns (one run; leading axes added by ``vmap``).

  Attributes:
    cumulative_regret: ``[horizon]`` von Neumann regret summed over rounds ``0..t``.
    counts: ``[n]`` int32 times each arm was played: each round plays two arm slots, so the counts
      sum to ``2 * horizon`` (a self-duel counts its arm twice).
    play: ``[n]`` the empirical play distribution ``counts / (2 * horizon)``.
    duels: ``[horizon, 2]`` int32 the arms ``(i, j)`` of each round.
    state: the algorithm's state after the last round.
  """

  cumulative_regret: Array
  counts: Array
  play: Array
  duels: Array
  state: Any


def _check_horizon(horizon: Any) -> int:
  if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
    raise ValueError(f"horizon must be an integer >= 1 (static under jit), got {horizon!r}")
  return int(horizon)


def _check_lottery(lottery: ArrayLike, n: int) -> None:
  if isinstance(lottery, jax.core.Tracer):
    if jnp.shape(lottery) != (n,):
      raise ValueError(f"lottery must have shape ({n},), got {jnp.shape(lottery)}")
    return
  x = np.asarray(lottery, dtype=float)
  if x.shape != (n,):
    raise ValueError(f"lottery must have shape ({n},), got {x.shape}")
  if not np.all(np.isfinite(x)) or np.any(x < -1e-6) or abs(x.sum() - 1) > 1e-6:
    raise ValueError(f"lottery must be a distribution over the {n} arms, got {x.tolist()}")


def simulate(
  algorithm: DuelingBandit,
  P: ArrayLike,
  key: PRNGKey,
  *,
  horizon: int,
  lottery: ArrayLike | None = None,
) -> Simulation:
  r"""Runs ``algorithm`` for ``horizon`` rounds on the preference matrix ``P``.

  One ``lax.scan`` over rounds: ``(i, j) = algorithm.select(state, key_t)``, the outcome is
  :math:`\mathrm{Bernoulli}(P_{ij})` (1 if ``i`` won), ``state = algorithm.update(state, i, j,
  outcome)``, and the round's regret is :func:`~jaxpref.bandits.regret` against ``lottery``.

  ``P`` and ``lottery`` are checked on the host when concrete, and ``lottery`` defaults to
  :func:`jaxpref.equilibria.maximal_lottery` of ``P``, also computed on the host before tracing: so
  close over a concrete ``P`` (``jax.jit(lambda key: simulate(bandit, P, key, horizon=T))``) or
  pass ``lottery`` when ``P`` is traced. ``horizon`` is static. The function is jittable and
  ``vmap``-pable over keys (and over algorithms' hyperparameters, which are pytree leaves).

  Args:
    algorithm: a :class:`DuelingBandit` (:func:`rucb`, :func:`double_thompson`,
      :func:`sparring_exp3`).
    P: ``[n, n]`` preference matrix, ``P[i, j]`` the probability that ``i`` beats ``j``.
    key: PRNG key.
    horizon: number of rounds :math:`T \ge 1`.
    lottery: ``[n]`` the von Neumann winner the regret is measured against; defaults to the
      maximal lottery of ``P``.

  Returns:
    A :class:`Simulation`.

  Raises:
    ValueError: if ``P`` is not an ``[n, n]`` preference matrix (square, finite, in [0, 1],
      ``P + P^T = 1`` within 1e-6, ``n >= 2``), ``horizon < 1``, ``lottery`` is not a distribution,
      or ``P`` is traced and ``lottery`` is ``None``.

  References:
    Dudik, Hofmann, Schapire, Slivkins, Zoghi, Contextual dueling bandits, COLT 2015.
    https://arxiv.org/abs/1502.06362

  Examples:
    >>> import jax
    >>> from jaxpref.bandits import rucb
    >>> from jaxpref.games import bradley_terry_game
    >>> P = bradley_terry_game(jax.numpy.array([1.0, 0.0, -1.0]))
    >>> sim = simulate(rucb(), P, jax.random.key(0), horizon=200)
    >>> sim.cumulative_regret.shape, int(sim.counts.sum())
    ((200,), 400)
  """
  horizon = _check_horizon(horizon)
  dtype = jnp.result_type(float)
  if isinstance(P, jax.core.Tracer):
    if lottery is None:
      raise ValueError(
        "simulate computes the default lottery on the host: with a traced P, pass lottery= "
        "(e.g. maximal_lottery(P) computed before jit), or close over a concrete P"
      )
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] < 2:
      raise ValueError(f"P must be an [n, n] preference matrix with n >= 2, got {P.shape}")
    P = P.astype(dtype)
  else:
    host = validate_preference_matrix(P)
    if host.ndim != 2:
      raise ValueError(f"simulate takes one [n, n] preference matrix, got shape {host.shape}")
    if lottery is None:
      lottery = maximal_lottery(host.astype(np.float64))
    P = jnp.asarray(host, dtype)
  n = P.shape[0]
  _check_lottery(lottery, n)
  value = jnp.asarray(lottery, dtype) @ P  # value[a] = P(lottery beats a)

  def round_(state, key_t):
    key_select, key_outcome = jax.random.split(key_t)
    i, j = algorithm.select(state, key_select)
    outcome = jax.random.bernoulli(key_outcome, P[i, j]).astype(dtype)
    state = algorithm.update(state, i, j, outcome)
    return state, ((value[i] + value[j] - 1) / 2, jnp.stack([i, j]))

  state, (regrets, duels) = jax.lax.scan(round_, algorithm.init(n), jax.random.split(key, horizon))
  counts = jnp.zeros(n, jnp.int32).at[duels.reshape(-1)].add(1)
  return Simulation(
    cumulative_regret=jnp.cumsum(regrets),
    counts=counts,
    play=counts / (2 * horizon),
    duels=duels,
    state=state,
  )
