r"""Batched equilibrium computation to a certified duality gap.

:func:`solve` runs any :class:`~jaxpref.equilibria.Solver` on a batch of preference matrices inside
one compiled ``lax.while_loop``. Every ``check_every`` steps it certifies each game with the exact
matrix: the duality gap (or the regularized gap when the solver targets :math:`\pi^*_\beta`) of the
last iterate, of the averaged iterate and, for the unregularized game, of a *support polish*. A game
whose best candidate is within ``tol`` is frozen (its state stops changing and its query count
stops growing); the loop ends when all games are done or at ``max_steps``.

The loop is written for one game and mapped over the batch: by ``jax.vmap`` (``tile_size=0``) or,
by default, by :func:`~jaxpref.equilibria._tiling.run_tiled`, which advances only the tiles that
still hold unfinished games. Both give the same per-game results. The solver (a pytree of
hyperparameters), the tolerance and the operator's arrays are traced arguments of one cached
compilation: a new step size, a new tolerance or a new operator built by the same code do not
recompile.

The support polish. For a Nash equilibrium :math:`x^*` with support :math:`S`, every item of
:math:`S` ties against :math:`x^*`: :math:`(P x^*)_S = \tfrac12\mathbf 1`. When the iterate has
identified :math:`S` (Euclidean projections make exact zeros), solving the :math:`|S|\times|S|`
linear system :math:`P_{SS}\,x_S = \tfrac12\mathbf 1` gives the equilibrium to working precision.
The polished point is clipped to the simplex and, like every candidate, only accepted through its
certified gap, so a wrong support guess costs time but never accuracy. This is the crossover step of
first-order LP solvers (PDLP) specialised to matrix games.
"""

import functools
import math
import types
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref._executable_cache import CachedProgram
from jaxpref.equilibria._base import Operator, Solver, average_value, matrix_operator
from jaxpref.equilibria._projected_extragradient import projected_extragradient
from jaxpref.equilibria._tiling import auto_tile, run_tiled
from jaxpref.games import check_preference_shape, is_preference_matrix, validate_preference_matrix
from jaxpref.metrics import duality_gap, regularized_duality_gap
from jaxpref.types import Array, ArrayLike, PRNGKey

# Indices of ``SolveResult.source``.
LAST, AVERAGE, POLISHED = 0, 1, 2


class SolveHistory(NamedTuple):
  """Certified gaps at log points (NaN after a game stopped).

  Attributes:
    steps: ``[num_logs]`` step index of each log point.
    last: ``[..., num_logs]`` gap of the last iterate.
    average: ``[..., num_logs]`` gap of the averaged iterate.
    best: ``[..., num_logs]`` best certified gap so far (polish included).
  """

  steps: Array
  last: Array
  average: Array
  best: Array


class SolveResult(NamedTuple):
  """Output of :func:`solve`; leading dimensions are those of the input batch.

  Attributes:
    policy: ``[..., n]`` best certified candidate.
    gap: ``[...]`` its certified gap (regularized when the solver's ``kl_coef > 0``).
    converged: ``[...]`` ``gap <= tol`` (False for NaN/inf gaps).
    num_queries: ``[...]`` operator calls spent on the game, certificates included.
    num_steps: ``[...]`` solver steps taken on the game.
    source: ``[...]`` where ``policy`` comes from: 0 last iterate, 1 average, 2 support polish.
    history: :class:`SolveHistory`.
  """

  policy: Array
  gap: Array
  converged: Array
  num_queries: Array
  num_steps: Array
  source: Array
  history: SolveHistory


