r"""The dueling-bandit interface, its states, the regret and the shared confidence bounds."""

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike, PRNGKey

InitFn = Callable[[Mapping[str, Any], int], Any]
SelectFn = Callable[[Mapping[str, Any], Any, PRNGKey], tuple[Array, Array]]
UpdateFn = Callable[[Mapping[str, Any], Any, Array, Array, Array], Any]


class DuelState(NamedTuple):
  r"""State of RUCB and Double Thompson Sampling.

  Attributes:
    wins: ``[n, n]`` win counts, ``wins[i, j]`` the number of duels in which ``i`` beat ``j``
      (:math:`W`; the diagonal stays 0: self-duels carry no information).
    step: rounds played so far (:math:`t - 1` in the papers' 1-based round index).
    hypothesis: RUCB's hypothesized best arm :math:`B` (``-1`` for :math:`B = \emptyset`); unused
      (always ``-1``) by Double Thompson Sampling.
  """

  wins: Array
  step: Array
  hypothesis: Array


class SparringState(NamedTuple):
  r"""State of Sparring EXP3.

  Attributes:
    wins: ``[n, n]`` win counts as in :class:`DuelState` (kept for inspection; EXP3 ignores them).
    step: rounds played so far.
    rewards: ``[2, n]`` each learner's cumulative importance-weighted reward estimates
      :math:`\hat S_k`, row 0 the learner that plays the first arm, row 1 the second.
  """

  wins: Array
  step: Array
  rewards: Array


def _is_static(value: Any) -> bool:
  return value is None or callable(value) or isinstance(value, str | bool)


