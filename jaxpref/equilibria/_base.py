r"""The solver interface shared by every iterative equilibrium method.

A :class:`Solver` is an optax-like pair of pure functions plus its hyperparameters, and it is a
pytree: the hyperparameters are its leaves and the update rule is static. So
``solve(P, mirror_prox(step_size=1.0))`` and ``solve(P, mirror_prox(step_size=2.0))`` share one
compilation, and ``jax.vmap`` over a batch of solvers sweeps hyperparameters in one program.

- ``solver.init(policy, *, ref_policy=None) -> state`` starts from a policy on the simplex;
  ``ref_policy`` is the reference :math:`\pi_{\mathrm{ref}}` of the KL-regularized game (the start
  itself when ``None``, the usual "start at the reference" convention of NLHF and EGPO).
- ``solver.step(state, operator, *, key=None) -> state`` makes one iteration (``return_aux=True``
  also returns a dict with the last queried win rates). ``operator(policy, key)`` returns the
  win-rate vector :math:`g = P\pi` (``g_y = P(y \succ \pi)``), so the same solver runs on an exact
  matrix (:func:`matrix_operator`, or the matrix itself), on a sampled estimate
  (:func:`sampled_operator`) or on a learned preference model. ``key`` is split among the queries
  of the step.

Both functions are written for one game (``[n]`` vectors) and compose with ``jax.vmap`` over games,
``jax.lax.scan`` over iterations and ``jax.jit``. Every state is a ``NamedTuple`` with at least the
fields ``policy`` (the last iterate), ``average`` (an :class:`IterateAverage`) and ``count``.

Hyperparameters use one vocabulary across papers (``docs/solvers.md``, 'Vocabulary and symbol
table'): ``step_size`` (:math:`\eta`, a multiplier on the payoff), ``kl_coef`` (:math:`\beta`,
weight of :math:`\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})`) and ``mixture`` (:math:`\lambda`). Each is
keyword-only and may be a number, a traced array (a sweep axis) or a schedule ``count -> value``
(a schedule is a static part of the solver: it compiles into the program).
:mod:`jaxpref.equilibria` exports converters from each paper's symbols.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike, PRNGKey

Schedule = Callable[[Array], ArrayLike]
ScalarOrSchedule = float | Schedule
InitFn = Callable[[Mapping[str, Any], ArrayLike, ArrayLike | None], Any]
StepFn = Callable[[Mapping[str, Any], Any, "Operator", PRNGKey | None], tuple[Any, dict]]
RestartFn = Callable[[Mapping[str, Any], Any, Array], Any]


class Operator(Protocol):
  """Win-rate oracle: ``operator(policy, key) -> P @ policy`` (an estimate when sampled)."""

  def __call__(self, policy: Array, key: PRNGKey | None = None) -> Array: ...


class IterateAverage(NamedTuple):
  r"""Running (weighted) average of iterates kept with Kahan-compensated sums.

  A plain float32 running sum over :math:`3\cdot10^4` iterates drifts by about :math:`10^{-5}`
  (``docs/solvers.md``, 'Float32 accumulation'); the compensation term keeps the error at a few
  ulps.

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


def _is_static(value: Any) -> bool:
  return value is None or callable(value) or isinstance(value, str | bool)


