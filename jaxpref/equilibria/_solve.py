r"""Batched equilibrium computation to a certified duality gap.

:func:`solve` runs any :class:`~jaxpref.equilibria.Solver` on a batch of preference matrices inside
one compiled ``lax.while_loop``. Every ``check_every`` steps it certifies each game with the exact
matrix: the duality gap (or the regularized gap when the solver targets :math:`\pi^*_\beta`) of the
last iterate, of the averaged iterate and, for the unregularized game, of a *support polish*. A game
whose best candidate is within ``tol`` is frozen (its state stops changing and its query count
stops growing); the loop ends when all games are done or at ``max_steps``.

The support polish. For a Nash equilibrium :math:`x^*` with support :math:`S`, every item of
:math:`S` ties against :math:`x^*`: :math:`(P x^*)_S = \tfrac12\mathbf 1`. When the iterate has
identified :math:`S` (Euclidean projections make exact zeros), solving the :math:`|S|\times|S|`
linear system :math:`P_{SS}\,x_S = \tfrac12\mathbf 1` gives the equilibrium to working precision.
The polished point is clipped to the simplex and, like every candidate, only accepted through its
certified gap, so a wrong support guess costs time but never accuracy. This is the crossover step of
first-order LP solvers (PDLP) specialised to matrix games.
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.equilibria._base import Operator, Solver, average_value, matrix_operator
from jaxpref.equilibria._projected_extragradient import projected_extragradient
from jaxpref.games import validate_preference_matrix
from jaxpref.metrics import regularized_duality_gap
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


def _gap_fn(kl_coef: float):
  if kl_coef > 0:

    def reg_gap(P: Array, x: Array, ref_x: Array) -> Array:
      return regularized_duality_gap(P, x, kl_coef=kl_coef, ref=ref_x)

    return reg_gap

  def gap(P: Array, x: Array, ref_x: Array) -> Array:
    del ref_x
    px = jnp.dot(P, x, precision=jax.lax.Precision.HIGHEST)
    # For a valid P, Gap(x) = max_i (Px)_i - min_j (x^T P)_j = 2 max_i (Px)_i - sum(x).
    return jnp.maximum(2.0 * jnp.max(px) - jnp.sum(x), 0.0)

  return gap


def support_polish(P: Array, x: Array, threshold: float = 1e-6) -> Array:
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


def _check_inputs(P: ArrayLike, init: ArrayLike | None, ref: ArrayLike | None) -> None:
  if isinstance(P, jax.core.Tracer):
    return
  validate_preference_matrix(P)
  n = np.shape(P)[-1]
  for name, v in (("init", init), ("ref", ref)):
    if v is None or isinstance(v, jax.core.Tracer):
      continue
    a = np.asarray(v, dtype=np.float64)
    if a.shape[-1:] != (n,) or not np.all(np.isfinite(a)) or np.any(a < 0):
      raise ValueError(f"solve: {name} must be [..., {n}] finite non-negative weights")
    if np.any(a.sum(-1) <= 0):
      raise ValueError(f"solve: {name} has an all-zero row")


def solve(
  P: ArrayLike,
  solver: Solver | None = None,
  *,
  tol: float = 1e-4,
  max_steps: int = 20_000,
  check_every: int = 16,
  init: ArrayLike | None = None,
  ref: ArrayLike | None = None,
  restart: bool | None = None,
  restart_factor: float = 0.5,
  polish: bool | None = None,
  operator: Any = None,
  key: PRNGKey | None = None,
  num_logs: int = 64,
  tile_size: int | None = None,
  polish_every: int | None = None,
) -> SolveResult:
  r"""Runs ``solver`` on a batch of games until each one's gap is certified below ``tol``.

  The certified quantity is :math:`\mathrm{Gap}(\pi) = 2\max_i (P\pi)_i - 1` for solvers of the
  unregularized game and :math:`\mathrm{Gap}_\beta(\pi)`
  (:func:`~jaxpref.metrics.regularized_duality_gap`) for solvers with ``kl_coef > 0``. The returned
  policy is the best of the last iterate, the averaged iterate and (unregularized game) the
  support polish, whichever has the smallest gap.

  Args:
    P: ``[..., n, n]`` preference matrices (validated when concrete). Its dtype sets the working
      precision: pass float64 with ``jax_enable_x64`` for tolerances below about 1e-6.
    solver: a :class:`~jaxpref.equilibria.Solver`; restarted :func:`projected_extragradient` with
      support polish when ``None``.
    tol: certified gap to reach.
    max_steps: step budget per game.
    check_every: steps between certificates (each costs two queries: last and average).
    init: ``[..., n]`` starting policies; ``ref`` (or uniform) when ``None``.
    ref: ``[..., n]`` reference :math:`\pi_{\mathrm{ref}}` of the regularized game; uniform when
      ``None``.
    restart: restart the solver at its average (or last iterate) whenever the certified gap has
      shrunk by ``restart_factor`` since the last restart; defaults to True for solvers that
      define ``restart``.
    restart_factor: see ``restart``.
    polish: try the support polish at each certificate; defaults to True for the unregularized
      game.
    operator: ``operator(P_game) -> Operator`` building the oracle the solver queries (for example
      ``lambda p: sampled_operator(p, 16)``); the exact :func:`matrix_operator` when ``None``.
      Certificates always use the exact matrix.
    key: PRNG key, required by sampled operators.
    num_logs: maximum number of history entries.
    tile_size: games processed together; only tiles holding unfinished games are computed, so
      finished games cost nothing. About 1 MiB of matrices per tile when ``None``.
    polish_every: certificates between support polishes (an O(n^3) solve); chosen so that the
      polish costs a fraction of the steps when ``None``.

  Returns:
    A :class:`SolveResult`.

  Raises:
    ValueError: ``P`` is not a batch of preference matrices, or bad ``init`` / ``ref`` / options.

  Examples:
    >>> import jax.numpy as jnp
    >>> rps = jnp.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    >>> result = solve(rps, tol=1e-6)
    >>> bool(result.converged), [round(float(p), 4) for p in result.policy]
    (True, [0.3333, 0.3333, 0.3333])
  """
  _check_inputs(P, init, ref)
  if tol <= 0 or not math.isfinite(tol):
    raise ValueError(f"tol must be a positive number, got {tol}")
  if max_steps < 1 or check_every < 1:
    raise ValueError("max_steps and check_every must be >= 1")
  solver = projected_extragradient() if solver is None else solver
  restart = (solver.restart is not None) if restart is None else restart
  if restart and solver.restart is None:
    raise ValueError(f"solver {solver.name!r} does not support restarts")
  polish = (solver.kl_coef == 0) if polish is None else polish
  P = jnp.asarray(P)
  if not jnp.issubdtype(P.dtype, jnp.floating):
    P = P.astype(jnp.float32)
  batch_shape, n = P.shape[:-2], P.shape[-1]
  B = math.prod(batch_shape)
  flat_P = P.reshape((B, n, n))
  ref_b = jnp.broadcast_to(
    jnp.full((n,), 1.0 / n, P.dtype) if ref is None else jnp.asarray(ref, P.dtype),
    (*batch_shape, n),
  ).reshape((B, n))
  init_b = (
    ref_b if init is None else jnp.broadcast_to(jnp.asarray(init, P.dtype), (*batch_shape, n))
  )
  init_b = init_b.reshape((B, n))
  init_b = init_b / jnp.sum(init_b, axis=-1, keepdims=True)
  ref_b = ref_b / jnp.sum(ref_b, axis=-1, keepdims=True)
  num_checks = -(-max_steps // check_every)
  log_every = -(-num_checks // max(num_logs, 1))
  result = _solve_jit(
    flat_P,
    init_b,
    ref_b,
    jax.random.key(0) if key is None else key,
    solver=solver,
    tol=float(tol),
    num_checks=num_checks,
    check_every=int(check_every),
    log_every=log_every,
    restart=bool(restart),
    restart_factor=float(restart_factor),
    polish=bool(polish),
    operator=operator,
    use_key=key is not None,
    tile_size=tile_size,
    polish_every=polish_every,
  )
  unflat = lambda a: a.reshape(batch_shape + a.shape[1:])  # noqa: E731
  history = result.history._replace(
    last=unflat(result.history.last),
    average=unflat(result.history.average),
    best=unflat(result.history.best),
  )
  return jax.tree.map(unflat, result._replace(history=None))._replace(history=history)


class _Carry(NamedTuple):
  """Per-game loop state of :func:`solve` (leading axis: games)."""

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


def _auto_tile(n: int, batch: int) -> int:
  """Games per tile: about 1 MiB of float32 matrices (an L2 cache), a power of two."""
  target = max(1, (1 << 20) // (4 * n * n))
  tile = 1 << (target.bit_length() - 1)
  return max(1, min(tile, 256, 1 << max(batch - 1, 0).bit_length()))


def _run(
  P: Array,
  init: Array,
  ref: Array,
  key: PRNGKey,
  solver: Solver,
  tol: float,
  num_checks: int,
  check_every: int,
  log_every: int,
  restart: bool,
  restart_factor: float,
  polish: bool,
  operator: Any,
  use_key: bool,
  tile_size: int | None,
  polish_every: int | None,
) -> SolveResult:
  B, n = init.shape
  dtype = P.dtype
  make_op = matrix_operator if operator is None else operator
  gap_fn = _gap_fn(solver.kl_coef)
  num_logs = -(-num_checks // log_every)
  # A float32 gap is computed to about sqrt(n) ulps; certify with that margin.
  margin = 4.0 * math.sqrt(n) * float(jnp.finfo(dtype).eps)
  target = max(tol - margin, 0.5 * tol)
  if polish_every is None:
    polish_every = max(1, round(n / (3 * check_every)))
  tile = _auto_tile(n, B) if tile_size is None else int(tile_size)
  num_tiles = -(-B // tile)
  pad = num_tiles * tile - B

  def check(P_g, c: _Carry, ref_g, key_g, it):
    """One certificate period (check_every steps, then certificates) for one game."""
    op: Operator = make_op(P_g)

    def body(s, kk):
      return solver.step(s, op, kk if use_key else None), None

    state = jax.lax.scan(body, c.state, jax.random.split(key_g, check_every))[0]
    last, avg = state.policy, average_value(state.average)
    g_last, g_avg = gap_fn(P_g, last, ref_g), gap_fn(P_g, avg, ref_g)
    cands = [(last, g_last, LAST), (avg, g_avg, AVERAGE)]
    if polish:
      pol = jax.lax.cond(
        it % polish_every == polish_every - 1,
        lambda: support_polish(P_g, last),
        lambda: c.best_x,
      )
      cands.append((pol, gap_fn(P_g, pol, ref_g), POLISHED))
    best_x, best_gap, source = c.best_x, c.best_gap, c.source
    for x, g, src in cands:
      better = jnp.isfinite(g) & (g < best_gap)
      best_x = jnp.where(better, x, best_x)
      best_gap = jnp.where(better, g, best_gap)
      source = jnp.where(better, src, source)
    ref_gap = c.ref_gap
    if restart:
      use_avg = (g_avg <= restart_factor * ref_gap) & (g_avg <= g_last)
      use_last = ~use_avg & (g_last <= restart_factor * ref_gap)
      restarted = solver.restart(state, jnp.where(use_avg, avg, last))
      state = _tree_where(use_avg | use_last, restarted, state)
      ref_gap = jnp.where(use_avg, g_avg, jnp.where(use_last, g_last, ref_gap))
    slot = it // log_every
    write = it % log_every == log_every - 1
    put = lambda h, v: h.at[slot].set(jnp.where(write, v, h[slot]))  # noqa: E731
    new = _Carry(
      state,
      best_x,
      best_gap,
      source,
      c.done | (best_gap <= target),
      c.steps + check_every,
      c.queries + check_every * solver.queries_per_step + 2,
      ref_gap,
      put(c.hist_last, g_last),
      put(c.hist_average, g_avg),
      put(c.hist_best, best_gap),
    )
    return _tree_where(c.done, c, new)  # games already certified stay frozen

  vcheck = jax.vmap(check, in_axes=(0, 0, 0, 0, None))

  padded = lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]) if pad else a  # noqa: E731
  P, init, ref = padded(P), padded(init), padded(ref)
  total = num_tiles * tile
  gap0 = jax.vmap(gap_fn)(P, init, ref)
  gap0 = jnp.where(jnp.isfinite(gap0), gap0, jnp.inf)
  nan_logs = jnp.full((total, num_logs), jnp.nan, dtype)
  carry0 = _Carry(
    state=jax.vmap(solver.init)(init, ref),
    best_x=init,
    best_gap=gap0,
    source=jnp.zeros((total,), jnp.int32),
    done=(gap0 <= target) | (jnp.arange(total) >= B),
    steps=jnp.zeros((total,), jnp.int32),
    queries=jnp.zeros((total,), jnp.int32),
    ref_gap=gap0,
    hist_last=nan_logs,
    hist_average=nan_logs,
    hist_best=nan_logs,
  )

  small = max(1, tile // 16)

  def one_check(loop):
    c, it = loop
    # Active games first, so that the tiles processed below hold (almost) only active games.
    order = jnp.argsort(c.done, stable=True)
    num_active = jnp.sum(~c.done)
    check_key = jax.random.fold_in(key, it)

    def sweep(size: int):
      def tile_body(i, c):
        idx = jax.lax.dynamic_slice(order, (i * size,), (size,))
        sub = jax.tree.map(lambda a: a[idx], c)
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(check_key, idx)
        sub = vcheck(P[idx], sub, ref[idx], keys, it)
        return jax.tree.map(lambda a, b: a.at[idx].set(b), c, sub)

      return lambda c: jax.lax.fori_loop(0, (num_active + size - 1) // size, tile_body, c)

    if small == tile:
      return sweep(tile)(c), it + 1
    # Stragglers get small tiles, so that they do not drag a full tile of finished games along.
    return jax.lax.cond(num_active > 4 * small, sweep(tile), sweep(small), c), it + 1

  c, _ = jax.lax.while_loop(
    lambda loop: (loop[1] < num_checks) & ~jnp.all(loop[0].done), one_check, (carry0, jnp.int32(0))
  )
  c = jax.tree.map(lambda a: a[:B], c)
  log_steps = (jnp.arange(num_logs) + 1) * log_every * check_every
  return SolveResult(
    policy=c.best_x,
    gap=c.best_gap,
    converged=c.best_gap <= tol,
    num_queries=c.queries,
    num_steps=c.steps,
    source=c.source,
    history=SolveHistory(log_steps, c.hist_last, c.hist_average, c.hist_best),
  )


_solve_jit = jax.jit(_run, static_argnums=tuple(range(4, 16)))
