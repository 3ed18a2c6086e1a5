r"""KL-regularized multi-objective categorical policies and Rewarded-Soups interpolation.

For a reference policy :math:`\pi_{ref}(y \mid x)` over V responses, m reward tables
:math:`r(x, y) \in \mathbb R^m` and a weight vector :math:`w` (``weights``), the policy maximising
:math:`E_x E_{\pi} w^\top r - \beta\, KL(\pi \| \pi_{ref})` (``kl_coef`` :math:`\beta`) is

.. math:: \pi^*_w(y \mid x) \propto \pi_{ref}(y \mid x) \exp(w^\top r(x, y) / \beta),

and it is Pareto-optimal for the per-objective values
:math:`J_i = E_x E_\pi r_i - \beta KL(\pi \| \pi_{ref})` (:func:`policy_values`), whose front
every multi-objective alignment method (MODPO, Rewarded Soups, conditioned policies) aims at.

References:
  Zhou et al., Beyond one-preference-fits-all alignment: multi-objective direct preference
  optimization, Findings of ACL 2024. https://arxiv.org/abs/2310.03708
  Rame et al., Rewarded soups: towards Pareto-optimal alignment by interpolating weights
  fine-tuned on diverse rewards, NeurIPS 2023. https://arxiv.org/abs/2306.04488
"""

import jax
import jax.numpy as jnp

from jaxpref.losses import Example, modpo
from jaxpref.types import Array, ArrayLike, PyTree


def closed_form_policy(
  log_ref: ArrayLike, rewards: ArrayLike, weights: ArrayLike, *, kl_coef: float
) -> Array:
  r"""Log-probabilities of :math:`\pi^*_w \propto \pi_{ref} \exp(w^\top r / \beta)`.

  Args:
    log_ref: ``[P, V]`` reference log-probabilities (P prompts, V responses).
    rewards: ``[P, V, m]`` rewards.
    weights: ``[..., m]`` weight vectors :math:`w`.
    kl_coef: KL weight :math:`\beta > 0`.

  Returns:
    ``[..., P, V]`` log-probabilities.

  Examples:
    >>> logp = closed_form_policy(jnp.log(jnp.full((1, 2), 0.5)), jnp.array([[[1.0], [0.0]]]),
    ...                           jnp.array([1.0]), kl_coef=1.0)
    >>> round(float(jnp.exp(logp[0, 0])), 4)  # e / (e + 1)
    0.7311
  """
  scores = jnp.einsum("pvm,...m->...pv", jnp.asarray(rewards), jnp.asarray(weights))
  return jax.nn.log_softmax(jnp.asarray(log_ref) + scores / kl_coef, axis=-1)


def policy_values(
  logp: ArrayLike, log_ref: ArrayLike, rewards: ArrayLike, *, kl_coef: float
) -> Array:
  r"""Per-objective KL-regularized values :math:`J_i = E_x E_\pi r_i - \beta KL(\pi \| \pi_{ref})`.

  Args:
    logp: ``[..., P, V]`` policy log-probabilities.
    log_ref: ``[P, V]`` reference log-probabilities.
    rewards: ``[P, V, m]`` rewards.
    kl_coef: KL weight :math:`\beta`.

  Returns:
    ``[..., m]`` values (prompts weighted uniformly).

  Examples:
    >>> log_ref = jnp.log(jnp.full((1, 2), 0.5))
    >>> policy_values(log_ref, log_ref, jnp.array([[[1.0, 0.0], [0.0, 1.0]]]), kl_coef=1.0).tolist()
    [0.5, 0.5]
  """
  logp, log_ref, rewards = jnp.asarray(logp), jnp.asarray(log_ref), jnp.asarray(rewards)
  p = jnp.exp(logp)
  expected = jnp.einsum("...pv,pvm->...m", p, rewards) / rewards.shape[0]
  kl = jnp.sum(p * (logp - log_ref), axis=(-2, -1)) / rewards.shape[0]
  return expected - kl_coef * kl[..., None]


