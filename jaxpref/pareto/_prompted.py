r"""Preferences stated in the prompt: CPO's target ratings and DPA's reward directions.

Both methods condition one policy on a preference written into its input and train it so that its
behaviour follows the request:

* CPO (Guo et al.): the prompt carries target ratings :math:`c` ("preference tokens"); a response
  is scored by :math:`R(y \mid c) = \sum_i \omega_i g_i(y)` with :math:`g_i = -|p_i(y) - c_i|`
  on conditioned objectives and :math:`g_i = p_i(y)` on free ones (:func:`cpo_scores`), and
  every pair ordered by R becomes a DPO pair on the condition-prefixed prompt
  (:func:`cpo_preference`, :func:`jaxpref.losses.cpo`).
* DPA (Wang et al.): the prompt carries a unit direction :math:`v`; the reward is
  :math:`v^\top r` (:func:`directional_rewards`) and training is rejection-sampling fine-tuning:
  draw N responses from the current policy, keep the best by :math:`v^\top r`
  (:func:`rejection_sampling_targets`), fine-tune on the kept ones, repeat.

References:
  Guo et al., Controllable preference optimization: toward controllable multi-objective
  alignment, EMNLP 2024. https://arxiv.org/abs/2402.19085
  Wang et al., Arithmetic control of LLMs for diverse user preferences: directional preference
  alignment with multi-objective rewards, ACL 2024. https://arxiv.org/abs/2402.18571
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.losses._multi import cpo_label, cpo_score
from jaxpref.pareto._checks import check_points, is_concrete
from jaxpref.types import Array, ArrayLike, PRNGKey


def cpo_scores(
  attributes: ArrayLike,
  condition: ArrayLike,
  *,
  conditioned: ArrayLike | None = None,
  weights: ArrayLike | None = None,
) -> Array:
  r"""CPO's score of responses under a condition: :math:`R(y \mid c) = \sum_i \omega_i g_i(y)`.

  .. math:: g_i(y) = \begin{cases} -|p_i(y) - c_i| & i \text{ conditioned} \\
     p_i(y) & i \text{ free (maximised)} \end{cases}

  This is the paper's intent; the released preprocessing's honesty term reads
  :math:`-|p| - c`, an operator-precedence slip not reproduced here.

  Args:
    attributes: ``[..., m]`` attribute ratings :math:`p(y)` of each response.
    condition: ``[..., m]`` target ratings :math:`c` (entries of free objectives are ignored).
    conditioned: ``[m]`` booleans, True where the objective is conditioned; all by default.
    weights: ``[m]`` objective weights :math:`\omega`; ones by default (the released code).

  Returns:
    ``[...]`` scores.

  References:
    Guo et al., Controllable preference optimization: toward controllable multi-objective
    alignment, EMNLP 2024. https://arxiv.org/abs/2402.19085

  Examples:
    >>> p = jnp.array([[5.0, 4.0, 1.0], [3.0, 3.0, 3.0]])
    >>> cpo_scores(p, jnp.array([3.0, 4.0, 0.0]),
    ...            conditioned=jnp.array([True, True, False])).tolist()
    [-1.0, 2.0]
  """
  p = check_points("attributes", attributes, ndim=None, where="cpo_scores")
  m = p.shape[-1]
  c = check_points("condition", condition, ndim=None, m=m, where="cpo_scores")
  mask = jnp.ones((m,), bool) if conditioned is None else jnp.asarray(conditioned, bool)
  omega = jnp.ones((m,), p.dtype) if weights is None else jnp.asarray(weights, p.dtype)
  if mask.shape != (m,) or omega.shape != (m,):
    raise ValueError(
      f"cpo_scores: conditioned and weights need shape ({m},); got {mask.shape}, {omega.shape}."
    )
  return cpo_score(p, c, mask, omega)


def cpo_preference(
  attributes: ArrayLike,
  attributes2: ArrayLike,
  condition: ArrayLike,
  *,
  conditioned: ArrayLike | None = None,
  weights: ArrayLike | None = None,
  temperature: float = 0.0,
) -> Array:
  r"""The CDPO label of the pair (y, y') under condition c: which response scores higher.

  With ``temperature`` 0 (the paper) the label is :math:`1[R(y|c) > R(y'|c)]` (1/2 on ties);
  with :math:`\tau > 0` it is the Bradley-Terry probability :math:`\sigma((R(y|c) - R(y'|c))/\tau)`,
  under which DPO's population optimum is :math:`\pi(y|c) \propto \pi_{ref}(y)
  \exp(R(y|c) / (\tau\beta))`.

  Args:
    attributes: ``[..., m]`` ratings of y.
    attributes2: ``[..., m]`` ratings of y'.
    condition: ``[..., m]`` target ratings.
    conditioned: see :func:`cpo_scores`.
    weights: see :func:`cpo_scores`.
    temperature: :math:`\tau \ge 0`.

  Returns:
    ``[...]`` probabilities that y is preferred.

  Examples:
    >>> c = jnp.array([3.0, 4.0])
    >>> cpo_preference(jnp.array([3.0, 4.0]), jnp.array([5.0, 4.0]), c).tolist()
    1.0
  """
  kw = {"conditioned": conditioned, "weights": weights}
  d = cpo_scores(attributes, condition, **kw) - cpo_scores(attributes2, condition, **kw)
  return cpo_label(d, temperature)


def directional_rewards(rewards: ArrayLike, directions: ArrayLike) -> Array:
  r"""DPA's reward along a unit preference direction: :math:`R(x, y, v) = v^\top r(x, y)`.

  Args:
    rewards: ``[..., m]`` multi-objective rewards.
    directions: ``[..., m]`` unit directions :math:`v` (e.g. :func:`unit_directions`, or
      :math:`(\cos t, \sin t)` for two objectives), broadcast against ``rewards``.

  Returns:
    ``[...]`` directional rewards.

  References:
    Wang et al., Arithmetic control of LLMs for diverse user preferences: directional preference
    alignment with multi-objective rewards, ACL 2024. https://arxiv.org/abs/2402.18571

  Examples:
    >>> float(directional_rewards(jnp.array([2.0, 1.0]), jnp.array([0.6, 0.8])))
    2.0
  """
  r = check_points("rewards", rewards, ndim=None, where="directional_rewards")
  v = check_points("directions", directions, ndim=None, m=r.shape[-1], where="directional_rewards")
  return jnp.sum(r * v, axis=-1)


def rejection_sampling_targets(
  key: PRNGKey, logp: ArrayLike, scores: ArrayLike, *, num_samples: int
) -> Array:
  r"""One round of rejection sampling: the best of N responses drawn from the policy.

  For each row (a prompt with its preference), draws ``num_samples`` responses from the
  categorical ``logp`` (with replacement) and returns the one with the highest score; the
  fine-tuning loss of the round is :math:`-\log \pi(y^* \mid x, v)` on these targets (DPA's
  rejection-sampling fine-tuning, RSF).

  Args:
    key: PRNG key.
    logp: ``[..., V]`` log-probabilities of the policy that samples (the round's start).
    scores: ``[..., V]`` scores of every response (e.g. :func:`directional_rewards`).
    num_samples: N >= 1.

  Returns:
    ``[...]`` int32 indices of the kept responses.

  Examples:
    >>> logp = jnp.log(jnp.array([[0.5, 0.5, 0.0]]))
    >>> rejection_sampling_targets(jax.random.key(0), logp, jnp.array([[0.0, 1.0, 9.0]]),
    ...                            num_samples=64).tolist()  # response 2 is never drawn
    [1]
  """
  logp = jnp.asarray(logp, jnp.result_type(float))
  if is_concrete(logp) and np.any(np.isnan(np.asarray(logp)) | (np.asarray(logp) == np.inf)):
    raise ValueError("rejection_sampling_targets: logp must be log-probabilities (no NaN or +inf).")
  scores = check_points("scores", scores, ndim=None, where="rejection_sampling_targets")
  if scores.shape != logp.shape:
    raise ValueError(
      f"rejection_sampling_targets: scores {scores.shape} must match logp {logp.shape}."
    )
  if num_samples < 1:
    raise ValueError(f"rejection_sampling_targets: num_samples must be >= 1; got {num_samples}.")
  batch, V = logp.shape[:-1], logp.shape[-1]
  flat = logp.reshape(-1, V)
  draws = jax.random.categorical(key, flat[:, None, :], shape=(flat.shape[0], num_samples))
  drawn = jnp.take_along_axis(scores.reshape(-1, V), draws, axis=-1)
  best = jnp.take_along_axis(draws, jnp.argmax(drawn, axis=-1)[:, None], axis=-1)[:, 0]
  return best.astype(jnp.int32).reshape(batch)