def certified_gap(
  P: Array,
  x: Array,
  *,
  kl_coef: ArrayLike,
  ref_policy: Array | None = None,
  regularized: bool | None = None,
) -> Array:
  r"""The gap :func:`solve` certifies: :math:`\mathrm{Gap}_\beta` when ``kl_coef > 0``, else Gap.

  Both come from :mod:`jaxpref.metrics` (:func:`~jaxpref.metrics.regularized_duality_gap` and
  :func:`~jaxpref.metrics.duality_gap`, with ``assume_valid``: :func:`solve` validates
  :math:`P + P^\top = 1`, so one matrix-vector product per candidate); a traced ``kl_coef``
  selects between them per value.

  Args:
    P: ``[n, n]`` preference matrix.
    x: ``[n]`` candidate policy.
    kl_coef: :math:`\beta \ge 0`.
    ref_policy: ``[n]`` reference of the regularized game; uniform when ``None``.
    regularized: ``True`` / ``False`` when known statically (skips the other gap), ``None`` to
      decide from ``kl_coef`` at run time.

  Returns:
    The certified gap (non-negative up to rounding).
  """
  if regularized is False:
    return jnp.maximum(duality_gap(P, x, assume_valid=True), 0.0)
  beta = jnp.asarray(kl_coef, P.dtype)
  reg = regularized_duality_gap(
    P, x, kl_coef=jnp.where(beta > 0, beta, 1.0), ref_policy=ref_policy, assume_valid=True
  )
  if regularized is True:
    return reg
  return jnp.where(beta > 0, reg, jnp.maximum(duality_gap(P, x, assume_valid=True), 0.0))


def support_polish(P: Array, x: Array, *, threshold: float = 1e-6) -> Array:
  r"""Equilibrium on the support of ``x``: solves :math:`P_{SS} y_S = \tfrac12 \mathbf 1`.

  Args:
    P: ``[n, n]`` preference matrix.
    x: ``[n]`` policy whose support (entries above ``threshold * max(x)``) is the guess.
    threshold: relative threshold defining the support.

  Returns:
    ``[n]`` the solution clipped to the simplex (uniform if the system is singular); certify it
    with :func:`~jaxpref.metrics.duality_gap` before use.
  """
  n = P.shape[-1]
  mask = x > threshold * jnp.max(x)
  both = mask[:, None] & mask[None, :]
  M = jnp.where(both, P, 0.0) + jnp.diag(jnp.where(mask, 0.0, 1.0).astype(P.dtype))
  y = jnp.linalg.solve(M, jnp.where(mask, 0.5, 0.0).astype(P.dtype))
  y = jnp.where(mask & jnp.isfinite(y), jnp.maximum(y, 0.0), 0.0)
  total = jnp.sum(y)
  return jnp.where(
    total > 0, y / jnp.where(total > 0, total, 1.0), jnp.full((n,), 1.0 / n, P.dtype)
  )


def _tree_where(cond: Array, new: Any, old: Any) -> Any:
  def pick(a, b):
    c = cond.reshape(cond.shape + (1,) * (a.ndim - cond.ndim))
    return jnp.where(c, a, b)

  return jax.tree.map(pick, new, old)


def _code_key(code: types.CodeType) -> tuple:
  consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
  return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars)


class _Static:
  """A static (hashable) callable: functions compare by their code and captured values.

  Two lambdas written alike (``lambda p: sampled_operator(p, num_samples=16)`` built twice, or in a
  loop) are the same static argument, so :func:`solve` compiles once for both. A closure over an
  unhashable value (an array) falls back to identity: pass arrays as pytree leaves instead
  (``jax.tree_util.Partial``), which :func:`solve` traces.
  """

  def __init__(self, value: Any):
    self.value = value
    self.key = self._key(value)

  @staticmethod
  def _key(value: Any) -> Any:
    if isinstance(value, types.FunctionType):
      try:
        cells = tuple(c.cell_contents for c in value.__closure__ or ())
        kwdefaults = tuple(sorted((value.__kwdefaults__ or {}).items()))
        key = (value.__module__, _code_key(value.__code__), cells, value.__defaults__, kwdefaults)
        hash(key)
        return key
      except (TypeError, ValueError):
        return ("id", id(value))
    try:
      hash(value)
      return ("value", value)
    except TypeError:
      return ("id", id(value))

  def __hash__(self) -> int:
    return hash(self.key)

  def __eq__(self, other: object) -> bool:
    return isinstance(other, _Static) and self.key == other.key


def _is_array(leaf: Any) -> bool:
  return isinstance(leaf, jax.Array | np.ndarray | np.generic | float | int | complex) and not (
    isinstance(leaf, bool)
  )


def _partition(tree: Any) -> tuple[list[Any], tuple[Any, ...]]:
  """Splits a pytree into traced leaves (arrays, numbers) and a hashable static remainder."""
  leaves, treedef = jax.tree.flatten(tree)
  dynamic = [leaf if _is_array(leaf) else None for leaf in leaves]
  static = tuple(None if _is_array(leaf) else _Static(leaf) for leaf in leaves)
  return dynamic, (treedef, static)


