r"""MiCRo: a mixture of Bradley-Terry heads routed by the prompt, personalized by Hedge on context.

Stage 1 (no person labels): ``components`` reward heads :math:`r_k` over the items and a router
:math:`f_\psi(x) = \mathrm{softmax}(x^\top \Psi + b)` on each comparison's context features
:math:`x` (``Pairs.context``: prompt features; with none the router is a static mixture), fitted by
minimizing

.. math:: -\sum_i w_i \log \sum_k f_{\psi,k}(x_i)\, p(o_i \mid r_k(a_i) - r_k(b_i))
   + \alpha \sum_i w_i \sum_k f_{\psi,k}(x_i) \log f_{\psi,k}(x_i) + l_2 \|\cdot\|^2,

the second term (``entropy``, the paper's :math:`\alpha = 0.5`) pulling the routing toward
uniform. Stage 2 (a person with context comparisons :math:`C`): the Hedge / mirror-descent routing
:math:`\omega_k \propto f_{\psi,k}(x) \exp(-\eta \sum_{j \in C} L_{jk})` with
:math:`L_{jk} = -\log p(o_j \mid r_k)` and ``step_size`` :math:`\eta = 1/\tau` (the paper's
temperature :math:`\tau`); :math:`\eta = 1` is the Bayes posterior of the person's head. With no
context it is the router's own weights. With ``iterations`` :math:`T > 0` Stage 2 follows the
paper's Alg. 1 instead: the person gets their own copy of the router, fine-tuned for :math:`T`
gradient steps of the cross-entropy to the soft targets
:math:`\omega_{jk} \propto f_{\psi,k}(x_j) \exp(-\eta L_{jk})` on the context rows (targets
recomputed from the current router at each step), and scores with that router alone.

References:
  Shen et al., MiCRo: mixture modeling and context-aware routing for personalized preference
  learning, EMNLP 2025.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxpref.preference._links import outcome_log_likelihood
from jaxpref.preference._pairs import Pairs, check_pairs
from jaxpref.preference._personal import check_features, lbfgs_fit
from jaxpref.preference._vpl import person_layout
from jaxpref.types import Array, PRNGKey

Params = dict[str, Array]


@struct.dataclass
class MiCRo:
  r"""Mixture of Bradley-Terry heads with a context router (see the module docstring).

  Attributes:
    num_items: number of items ``n``.
    components: ``K`` reward heads.
    context_dim: width of ``Pairs.context`` the router reads (0: a static mixture).
    entropy: :math:`\alpha`, the weight of the routing's negative entropy.
    l2: L2 strength on the heads and the router.
    item_features: optional ``[n, f]`` item features (linear heads on them; ids when ``None``).
  """

  num_items: int = struct.field(pytree_node=False)
  components: int = struct.field(pytree_node=False, default=2)
  context_dim: int = struct.field(pytree_node=False, default=0)
  entropy: Any = 0.5
  l2: Any = 1e-3
  item_features: Array | None = None

  def __post_init__(self):
    if int(self.num_items) < 2 or int(self.components) < 1 or int(self.context_dim) < 0:
      raise ValueError(
        f"MiCRo needs num_items >= 2, components >= 1 and context_dim >= 0; got "
        f"{self.num_items}, {self.components}, {self.context_dim}."
      )
    check_features(self.num_items, item_features=self.item_features)

  def init(self, key: PRNGKey, dtype: jnp.dtype = jnp.float32) -> Params:
    width = self.num_items if self.item_features is None else self.item_features.shape[1]
    k_heads, k_router = jax.random.split(key)
    return {
      "heads": jax.random.normal(k_heads, (self.components, width), dtype),
      "router": 0.1 * jax.random.normal(k_router, (self.context_dim, self.components), dtype),
      "bias": jnp.zeros(self.components, dtype),
    }


def _head_rewards(model: MiCRo, params: Params) -> Array:
  if model.item_features is None:
    return params["heads"]
  return params["heads"] @ jnp.asarray(model.item_features, params["heads"].dtype).T


def micro_component_log_likelihoods(model: MiCRo, params: Params, pairs: Pairs) -> Array:
  """``[R, K]`` log-likelihood of each row under each head (a tie is half a win each way)."""
  r = _head_rewards(model, params)  # [K, n]
  d = (r[:, pairs.item_a] - r[:, pairs.item_b]).T
  return outcome_log_likelihood(d, None, pairs.outcome[:, None], "bt")


def _log_routing(router: Params, x: Array) -> Array:
  """``[..., K]`` log-softmax of ``x @ router["router"] + router["bias"]``."""
  return jax.nn.log_softmax(x @ router["router"] + router["bias"], axis=-1)


def micro_routing(model: MiCRo, params: Params, pairs: Pairs) -> Array:
  r"""``[R, K]`` log router weights :math:`\log f_\psi(x)` of each row's context."""
  del model
  return _log_routing(params, pairs.context)


