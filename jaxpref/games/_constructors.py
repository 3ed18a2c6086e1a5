"""Constructors of preference games ``P[..., n, n]`` (pure, jittable, batched over leading axes).

Every constructor returns ``P`` with ``P[..., i, j] = Prob(i beats j)`` and ``P + P^T = 1`` (up to
floating-point rounding), in JAX's default float dtype unless stated otherwise.
"""

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike, PRNGKey


def _skew_to_preference(A: Array) -> Array:
  """Maps a skew-symmetric payoff ``A`` with entries in [-1/2, 1/2] to ``P = 1/2 + A``."""
  return 0.5 + A


def uniform_random_game(key: PRNGKey, n: int, batch_shape: Sequence[int] = ()) -> Array:
  r"""Random intransitive game of EGPO: lower triangle i.i.d. uniform, the rest by antisymmetry.

  .. math::
    P_{ij} \sim U(0, 1) \ (i > j), \qquad P_{ij} = 1 - P_{ji} \ (i < j), \qquad P_{ii} = 1/2.

  These are the hard games of the benchmarks: the equilibrium is unique almost surely and its
  support holds about half the items.

  Args:
    key: PRNG key.
    n: number of items (static), ``n >= 2``.
    batch_shape: leading batch shape; each game uses independent draws.

  Returns:
    ``[*batch_shape, n, n]`` preference matrices.

  References:
    Zhou, Fazel, Du, Extragradient Preference Optimization (EGPO), COLM 2025, simulation code.
    https://arxiv.org/abs/2503.08942

  Examples:
    >>> import jax
    >>> uniform_random_game(jax.random.key(0), 4, batch_shape=(2,)).shape
    (2, 4, 4)
  """
  if int(n) < 2:
    raise ValueError(f"uniform_random_game needs n >= 2; got n = {n}.")
  return _uniform_random_game(key, int(n), tuple(int(b) for b in batch_shape))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _uniform_random_game(key: PRNGKey, n: int, batch_shape: tuple[int, ...]) -> Array:
  # One flat draw reshaped: the same numbers as a draw of the full shape (JAX's counter-based
  # PRNG numbers the elements in row-major order), and a far smaller program to compile.
  u = jax.random.uniform(key, (math.prod(batch_shape) * n * n,)).reshape((*batch_shape, n, n))
  row = jnp.arange(n)[:, None]
  col = jnp.arange(n)[None, :]
  return jnp.where(row > col, u, jnp.where(row < col, 1.0 - jnp.swapaxes(u, -1, -2), 0.5))


def bradley_terry_game(scores: ArrayLike) -> Array:
  r"""Bradley-Terry (transitive) game from per-item scores.

  .. math:: P_{ij} = \sigma(r_i - r_j) = 1 / (1 + e^{-(r_i - r_j)}).

  Its equilibrium is the point mass on the best-scored item (uniform over tied best items).

  Args:
    scores: ``[..., n]`` real scores ``r``.

  Returns:
    ``[..., n, n]`` preference matrices.

  References:
    Bradley & Terry, Rank analysis of incomplete block designs, Biometrika 1952.

  Examples:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> np.asarray(bradley_terry_game(jnp.array([1.0, 0.0])), dtype=float).round(4).tolist()
    [[0.5, 0.7311], [0.2689, 0.5]]
  """
  r = jnp.asarray(scores)
  if r.ndim < 1 or r.shape[-1] < 2:
    raise ValueError(f"bradley_terry_game needs scores of shape [..., n], n >= 2; got {r.shape}.")
  return jax.nn.sigmoid(r[..., :, None] - r[..., None, :])


