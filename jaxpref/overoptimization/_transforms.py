r"""Reward transforms: log-sigmoid centering, and their sum as a soft logical AND.

Wang, Nagpal, Berant, Eisenstein, D'Amour, Koyejo and Veitch (Transforming and combining rewards
for aligning large language models, 2024) transform a Bradley-Terry reward :math:`r` by

.. math:: u(x, y) = \log \sigma\big(r(x, y) - r_{\mathrm{ref}}(x)\big),

the log-probability that :math:`y` beats a reference output of reward :math:`r_{\mathrm{ref}}(x)`.
Its slope :math:`\sigma(r_{\mathrm{ref}} - r)` is large for poor outputs and vanishes for good
ones, so the optimizer gains little by pushing an output the reward already likes (where reward
hacking lives). Summing transformed rewards of several properties,

.. math:: \sum_i u_i = \log \prod_i \sigma(r_i - r_{i,\mathrm{ref}}),

is the log-probability of being good on every property at once (independence assumed): a soft AND,
where a raw sum :math:`\sum_i r_i` lets one property pay for another. ``docs/overoptimization.md``
discusses the choice of :math:`r_{\mathrm{ref}}`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike


def log_sigmoid_transform(reward: ArrayLike, reference: ArrayLike) -> Array:
  r"""The log-sigmoid-centered reward :math:`\log\sigma(r - r_{\mathrm{ref}})`.

  Args:
    reward: rewards r (any shape).
    reference: reference rewards, broadcastable to ``reward`` (e.g. one per prompt).

  Returns:
    The transformed rewards (all below 0).

  Examples:
    >>> import jax.numpy as jnp
    >>> [round(v, 6) for v in log_sigmoid_transform(jnp.array([2.0, -1.0]), 0.0).tolist()]
    [-0.126928, -1.313262]
  """
  return jax.nn.log_sigmoid(jnp.asarray(reward) - jnp.asarray(reference))


def and_combine(
  rewards: ArrayLike, references: ArrayLike, *, weights: ArrayLike | None = None
) -> Array:
  r"""The soft AND of several rewards: :math:`\sum_i w_i \log\sigma(r_i - r_{i,\mathrm{ref}})`.

  With unit weights, ``exp`` of the result is the probability of beating every reference at once
  under independent Bradley-Terry models.

  Args:
    rewards: ``[..., k]`` one reward per property on the last axis.
    references: reference rewards broadcastable to ``rewards``.
    weights: ``[k]`` non-negative property weights; ones when ``None``.

  Returns:
    ``[...]`` the combined utility.

  Raises:
    ValueError: on negative concrete weights or a weight vector of the wrong length.

  Examples:
    >>> import jax.numpy as jnp
    >>> round(float(and_combine(jnp.array([2.0, -1.0]), 0.0)), 6)
    -1.44019
  """
  u = log_sigmoid_transform(rewards, references)
  if weights is None:
    return jnp.sum(u, axis=-1)
  w = jnp.asarray(weights, u.dtype)
  if w.shape != u.shape[-1:]:
    raise ValueError(f"weights must have shape ({u.shape[-1]},); got {w.shape}.")
  if not isinstance(w, jax.core.Tracer) and np.any(np.asarray(w) < 0):
    raise ValueError(f"weights must be non-negative; got {np.asarray(w).tolist()}.")
  return jnp.sum(w * u, axis=-1)


def reference_reward(
  samples: ArrayLike, *, quantile: float, valid: ArrayLike | None = None
) -> Array:
  r"""A prompt's reference reward: a quantile of the rewards of reference-policy samples.

  Args:
    samples: ``[..., N]`` rewards of N samples of the reference policy per prompt.
    quantile: the quantile in [0, 1] (0.5 is the median; a high quantile makes "good" strict).
    valid: ``[..., N]`` mask of real samples (padding excluded); all when ``None``.

  Returns:
    ``[...]`` the reference reward per prompt.

  Raises:
    ValueError: on a quantile outside [0, 1].

  Examples:
    >>> import jax.numpy as jnp
    >>> float(reference_reward(jnp.array([0.0, 1.0, 2.0, 3.0]), quantile=0.5))
    1.5
  """
  if not 0.0 <= float(quantile) <= 1.0:
    raise ValueError(f"quantile must lie in [0, 1]; got {quantile}.")
  x = jnp.asarray(samples)
  if valid is None:
    return jnp.quantile(x, quantile, axis=-1)
  return jnp.nanquantile(jnp.where(jnp.asarray(valid, bool), x, jnp.nan), quantile, axis=-1)
