"""The exact metrics of a batch of policies (one per prompt) against their games."""

import jax.numpy as jnp

from jaxpref.metrics._divergences import win_rate
from jaxpref.metrics._duality_gap import duality_gap, regularized_duality_gap
from jaxpref.types import Array, ArrayLike


def policy_metrics(
  P: ArrayLike, policy: ArrayLike, *, kl_coef: float, ref_policy: ArrayLike | None = None
) -> dict[str, Array]:
  """KL-regularized and plain duality gaps and win rate against the reference, averaged.

  Args:
    P: ``[..., n, n]`` games (e.g. one per prompt).
    policy: ``[..., n]`` policies.
    kl_coef: beta of the regularized gap.
    ref_policy: ``[n]`` or ``[..., n]`` reference; uniform when ``None``.

  Returns:
    ``{"regularized_gap", "duality_gap", "win_rate_vs_ref"}``, each the mean over the leading axes.

  Examples:
    >>> import jax.numpy as jnp
    >>> P = jnp.array([[0.5, 0.8], [0.2, 0.5]])
    >>> float(policy_metrics(P, jnp.array([1.0, 0.0]), kl_coef=0.1)["duality_gap"])
    0.0
  """
  P, policy = jnp.asarray(P), jnp.asarray(policy)
  n = policy.shape[-1]
  ref = jnp.full(n, 1.0 / n, policy.dtype) if ref_policy is None else jnp.asarray(ref_policy)
  ref = jnp.broadcast_to(ref, policy.shape)
  return {
    "regularized_gap": jnp.mean(
      regularized_duality_gap(P, policy, kl_coef=kl_coef, ref_policy=ref)
    ),
    "duality_gap": jnp.mean(duality_gap(P, policy)),
    "win_rate_vs_ref": jnp.mean(win_rate(P, policy, ref)),
  }