def _combine(dynamic: list[Any], static: tuple[Any, ...]) -> Any:
  treedef, parts = static
  leaves = [d if s is None else s.value for d, s in zip(dynamic, parts, strict=True)]
  return jax.tree.unflatten(treedef, leaves)


def _check_inputs(P: ArrayLike, init: ArrayLike | None, ref_policy: ArrayLike | None) -> None:
  if isinstance(P, jax.core.Tracer):
    check_preference_shape(P.shape, P.dtype)  # Values are checked in the graph (solve).
    return
  validate_preference_matrix(P)
  n = np.shape(P)[-1]
  for name, v in (("init", init), ("ref_policy", ref_policy)):
    if v is None or isinstance(v, jax.core.Tracer):
      continue
    a = np.asarray(v, dtype=np.float64)
    if a.shape[-1:] != (n,) or not np.all(np.isfinite(a)) or np.any(a < 0):
      raise ValueError(f"solve: {name} must be [..., {n}] finite non-negative weights")
    if np.any(a.sum(-1) <= 0):
      raise ValueError(f"solve: {name} has an all-zero row")


def _regularized(kl_coef: Any) -> bool | None:
  """Whether the target game is regularized, when it is known before tracing."""
  if isinstance(kl_coef, jax.core.Tracer):
    return None
  value = np.asarray(kl_coef)
  if value.ndim or not np.isfinite(value):
    return None
  return bool(value > 0)


class _Options(NamedTuple):
  """Static options of the compiled loop."""

  num_checks: int
  check_every: int
  log_every: int
  restart: bool
  polish: bool
  polish_every: int
  regularized: bool | None
  use_key: bool
  tile_size: int


