r"""One optax step of a loss, and ``steps`` of them as one compiled loop.

With optimizer ``tx`` (state :math:`s_t`) and loss :math:`L`, one step is

.. math:: g_t = \nabla_\theta L(\theta_t), \quad (u_t, s_{t+1}) = \mathrm{tx.update}(g_t, s_t,
   \theta_t), \quad \theta_{t+1} = \theta_t + u_t.

A traced hyperparameter (a swept learning rate) enters through the optimizer, e.g.
``optax.adam(lr)`` built inside the traced step: Adam's state does not depend on ``lr``, so one
compiled program serves every point of a sweep.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from jaxpref.types import Array, PRNGKey, PyTree


class Step(NamedTuple):
  """Result of :func:`gradient_step`.

  Attributes:
    params: theta_{t+1}.
    opt_state: the optimizer state after the update.
    loss: L(theta_t).
    aux: the loss's auxiliary output (``None`` without ``has_aux``).
  """

  params: PyTree
  opt_state: Any
  loss: Array
  aux: Any


class Optimized(NamedTuple):
  """Result of :func:`optimize`.

  Attributes:
    params: the final parameters.
    opt_state: the final optimizer state (pass it back to continue).
    losses: ``[steps]`` the loss before each update.
  """

  params: PyTree
  opt_state: Any
  losses: Array


def gradient_step(
  loss_fn: Callable[..., Any],
  tx: optax.GradientTransformation,
  params: PyTree,
  opt_state: Any,
  *args: Any,
  has_aux: bool = False,
) -> Step:
  """One update ``params <- params + tx.update(grad loss_fn(params, *args))``.

  Args:
    loss_fn: ``(params, *args) -> scalar`` (or ``(scalar, aux)`` with ``has_aux``).
    tx: any optax optimizer.
    params: the parameters (any pytree).
    opt_state: ``tx``'s state for ``params``.
    *args: further arguments of ``loss_fn`` (not differentiated).
    has_aux: ``loss_fn`` returns ``(loss, aux)``.

  Returns:
    The new parameters and optimizer state, the loss at the old parameters and its aux.
  """
  value, grads = jax.value_and_grad(loss_fn, has_aux=has_aux)(params, *args)
  loss, aux = value if has_aux else (value, None)
  updates, opt_state = tx.update(grads, opt_state, params)
  return Step(optax.apply_updates(params, updates), opt_state, loss, aux)


def optimize(
  loss_fn: Callable[..., Array],
  tx: optax.GradientTransformation,
  params: PyTree,
  *,
  steps: int,
  key: PRNGKey | None = None,
  opt_state: Any = None,
) -> Optimized:
  """``steps`` :func:`gradient_step` updates in one ``lax.scan``.

  Example (an NNX module)::

    graphdef, params = nnx.split(module)
    def loss_fn(p):
      return loss(nnx.merge(graphdef, p))

    fitted = optim.optimize(loss_fn, optax.adam(0.01), params, steps=500)
    module = nnx.merge(graphdef, fitted.params)

  Args:
    loss_fn: ``params -> scalar``, or ``(params, key) -> scalar`` when ``key`` is given (a fresh
      key per step, split from ``key``).
    tx: any optax optimizer.
    params: the initial parameters.
    steps: number of updates (static).
    key: PRNG key for a stochastic loss.
    opt_state: the optimizer state to continue from; ``tx.init(params)`` by default.

  Returns:
    The final parameters and optimizer state, and the ``[steps]`` losses.
  """
  opt_state = tx.init(params) if opt_state is None else opt_state
  xs = None if key is None else jax.random.split(key, steps)

  def body(carry, k):
    p, s = carry
    out = gradient_step(loss_fn, tx, p, s) if k is None else gradient_step(loss_fn, tx, p, s, k)
    return (out.params, out.opt_state), out.loss

  (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), xs, length=steps)
  return Optimized(params, opt_state, losses)
