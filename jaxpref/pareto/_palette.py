r"""MAP: the reward weights that meet a palette of value levels with the least KL.

MAP (Multi-human-value Alignment Palette; Wang et al.) asks for the policy closest to the
reference that reaches a user-set level :math:`c_i` ("palette") of every expected reward:

.. math:: \max_p -E_x KL\big(p(\cdot|x) \| p_0(\cdot|x)\big) \quad \text{s.t.} \quad
   E_x E_{p} r_i \ge c_i, \; i = 1..m.

Its solution is :math:`p_\lambda(y|x) \propto p_0(y|x) \exp(\lambda^\top r(x, y))` with
:math:`\lambda \ge 0` minimising the convex dual

.. math:: d(\lambda) = E_x \log E_{p_0(\cdot|x)} e^{\lambda^\top r(x, y)} - \lambda^\top c,

so linear reward weights are enough to reach any feasible palette; :math:`\lambda` is
:math:`w / \beta` of :func:`closed_form_policy` (direction ``weights``, KL weight
:math:`1/\lVert\lambda\rVert_1`). When the palette is infeasible, d is unbounded below and
:math:`\lambda` diverges. The paper estimates the dual by Monte Carlo over samples of :math:`p_0`;
here the expectation is over given log-probabilities, so samples are passed as equally weighted
responses.

References:
  Wang et al., MAP: multi-human-value alignment palette, 2024. https://arxiv.org/abs/2410.19198
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpref.pareto._checks import check_points, is_concrete
from jaxpref.types import Array, ArrayLike


class Palette(NamedTuple):
  r"""The solution of :func:`palette_weights`.

  Attributes:
    weights: ``[m]`` dual variables :math:`\lambda \ge 0`.
    values: ``[m]`` expected rewards :math:`E_x E_{p_\lambda} r` reached.
    log_probs: ``[P, V]`` log-probabilities of :math:`p_\lambda`.
    feasible: whether every level is met within ``tol`` (False when the palette is infeasible).
    kl: :math:`E_x KL(p_\lambda \| p_0)`.
  """

  weights: Array
  values: Array
  log_probs: Array
  feasible: Array
  kl: Array


def palette_weights(
  log_ref: ArrayLike,
  rewards: ArrayLike,
  levels: ArrayLike,
  *,
  max_iters: int = 60,
  tol: float = 1e-5,
) -> Palette:
  r"""Solves MAP's dual for the palette ``levels`` by projected Newton steps, :math:`\lambda \ge 0`.

  Each iteration: gradient :math:`E_x E_{p_\lambda} r - c`, Hessian :math:`E_x
  \mathrm{Cov}_{p_\lambda}(r)`, a Newton step on the coordinates not held at 0 (those with
  :math:`\lambda_i = 0` and a positive gradient), projection onto :math:`\lambda \ge 0`, and the
  largest step of :math:`1, 1/2, \ldots, 2^{-15}` that decreases d. A fixed iteration count, so
  it jits and vmaps over palettes.

  Args:
    log_ref: ``[P, V]`` reference log-probabilities (P prompts, V responses; for the paper's Monte
      Carlo estimate, V samples of :math:`p_0` per prompt with log-probabilities :math:`-\log V`).
    rewards: ``[P, V, m]`` rewards.
    levels: ``[m]`` palette :math:`c`.
    max_iters: Newton iterations.
    tol: feasibility tolerance on :math:`E r_i \ge c_i`.

  Returns:
    A :class:`Palette`.

  Raises:
    ValueError: on mismatched shapes or non-finite values, and, on concrete inputs, when the
      palette is infeasible (some level cannot be reached by any policy with :math:`p_0`'s
      support, or not within ``max_iters``).

  References:
    Wang et al., MAP: multi-human-value alignment palette, 2024. https://arxiv.org/abs/2410.19198

  Examples:
    >>> r = jnp.array([[[0.0, 1.0], [0.2, 0.8], [0.5, 0.6], [0.9, 0.3], [1.0, 0.0]]])
    >>> sol = palette_weights(jnp.log(jnp.full((1, 5), 0.2)), r, jnp.array([0.6, 0.5]))
    >>> [round(float(v), 3) for v in sol.weights], [round(float(v), 3) for v in sol.values]
    ([5.851, 6.075], [0.6, 0.5])
  """
  log_ref = check_points("log_ref", log_ref, where="palette_weights")
  R = check_points("rewards", rewards, ndim=3, where="palette_weights")
  c = check_points("levels", levels, ndim=1, m=R.shape[-1], where="palette_weights")
  if R.shape[:2] != log_ref.shape:
    raise ValueError(
      f"palette_weights: rewards {R.shape} must be [P, V, m] for log_ref {log_ref.shape}."
    )
  log_ref = jax.nn.log_softmax(log_ref, axis=-1)
  out = _solve(log_ref, R, c.astype(R.dtype), max_iters, tol)
  if is_concrete(out.feasible) and not bool(out.feasible):
    short = [
      f"E r_{i} = {float(v):.4g} < {float(t):.4g}"
      for i, (v, t) in enumerate(zip(out.values, c, strict=True))
      if float(v) < float(t) - tol
    ]
    raise ValueError(
      "palette_weights: the palette is infeasible: after "
      f"{max_iters} Newton steps lambda = {[round(float(v), 3) for v in out.weights]} still gives "
      f"{', '.join(short)} (levels above what any policy on the reference's support reaches, e.g. "
      "above the largest reward, diverge)."
    )
  return out


def _dual(lam: Array, log_ref: Array, R: Array, c: Array) -> Array:
  logits = log_ref + R @ lam
  return jnp.mean(jax.nn.logsumexp(logits, axis=-1)) - lam @ c


@functools.partial(jax.jit, static_argnums=(3,))
def _solve(log_ref: Array, R: Array, c: Array, max_iters: int, tol: float | Array) -> Palette:
  m = R.shape[-1]
  P = R.shape[0]
  steps = 2.0 ** -jnp.arange(16, dtype=R.dtype)

  def moments(lam):
    p = jax.nn.softmax(log_ref + R @ lam, axis=-1)  # [P, V]
    mean = jnp.einsum("pv,pvm->pm", p, R)
    centered = R - mean[:, None, :]
    cov = jnp.einsum("pv,pvi,pvj->ij", p, centered, centered) / P
    return jnp.mean(mean, axis=0), cov

  def body(_, lam):
    value, H = moments(lam)
    g = value - c
    free = (lam > 0) | (g < 0)
    Hf = jnp.where(free[:, None] & free[None, :], H, 0.0)
    Hf = Hf + jnp.diag(jnp.where(free, 1e-10 * (jnp.trace(H) + 1e-30), 1.0))
    direction = -jnp.linalg.solve(Hf, jnp.where(free, g, 0.0))
    candidates = jnp.maximum(lam[None, :] + steps[:, None] * direction[None, :], 0.0)
    d = jax.vmap(lambda x: _dual(x, log_ref, R, c))(candidates)
    better = d < _dual(lam, log_ref, R, c)
    best = jnp.argmax(better)  # The first (largest) step that decreases d.
    return jnp.where(better[best], candidates[best], lam)

  lam = jax.lax.fori_loop(0, max_iters, body, jnp.zeros((m,), R.dtype))
  logp = jax.nn.log_softmax(log_ref + R @ lam, axis=-1)
  p = jnp.exp(logp)
  values = jnp.einsum("pv,pvm->m", p, R) / P
  kl = jnp.sum(p * (logp - log_ref)) / P
  scale = jnp.maximum(jnp.max(jnp.abs(R)), 1.0)
  return Palette(lam, values, logp, jnp.all(values >= c - tol * scale), kl)
