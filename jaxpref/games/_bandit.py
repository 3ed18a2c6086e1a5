"""A contextual bandit with an exact preference oracle: prompt features and one game per prompt."""

import jax
import jax.numpy as jnp

from jaxpref.types import Array, PRNGKey


def contextual_bandit(
  key: PRNGKey, *, prompts: int, features: int, n: int, cycle: float = 0.0
) -> tuple[Array, Array]:
  r"""Prompt features ``X`` and per-prompt games ``P`` with linear strengths and a cyclic part.

  .. math::
    P_x(i \succ j) = \sigma\big(s_x(i) - s_x(j) + \gamma \sin(2\pi (i - j) / n)\big),
    \qquad s_x = x^\top W,

  with ``X`` and ``W`` standard normal (``W`` scaled by :math:`1/\sqrt{d}`); :math:`\gamma` =
  ``cycle`` weighs the intransitive skew-symmetric part (0: a Bradley-Terry oracle).

  Args:
    key: PRNG key.
    prompts: number of prompts (static).
    features: prompt feature width d (static).
    n: responses per prompt (static), ``n >= 2``.
    cycle: gamma.

  Returns:
    ``(X [prompts, features], P [prompts, n, n])`` with ``P + P^T = 1``.

  Examples:
    >>> import jax
    >>> X, P = contextual_bandit(jax.random.key(0), prompts=3, features=4, n=5, cycle=2.0)
    >>> X.shape, P.shape
    ((3, 4), (3, 5, 5))
  """
  if int(n) < 2 or int(prompts) < 1 or int(features) < 1:
    raise ValueError(
      f"contextual_bandit needs n >= 2, prompts >= 1, features >= 1; got {n}, "
      f"{prompts}, {features}."
    )
  kx, kw = jax.random.split(key)
  X = jax.random.normal(kx, (prompts, features))
  W = jax.random.normal(kw, (features, n)) / jnp.sqrt(features)
  s = X @ W
  i = jnp.arange(n)
  C = jnp.sin(2 * jnp.pi * (i[:, None] - i[None, :]) / n)  # skew-symmetric cyclic part
  return X, jax.nn.sigmoid(s[:, :, None] - s[:, None, :] + cycle * C)
