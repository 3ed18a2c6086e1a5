r"""Adaptive combinations of objectives: PAMA's advantage and dynamic reward weighting.

Both replace the fixed linear scalarization :math:`\sum_i w_i r_i` (LS) of a policy-gradient
method with a combination that changes during training, and both reduce to LS at fixed weights:

* :func:`pama_advantage`: PAMA replaces MGDA's min-norm problem over d-dimensional gradients by
  the one-dimensional :math:`\min_{c \in \Delta} |\sum_i c_i A^{(i)}|` over the per-objective
  advantages :math:`A^{(i)}` of one sample. ``radius`` :math:`\rho` restricts the combination to
  :math:`c = (1 - \rho) w + \rho u, u \in \Delta` around the user's weights w: :math:`\rho = 1`
  is the paper's rule, :math:`\rho = 0` is LS (this interpolation is ours; it lets one PAMA model
  per weight vector trace a front).
* :func:`hypervolume_meta_reward` and :func:`mirror_weights`: the two variants of dynamic reward
  weighting (Lu et al.), a hypervolume-guided multiplier of the LS reward and a mirror-descent step
  on the weights driven by the per-objective gradients' Gramian.

References:
  He & Maghsudi, Pareto multi-objective alignment for language models, ECML-PKDD 2025.
  Lu et al., Learning to optimize multi-objective alignment through dynamic reward weighting, 2025.
  https://arxiv.org/abs/2509.11452
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.pareto._checks import check_points, is_concrete
from jaxpref.types import Array, ArrayLike


def _simplex(weights: ArrayLike, m: int, where: str) -> Array:
  w = check_points("weights", weights, ndim=None, m=m, where=where)
  if is_concrete(w) and (
    np.any(np.asarray(w) < 0) or not np.allclose(np.sum(np.asarray(w), -1), 1.0, atol=1e-5)
  ):
    raise ValueError(f"{where}: weights must lie on the simplex (>= 0, summing to 1); got {w}.")
  return w


def pama_advantage(
  advantages: ArrayLike, weights: ArrayLike | None = None, *, radius: float = 1.0
) -> Array:
  r"""PAMA's combined advantage: the combination of per-objective advantages closest to zero.

  .. math::
     s^* = \arg\min_{s} |s|, \quad s \in \{ \textstyle\sum_i c_i A^{(i)} :
     c = (1 - \rho) w + \rho u,\ u \in \Delta \}
     = (1 - \rho)\, w^\top A + \rho\, \mathrm{clip}\big(-(1 - \rho) w^\top A / \rho,
       \min_i A^{(i)}, \max_i A^{(i)}\big).

  With :math:`\rho = 1` (the paper) :math:`s^*` is the projection of 0 onto
  :math:`[\min_i A^{(i)}, \max_i A^{(i)}]`: 0 when the objectives disagree in sign, the smallest
  advantage when all are positive ("update by the least-improved objective"), the largest when all
  are negative. With :math:`\rho = 0` it is the LS advantage :math:`w^\top A`. The cost is O(m) per
  sample instead of MGDA's O(m^2 d).

  Args:
    advantages: ``[..., m]`` per-objective advantages :math:`A^{(i)}` of each sample.
    weights: ``[m]`` (or ``[..., m]``) weights on the simplex; 1/m by default.
    radius: :math:`\rho \in [0, 1]`.

  Returns:
    ``[...]`` combined advantages; they replace the advantage in the policy-gradient surrogate.

  References:
    He & Maghsudi, Pareto multi-objective alignment for language models, ECML-PKDD 2025.

  Examples:
    >>> [float(pama_advantage(jnp.array(a))) for a in ([-1.0, 2.0], [1.0, 3.0], [-2.0, -0.5])]
    [0.0, 1.0, -0.5]
    >>> float(pama_advantage(jnp.array([-1.0, 2.0]), jnp.array([0.25, 0.75]), radius=0.0))
    1.25
  """
  A = check_points("advantages", advantages, ndim=None, where="pama_advantage")
  m = A.shape[-1]
  if weights is None:
    w = jnp.full((m,), 1.0 / m, A.dtype)
  else:
    w = _simplex(weights, m, "pama_advantage")
  if is_concrete(radius) and not 0 <= float(radius) <= 1:
    raise ValueError(f"pama_advantage: radius must lie in [0, 1]; got {radius}.")
  rho = jnp.asarray(radius, A.dtype)
  ls = jnp.sum(w * A, axis=-1)
  target = -(1 - rho) * ls / jnp.where(rho > 0, rho, 1.0)
  inner = jnp.clip(target, jnp.min(A, axis=-1), jnp.max(A, axis=-1))
  return (1 - rho) * ls + rho * inner


def hypervolume_meta_reward(delta_hv: ArrayLike) -> Array:
  r"""The hypervolume-guided meta-reward :math:`m_t = 0.5 + 1.5 \tanh(\max(\Delta HV_t, 0))`.

  :math:`\Delta HV_t = HV(B \cup \{v_t\}) - HV(B)` is the hypervolume gained by the latest
  validation vector :math:`v_t` over the buffer B of earlier ones (seeded with the reference
  model's, which is also the reference point); the training reward is :math:`m_t \sum_i w_i r_i`.
  :math:`m_t \in [0.5, 2)`, and 0.5 when the last validation added nothing. Multiplying a fixed LS
  reward, it rescales the step without moving the LS optimum.

  Args:
    delta_hv: ``[...]`` hypervolume gains.

  Returns:
    ``[...]`` multipliers.

  References:
    Lu et al., Learning to optimize multi-objective alignment through dynamic reward weighting,
    2025. https://arxiv.org/abs/2509.11452

  Examples:
    >>> [round(float(hypervolume_meta_reward(d)), 4) for d in (-0.3, 0.0, 0.5)]
    [0.5, 0.5, 1.1932]
  """
  return 0.5 + 1.5 * jnp.tanh(jnp.maximum(jnp.asarray(delta_hv, jnp.result_type(float)), 0.0))


def mirror_weights(
  weights: ArrayLike, gramian: ArrayLike, *, step_size: float, mu: float = 1.0
) -> Array:
  r"""Dynamic reward weighting's mirror step on the simplex from the gradients' Gramian.

  .. math:: w \leftarrow \mathrm{softmax}\big(\log w + \eta\, I / \mu\big), \qquad
     I_i = \textstyle\sum_j \langle g_i, g_j \rangle,

  where :math:`g_i` is objective i's policy gradient and :math:`I` (row sums of the Gramian
  :math:`G = J J^\top`) measures how much a step along :math:`g_i` improves all objectives. The
  paper averages I over K steps before each update and takes :math:`\eta_t` = the actor's learning
  rate. ``step_size = 0`` keeps the weights (LS).

  Args:
    weights: ``[m]`` current weights, strictly positive, on the simplex.
    gramian: ``[m, m]`` Gramian of the per-objective gradients (of rewards or of losses: the
      signs cancel).
    step_size: :math:`\eta \ge 0`.
    mu: the regularisation :math:`\mu > 0`.

  Returns:
    ``[m]`` updated weights.

  References:
    Lu et al., Learning to optimize multi-objective alignment through dynamic reward weighting,
    2025. https://arxiv.org/abs/2509.11452

  Examples:
    >>> G = jnp.array([[2.0, 0.5], [0.5, 1.0]])
    >>> [round(float(v), 4) for v in mirror_weights(jnp.array([0.5, 0.5]), G, step_size=1.0)]
    [0.7311, 0.2689]
  """
  G = check_points("gramian", gramian, where="mirror_weights")
  m = G.shape[0]
  if G.shape != (m, m):
    raise ValueError(f"mirror_weights: gramian must be [m, m]; got {G.shape}.")
  w = _simplex(weights, m, "mirror_weights")
  if is_concrete(step_size, mu) and (float(step_size) < 0 or float(mu) <= 0):
    raise ValueError(f"mirror_weights: needs step_size >= 0 and mu > 0; got {step_size}, {mu}.")
  influence = jnp.sum(G, axis=1)
  return jax.nn.softmax(jnp.log(w) + step_size * influence / mu)
