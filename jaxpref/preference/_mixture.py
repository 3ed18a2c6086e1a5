r"""Pluralistic preference models: K-component mixtures over annotators, fitted by EM.

Annotator :math:`u` belongs to a latent group :math:`z_u \in \{1..K\}` with prior
:math:`\pi_k` (or :math:`\pi_k(x_u) = \mathrm{softmax}(W^\top [1, x_u])_k` from covariates
:math:`x_u`); all of :math:`u`'s comparisons follow component :math:`k`'s model:

.. math::
  p(\mathcal{D}_u) = \sum_k \pi_k(x_u) \prod_{i \in \mathcal{D}_u} p_{\phi_k}(y_i \mid a_i, b_i).

EM alternates (M) a weighted MAP fit of every component, with row weights
:math:`r_{u_i k}`, and of the mixing weights; (E) responsibilities
:math:`r_{uk} \propto \pi_k(x_u) \prod_{i \in \mathcal{D}_u} p_{\phi_k}(y_i)`.
``hard=True`` replaces the E-step by the arg-max assignment of MaxMin-RLHF. Each component is any
:class:`~jaxpref.preference.BradleyTerry` or :class:`~jaxpref.preference.GeneralPreference`.
With ``K = 1`` the fit is the plain model's fit.

References:
  Chakraborty et al., MaxMin-RLHF: Alignment with diverse human preferences, ICML 2024 (Alg. 2);
  Chen et al., PAL: Pluralistic alignment framework, ICLR 2025; Shen et al., MiCRo, EMNLP 2025;
  Dempster, Laird & Rubin, Maximum likelihood from incomplete data via the EM algorithm, 1977.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxpref.preference._fit import log_likelihood, minimize, objective, preference_matrix
from jaxpref.preference._models import Params, PreferenceModel
from jaxpref.preference._pairs import Pairs, check_pairs
from jaxpref.types import Array, PRNGKey


@struct.dataclass
class Mixture:
  r"""A K-component mixture of one preference model over annotators.

  Functions that take a :class:`Mixture` call it ``model`` (``fit_mixture(model, pairs, key)``);
  ``mixture`` is kept for the weight of a geometric mixture elsewhere in the library.

  Attributes:
    component: the model every component uses (its ``l2`` applies to each component).
    num_components: ``K``.
    num_annotators: number of annotator ids ``U`` (ids in ``pairs.annotator`` are ``< U``).
    covariate_dim: width of annotator covariates for covariate-conditioned mixing (0: one
      global :math:`\pi`).
    hard: hard (arg-max) assignments, as MaxMin-RLHF, instead of soft responsibilities.
    mixing_l2: L2 strength on the covariate coefficients ``W``.
  """

  component: PreferenceModel
  num_components: int = struct.field(pytree_node=False)
  num_annotators: int = struct.field(pytree_node=False)
  covariate_dim: int = struct.field(pytree_node=False, default=0, kw_only=True)
  hard: bool = struct.field(pytree_node=False, default=False, kw_only=True)
  mixing_l2: float = struct.field(default=1.0, kw_only=True)

  def __post_init__(self):
    """Checks the sizes."""
    if self.num_components < 1:
      raise ValueError(f"num_components must be >= 1; got {self.num_components}.")
    if self.num_annotators < 1:
      raise ValueError(f"num_annotators must be >= 1; got {self.num_annotators}.")


class MixtureParams(NamedTuple):
  """Parameters of a :class:`Mixture`.

  Attributes:
    components: the component parameters, every leaf stacked on a leading ``[K]`` axis.
    mixing: ``[K]`` prior logits, or ``[1 + covariate_dim, K]`` coefficients ``W``.
  """

  components: Params
  mixing: Array


class MixtureFit(NamedTuple):
  """Result of :func:`fit_mixture`.

  Attributes:
    params: the fitted parameters.
    responsibilities: ``[U, K]`` posterior group probabilities of each annotator given its
      training comparisons (the prior for annotators without any).
    log_likelihood: marginal log-likelihood of the training data at the end.
    trace: ``[em_steps]`` marginal log-likelihood after each EM step (non-decreasing for soft EM
      with exact M-steps, up to the priors).
  """

  params: MixtureParams
  responsibilities: Array
  log_likelihood: Array
  trace: Array


def _design(model: Mixture, covariates: Array | None, dtype: jnp.dtype) -> Array:
  u = model.num_annotators
  if model.covariate_dim == 0:
    return jnp.ones((u, 1), dtype)
  return jnp.concatenate([jnp.ones((u, 1), dtype), jnp.asarray(covariates, dtype)], axis=1)


def prior_log_weights(
  model: Mixture, params: MixtureParams, covariates: Array | None = None
) -> Array:
  """``[U, K]`` log prior group probabilities of every annotator (before seeing its data).

  Args:
    model: the :class:`Mixture`.
    params: its parameters.
    covariates: ``[U, covariate_dim]`` annotator covariates (required iff ``covariate_dim > 0``).

  Returns:
    ``[U, K]`` log-probabilities.
  """
  if model.covariate_dim == 0:
    logits = jnp.broadcast_to(params.mixing, (model.num_annotators, model.num_components))
  else:
    logits = _design(model, covariates, params.mixing.dtype) @ params.mixing
  return jax.nn.log_softmax(logits, axis=-1)


def component_log_likelihoods(model: Mixture, params: MixtureParams, pairs: Pairs) -> Array:
  """``[K, R]`` log-likelihood of every comparison under every component."""
  return jax.vmap(log_likelihood, in_axes=(None, 0, None))(
    model.component, params.components, pairs
  )


def mixture_log_likelihood(
  model: Mixture, params: MixtureParams, pairs: Pairs, weights: Array
) -> Array:
  r"""Per-comparison predictive log-likelihood :math:`\log \sum_k w_{ik}\, p_k(y_i)`; ``[R]``.

  Args:
    model: the :class:`Mixture`.
    params: its parameters.
    pairs: comparisons to score.
    weights: ``[R, K]`` group probabilities for each row: the annotator's responsibilities for
      people seen in training, :func:`prior_log_weights` (exponentiated) for new people.

  Returns:
    ``[R]`` log-likelihoods.
  """
  ll = component_log_likelihoods(model, params, pairs).T
  return jax.nn.logsumexp(ll, b=weights, axis=-1)


def component_matrices(model: Mixture, params: MixtureParams) -> Array:
  """``[K, n, n]`` preference game of every component (see :func:`preference_matrix`)."""
  return jax.vmap(preference_matrix, in_axes=(None, 0))(model.component, params.components)


def _e_step(model: Mixture, params: MixtureParams, pairs: Pairs, log_prior: Array):
  ll = component_log_likelihoods(model, params, pairs)  # [K, R]
  per_annotator = jax.vmap(
    lambda row: jax.ops.segment_sum(pairs.weight * row, pairs.annotator, model.num_annotators)
  )(ll).T  # [U, K]
  joint = log_prior + per_annotator
  marginal = jnp.sum(jax.nn.logsumexp(joint, axis=-1))
  resp = jax.nn.softmax(joint, axis=-1)
  if model.hard:
    resp = jax.nn.one_hot(jnp.argmax(joint, axis=-1), model.num_components, dtype=resp.dtype)
  return resp, marginal


def _m_step_mixing(
  model: Mixture, mixing: Array, resp: Array, has_data: Array, design: Array, max_steps: int
) -> Array:
  if model.covariate_dim == 0:
    counts = jnp.sum(has_data[:, None] * resp, axis=0)
    return jnp.log(counts / jnp.sum(counts) + jnp.finfo(resp.dtype).tiny)

  def loss(w):
    logp = jax.nn.log_softmax(design @ w, axis=-1)
    return -jnp.sum(has_data[:, None] * resp * logp) + model.mixing_l2 * jnp.sum(w[1:] ** 2)

  threshold = 1e-9 * (1.0 + jnp.sum(has_data))
  return minimize(loss, mixing, max_steps=max_steps, threshold=threshold)[0]


def fit_mixture(
  model: Mixture,
  pairs: Pairs,
  key: PRNGKey,
  covariates: Array | None = None,
  *,
  em_steps: int = 30,
  max_steps: int = 200,
) -> MixtureFit:
  r"""Fits a :class:`Mixture` by EM from random responsibilities, under ``jit``.

  Initialization: responsibilities :math:`r_u \sim \mathrm{Dirichlet}(1)` and component
  initial parameters from ``key``; each EM step is an M-step (warm-started L-BFGS fits of the ``K``
  components, vmapped) followed by an E-step. Vmap over ``key`` for restarts (keep the best
  ``log_likelihood``).

  Args:
    model: the :class:`Mixture`.
    pairs: comparisons with ``annotator`` ids in ``[0, num_annotators)``.
    key: PRNG key of the initialization.
    covariates: ``[num_annotators, covariate_dim]`` annotator covariates (iff ``covariate_dim``).
    em_steps: EM iterations (static).
    max_steps: L-BFGS iteration cap of each M-step fit (static).

  Returns:
    The :class:`MixtureFit`.

  Raises:
    ValueError: for malformed concrete ``pairs``, annotator ids out of range, or covariates that
      do not match ``covariate_dim``.
  """
  component = model.component
  check_pairs(
    pairs,
    component.num_items,
    context_dim=component.context_dim,
    num_annotators=model.num_annotators,
  )
  if model.covariate_dim and (
    covariates is None or jnp.shape(covariates) != (model.num_annotators, model.covariate_dim)
  ):
    raise ValueError(
      f"covariates must be [num_annotators={model.num_annotators}, "
      f"covariate_dim={model.covariate_dim}]; got "
      f"{None if covariates is None else jnp.shape(covariates)}."
    )
  if not model.covariate_dim and covariates is not None:
    raise ValueError("covariates given, but the mixture has covariate_dim = 0.")
  return _fit_mixture(model, pairs, key, covariates, em_steps=em_steps, max_steps=max_steps)


@functools.partial(jax.jit, static_argnames=("em_steps", "max_steps"))
def _fit_mixture(
  model: Mixture,
  pairs: Pairs,
  key: PRNGKey,
  covariates: Array | None,
  *,
  em_steps: int,
  max_steps: int,
) -> MixtureFit:
  dtype = pairs.outcome.dtype
  k, u = model.num_components, model.num_annotators
  key_resp, key_init = jax.random.split(key)
  resp = jax.random.dirichlet(key_resp, jnp.ones(k, dtype), (u,))
  if model.hard:
    resp = jax.nn.one_hot(jnp.argmax(resp, axis=-1), k, dtype=dtype)
  components = jax.vmap(lambda kk: model.component.init(kk, dtype))(jax.random.split(key_init, k))
  design = _design(model, covariates, dtype)
  mixing = jnp.zeros((design.shape[1], k) if model.covariate_dim else (k,), dtype)
  has_data = (jax.ops.segment_sum(pairs.weight, pairs.annotator, u) > 0).astype(dtype)
  threshold = 1e-9 * (1.0 + jnp.sum(pairs.weight))
  component = model.component

  def m_step_component(params: Params, weights: Array) -> Params:
    weighted = pairs._replace(weight=pairs.weight * weights)
    fun = functools.partial(objective, component, pairs=weighted)
    params = minimize(fun, params, max_steps=max_steps, threshold=threshold)[0]
    return component.canonicalize(params)

  def em_step(carry, _):
    components, mixing, resp = carry
    row_resp = resp[pairs.annotator].T  # [K, R]
    components = jax.vmap(m_step_component)(components, row_resp)
    mixing = _m_step_mixing(model, mixing, resp, has_data, design, max_steps)
    params = MixtureParams(components, mixing)
    resp, marginal = _e_step(model, params, pairs, prior_log_weights(model, params, covariates))
    return (components, mixing, resp), marginal

  (components, mixing, resp), trace = jax.lax.scan(
    em_step, (components, mixing, resp), None, length=em_steps
  )
  params = MixtureParams(components, mixing)
  return MixtureFit(params=params, responsibilities=resp, log_likelihood=trace[-1], trace=trace)