class MiCRoFit(NamedTuple):
  """Result of :func:`fit_micro`: parameters, final objective, gradient norm and steps."""

  params: Params
  objective: Array
  grad_norm: Array
  steps: Array


def fit_micro(
  model: MiCRo, pairs: Pairs, key: PRNGKey, *, max_steps: int = 500, tol: float = 1e-6
) -> MiCRoFit:
  """Stage 1: heads and router by L-BFGS on the mixture likelihood (no person labels), jitted.

  Raises:
    ValueError: for malformed concrete ``pairs`` or a context width other than ``context_dim``.
  """
  check_pairs(pairs, model.num_items, context_dim=model.context_dim)
  return _fit_micro(model, pairs, key, max_steps=max_steps, tol=tol)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _fit_micro(model, pairs, key, *, max_steps, tol):
  def objective(params):
    log_route = micro_routing(model, params, pairs)
    ll = jax.nn.logsumexp(log_route + micro_component_log_likelihoods(model, params, pairs), -1)
    neg_entropy = jnp.sum(jnp.exp(log_route) * log_route, axis=-1)
    penalty = model.l2 * sum(jnp.sum(v**2) for v in params.values())
    return jnp.sum(pairs.weight * (-ll + model.entropy * neg_entropy)) + penalty

  return MiCRoFit(
    *lbfgs_fit(objective, model.init(key, pairs.outcome.dtype), pairs, max_steps, tol)
  )


def micro_personal_log_likelihood(
  model: MiCRo,
  params: Params,
  context: Pairs,
  pairs: Pairs,
  people: Array,
  context_people: Array,
  num_people: int,
  *,
  step_size: float | Array = 1.0,
  iterations: int = 0,
  learning_rate: float | Array = 1.0,
) -> Array:
  r"""Stage 2: ``[R]`` log-likelihood of each row, its person's heads weighted by Hedge on context.

  Args:
    model: the MiCRo model.
    params: its Stage-1 parameters.
    context: the people's context comparisons (``weight`` 0 rows are not context).
    pairs: the rows to score.
    people: ``[R]`` the person of each scored row.
    context_people: the person of each context row.
    num_people: the number of people (static).
    step_size: Hedge's :math:`\eta = 1/\tau` (1: the Bayes posterior over heads).
    iterations: ``T``; 0 weights the heads by Hedge in closed form, ``T > 0`` fine-tunes a
      router per person (Alg. 1, :func:`micro_adapt_routers`; static).
    learning_rate: the fine-tuning's gradient step (``T > 0`` only).

  Returns:
    ``[R]`` log-likelihoods; a person without context is scored with the router alone.
  """
  if iterations:
    routers = micro_adapt_routers(
      model,
      params,
      context,
      context_people,
      num_people,
      step_size=step_size,
      iterations=iterations,
      learning_rate=learning_rate,
    )
    per_row = jax.tree.map(lambda v: v[people], routers)
    log_w = jax.vmap(_log_routing)(per_row, pairs.context)
  else:
    loss = -micro_component_log_likelihoods(model, params, context) * context.weight[:, None]
    onehot = jax.nn.one_hot(context_people, int(num_people), dtype=loss.dtype)  # [Rc, P]
    evidence = -step_size * (onehot.T @ loss)  # [P, K]
    log_w = micro_routing(model, params, pairs) + evidence[people]
    log_w = log_w - jax.nn.logsumexp(log_w, axis=-1, keepdims=True)
  return jax.nn.logsumexp(log_w + micro_component_log_likelihoods(model, params, pairs), -1)