@jax.tree_util.register_pytree_node_class
class Solver:
  r"""An iterative equilibrium method: pure ``init`` / ``step`` functions and hyperparameters.

  Built by the factories (:func:`~jaxpref.equilibria.mirror_prox`, ...). A pytree whose leaves are
  the numeric hyperparameters; the update functions, schedules and ``None`` options are static.

  Attributes:
    hparams: the hyperparameters by name (``step_size``, ``kl_coef``, ...).
    queries_per_step: operator calls per ``step`` (2 for Mirror Prox and extragradient).
    name: a short name for logs and plots.
  """

  def __init__(
    self,
    init: InitFn,
    step: StepFn,
    *,
    hparams: Mapping[str, Any] | None = None,
    queries_per_step: int = 1,
    restart: RestartFn | None = None,
    name: str = "solver",
  ):
    """Bundles the update rule ``init(hp, policy, ref_policy)`` / ``step(hp, state, op, key)``.

    Args:
      init: ``init(hparams, policy, ref_policy) -> state``.
      step: ``step(hparams, state, operator, key) -> (state, aux)``.
      hparams: numeric hyperparameters (leaves) and static options (schedules, ``None``).
      queries_per_step: operator calls per step.
      restart: optional ``restart(hparams, state, policy) -> state`` for restarted schemes;
        ``None`` when restarting at the average is not meaningful for the method.
      name: a short name for logs and plots.
    """
    self.init_fn, self.step_fn, self.restart_fn = init, step, restart
    self.hparams = dict(hparams or {})
    self.queries_per_step = int(queries_per_step)
    self.name = name

  def init(self, policy: ArrayLike, *, ref_policy: ArrayLike | None = None) -> Any:
    """Starts at ``policy``; ``ref_policy`` defaults to the start."""
    return self.init_fn(self.hparams, policy, ref_policy)

  def step(
    self,
    state: Any,
    operator: "Operator | ArrayLike",
    *,
    key: PRNGKey | None = None,
    return_aux: bool = False,
  ) -> Any:
    """One iteration against ``operator`` (an :class:`Operator` or an ``[n, n]`` matrix).

    Args:
      state: the solver's state.
      operator: win-rate oracle, or a preference matrix (exact queries).
      key: PRNG key, split among the step's queries (sampled operators need it).
      return_aux: also return a dict with the step's last queried win rates.

    Returns:
      The next state, or ``(state, aux)`` when ``return_aux``.
    """
    state, aux = self.step_fn(self.hparams, state, as_operator(operator), key)
    return (state, aux) if return_aux else state

  def restart(self, state: Any, policy: Array) -> Any:
    """Restarts a restartable method at ``policy`` (see :attr:`can_restart`)."""
    if self.restart_fn is None:
      raise ValueError(f"solver {self.name!r} does not support restarts")
    return self.restart_fn(self.hparams, state, policy)

  @property
  def can_restart(self) -> bool:
    """Whether the method defines a restart."""
    return self.restart_fn is not None

  @property
  def kl_coef(self) -> Any:
    r""":math:`\beta` of the game the solver targets (0 for the unregularized game)."""
    return self.hparams.get("kl_coef", 0.0)

  def replace(self, **hparams: Any) -> "Solver":
    """A copy with some hyperparameters replaced (no range checks: use the factory for those)."""
    unknown = set(hparams) - set(self.hparams)
    if unknown:
      raise ValueError(
        f"{self.name} has no hyperparameter {sorted(unknown)}; has {sorted(self.hparams)}"
      )
    return Solver(
      self.init_fn,
      self.step_fn,
      hparams={**self.hparams, **hparams},
      queries_per_step=self.queries_per_step,
      restart=self.restart_fn,
      name=self.name,
    )

  def tree_flatten(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Numeric hyperparameters are the leaves; everything else is static."""
    names = sorted(self.hparams)
    dynamic = tuple(k for k in names if not _is_static(self.hparams[k]))
    static = tuple((k, self.hparams[k]) for k in names if k not in dynamic)
    aux = (
      self.init_fn,
      self.step_fn,
      self.restart_fn,
      self.queries_per_step,
      self.name,
      dynamic,
      static,
    )
    return tuple(self.hparams[k] for k in dynamic), aux

  @classmethod
  def tree_unflatten(cls, aux: tuple[Any, ...], leaves: tuple[Any, ...]) -> "Solver":
    """Inverse of :meth:`tree_flatten`."""
    init, step, restart, queries, name, dynamic, static = aux
    hparams = {**dict(zip(dynamic, leaves, strict=True)), **dict(static)}
    return cls(init, step, hparams=hparams, queries_per_step=queries, restart=restart, name=name)

  def __repr__(self) -> str:
    """``name(step_size=..., kl_coef=...)``."""
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.hparams.items()))
    return f"{self.name}({args})"


def schedule_value(value: ScalarOrSchedule, count: Array) -> Array:
  """Evaluates a constant or a schedule ``count -> value`` at ``count``."""
  return jnp.asarray(value(count) if callable(value) else value)


def is_number(value: Any) -> bool:
  """Whether ``value`` is a concrete Python number (not a schedule, array or tracer)."""
  return isinstance(value, int | float) and not isinstance(value, bool)


def check_hyperparameter(name: str, value: ScalarOrSchedule, *, positive: bool = True) -> None:
  """Raises ``ValueError`` for a concrete hyperparameter that is NaN, infinite or out of range."""
  if not is_number(value):
    return
  if not math.isfinite(value) or value < 0 or (positive and value == 0):
    bound = "> 0" if positive else ">= 0"
    raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def as_operator(operator: "Operator | ArrayLike") -> "Operator":
  """``operator`` itself when callable, else the exact :func:`matrix_operator` of a matrix."""
  return operator if callable(operator) else matrix_operator(operator)


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


def sampled_operator(P: ArrayLike, *, num_samples: int, bernoulli: bool = False) -> Operator:
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
      # Flat draw: the same numbers as one of shape [n, K], a smaller program to compile.
      wins = jax.random.bernoulli(k_out, wins.ravel()).reshape(wins.shape).astype(P.dtype)
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