def solve(
  P: ArrayLike,
  solver: Solver | None = None,
  *,
  operator: Any = None,
  key: PRNGKey | None = None,
  init: ArrayLike | None = None,
  ref_policy: ArrayLike | None = None,
  tol: float = 1e-4,
  max_steps: int = 20_000,
  check_every: int = 16,
  restart: bool | None = None,
  restart_factor: float = 0.5,
  polish: bool | None = None,
  polish_every: int | None = None,
  num_logs: int = 64,
  tile_size: int | None = None,
) -> SolveResult:
  r"""Runs ``solver`` on a batch of games until each one's gap is certified below ``tol``.

  The certified quantity is :math:`\mathrm{Gap}(\pi) = 2\max_i (P\pi)_i - 1` for solvers of the
  unregularized game and :math:`\mathrm{Gap}_\beta(\pi)`
  (:func:`~jaxpref.metrics.regularized_duality_gap`) for solvers with ``kl_coef > 0`` (a traced
  ``kl_coef`` selects per value). The returned policy is the best of the last iterate, the averaged
  iterate and the support polish, whichever has the smallest certified gap.

  Called with concrete arrays, the compiled program is kept on disk between processes
  (``$JAXPREF_CACHE_DIR``, by default ``~/.cache/jaxpref/executables``; an empty value turns it
  off), so a new process's first call for a known shape loads it instead of compiling.

  Args:
    P: ``[..., n, n]`` preference matrices (validated when concrete). Its dtype sets the working
      precision: pass float64 with ``jax_enable_x64`` for tolerances below about 1e-6.
    solver: a :class:`~jaxpref.equilibria.Solver`; restarted :func:`projected_extragradient` with
      support polish when ``None``. Its hyperparameters are traced: a new value does not recompile.
    operator: the oracle the solver queries; certificates always use the exact ``P``. ``None``:
      the exact :func:`matrix_operator`. A matrix ``[..., n, n]``: exact queries of that matrix
      (for example a learned model's game). A callable ``operator(P_game) -> Operator`` (for
      example ``lambda p: sampled_operator(p, num_samples=16)``); callables written alike compile
      once, and the array leaves of a pytree callable (``jax.tree_util.Partial``) are traced.
    key: PRNG key, required by sampled operators.
    init: ``[..., n]`` starting policies; ``ref_policy`` (or uniform) when ``None``.
    ref_policy: ``[..., n]`` reference :math:`\pi_{\mathrm{ref}}` of the regularized game; uniform
      when ``None``.
    tol: certified gap to reach.
    max_steps: step budget per game.
    check_every: steps between certificates (each costs two queries: last and average).
    restart: restart the solver at its average (or last iterate) whenever the certified gap has
      shrunk by ``restart_factor`` since the last restart; defaults to True for solvers that
      can restart.
    restart_factor: see ``restart``.
    polish: try the support polish at certificates; defaults to True unless the solver's
      ``kl_coef`` is known to be positive.
    polish_every: certificates between support polishes (an O(n^3) solve); chosen so that the
      polish costs a fraction of the steps when ``None``.
    num_logs: maximum number of history entries.
    tile_size: games advanced together by the straggler tiling (about 1 MiB of matrices per tile
      when ``None``); ``0`` maps the per-game loop with a plain ``jax.vmap`` instead.

  Returns:
    A :class:`SolveResult`.

  Raises:
    ValueError: ``P`` is not a batch of preference matrices (under ``jit`` only its shape is
      checked here: a traced matrix that fails the value checks gets ``converged=False`` and a NaN
      gap), or bad ``init`` / ``ref_policy`` / options.

  Examples:
    >>> import jax.numpy as jnp
    >>> rps = jnp.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    >>> result = solve(rps, tol=1e-6)
    >>> bool(result.converged), [round(float(p), 4) for p in result.policy]
    (True, [0.3333, 0.3333, 0.3333])
  """
  _check_inputs(P, init, ref_policy)
  if not isinstance(tol, jax.core.Tracer) and (tol <= 0 or not math.isfinite(tol)):
    raise ValueError(f"tol must be a positive number, got {tol}")
  if max_steps < 1 or check_every < 1:
    raise ValueError("max_steps and check_every must be >= 1")
  if tile_size is not None and tile_size < 0:
    raise ValueError(f"tile_size must be >= 0 (0: plain vmap), got {tile_size}")
  solver = projected_extragradient() if solver is None else solver
  if not isinstance(solver, Solver):
    raise TypeError(f"solve: solver must be a jaxpref.equilibria.Solver, got {type(solver)}")
  restart = solver.can_restart if restart is None else bool(restart)
  if restart and not solver.can_restart:
    raise ValueError(f"solver {solver.name!r} does not support restarts")
  regularized = _regularized(solver.kl_coef)
  polish = (regularized is not True) if polish is None else bool(polish)
  P = jnp.asarray(P)
  if not jnp.issubdtype(P.dtype, jnp.floating):
    P = P.astype(jnp.float32)
  batch_shape, n = P.shape[:-2], P.shape[-1]
  B = math.prod(batch_shape)
  flat_P = P.reshape((B, n, n))
  if operator is not None and not callable(operator):
    query_P = jnp.broadcast_to(jnp.asarray(operator, P.dtype), P.shape).reshape((B, n, n))
    operator = None
  else:
    query_P = flat_P
  op_dynamic, op_static = _partition(operator)
  ref_b = jnp.broadcast_to(
    jnp.full((n,), 1.0 / n, P.dtype) if ref_policy is None else jnp.asarray(ref_policy, P.dtype),
    (*batch_shape, n),
  ).reshape((B, n))
  init_b = (
    ref_b if init is None else jnp.broadcast_to(jnp.asarray(init, P.dtype), (*batch_shape, n))
  )
  init_b = init_b.reshape((B, n))
  init_b = init_b / jnp.sum(init_b, axis=-1, keepdims=True)
  ref_b = ref_b / jnp.sum(ref_b, axis=-1, keepdims=True)
  num_checks = -(-max_steps // check_every)
  options = _Options(
    num_checks=num_checks,
    check_every=int(check_every),
    log_every=-(-num_checks // max(num_logs, 1)),
    restart=restart,
    polish=polish,
    polish_every=max(1, round(n / (3 * check_every))) if polish_every is None else polish_every,
    regularized=regularized,
    use_key=key is not None,
    tile_size=auto_tile(n, B) if tile_size is None else int(tile_size),
  )
  result = _solve_batch(
    flat_P,
    query_P,
    init_b,
    ref_b,
    jax.random.key(0) if key is None else key,
    solver,
    op_dynamic,
    jnp.asarray(tol, P.dtype),
    jnp.asarray(restart_factor, P.dtype),
    op_static=op_static,
    options=options,
  )
  if isinstance(P, jax.core.Tracer):  # Not validated on the host: no certificate for a non-game.
    valid = is_preference_matrix(flat_P)
    result = result._replace(
      gap=jnp.where(valid, result.gap, jnp.nan), converged=result.converged & valid
    )
  unflat = lambda a: a.reshape(batch_shape + a.shape[1:])  # noqa: E731
  history = result.history._replace(
    last=unflat(result.history.last),
    average=unflat(result.history.average),
    best=unflat(result.history.best),
  )
  return jax.tree.map(unflat, result._replace(history=None))._replace(history=history)


class SolveState(NamedTuple):
  """Per-game loop state of :func:`solve` and :func:`certified_loop`.

  Attributes:
    state: the solver's state.
    best_x: ``[n]`` best certified candidate so far.
    best_gap: its certified gap.
    source: where it came from (:data:`LAST`, :data:`AVERAGE`, :data:`POLISHED`).
    done: whether the game is certified below the tolerance.
    steps: solver steps taken.
    queries: operator calls spent, certificates included.
    ref_gap: the gap at the last restart.
    hist_last: logged gaps of the last iterate.
    hist_average: logged gaps of the averaged iterate.
    hist_best: logged best gaps.
  """

  state: Any
  best_x: Array
  best_gap: Array
  source: Array
  done: Array
  steps: Array
  queries: Array
  ref_gap: Array
  hist_last: Array
  hist_average: Array
  hist_best: Array


def _period(
  P: Array,
  query_P: Array,
  ref: Array,
  key: PRNGKey,
  c: SolveState,
  it: Array,
  *,
  solver: Solver,
  make_op: Any,
  target: Array,
  restart_factor: Array,
  opts: _Options,
) -> SolveState:
  """One certificate period for one game: ``check_every`` steps, then the certificates."""
  op: Operator = make_op(query_P)
  gap = lambda x: certified_gap(  # noqa: E731
    P, x, kl_coef=solver.kl_coef, ref_policy=ref, regularized=opts.regularized
  )

  def body(s, k):
    return solver.step(s, op, key=k if opts.use_key else None), None

  # Keys only for operators that sample (threefry is costly to compile, even where unused).
  keys = jax.random.split(key, opts.check_every) if opts.use_key else None
  state = jax.lax.scan(body, c.state, keys, length=opts.check_every)[0]
  last, avg = state.policy, average_value(state.average)
  g_last, g_avg = gap(last), gap(avg)
  cands = [(last, g_last, LAST), (avg, g_avg, AVERAGE)]
  if opts.polish:
    pol = jax.lax.cond(
      it % opts.polish_every == opts.polish_every - 1,
      lambda: support_polish(P, last),
      lambda: c.best_x,
    )
    cands.append((pol, gap(pol), POLISHED))
  best_x, best_gap, source = c.best_x, c.best_gap, c.source
  for x, g, src in cands:
    better = jnp.isfinite(g) & (g < best_gap)
    best_x = jnp.where(better, x, best_x)
    best_gap = jnp.where(better, g, best_gap)
    source = jnp.where(better, src, source)
  ref_gap = c.ref_gap
  if opts.restart:
    use_avg = (g_avg <= restart_factor * ref_gap) & (g_avg <= g_last)
    use_last = ~use_avg & (g_last <= restart_factor * ref_gap)
    restarted = solver.restart(state, jnp.where(use_avg, avg, last))
    state = _tree_where(use_avg | use_last, restarted, state)
    ref_gap = jnp.where(use_avg, g_avg, jnp.where(use_last, g_last, ref_gap))
  slot = it // opts.log_every
  write = it % opts.log_every == opts.log_every - 1
  put = lambda h, v: h.at[slot].set(jnp.where(write, v, h[slot]))  # noqa: E731
  new = SolveState(
    state,
    best_x,
    best_gap,
    source,
    c.done | (best_gap <= target),
    c.steps + opts.check_every,
    c.queries + opts.check_every * solver.queries_per_step + 2,
    ref_gap,
    put(c.hist_last, g_last),
    put(c.hist_average, g_avg),
    put(c.hist_best, best_gap),
  )
  return _tree_where(c.done, c, new)  # a certified game stays frozen


def _target(tol: Array, n: int, dtype: Any) -> Array:
  """The gap certified internally: a float32 gap is computed to about sqrt(n) ulps."""
  margin = 4.0 * math.sqrt(n) * float(jnp.finfo(dtype).eps)
  return jnp.maximum(tol - margin, 0.5 * tol)


def _start(
  P: Array, init: Array, ref: Array, *, solver: Solver, target: Array, regularized, num_logs: int
) -> SolveState:
  gap0 = certified_gap(P, init, kl_coef=solver.kl_coef, ref_policy=ref, regularized=regularized)
  gap0 = jnp.where(jnp.isfinite(gap0), gap0, jnp.inf)
  nan_logs = jnp.full((num_logs,), jnp.nan, P.dtype)
  return SolveState(
    state=solver.init(init, ref_policy=ref),
    best_x=init,
    best_gap=gap0,
    source=jnp.zeros((), jnp.int32),
    done=gap0 <= target,
    steps=jnp.zeros((), jnp.int32),
    queries=jnp.zeros((), jnp.int32),
    ref_gap=gap0,
    hist_last=nan_logs,
    hist_average=nan_logs,
    hist_best=nan_logs,
  )


class CertifiedLoop(NamedTuple):
  """:func:`solve`'s per-game loop as an ``(init, step)`` pair, for a driver of one's own.

  Attributes:
    init: ``init(P, policy, ref_policy=None) -> SolveState`` for one ``[n, n]`` game.
    step: ``step(state, P, it, *, key=None, ref_policy=None) -> SolveState``: one certificate
      period (``check_every`` solver steps, then the certificates) of period index ``it``, with
      the ``ref_policy`` given to ``init``; a certified game stays frozen.
  """

  init: Callable[..., Any]
  step: Callable[..., Any]


def certified_loop(
  solver: Solver,
  *,
  tol: ArrayLike = 1e-4,
  check_every: int = 16,
  restart: bool | None = None,
  restart_factor: ArrayLike = 0.5,
  polish: bool | None = None,
  polish_every: int | None = None,
  operator: Any = None,
) -> CertifiedLoop:
  r"""The certified loop of :func:`solve` for one game, to be driven step by step.

  :func:`solve` runs ``step`` until the game is certified; an experiment engine can run it for a
  fixed number of periods instead (vmapped over seeds and hyperparameters) and read
  ``state.best_gap``, ``state.queries`` and ``state.done`` as metrics. Same options as
  :func:`solve` (``operator`` a callable ``operator(P) -> Operator``).

  Args:
    solver: the :class:`~jaxpref.equilibria.Solver` (its hyperparameters may be traced).
    tol: certified gap at which the game is done.
    check_every: solver steps per period.
    restart: restart at the average / last iterate when the gap has shrunk by
      ``restart_factor``; defaults to whether the solver can restart.
    restart_factor: see ``restart``.
    polish: try the support polish; defaults to True unless ``kl_coef`` is known to be positive.
    polish_every: periods between polishes; from ``n`` when ``None``.
    operator: the oracle the solver queries; the exact matrix when ``None``.

  Returns:
    A :class:`CertifiedLoop`.
  """
  restart = solver.can_restart if restart is None else bool(restart)
  if restart and not solver.can_restart:
    raise ValueError(f"solver {solver.name!r} does not support restarts")
  regularized = _regularized(solver.kl_coef)
  polish = (regularized is not True) if polish is None else bool(polish)
  make_op = matrix_operator if operator is None else operator

  def options(n: int, use_key: bool) -> _Options:
    every = max(1, round(n / (3 * check_every))) if polish_every is None else polish_every
    return _Options(1, int(check_every), 1, restart, polish, every, regularized, use_key, 0)

  def init(P: Array, policy: Array, ref_policy: Array | None = None) -> SolveState:
    P = jnp.asarray(P)
    n = P.shape[-1]
    ref = jnp.full((n,), 1.0 / n, P.dtype) if ref_policy is None else jnp.asarray(ref_policy)
    policy = jnp.asarray(policy, P.dtype)
    target = _target(jnp.asarray(tol, P.dtype), n, P.dtype)
    return _start(
      P,
      policy / jnp.sum(policy),
      ref / jnp.sum(ref),
      solver=solver,
      target=target,
      regularized=regularized,
      num_logs=1,
    )

  def step(
    state: SolveState,
    P: Array,
    it: Array,
    *,
    key: PRNGKey | None = None,
    ref_policy: Array | None = None,
  ) -> SolveState:
    n = P.shape[-1]
    ref = jnp.full((n,), 1.0 / n, P.dtype) if ref_policy is None else jnp.asarray(ref_policy)
    ref = ref / jnp.sum(ref)
    return _period(
      P,
      P,
      ref,
      jax.random.key(0) if key is None else key,
      state,
      jnp.asarray(it, jnp.int32),
      solver=solver,
      make_op=make_op,
      target=_target(jnp.asarray(tol, P.dtype), n, P.dtype),
      restart_factor=jnp.asarray(restart_factor, P.dtype),
      opts=options(n, key is not None),
    )

  return CertifiedLoop(init, step)


def _run(
  P: Array,
  query_P: Array,
  init: Array,
  ref: Array,
  key: PRNGKey,
  solver: Solver,
  op_dynamic: list[Any],
  tol: Array,
  restart_factor: Array,
  *,
  op_static: tuple[Any, ...],
  options: _Options,
) -> SolveResult:
  opts = options
  B, n = init.shape
  dtype = P.dtype
  operator = _combine(op_dynamic, op_static)
  make_op = matrix_operator if operator is None else operator
  num_logs = -(-opts.num_checks // opts.log_every)
  target = _target(tol, n, dtype)
  period = functools.partial(
    _period,
    solver=solver,
    make_op=make_op,
    target=target,
    restart_factor=restart_factor,
    opts=opts,
  )

  start = functools.partial(
    _start, solver=solver, target=target, regularized=opts.regularized, num_logs=num_logs
  )

  def game_key(idx: Array, it: Array) -> PRNGKey:
    if not opts.use_key:
      return key
    return jax.random.fold_in(jax.random.fold_in(key, it), idx)

  if opts.tile_size == 0:  # the per-game loop, vmapped

    def one_game(P_g, q_g, init_g, ref_g, idx):
      def cond(loop):
        return (loop[1] < opts.num_checks) & ~loop[0].done

      def body(loop):
        c, it = loop
        return period(P_g, q_g, ref_g, game_key(idx, it), c, it), it + 1

      c0 = start(P_g, init_g, ref_g)
      return jax.lax.while_loop(cond, body, (c0, jnp.int32(0)))[0]

    c = jax.vmap(one_game)(P, query_P, init, ref, jnp.arange(B))
  else:
    tile = opts.tile_size
    pad = -B % tile
    padded = lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]) if pad else a  # noqa: E731
    P_p, q_p, ref_p = padded(P), padded(query_P), padded(ref)
    c0 = jax.vmap(start)(P_p, padded(init), ref_p)
    c0 = c0._replace(done=c0.done | (jnp.arange(B + pad) >= B))

    def advance(sub: SolveState, idx: Array, it: Array) -> SolveState:
      keys = jax.vmap(game_key, in_axes=(0, None))(idx, it)
      vperiod = jax.vmap(period, in_axes=(0, 0, 0, 0, 0, None))
      return vperiod(P_p[idx], q_p[idx], ref_p[idx], keys, sub, it)

    # Small games in small tiles: one sweep (half the compiled program); a straggler then drags a
    # tile of under 32 games of n < 64, about the cost of one.
    small = tile if tile < 32 and n < 64 else None
    c = run_tiled(advance, c0, lambda c: c.done, num_iters=opts.num_checks, tile=tile, small=small)
    c = jax.tree.map(lambda a: a[:B], c)
  log_steps = (jnp.arange(num_logs) + 1) * opts.log_every * opts.check_every
  return SolveResult(
    policy=c.best_x,
    gap=c.best_gap,
    converged=c.best_gap <= tol,
    num_queries=c.queries,
    num_steps=c.steps,
    source=c.source,
    history=SolveHistory(log_steps, c.hist_last, c.hist_average, c.hist_best),
  )


# On CPU, XLA's older loop emitters with LLVM at -O1 compile this program in 35-40% less time
# (2.1-2.7 s -> 1.3-1.9 s at n = 10-200) at the same speed per batch (benchmarks/README.md).
_CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1}
_solve_batch = CachedProgram(
  _run, name="solve", static_argnames=("op_static", "options"), cpu_options=_CPU_OPTIONS
)
