r"""Likelihood, prediction and maximum-a-posteriori fitting, shared by every preference model.

The fit minimizes the penalized negative log-likelihood

.. math::
  \mathcal{L}(\phi) = -\sum_k w_k \log p_\phi(y_k \mid a_k, b_k, c_k) + \mathrm{penalty}(\phi)

with optax's L-BFGS (zoom line search) inside a ``lax.while_loop``: full batch, deterministic,
jitted once per model structure, vmappable over keys (seeds), weights (EM) and ``l2``.
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpref.preference._links import (
  outcome_log_likelihood,
  outcome_log_probs,
  preference_probability,
)
from jaxpref.preference._models import Params, PreferenceModel
from jaxpref.preference._pairs import Pairs, check_pairs
from jaxpref.types import Array, PRNGKey, PyTree


class Fit(NamedTuple):
  """Result of :func:`fit`.

  Attributes:
    params: the fitted (canonicalized) parameters.
    objective: final penalized negative log-likelihood.
    grad_norm: L2 norm of its gradient at the end.
    steps: L-BFGS iterations taken.
    converged: whether ``grad_norm <= tol * (1 + total weight)`` was reached.
  """

  params: Params
  objective: Array
  grad_norm: Array
  steps: Array
  converged: Array


def _logits(model: PreferenceModel, params: Params, pairs: Pairs) -> Array:
  return jax.vmap(model.logit, in_axes=(None, 0, 0, 0, 0))(
    params, pairs.item_a, pairs.item_b, pairs.context, pairs.advantage
  )


def log_likelihood(model: PreferenceModel, params: Params, pairs: Pairs) -> Array:
  r"""Per-comparison log-likelihood ``[K]`` of the observed outcomes (weights not applied).

  Args:
    model: the preference model.
    params: its parameters.
    pairs: the comparisons.

  Returns:
    ``[K]`` values of :math:`\log p(y_k \mid a_k, b_k, c_k, z_k)` (:math:`z_k` the row's advantage
    indicator).
  """
  return outcome_log_likelihood(
    _logits(model, params, pairs), params.get("tie"), pairs.outcome, model.link
  )


def outcome_probabilities(model: PreferenceModel, params: Params, pairs: Pairs) -> Array:
  """``[K, 3]`` probabilities of (win, tie, loss) of ``item_a`` in each comparison.

  The outcome column of ``pairs`` is ignored. Without a tie model the tie column is 0.
  """
  return jnp.exp(outcome_log_probs(_logits(model, params, pairs), params.get("tie"), model.link))


def win_probability(model: PreferenceModel, params: Params, pairs: Pairs) -> Array:
  """``[K]`` probability that ``item_a`` wins a comparison, conditional on it not being a tie."""
  p = outcome_probabilities(model, params, pairs)
  return p[:, 0] / (p[:, 0] + p[:, 2])


def objective(model: PreferenceModel, params: Params, pairs: Pairs) -> Array:
  r"""Penalized negative log-likelihood :math:`\mathcal{L}`, a scalar."""
  return -jnp.sum(pairs.weight * log_likelihood(model, params, pairs)) + model.penalty(params)


def preference_matrix(
  model: PreferenceModel, params: Params, context: Array | None = None
) -> Array:
  r"""The preference game :math:`P_{ij} = p_{win}(i, j) + \tfrac12 p_{tie}(i, j)` of a fitted model.

  Comparisons are on neutral ground (advantage indicator 0): the position/home advantage is left
  out, since it is a property of the setting, not of the items. ``P + P^T = 1`` and
  ``P_ii = 1/2`` exactly, so the result feeds :func:`jaxpref.equilibria.maximal_lottery` and
  :func:`jaxpref.equilibria.solve`.

  Args:
    model: the preference model.
    params: its parameters.
    context: ``[c]`` context for contextual models (zeros when ``None``).

  Returns:
    ``[n, n]`` preference matrix.
  """
  n = model.num_items
  dtype = jax.tree.leaves(params)[0].dtype
  context = jnp.zeros(model.context_dim, dtype) if context is None else jnp.asarray(context, dtype)
  neutral = model.replace(advantage=False)
  items = jnp.arange(n)
  logit = jax.vmap(
    jax.vmap(neutral.logit, in_axes=(None, None, 0, None)), in_axes=(None, 0, None, None)
  )(params, items, items, context)
  p = preference_probability(logit, params.get("tie"), model.link)
  # Exact P + P^T = 1 with a diagonal of 1/2, whatever the rounding of the link.
  return jnp.fill_diagonal(0.5 * (p + 1.0 - p.T), 0.5, inplace=False)


def minimize(
  fun: Callable[[PyTree], Array], params: PyTree, *, max_steps: int, threshold: float | Array
) -> tuple[PyTree, Array, Array, Array]:
  """Minimizes a smooth scalar function by L-BFGS inside ``lax.while_loop`` (jittable).

  Args:
    fun: the objective.
    params: the starting point (any pytree of float arrays).
    max_steps: iteration cap.
    threshold: stop once the gradient's L2 norm is at most this.

  Returns:
    ``(params, value, grad_norm, steps)`` at the end.
  """
  solver = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(fun)

  def step(carry):
    params, state, _ = carry
    value, grad = value_and_grad(params, state=state)
    updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=fun)
    return optax.apply_updates(params, updates), state, optax.tree.norm(grad)

  def keep_going(carry):
    _, state, grad_norm = carry
    count = optax.tree.get(state, "count")
    return (count == 0) | ((count < max_steps) & (grad_norm > threshold))

  inf = jnp.asarray(jnp.inf, jax.tree.leaves(params)[0].dtype)
  params, state, _ = jax.lax.while_loop(keep_going, step, (params, solver.init(params), inf))
  value, grad = jax.value_and_grad(fun)(params)
  return params, value, optax.tree.norm(grad), optax.tree.get(state, "count")


def fit(
  model: PreferenceModel,
  pairs: Pairs,
  key: PRNGKey | None = None,
  params: Params | None = None,
  *,
  max_steps: int = 500,
  tol: float | Array = 1e-9,
) -> Fit:
  r"""Maximum-a-posteriori fit of a preference model by L-BFGS, under ``jit``.

  Stops when :math:`\|\nabla\mathcal{L}\|_2 \le` ``tol`` :math:`(1 + \sum_k w_k)` or after
  ``max_steps`` iterations (``converged`` says which). In float64 the default tolerance puts the
  strengths within ~1e-8 of the optimum; in float32 expect ~1e-5 and ``converged = False``.

  Args:
    model: the preference model (its ``l2`` may be traced, e.g. vmapped over a grid).
    pairs: the comparisons; ``weight`` scales each row's log-likelihood.
    key: PRNG key for the initialization (needed by :class:`GeneralPreference`).
    params: initial parameters (warm start); ``model.init(key)`` when ``None``.
    max_steps: iteration cap (static).
    tol: relative gradient tolerance.

  Returns:
    The :class:`Fit`.

  Raises:
    ValueError: for malformed concrete ``pairs`` (see :func:`check_pairs`) or a model that needs a
      key and got none.
  """
  check_pairs(pairs, model.num_items, context_dim=model.context_dim)
  return _fit(model, pairs, key, params, max_steps=max_steps, tol=tol)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _fit(
  model: PreferenceModel,
  pairs: Pairs,
  key: PRNGKey | None,
  params: Params | None,
  *,
  max_steps: int,
  tol: float | Array,
) -> Fit:
  if params is None:
    params = model.init(key, pairs.outcome.dtype)
  fun = functools.partial(objective, model, pairs=pairs)
  return map_fit(model, fun, params, jnp.sum(pairs.weight), max_steps=max_steps, tol=tol)


def map_fit(
  model: Any,
  fun: Callable[[Params], Array],
  params: Params,
  total_weight: Array,
  *,
  max_steps: int,
  tol: float | Array,
) -> Fit:
  """L-BFGS on ``fun`` to ``tol * (1 + total_weight)``, as a :class:`Fit` of canonical params."""
  threshold = tol * (1.0 + total_weight)
  params, value, grad_norm, steps = minimize(fun, params, max_steps=max_steps, threshold=threshold)
  return Fit(
    params=model.canonicalize(params),
    objective=value,
    grad_norm=grad_norm,
    steps=steps,
    converged=grad_norm <= threshold,
  )
