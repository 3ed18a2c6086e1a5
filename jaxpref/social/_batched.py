r"""Margin-based voting rules for a batch of profiles at once, in JAX.

Each rule reads only the margin matrices :math:`M_{ab} = N_{ab} - N_{ba}` (``[..., m, m]``, e.g.
from :func:`jaxpref.social.margins`) and returns a ``[..., m]`` boolean mask of the winners, so
thousands of profiles run in one compiled call. The host rules of the same names
(:data:`jaxpref.social.RULES`) are the reference, and the tests check equality on random profiles
with and without ties:

* ``copeland``: most majority wins minus losses; ``llull``: most wins plus ties;
* ``condorcet``: the Condorcet winner, or every candidate when there is none;
* ``minimax``: the smallest largest margin against (0 for an unbeaten candidate; Simpson-Kramer);
* ``beat_path`` (Schulze): :math:`a` wins iff its strongest path to every :math:`b` is at least as
  strong as :math:`b`'s path back, strongest paths by a Floyd-Warshall widest-path pass;
* ``split_cycle``: :math:`a` defeats :math:`b` iff :math:`M_{ab} > 0` exceeds the strongest path
  from :math:`b` back to :math:`a`; the undefeated win;
* ``top_cycle`` (the Smith set): the candidates that reach every other one in the transitive
  closure of "beats or ties";
* ``uncovered_set`` (Gillies): :math:`a` covers :math:`b` iff :math:`a` beats :math:`b` and every
  candidate beating :math:`a` beats :math:`b`; the uncovered win.

References:
  Schulze, A new monotonic, clone-independent, reversal symmetric, and Condorcet-consistent
  single-winner election method, Social Choice and Welfare 2011; Holliday & Pacuit, Split Cycle: a
  new Condorcet-consistent voting method independent of clones and immune to spoilers, Public
  Choice 2023; Gillies, Solutions to general non-zero-sum games, 1959.
"""

import functools

import jax
import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike

BATCHED_RULES = (
  "copeland",
  "llull",
  "condorcet",
  "minimax",
  "beat_path",
  "split_cycle",
  "top_cycle",
  "uncovered_set",
)


def _best(score: Array, *, lowest: bool = False) -> Array:
  target = jnp.min(score, -1, keepdims=True) if lowest else jnp.max(score, -1, keepdims=True)
  return score == target


def widest_paths(margins: ArrayLike) -> Array:
  """``[..., m, m]`` strongest-path strengths on the positive margins (0 on the diagonal).

  The strength of a path is its smallest margin; :math:`S_{ab}` is the largest over the paths
  from :math:`a` to :math:`b` (Floyd-Warshall, ``m`` max-min passes under ``lax.fori_loop``).
  """
  M = jnp.asarray(margins)
  m = M.shape[-1]
  eye = jnp.eye(m, dtype=bool)
  S = jnp.where((M > 0) & ~eye, M, 0.0)

  def relax(k, S):
    via = jnp.minimum(S[..., :, k, None], S[..., None, k, :])
    return jnp.maximum(S, via)

  return jnp.where(eye, 0.0, jax.lax.fori_loop(0, m, relax, S))


def _closure(R: Array) -> Array:
  m = R.shape[-1]

  def relax(k, R):
    return R | (R[..., :, k, None] & R[..., None, k, :])

  return jax.lax.fori_loop(0, m, relax, R)


@functools.partial(jax.jit, static_argnames=("rule",))
def winner_masks(margins: ArrayLike, rule: str) -> Array:
  """``[..., m]`` winners of ``rule`` for a batch of margin matrices (see the module docstring).

  Args:
    margins: ``[..., m, m]`` antisymmetric margin matrices.
    rule: one of :data:`BATCHED_RULES` (static).

  Returns:
    ``[..., m]`` boolean masks, True for each winner (at least one per profile).

  Raises:
    ValueError: for an unknown rule or a non-square last pair of axes.

  Examples:
    >>> M = jnp.array([[0.0, 3, -1], [-3, 0, 3], [1, -3, 0]])  # a majority cycle
    >>> winner_masks(M, "copeland").tolist()
    [True, True, True]
    >>> winner_masks(M, "beat_path").tolist()
    [True, False, False]
  """
  if rule not in BATCHED_RULES:
    raise ValueError(f"winner_masks: unknown rule {rule!r}; batched rules: {BATCHED_RULES}.")
  M = jnp.asarray(margins)
  if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
    raise ValueError(f"winner_masks: margins must be [..., m, m]; got shape {M.shape}.")
  if not jnp.issubdtype(M.dtype, jnp.floating):
    M = M.astype(jnp.result_type(float))
  m = M.shape[-1]
  off = ~jnp.eye(m, dtype=bool)
  wins = jnp.sum((M > 0) & off, -1)
  losses = jnp.sum((M < 0) & off, -1)
  if rule == "copeland":
    return _best(wins - losses)
  if rule == "llull":
    return _best(m - 1 - losses)
  if rule == "condorcet":
    winner = wins == m - 1
    return jnp.where(jnp.any(winner, -1, keepdims=True), winner, True)
  if rule == "minimax":
    against = jnp.max(jnp.where(off, jnp.swapaxes(M, -1, -2), -jnp.inf), -1)
    return _best(jnp.maximum(against, 0.0), lowest=True)
  if rule in ("beat_path", "split_cycle"):
    S = widest_paths(M)
    back = jnp.swapaxes(S, -1, -2)
    if rule == "beat_path":
      return jnp.all(back <= S, -1)
    return ~jnp.any((M > 0) & (back < M), -2)
  if rule == "top_cycle":
    return jnp.all(_closure(M >= 0), -1)
  beats = (M > 0).astype(M.dtype)  # uncovered_set
  escapes = jnp.swapaxes(beats, -1, -2) @ (1.0 - beats)  # [a, b]: some c beats a but not b
  covers = (M > 0) & (escapes == 0)
  return ~jnp.any(covers, -2)