@jax.tree_util.register_pytree_node_class
class DuelingBandit:
  r"""A dueling-bandit algorithm: hyperparameters and three pure functions.

  Built by the factories (:func:`~jaxpref.bandits.rucb`, :func:`~jaxpref.bandits.double_thompson`,
  :func:`~jaxpref.bandits.sparring_exp3`). A pytree whose leaves are the numeric hyperparameters
  (so a batch of algorithms can be ``vmap``-ped) and whose rules are static, like
  :class:`jaxpref.equilibria.Solver`.

  Attributes:
    hparams: the hyperparameters by name (``alpha``, ``step_size``).
    name: a short name for logs and plots.
  """

  def __init__(
    self,
    init: InitFn,
    select: SelectFn,
    update: UpdateFn,
    *,
    hparams: Mapping[str, Any] | None = None,
    name: str = "bandit",
  ):
    """Bundles ``init(hp, num_arms)``, ``select(hp, state, key)``, ``update(hp, state, i, j, o)``.

    Args:
      init: ``init(hparams, num_arms) -> state``.
      select: ``select(hparams, state, key) -> (i, j)``.
      update: ``update(hparams, state, i, j, outcome) -> state``.
      hparams: numeric hyperparameters (leaves) and static options (``None``).
      name: a short name for logs and plots.
    """
    self.init_fn, self.select_fn, self.update_fn = init, select, update
    self.hparams = dict(hparams or {})
    self.name = name

  def init(self, num_arms: int) -> Any:
    r"""The state before the first round: no duels played.

    Args:
      num_arms: number of arms :math:`K \ge 2` (a Python int: it fixes the shapes).

    Returns:
      The algorithm's state (:class:`DuelState` or :class:`SparringState`).

    Raises:
      ValueError: if ``num_arms`` is not an integer >= 2.
    """
    return self.init_fn(self.hparams, check_num_arms(num_arms))

  def select(self, state: Any, key: PRNGKey) -> tuple[Array, Array]:
    """The duel to play this round: arms ``(i, j)``, int32 scalars (``i == j`` is possible)."""
    return self.select_fn(self.hparams, state, key)

  def update(self, state: Any, i: ArrayLike, j: ArrayLike, outcome: ArrayLike) -> Any:
    """Records the duel ``(i, j)``; ``outcome`` is 1 if ``i`` won, 0 if ``j`` won.

    ``outcome`` may also be fractional (a tie as 1/2). A self-duel (``i == j``) leaves ``wins``
    unchanged (it says nothing about :math:`P`) but counts as a round.
    """
    i, j = jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32)
    outcome = jnp.asarray(outcome, state.wins.dtype)
    return self.update_fn(self.hparams, state, i, j, outcome)

  def tree_flatten(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Numeric hyperparameters are the leaves; everything else is static."""
    names = sorted(self.hparams)
    dynamic = tuple(k for k in names if not _is_static(self.hparams[k]))
    static = tuple((k, self.hparams[k]) for k in names if k not in dynamic)
    aux = (self.init_fn, self.select_fn, self.update_fn, self.name, dynamic, static)
    return tuple(self.hparams[k] for k in dynamic), aux

  @classmethod
  def tree_unflatten(cls, aux: tuple[Any, ...], leaves: tuple[Any, ...]) -> "DuelingBandit":
    """Inverse of :meth:`tree_flatten`."""
    init, select, update, name, dynamic, static = aux
    hparams = {**dict(zip(dynamic, leaves, strict=True)), **dict(static)}
    return cls(init, select, update, hparams=hparams, name=name)

  def __repr__(self) -> str:
    """``name(alpha=...)``."""
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.hparams.items()))
    return f"{self.name}({args})"


def check_num_arms(num_arms: Any) -> int:
  """Returns ``num_arms`` as an int; ``ValueError`` unless it is an integer >= 2."""
  if isinstance(num_arms, bool) or not isinstance(num_arms, int):
    try:
      as_int = int(num_arms)
    except (TypeError, ValueError):
      as_int = None
    if as_int is None or as_int != num_arms:
      raise ValueError(f"num_arms must be an integer >= 2, got {num_arms!r}")
    num_arms = as_int
  if num_arms < 2:
    raise ValueError(f"a dueling bandit needs num_arms >= 2, got {num_arms}")
  return num_arms


def check_alpha(alpha: Any) -> None:
  """``ValueError`` for a concrete ``alpha`` that is not a finite number > 1/2."""
  if isinstance(alpha, jax.core.Tracer):
    return
  value = float(alpha)
  if not math.isfinite(value) or value <= 0.5:
    raise ValueError(f"alpha must be a finite number > 1/2 (RUCB's condition), got {alpha!r}")


def record_duel(wins: Array, i: Array, j: Array, outcome: Array) -> Array:
  """``wins`` after the duel ``(i, j)``: ``W[i, j] += outcome``, ``W[j, i] += 1 - outcome``."""
  distinct = (i != j).astype(wins.dtype)
  return wins.at[i, j].add(distinct * outcome).at[j, i].add(distinct * (1 - outcome))


def confidence_bounds(wins: Array, t: Array, alpha: ArrayLike) -> tuple[Array, Array]:
  r"""RUCB's upper and lower confidence bounds on :math:`P` at round ``t`` (1-based).

  .. math::
    U = \frac{W}{N} + \sqrt{\frac{\alpha \ln t}{N}},\qquad
    L = \frac{W}{N} - \sqrt{\frac{\alpha \ln t}{N}},\qquad N = W + W^\top,

  with :math:`x / 0 := 1` for :math:`U` and :math:`L = 0` where :math:`N = 0` (an unplayed pair is
  optimistic both ways), and :math:`U_{ii} = L_{ii} = 1/2`.
  """
  n = wins.shape[-1]
  played = wins + wins.T
  seen = played > 0
  safe = jnp.where(seen, played, 1.0)
  mean = wins / safe
  radius = jnp.sqrt(alpha * jnp.log(t.astype(wins.dtype)) / safe)
  eye = jnp.eye(n, dtype=bool)
  upper = jnp.where(eye, 0.5, jnp.where(seen, mean + radius, 1.0))
  lower = jnp.where(eye, 0.5, jnp.where(seen, mean - radius, 0.0))
  return upper, lower


def random_argmax(key: PRNGKey, values: Array, mask: Array | None = None) -> Array:
  """Index of a maximum of ``values`` over ``mask`` (all if ``None``), ties broken uniformly.

  If ``mask`` is empty the maximum is taken over all entries.
  """
  if mask is not None:
    mask = jnp.where(jnp.any(mask), mask, True)
    values = jnp.where(mask, values, -jnp.inf)
  best = values == jnp.max(values)
  return jax.random.categorical(key, jnp.where(best, 0.0, -jnp.inf)).astype(jnp.int32)


def regret(P: ArrayLike, lottery: ArrayLike, i: ArrayLike, j: ArrayLike) -> Array:
  r"""Per-round regret of the duel ``(i, j)`` against the von Neumann winner ``lottery``.

  .. math::
    r(i, j) = \tfrac12\big[(\pi^{*\top} P_{:,i} - \tfrac12) + (\pi^{*\top} P_{:,j} - \tfrac12)\big],

  where :math:`\pi^{*\top} P_{:,a} = P(\pi^* \succ a)` is the probability that an arm drawn from
  :math:`\pi^*` beats :math:`a` (``P[a, b]`` is the probability that ``a`` beats ``b``). For a
  maximal lottery :math:`\pi^*` (:func:`jaxpref.equilibria.maximal_lottery`) every term is
  :math:`\ge 0`, it is 0 for arms in the support of :math:`\pi^*` (so pairs drawn from
  :math:`\pi^*` have zero regret), and with a Condorcet winner :math:`c` (:math:`\pi^* = e_c`) it
  is the regret of Yue et al., :math:`(\epsilon(c, i) + \epsilon(c, j))/2` with
  :math:`\epsilon(c, a) = P_{ca} - 1/2`. This is the von Neumann regret of Dudik et al. per round.

  Args:
    P: ``[n, n]`` preference matrix.
    lottery: ``[n]`` von Neumann winner (a distribution over arms).
    i: first arm (int, or an integer array; broadcast with ``j``).
    j: second arm.

  Returns:
    The regret, with the broadcast shape of ``i`` and ``j``.

  References:
    Yue, Broder, Kleinberg, Joachims, The K-armed dueling bandits problem, J. Comput. Syst. Sci.
    2012; Dudik, Hofmann, Schapire, Slivkins, Zoghi, Contextual dueling bandits, COLT 2015,
    https://arxiv.org/abs/1502.06362

  Examples:
    >>> import jax.numpy as jnp
    >>> P = jnp.array([[0.5, 0.8, 0.2], [0.2, 0.5, 0.8], [0.8, 0.2, 0.5]])
    >>> lottery = jnp.ones(3) / 3
    >>> float(regret(P, lottery, 0, 2))
    0.0
    >>> P = jnp.array([[0.5, 0.7], [0.3, 0.5]])  # arm 0 is the Condorcet winner
    >>> round(float(regret(P, jnp.array([1.0, 0.0]), 1, 1)), 4)  # (0.2 + 0.2) / 2
    0.2
  """
  P = jnp.asarray(P)
  lottery = jnp.asarray(lottery, P.dtype)
  value = lottery @ P  # value[a] = P(pi* beats a)
  return (value[jnp.asarray(i)] + value[jnp.asarray(j)] - 1.0) / 2.0
