r"""The solver interface shared by every iterative equilibrium method.

A solver is an optax-like pair of pure functions bundled in :class:`Solver`:

- ``init(policy, ref=None) -> state`` starts from a policy on the simplex; ``ref`` is the reference
  :math:`\pi_{\mathrm{ref}}` of the KL-regularized game (the start itself when ``None``, the usual
  "start at the reference" convention of NLHF and EGPO).
- ``step(state, operator, key=None) -> state`` makes one iteration. ``operator(policy, key)``
  returns the win-rate vector :math:`g = P\pi` (``g_y = P(y \succ \pi)``), so the same solver
  runs on an exact matrix (:func:`matrix_operator`), on a sampled estimate
  (:func:`sampled_operator`) or on a learned preference model. ``key`` is split among the
  queries of the step.

Both functions are written for one game (``[n]`` vectors) and compose with ``jax.vmap`` over games,
``jax.lax.scan`` over iterations and ``jax.jit``. Every state is a ``NamedTuple`` with at least the
fields ``policy`` (the last iterate), ``average`` (an :class:`IterateAverage`) and ``count``.

Hyperparameters use one vocabulary across papers (``nash_solvers.md`` Sec. 0.1 and 9.1):
``step_size`` (:math:`\eta`, a multiplier on the payoff), ``kl_coef`` (:math:`\beta`, weight of
:math:`\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})`) and ``mixture`` (:math:`\lambda`). Each may be a
number or a schedule ``count -> value``; :mod:`jaxpref.equilibria` exports converters from each
paper's symbols.
"""

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike, PRNGKey

Schedule = Callable[[Array], ArrayLike]
ScalarOrSchedule = float | Schedule


class Operator(Protocol):
  """Win-rate oracle: ``operator(policy, key) -> P @ policy`` (an estimate when sampled)."""

  def __call__(self, policy: Array, key: PRNGKey | None = None) -> Array: ...


class IterateAverage(NamedTuple):
  r"""Running (weighted) average of iterates kept with Kahan-compensated sums.

  A plain float32 running sum over :math:`3\cdot10^4` iterates drifts by about :math:`10^{-5}`
  (``performance.md`` Sec. 4); the compensation term keeps the error at a few ulps.

  Attributes:
    total: ``[n]`` compensated sum of the weighted iterates.
    compensation: ``[n]`` Kahan compensation (the low-order bits lost by ``total``).
    weight: scalar sum of the weights.
  """

  total: Array
  compensation: Array
  weight: Array


def average_init(policy: Array) -> IterateAverage:
  """An empty average for iterates shaped like ``policy``."""
  zeros = jnp.zeros_like(policy)
  return IterateAverage(zeros, zeros, jnp.zeros((), policy.dtype))


def average_add(avg: IterateAverage, policy: Array, weight: ArrayLike = 1.0) -> IterateAverage:
  """Adds ``weight * policy`` to the average with Kahan summation."""
  y = weight * policy - avg.compensation
  total = avg.total + y
  compensation = (total - avg.total) - y
  return IterateAverage(total, compensation, avg.weight + weight)


def average_value(avg: IterateAverage) -> Array:
  """The averaged policy (a uniform vector if nothing was added yet)."""
  n = avg.total.shape[-1]
  w = avg.weight[..., None]
  return jnp.where(w > 0, avg.total / jnp.where(w > 0, w, 1.0), 1.0 / n)


class Solver(NamedTuple):
  r"""An iterative equilibrium method as a pair of pure functions.

  Attributes:
    init: ``init(policy, ref=None) -> state``.
    step: ``step(state, operator, key=None) -> state``.
    queries_per_step: operator calls per ``step`` (2 for Mirror Prox and extragradient).
    kl_coef: :math:`\beta` of the game the solver targets (0 for the unregularized game); used by
      :func:`~jaxpref.equilibria.solve` to certify the right gap.
    restart: optional ``restart(state, policy) -> state`` used by restarted schemes; ``None`` when
      restarting at the average is not meaningful for the method.
    name: a short name for logs and plots.
  """

  init: Callable[..., Any]
  step: Callable[..., Any]
  queries_per_step: int
  kl_coef: float
  restart: Callable[..., Any] | None = None
  name: str = "solver"


def schedule_value(value: ScalarOrSchedule, count: Array) -> Array:
  """Evaluates a constant or a schedule ``count -> value`` at ``count``."""
  return jnp.asarray(value(count) if callable(value) else value)


def is_number(value: Any) -> bool:
  """Whether ``value`` is a concrete Python number (not a schedule, array or tracer)."""
  return isinstance(value, int | float) and not isinstance(value, bool)


def coefficient(value: ArrayLike) -> float | Array:
  """A concrete coefficient as a ``float``; a traced one (a vmapped sweep axis) as an array."""
  return float(value) if is_number(value) else jnp.asarray(value)