def interpolate_params(params: PyTree, weights: ArrayLike) -> PyTree:
  r"""Rewarded Soups: :math:`\theta_w = \sum_i w_i \theta_i` over experts stacked on axis 0.

  Args:
    params: a pytree whose leaves are ``[m, ...]``: one expert per objective, fine-tuned from a
      shared initialisation.
    weights: ``[m]`` interpolation weights (on the simplex).

  Returns:
    The interpolated pytree (leaves without the expert axis).

  Examples:
    >>> experts = {"w": jnp.array([[0.0, 2.0], [4.0, 6.0]])}
    >>> interpolate_params(experts, jnp.array([0.75, 0.25]))["w"].tolist()
    [1.0, 3.0]
  """
  w = jnp.asarray(weights)
  return jax.tree.map(lambda x: jnp.tensordot(w.astype(x.dtype), x, axes=1), params)


def policy_kl(logp: ArrayLike, logp_ref: ArrayLike) -> Array:
  r"""Mean over prompts of :math:`KL(\pi \| \pi')` for log-probabilities ``[..., P, V]``: ``[...]``.

  Examples:
    >>> float(policy_kl(jnp.log(jnp.full((3, 4), 0.25)), jnp.log(jnp.full((3, 4), 0.25))))
    0.0
  """
  logp, logp_ref = jnp.asarray(logp), jnp.asarray(logp_ref)
  return jnp.mean(jnp.sum(jnp.exp(logp) * (logp - logp_ref), axis=-1), axis=-1)


def modpo_population_loss(
  logp: ArrayLike, log_ref: ArrayLike, rewards: ArrayLike, weights: ArrayLike, *, kl_coef: float
) -> Array:
  r"""Population MODPO (:func:`jaxpref.losses.modpo`) of a categorical policy, over all pairs.

  Every ordered response pair :math:`(y, y')` of every prompt is one example, labelled by the
  Bradley-Terry probability :math:`\sigma(r_j(y) - r_j(y'))` of the objective ``j`` with the
  largest weight; the other rewards are the margins. Its minimiser is
  :func:`closed_form_policy` of ``weights`` (Zhou et al., 2024), so it trains one model per
  weight vector towards the front (``weights`` may be traced, e.g. ``vmap``-ped over a grid).

  Args:
    logp: ``[P, V]`` policy log-probabilities.
    log_ref: ``[P, V]`` reference log-probabilities.
    rewards: ``[P, V, m]`` rewards, m >= 2.
    weights: ``[m]`` weight vector (its largest entry > 0).
    kl_coef: KL weight :math:`\beta`.

  Returns:
    The mean loss over the :math:`P V^2` pairs.
  """
  logp, log_ref, R, w = (jnp.asarray(x) for x in (logp, log_ref, rewards, weights))
  (P, V), m = logp.shape, R.shape[-1]
  primary = jnp.argmax(w)  # Labelled objective first, then the others in order.
  order = jnp.argsort(jnp.where(jnp.arange(m) == primary, -1, jnp.arange(m)))
  w, R = w[order], R[..., order]

  def pairs(x):  # [P, V, ...] -> ([P V V, ...] for y, [P V V, ...] for y')
    a = jnp.broadcast_to(x[:, :, None], (P, V, V, *x.shape[2:]))
    b = jnp.broadcast_to(x[:, None, :], (P, V, V, *x.shape[2:]))
    return a.reshape(P * V * V, *x.shape[2:]), b.reshape(P * V * V, *x.shape[2:])

  (logp1, logp2), (ref1, ref2), (r1, r2) = pairs(logp), pairs(log_ref), pairs(R)
  pref = jax.nn.sigmoid(r1[:, 0] - r2[:, 0])
  ex = Example(logp1, logp2, ref1, ref2, pref=pref, margin=r1[:, 1:], margin2=r2[:, 1:])
  return jnp.mean(jax.vmap(lambda e: modpo(e, weights=w, kl_coef=kl_coef)[0])(ex))