def cyclic_game(n: int, margin: ArrayLike = 0.5) -> Array:
  r"""Cyclic tournament (generalized rock-paper-scissors) on an odd number of items.

  Item ``i`` beats the next ``(n - 1) / 2`` items cyclically:

  .. math::
    P_{i, (i + k) \bmod n} = 1/2 + m, \qquad P_{(i + k) \bmod n, i} = 1/2 - m,
    \qquad k = 1, \dots, (n-1)/2.

  Every item beats and loses to exactly half of the others by the same margin, so the unique
  equilibrium is uniform.

  Args:
    n: odd number of items, ``n >= 3`` (static).
    margin: ``[...]`` margin ``m`` in ``(0, 1/2]``; ``m = 1/2`` gives deterministic wins.

  Returns:
    ``[..., n, n]`` preference matrices.

  References:
    Fishburn, Probabilistic social choice based on simple voting comparisons, Rev. Econ. Stud. 1984.

  Examples:
    >>> cyclic_game(3, 0.5).tolist()
    [[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]
  """
  n = int(n)
  if n < 3 or n % 2 == 0:
    raise ValueError(f"cyclic_game needs an odd n >= 3; got n = {n}.")
  offset = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n
  sign = np.where(offset == 0, 0.0, np.where(offset <= (n - 1) // 2, 1.0, -1.0))
  m = jnp.asarray(margin, dtype=jnp.result_type(float))
  return _skew_to_preference(m[..., None, None] * jnp.asarray(sign, dtype=m.dtype))


def weighted_three_cycle_game(margins: ArrayLike) -> Array:
  r"""Weighted 3-cycle: item 0 beats 1, 1 beats 2 and 2 beats 0 by the given margins.

  With margins :math:`(a, b, c)`, :math:`P_{01} = 1/2 + a`, :math:`P_{12} = 1/2 + b`,
  :math:`P_{20} = 1/2 + c`. For positive margins the unique equilibrium is in closed form: each
  item's mass is the margin of the duel it does not take part in,

  .. math:: \pi^* = (b, c, a) / (a + b + c).

  Args:
    margins: ``[..., 3]`` margins in ``(0, 1/2]``.

  Returns:
    ``[..., 3, 3]`` preference matrices.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024, Sec. 3.2.
    https://arxiv.org/abs/2312.00886

  Examples:
    >>> round(float(weighted_three_cycle_game(jnp.array([0.3, 0.1, 0.2]))[0, 1]), 6)
    0.8
  """
  m = jnp.asarray(margins, dtype=jnp.result_type(float))
  if m.ndim < 1 or m.shape[-1] != 3:
    raise ValueError(f"weighted_three_cycle_game needs margins of shape [..., 3]; got {m.shape}.")
  a, b, c = m[..., 0], m[..., 1], m[..., 2]
  z = jnp.zeros_like(a)
  A = jnp.stack(
    [jnp.stack([z, a, -c], -1), jnp.stack([-a, z, b], -1), jnp.stack([c, -b, z], -1)], -2
  )
  return _skew_to_preference(A)


def three_types_game(eps: ArrayLike) -> Array:
  r"""The three-rater-types example of NLHF (Munos et al. 2024, Sec. 3.2).

  Rater types with masses :math:`p_1 = 1/3 - \varepsilon`, :math:`p_2 = p_3 = 1/3 + \varepsilon/2`
  over items :math:`(y_1, y_2, y_3)`: type 1 prefers :math:`y_2 \succ y_1`, type 2
  :math:`y_1 \succ y_3`, type 3 :math:`y_3 \succ y_2`, and every other pair is a tie. Hence

  .. math::
    P(y_2 \succ y_1) = \tfrac12 + \tfrac{p_1}{2}, \quad
    P(y_1 \succ y_3) = \tfrac12 + \tfrac{p_2}{2}, \quad
    P(y_3 \succ y_2) = \tfrac12 + \tfrac{p_3}{2},

  and the Nash equilibrium :math:`(p_3, p_2, p_1)` moves continuously with :math:`\varepsilon`,
  whereas the Bradley-Terry optimum jumps from one item to another as :math:`\varepsilon` crosses 0.

  Args:
    eps: ``[...]`` perturbation with ``|eps| < 1/3``.

  Returns:
    ``[..., 3, 3]`` preference matrices.

  References:
    Munos et al., Nash Learning from Human Feedback, ICML 2024. https://arxiv.org/abs/2312.00886

  Examples:
    >>> round(float(three_types_game(0.0)[1, 0]), 6)
    0.666667
  """
  e = jnp.asarray(eps, dtype=jnp.result_type(float))
  p1, p2, p3 = 1 / 3 - e, 1 / 3 + e / 2, 1 / 3 + e / 2
  # In weighted_three_cycle_game's orientation (0 > 1 > 2 > 0) after relabelling y1->0, y3->1,
  # y2->2:
  # 0 beats 1 by p2/2, 1 beats 2 by p3/2, 2 beats 0 by p1/2.
  P = weighted_three_cycle_game(jnp.stack([p2 / 2, p3 / 2, p1 / 2], -1))
  order = jnp.array([0, 2, 1])  # back to (y1, y2, y3)
  return P[..., order, :][..., :, order]


def perturbed_rps_game() -> Array:
  r"""Perturbed rock-paper-scissors of OpenSpiel's ``mmd_matrix_example``.

  Payoff :math:`A = [[0, -1, 3], [1, 0, -3], [-3, 3, 0]]` mapped to a preference matrix
  :math:`P = 1/2 + A / (2 \max|A|) = 1/2 + A/6`. Its equilibrium is :math:`(3, 3, 1)/7`.

  Returns:
    ``[3, 3]`` preference matrix.

  References:
    Sokota et al., A Unified Approach to Reinforcement Learning, Quantal Response Equilibria, and
    Two-Player Zero-Sum Games, ICLR 2023. https://arxiv.org/abs/2206.05825

  Examples:
    >>> float(perturbed_rps_game()[0, 2])
    1.0
  """
  A = jnp.array([[0.0, -1.0, 3.0], [1.0, 0.0, -3.0], [-3.0, 3.0, 0.0]])
  return _skew_to_preference(A / 6.0)


def majority_of_raters(
  features: ArrayLike, raters: ArrayLike, rater_weights: ArrayLike | None = None
) -> Array:
  r"""Preferences of a population of linear raters (SPO-style Condorcet cycles).

  Rater :math:`r` scores item :math:`i` by :math:`u_{ri} = \langle w_r, f_i \rangle`; the population
  prefers :math:`i` to :math:`j` with probability

  .. math::
    P_{ij} = \sum_r \rho_r \left( \mathbb 1[u_{ri} > u_{rj}] + \tfrac12 \mathbb 1[u_{ri} = u_{rj}]
    \right),

  with rater weights :math:`\rho` normalized to sum to one. Three raters over three items whose
  rankings are cyclic shifts give the Condorcet cycle :math:`P_{01} = P_{12} = P_{20} = 2/3`, which
  no single reward model can represent.

  Args:
    features: ``[..., n, d]`` item features.
    raters: ``[..., m, d]`` linear rater weight vectors.
    rater_weights: optional ``[..., m]`` nonnegative population masses (default uniform).

  Returns:
    ``[..., n, n]`` preference matrices.

  References:
    Swamy et al., A Minimaximalist Approach to Reinforcement Learning from Human Feedback, ICML
    2024. https://arxiv.org/abs/2401.04056

  Examples:
    >>> import jax.numpy as jnp
    >>> raters = jnp.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0]])
    >>> round(float(majority_of_raters(jnp.eye(3), raters)[0, 1]), 6)
    0.666667
  """
  f = jnp.asarray(features, dtype=jnp.result_type(float))
  w = jnp.asarray(raters, dtype=f.dtype)
  if f.ndim < 2 or w.ndim < 2 or f.shape[-1] != w.shape[-1]:
    raise ValueError(
      "majority_of_raters needs features [..., n, d] and raters [..., m, d] with the same d; "
      f"got {f.shape} and {w.shape}."
    )
  u = jnp.einsum("...md,...nd->...mn", w, f)  # [..., m, n] utilities
  diff = u[..., :, :, None] - u[..., :, None, :]  # [..., m, n, n]
  votes = jnp.where(diff > 0, 1.0, jnp.where(diff == 0, 0.5, 0.0))
  if rater_weights is None:
    return jnp.mean(votes, axis=-3)
  rho = jnp.asarray(rater_weights, dtype=f.dtype)
  rho = rho / jnp.sum(rho, axis=-1, keepdims=True)
  return jnp.einsum("...m,...mij->...ij", rho, votes)
