r"""Training one preference-conditioned model for a whole Pareto front (Panacea, Algorithm 1).

Each step samples weight vectors :math:`\lambda \sim \mathrm{Dirichlet}(\alpha \mathbf 1)`,
evaluates the m objectives of the model conditioned on each, aggregates them with a
scalarization (LS, TCH or STCH) and takes one optimizer step on the mean (Panacea's
:math:`\lambda` is ``weights``, :math:`\alpha` is ``alpha``, as in :mod:`jaxpref.pareto`):

.. math:: \min_\theta \; \mathbb{E}_{\lambda \sim \mathrm{Dir}(\alpha)}\,
   g\big(L(\theta, \lambda) \mid \lambda\big).

The model is a Flax NNX module, split once into graph definition and state so a chunk of steps
runs as one ``lax.scan`` under ``jax.jit``.
"""

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx

from jaxpref import optim, pareto
from jaxpref.types import Array, PRNGKey

# objectives_fn(model, weights [B, m], key) -> [B, m] losses (minimised).
ObjectivesFn = Callable[[nnx.Module, Array, PRNGKey], Array]


def pareto_set_loss(
  model: nnx.Module,
  key: PRNGKey,
  objectives_fn: ObjectivesFn,
  *,
  num_objectives: int,
  method: str = "stch",
  ideal: Array | None = None,
  mu: float = 0.1,
  rho: float = 0.0,
  num_weights: int = 8,
  alpha: float = 1.0,
) -> tuple[Array, dict[str, Array]]:
  """Mean scalarized loss over ``num_weights`` sampled preference vectors.

  Args:
    model: the conditioned model.
    key: PRNG key (weights, then the objectives' own randomness).
    objectives_fn: ``(model, weights [B, m], key) -> [B, m]`` losses to minimise.
    num_objectives: m.
    method: ``"ls"``, ``"tch"`` or ``"stch"`` (see :func:`jaxpref.pareto.scalarize`).
    ideal: ``[m]`` ideal point for TCH/STCH.
    mu: STCH temperature.
    rho: TCH augmentation.
    num_weights: weight vectors per step (Panacea uses one per batch).
    alpha: Dirichlet concentration (1 = uniform on the simplex).

  Returns:
    ``(loss, aux)`` with ``aux["objectives"]`` the ``[B, m]`` losses and ``aux["weights"]`` the
    ``[B, m]`` sampled weights.
  """
  k_weights, k_obj = jax.random.split(key)
  weights = pareto.dirichlet(k_weights, num_objectives, num_weights, alpha=alpha)
  values = objectives_fn(model, weights, k_obj)
  loss = jnp.mean(pareto.scalarize(values, weights, method, ideal=ideal, mu=mu, rho=rho))
  return loss, {"objectives": values, "weights": weights}


def fit_pareto_set(
  model: nnx.Module,
  objectives_fn: ObjectivesFn,
  key: PRNGKey,
  *,
  num_objectives: int,
  steps: int,
  optimizer: optax.GradientTransformation | None = None,
  learning_rate: float = 1e-2,
  log_every: int = 100,
  **loss_kwargs: Any,
) -> dict[str, Any]:
  """Trains ``model`` in place with :func:`pareto_set_loss`; returns the loss history.

  Args:
    model: the conditioned model (updated in place).
    objectives_fn: ``(model, weights [B, m], key) -> [B, m]`` losses to minimise.
    key: PRNG key.
    num_objectives: m.
    steps: optimizer steps (rounded up to a multiple of ``log_every``).
    optimizer: an optax optimizer; Adam with ``learning_rate`` by default.
    learning_rate: Adam's step size when ``optimizer`` is ``None``.
    log_every: steps per compiled chunk; one log line (mean loss) per chunk.
    **loss_kwargs: forwarded to :func:`pareto_set_loss` (``method``, ``ideal``, ``mu``, ...).

  Returns:
    ``{"steps": [...], "loss": [...], "seconds": wall time}``.
  """
  tx = optimizer if optimizer is not None else optax.adam(learning_rate)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def loss_fn(p, k):
    m = nnx.merge(graphdef, p, rest)
    return pareto_set_loss(m, k, objectives_fn, num_objectives=num_objectives, **loss_kwargs)[0]

  @jax.jit
  def chunk(params, opt_state, key):
    return optim.optimize(loss_fn, tx, params, steps=log_every, key=key, opt_state=opt_state)

  history: dict[str, Any] = {"steps": [], "loss": []}
  start = time.perf_counter()
  num_chunks = -(-steps // log_every)
  opt_state = tx.init(params)
  for c in range(num_chunks):
    key, sub = jax.random.split(key)
    params, opt_state, losses = chunk(params, opt_state, sub)
    done = (c + 1) * log_every
    history["steps"].append(done)
    history["loss"].append(float(np.mean(np.asarray(losses))))
    if c == num_chunks - 1 or (c + 1) % max(1, num_chunks // 10) == 0:
      logging.info(
        "pareto set: step %d/%d, loss %.6f", done, num_chunks * log_every, history["loss"][-1]
      )
  nnx.update(model, params)
  history["seconds"] = time.perf_counter() - start
  return history