def micro_adapt_routers(
  model: MiCRo,
  params: Params,
  context: Pairs,
  context_people: Array,
  num_people: int,
  *,
  step_size: float | Array = 1.0,
  iterations: int = 10,
  learning_rate: float | Array = 1.0,
) -> Params:
  r"""Stage 2 as the paper's Alg. 1: each person's router fine-tuned toward Hedge targets.

  Person :math:`v` starts from the Stage-1 router :math:`\psi` and takes ``iterations`` gradient
  steps on :math:`-\sum_{j \in C_v} w_j \sum_k \omega_{jk} \log f_{\psi_v,k}(x_j) / \sum_j w_j`,
  :math:`\omega_{jk} \propto f_{\psi_v,k}(x_j)\exp(-\eta L_{jk})` held fixed within a step. A
  person without context keeps :math:`\psi`.

  Args:
    model: the MiCRo model.
    params: its Stage-1 parameters.
    context: the people's context comparisons (``weight`` 0 rows are not context).
    context_people: the person of each context row (concrete: each person's rows are laid out
      on the host, so the work is per person, not per person and row).
    num_people: the number of people (static).
    step_size: Hedge's :math:`\eta = 1/\tau`.
    iterations: ``T`` gradient steps (static).
    learning_rate: the gradient step.

  Returns:
    ``{"router": [P, c, K], "bias": [P, K]}``, one router per person.
  """
  if isinstance(context_people, jax.core.Tracer):
    raise ValueError(
      "micro_adapt_routers: context_people must be concrete (it lays each person's rows out on "
      "the host); pass it as a constant, not a traced argument."
    )
  index, valid = person_layout(np.asarray(context_people), int(num_people))  # [P, M]
  return _adapt_routers(
    model, params, context, index, valid, step_size, learning_rate, iterations=int(iterations)
  )


@functools.partial(jax.jit, static_argnames=("iterations",))
def _adapt_routers(model, params, context, index, valid, step_size, learning_rate, *, iterations):
  head_loss = -micro_component_log_likelihoods(model, params, context)[index]  # [P, M, K]
  weight = context.weight[index] * valid.astype(head_loss.dtype)
  weight = weight / jnp.maximum(jnp.sum(weight, axis=1, keepdims=True), 1.0)

  def person(x, w, loss):
    def cross_entropy(router, targets):
      return -jnp.sum(w[:, None] * targets * _log_routing(router, x))

    def step(_, router):
      targets = jax.nn.softmax(_log_routing(router, x) - step_size * loss, axis=-1)
      grads = jax.grad(cross_entropy)(router, targets)
      return jax.tree.map(lambda p, g: p - learning_rate * g, router, grads)

    start = {"router": params["router"], "bias": params["bias"]}
    return jax.lax.fori_loop(0, iterations, step, start)

  return jax.vmap(person)(context.context[index], weight, head_loss)


def micro_preference_matrix(model: MiCRo, params: Params, log_weights: Array) -> Array:
  r"""``[n, n]`` preference matrix of a person whose heads have ``[K]`` log-weights.

  :math:`P_{ij} = \sum_k \omega_k \sigma(r_k(i) - r_k(j))` (e.g. the Hedge weights of Stage 2).
  """
  r = _head_rewards(model, params)  # [K, n]
  w = jax.nn.softmax(log_weights)
  return jnp.einsum("k,kij->ij", w, jax.nn.sigmoid(r[:, :, None] - r[:, None, :]))
