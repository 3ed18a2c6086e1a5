r"""APO's accelerated iteration of preference optimization, exact on a categorical policy.

He, Yuan and Gu (Accelerated preference optimization for large language model alignment, 2024)
run rounds of iterative preference optimization, each an exact proximal step from the current
policy :math:`\pi_t` (DPO, IPO or SPPO with :math:`\pi_t` as its reference; with infinite data
and a payoff :math:`g_t`, the minimizer is :math:`\hat\pi_{t+1} \propto \pi_t e^{g_t / \beta}`),
followed by a Nesterov-style extrapolation of the logits,

.. math:: \hat z_{t+1} = z_t + g_t / \beta, \qquad
   z_{t+1} = \hat z_{t+1} + \alpha(\hat z_{t+1} - \hat z_t),

with :math:`z_0 = \hat z_0 = \log \pi_{ref}`, :math:`\beta` = ``kl_coef`` and :math:`\alpha` =
``momentum`` (0 is plain iterative DPO / SPPO). The output of round t is :math:`\hat\pi_{t+1}`
(before extrapolation). The payoff is a reward vector (Bradley-Terry: the DPO case) or, for SPPO on
a preference game, :math:`g_t = P \pi_t`. With a reward gap :math:`\Delta` the sub-optimality
shrinks by about :math:`e^{-\Delta / ((1 - \alpha)\beta)}` per round: the effective step tends to
:math:`1/(1 - \alpha)` times the plain one.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike


def apo_iteration(
  payoff: ArrayLike | Callable[[Array], Array],
  *,
  kl_coef: float,
  momentum: float,
  rounds: int,
  ref_policy: ArrayLike,
) -> Array:
  r"""The policies :math:`\hat\pi_1, \dots, \hat\pi_T` of ``rounds`` exact APO rounds.

  Args:
    payoff: ``[..., n]`` rewards (fixed across rounds), or a function ``pi -> [..., n]`` payoff of
      the current policy (e.g. ``lambda pi: P @ pi`` for SPPO on a game ``P``).
    kl_coef: :math:`\beta > 0`.
    momentum: :math:`\alpha \in [0, 1)`.
    rounds: T (static).
    ref_policy: ``[..., n]`` :math:`\pi_{ref}`, the starting policy.

  Returns:
    ``[rounds, ..., n]`` the output policy of each round.

  Raises:
    ValueError: on ``momentum`` outside [0, 1), ``rounds < 1`` or a non-positive ``kl_coef``.

  Examples:
    >>> import jax.numpy as jnp
    >>> r = jnp.array([1.0, 0.5, 0.0])
    >>> pis = apo_iteration(r, kl_coef=1.0, momentum=0.3, rounds=2, ref_policy=jnp.ones(3) / 3)
    >>> round(float(1.0 - pis[1] @ r), 4)  # the spec's 0.182496
    0.1825
  """
  if not 0.0 <= float(momentum) < 1.0:
    raise ValueError(f"APO's momentum must lie in [0, 1); got {momentum}.")
  if int(rounds) < 1:
    raise ValueError(f"rounds must be >= 1; got {rounds}.")
  if float(kl_coef) <= 0:
    raise ValueError(f"kl_coef must be > 0; got {kl_coef}.")
  ref = jnp.asarray(ref_policy)
  fixed = None if callable(payoff) else jnp.asarray(payoff, ref.dtype)
  z0 = jnp.log(ref)

  def body(carry, _):
    z, z_hat = carry
    g = fixed if fixed is not None else payoff(jax.nn.softmax(z, axis=-1))
    z_hat_next = z + g / kl_coef
    z_next = z_hat_next + momentum * (z_hat_next - z_hat)
    return (z_next, z_hat_next), jax.nn.softmax(z_hat_next, axis=-1)

  _, out = jax.lax.scan(body, (z0, z0), None, length=int(rounds))
  return out