def solver_factory(factory: Callable[..., Solver]) -> Callable[..., Solver]:
  """Caches a solver factory on hashable hyperparameters; traced ones build a fresh solver.

  Caching makes ``solve(P, mirror_prox(2.0))`` hit the jit cache on every call. Hyperparameters
  that are JAX arrays or tracers (a sweep axis ``vmap``ped inside one ``jit``) are unhashable;
  the factory then runs uncached and its range checks are skipped (the sweep validates the
  concrete values before compiling).
  """
  cached = functools.cache(factory)

  @functools.wraps(factory)
  def wrapper(*args: Any, **kwargs: Any) -> Solver:
    try:
      hash((args, tuple(kwargs.items())))
    except TypeError:
      return factory(*args, **kwargs)
    return cached(*args, **kwargs)

  return wrapper


def check_hyperparameter(name: str, value: ScalarOrSchedule, *, positive: bool = True) -> None:
  """Raises ``ValueError`` for a concrete hyperparameter that is NaN, infinite or out of range."""
  if not is_number(value):
    return
  if not math.isfinite(value) or value < 0 or (positive and value == 0):
    bound = "> 0" if positive else ">= 0"
    raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def matrix_operator(P: ArrayLike) -> Operator:
  r"""The exact win-rate operator :math:`\pi \mapsto P\pi` of one ``[n, n]`` matrix.

  Args:
    P: ``[n, n]`` preference matrix (build one per game inside ``vmap`` for batches).

  Returns:
    An operator ignoring its ``key``.

  Examples:
    >>> import jax.numpy as jnp
    >>> op = matrix_operator(jnp.array([[0.5, 0.8], [0.2, 0.5]]))
    >>> [round(v, 6) for v in op(jnp.array([1.0, 0.0])).tolist()]
    [0.5, 0.2]
  """
  P = jnp.asarray(P)

  def operator(policy: Array, key: PRNGKey | None = None) -> Array:
    del key
    return jnp.dot(P, policy.astype(P.dtype), precision=jax.lax.Precision.HIGHEST)

  return operator


def sampled_operator(P: ArrayLike, num_samples: int, *, bernoulli: bool = False) -> Operator:
  r"""Unbiased win-rate estimate from ``num_samples`` sampled opponents :math:`y'' \sim \pi`.

  .. math:: \hat g(y) = \frac1K \sum_{k=1}^K o(y, y''_k), \qquad y''_k \sim \pi,

  with :math:`o = P(y \succ y''_k)` (EGPO's sampled tabular setting, SPPO's K samples), or a
  Bernoulli draw with that mean when ``bernoulli=True`` (a rater answering each duel). Each query
  reads ``K`` columns of ``P`` instead of all ``n``.

  Args:
    P: ``[n, n]`` preference matrix.
    num_samples: ``K`` opponents per query.
    bernoulli: replace each probability by a 0/1 outcome.

  Returns:
    An operator that requires a PRNG key.

  References:
    Zhou, Fazel, Du, Extragradient Preference Optimization, COLM 2025, Sec. 5,
    https://arxiv.org/abs/2503.08942; Wu et al., Self-Play Preference Optimization, ICLR 2025,
    https://arxiv.org/abs/2405.00675
  """
  P = jnp.asarray(P)
  if int(num_samples) < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}")

  def operator(policy: Array, key: PRNGKey | None = None) -> Array:
    if key is None:
      raise ValueError("sampled_operator needs a PRNG key: pass key= to step (or to solve)")
    k_opp, k_out = jax.random.split(key)
    logits = jnp.log(jnp.maximum(policy, jnp.finfo(policy.dtype).tiny))
    opponents = jax.random.categorical(k_opp, logits, shape=(num_samples,))
    wins = P[:, opponents]  # [n, K]
    if bernoulli:
      wins = jax.random.bernoulli(k_out, wins).astype(P.dtype)
    return jnp.mean(wins, axis=-1)

  return operator


def split_key(key: PRNGKey | None, num: int) -> list[PRNGKey | None]:
  """Splits ``key`` into ``num`` keys, or returns ``num`` Nones."""
  if key is None:
    return [None] * num
  return list(jax.random.split(key, num))


def as_float_array(policy: ArrayLike) -> Array:
  """``policy`` as a JAX array of a floating dtype (integers become float32)."""
  policy = jnp.asarray(policy)
  if not jnp.issubdtype(policy.dtype, jnp.floating):
    policy = policy.astype(jnp.float32)
  return policy


def log_policy(policy: Array) -> Array:
  """Log-probabilities, with exact zeros mapped to a large negative finite number."""
  tiny = jnp.finfo(policy.dtype).tiny
  return jnp.log(jnp.maximum(policy, tiny))


def normalize(logits: Array) -> tuple[Array, Array]:
  """Returns ``(log_softmax(logits), softmax(logits))`` from one log-sum-exp."""
  log_p = jax.nn.log_softmax(logits)
  return log_p, jnp.exp(log_p)
