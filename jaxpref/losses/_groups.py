r"""Group-robust and max-min group objectives: GRPO and MaxMin-RLHF at the policy level.

Both train one policy for G groups of annotators and both put adversarial weights on the groups,
a point of the simplex :math:`\Delta_G`.

GRPO (Ramesh et al.) minimizes the worst group's preference loss,

.. math:: \min_\pi \max_{\alpha \in \Delta_G} \sum_g \alpha_g L_g(\pi),

with :math:`L_g` the mean DPO (or IPO) loss over group g's pairs. :func:`group_robust_weights`
takes one exponentiated-gradient ascent step of :math:`\alpha` on a batch's per-example losses,
:func:`group_batch_weights` turns :math:`\alpha` into per-group multipliers of the examples, and
:func:`group_robust_dpo` is the per-example loss whose batch mean is the weighted objective.

MaxMin-RLHF (Chakraborty et al.) maximizes the worst group's KL-regularized reward,

.. math:: \max_\pi \min_{w \in \Delta_G} \sum_g w_g J_g(\pi), \qquad
   J_g(\pi) = E_{y \sim \pi}[r_g(y)] - \beta\, KL(\pi \,\|\, \pi_{ref}).

:func:`maxmin_rlhf` is the policy-gradient (REINFORCE) surrogate of the weighted objective on
responses sampled from pi, and :func:`egalitarian_weights` the mirror-descent step of w toward the
worst-off group. :func:`jaxpref.pareto.egalitarian_policy` solves the tabular problem exactly.

Every function checks its group weights (on the simplex, or non-negative for GRPO's multipliers)
and the group ids against the number of groups G when its inputs are concrete, i.e. outside
``jit``; under ``jit`` those checks are skipped.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.losses import _offline
from jaxpref.losses._example import Example, example_weight, require
from jaxpref.types import Array, ArrayLike

# How far from 1 the sum of group weights may be (float32 rounding of a softmax).
SIMPLEX_TOL = 1e-5


def _concrete(*values: ArrayLike) -> bool:
  return not any(isinstance(v, jax.core.Tracer) for v in values)


def _check_weights(fn: str, name: str, w: Array, *, simplex: bool = True) -> None:
  """A ``[G]`` vector; finite and >= 0, and summing to 1 if ``simplex`` (when concrete)."""
  if w.ndim != 1 or w.shape[0] < 1:
    raise ValueError(f"{fn}: {name} must be a [G] vector, one entry per group; got {w.shape}.")
  if not _concrete(w):
    return
  host = np.asarray(w, dtype=np.float64)
  if not np.all(np.isfinite(host)) or np.any(host < 0):
    raise ValueError(f"{fn}: {name} must be finite and non-negative; got {host}.")
  if simplex and abs(host.sum() - 1) > SIMPLEX_TOL:
    raise ValueError(
      f"{fn}: {name} must lie on the simplex (sum to 1 within {SIMPLEX_TOL}); got sum {host.sum()}."
    )


def _check_groups(fn: str, ids: Array, num_groups: int, *, ids_name: str, owner: str) -> None:
  """Integer ids in 0..num_groups-1 (the range checked when concrete)."""
  if not jnp.issubdtype(ids.dtype, jnp.integer):
    raise ValueError(f"{fn}: {ids_name} must hold integer group ids; got {ids.dtype}.")
  if not _concrete(ids):
    return
  host = np.asarray(ids)
  bad = host[(host < 0) | (host >= num_groups)]
  if bad.size:
    raise ValueError(
      f"{fn}: K mismatch: {owner} has G = {num_groups} groups (ids 0..{num_groups - 1}), but "
      f"{ids_name} holds the id {int(bad.flat[0])}."
    )


def group_robust_weights(
  alpha: ArrayLike, losses: ArrayLike, groups: ArrayLike, *, step_size: float = 0.01
) -> tuple[Array, Array, Array]:
  r"""One step of group-robust preference optimisation (GRPO) over per-example losses.

  Group losses :math:`L_g` are means over each group's examples in the batch; the adversarial
  weights move by exponentiated gradient ascent,

  .. math:: \alpha'_g = \frac{\alpha_g e^{\eta \tilde L_g}}{\sum_h \alpha_h e^{\eta \tilde L_h}},
     \qquad \tilde L_g = \begin{cases} L_g & N_g > 0, \\
     \sum_{h: N_h > 0} \alpha_h L_h \big/ \sum_{h: N_h > 0} \alpha_h & N_g = 0, \end{cases}

  and the training objective is :math:`\sum_{g: N_g > 0} \alpha'_g L_g` (with :math:`\alpha'`
  held fixed for the gradient). A group absent from the batch (:math:`N_g = 0`) has no loss to
  report: it moves with the :math:`\alpha`-weighted mean of the present groups, so it is neither
  pushed down nor up relative to them (it keeps its weight exactly when the present groups'
  losses are equal), and it is left out of the objective (its ``group_losses`` entry is 0; the
  objective's weights are not renormalized over the present groups, as
  :func:`group_batch_weights`). Jittable and vmappable.

  Args:
    alpha: ``[G]`` current group weights (on the simplex).
    losses: ``[N]`` per-example losses (e.g. vmapped :func:`dpo`).
    groups: ``[N]`` integer group id of every example, in 0..G-1 (under ``jit``, where it is not
      checked, an id out of range is dropped).
    step_size: :math:`\eta`, the exponentiated-gradient step of the group weights (GRPO's
      :math:`\eta_\alpha`).

  Returns:
    ``(objective, new_alpha [G], group_losses [G])``.

  Raises:
    ValueError: (concrete inputs) alpha not a finite ``[G]`` vector on the simplex; losses and
      groups not ``[N]`` vectors of one shape; a group id outside 0..G-1 (K mismatch).

  References:
    Ramesh et al., Group robust preference optimization in reward-free RLHF, NeurIPS 2024.
    https://arxiv.org/abs/2405.20304
  """
  alpha, losses, groups = jnp.asarray(alpha), jnp.asarray(losses), jnp.asarray(groups)
  _check_weights("group_robust_weights", "alpha", alpha)
  if losses.ndim != 1 or losses.shape != groups.shape:
    raise ValueError(
      f"group_robust_weights: losses and groups must be [N] vectors of one shape; got "
      f"{losses.shape} and {groups.shape}."
    )
  num_groups = alpha.shape[0]
  _check_groups("group_robust_weights", groups, num_groups, ids_name="groups", owner="alpha")
  total = jax.ops.segment_sum(losses, groups, num_segments=num_groups)
  count = jax.ops.segment_sum(jnp.ones_like(losses), groups, num_segments=num_groups)
  present = count > 0
  group_losses = jnp.where(present, total / jnp.maximum(count, 1), 0.0)
  held = jax.lax.stop_gradient(group_losses)
  mass = jnp.sum(jnp.where(present, alpha, 0.0))
  fill = jnp.sum(jnp.where(present, alpha * held, 0.0)) / jnp.where(mass > 0, mass, 1.0)
  step = jnp.where(present, held, fill)
  new_alpha = jax.nn.softmax(jnp.log(alpha) + step_size * step)
  objective = jnp.sum(jax.lax.stop_gradient(new_alpha) * group_losses)
  return objective, new_alpha, group_losses


def group_batch_weights(alpha: ArrayLike, groups: ArrayLike) -> Array:
  r"""Per-group multipliers that turn a batch mean into GRPO's weighted group objective.

  With N examples, :math:`N_g` of them in group g,

  .. math:: v_g = \alpha_g \frac{N}{N_g} \quad (N_g > 0), \qquad v_g = 0 \quad (N_g = 0),

  so that :math:`\frac1N \sum_i v_{g_i} \ell_i = \sum_{g: N_g > 0} \alpha_g L_g`, the GRPO
  objective over the groups present in the batch (the ``objective`` of
  :func:`group_robust_weights` for the same alpha). Pass them as ``weights`` to
  :func:`group_robust_dpo`. Jittable and vmappable.

  Args:
    alpha: ``[G]`` group weights (on the simplex).
    groups: ``[N]`` integer group id of every example of the batch, in 0..G-1.

  Returns:
    ``[G]`` multipliers :math:`v`.

  Raises:
    ValueError: (concrete inputs) alpha not a finite ``[G]`` vector on the simplex; groups not an
      ``[N]`` vector of integers; a group id outside 0..G-1 (K mismatch).

  Examples:
    >>> import jax.numpy as jnp
    >>> v = group_batch_weights(jnp.array([0.2, 0.3, 0.5]), jnp.array([0, 0, 0, 1]))
    >>> [round(x, 4) for x in v.tolist()]  # 0.2 * 4 / 3, 0.3 * 4 / 1, group 2 absent
    [0.2667, 1.2, 0.0]
  """
  alpha, groups = jnp.asarray(alpha), jnp.asarray(groups)
  _check_weights("group_batch_weights", "alpha", alpha)
  if groups.ndim != 1:
    raise ValueError(f"group_batch_weights: groups must be an [N] vector; got {groups.shape}.")
  num_groups = alpha.shape[0]
  _check_groups("group_batch_weights", groups, num_groups, ids_name="groups", owner="alpha")
  count = jax.ops.segment_sum(
    jnp.ones(groups.shape, jnp.result_type(alpha, float)), groups, num_segments=num_groups
  )
  return jnp.where(count > 0, alpha * groups.shape[0] / jnp.maximum(count, 1), 0.0)


def group_robust_dpo(
  example: Example, *, weights: ArrayLike, kl_coef: float = 0.1, ipo: bool = False
) -> tuple[Array, dict[str, Array]]:
  r"""GRPO's per-example loss: DPO (or IPO) scaled by the weight of the example's group.

  GRPO trains against the worst mixture of the groups' preference losses,

  .. math:: \min_\pi \max_{\alpha \in \Delta_G} \sum_g \alpha_g L_g(\pi), \qquad
     \ell = v_{g} \, \ell_{DPO}(h; \beta, p),

  with :math:`L_g` the mean DPO loss over group g's pairs and :math:`v_g` the multiplier of the
  example's group g. The batch mean of :math:`\ell` is the GRPO objective when
  :math:`v_g = \alpha_g N / N_g` (:func:`group_batch_weights`); per training step,
  :func:`group_robust_weights` moves alpha on the batch's (stop-gradient) DPO losses and
  :func:`group_batch_weights` gives ``weights``. The base loss is :func:`dpo` (or :func:`ipo` with
  ``ipo=True``), so soft labels ``pref``, ties (p = 1/2) and ``Example.weight`` follow its
  conventions.

  Args:
    example: needs ``logp, logp2, ref_logp, ref_logp2, pref, group`` (``group`` an integer id).
    weights: ``[G]`` non-negative multipliers :math:`v` of the groups (not necessarily summing to
      1; under ``jit``, where ids are not checked, an id out of range gives a NaN loss).
    kl_coef: KL weight :math:`\beta` (GRPO's and DPO's :math:`\beta`; IPO's :math:`\tau`).
    ipo: use IPO's squared loss as the base loss (GRPO's IPO variant).

  Returns:
    ``(loss, {"base_loss": DPO/IPO loss, "group_weight": weights[group], **the base loss's aux})``.

  Raises:
    ValueError: (concrete inputs) weights not a ``[G]`` vector, non-finite or negative; a group id
      outside 0..G-1 (K mismatch between the weights and the example's groups); the fields
      :func:`dpo` needs.

  Examples:
    One GRPO step on a batch of three pairs in two groups:

    >>> import jax, jax.numpy as jnp
    >>> batch = Example(logp=jnp.array([-1.0, -2.0, -1.5]), logp2=jnp.array([-2.0, -1.0, -1.5]),
    ...                 ref_logp=jnp.full(3, -1.5), ref_logp2=jnp.full(3, -1.5),
    ...                 pref=jnp.ones(3), group=jnp.array([0, 1, 1]))
    >>> losses = jax.vmap(lambda e: _offline.dpo(e, kl_coef=1.0)[0])(batch)
    >>> objective, alpha, _ = group_robust_weights(
    ...     jnp.array([0.5, 0.5]), losses, batch.group, step_size=0.1)
    >>> weights = group_batch_weights(alpha, batch.group)
    >>> per = jax.vmap(lambda e: group_robust_dpo(e, weights=weights, kl_coef=1.0)[0])(batch)
    >>> bool(jnp.allclose(per.mean(), objective))
    True

  References:
    Ramesh et al., Group robust preference optimization in reward-free RLHF, NeurIPS 2024.
    https://arxiv.org/abs/2405.20304
  """
  name = "group_robust_dpo"
  *_, group = require(example, name, "logp", "logp2", "ref_logp", "ref_logp2", "pref", "group")
  w = jnp.asarray(weights)
  _check_weights(name, "weights", w, simplex=False)
  num_groups = w.shape[0]
  _check_groups(name, group, num_groups, ids_name="Example.group", owner="weights")
  base, base_aux = (_offline.ipo if ipo else _offline.dpo)(example, kl_coef=kl_coef)
  inside = (group >= 0) & (group < num_groups)
  group_weight = jnp.where(inside, w[jnp.clip(group, 0, num_groups - 1)], jnp.nan)
  return group_weight * base, {"base_loss": base, "group_weight": group_weight, **base_aux}


def maxmin_rlhf(
  example: Example, *, weights: ArrayLike, kl_coef: float = 0.1
) -> tuple[Array, dict[str, Array]]:
  r"""MaxMin-RLHF's policy-gradient (REINFORCE) surrogate of the weighted group objective.

  For a response :math:`y \sim \pi_\theta` with group rewards :math:`r(y) \in \mathbb{R}^G`,
  group weights :math:`w \in \Delta_G` and a baseline b (``score``, 0 when unset),

  .. math:: A = \mathrm{sg}\Big[w^\top r(y) - \beta \log\frac{\pi_\theta(y)}{\pi_{ref}(y)}
     - b\Big], \qquad \ell = -A \log\pi_\theta(y),

  (:math:`\mathrm{sg}` = stop-gradient). Its expected gradient is minus the gradient of the
  weighted objective :math:`J_w(\pi) = \sum_g w_g E_\pi[r_g] - \beta\, KL(\pi \,\|\, \pi_{ref})`:
  differentiating :math:`J_w = E_\pi[w^\top r - \beta \log(\pi/\pi_{ref})]` gives
  :math:`E_\pi[\nabla\log\pi \,(w^\top r - \beta\log(\pi/\pi_{ref}))] - \beta E_\pi[\nabla\log\pi]`,
  and :math:`E_\pi[\nabla\log\pi] = \sum_y \nabla\pi(y) = 0`, which removes the last term and any
  baseline b. MaxMin-RLHF alternates this policy step, with w on the worst-off group (its hard
  minimum; :func:`egalitarian_weights` is the soft step), with refits of the groups' rewards.

  Args:
    example: needs ``logp`` (log pi(y | x) of a sampled y), ``ref_logp`` and ``rewards`` (``[G]``);
      ``score`` is an optional baseline b, ``weight`` the example's weight.
    weights: ``[G]`` group weights w on the simplex (MaxMin-RLHF's worst group is a vertex).
    kl_coef: KL weight :math:`\beta` (MaxMin-RLHF's :math:`\beta`).

  Returns:
    ``(loss, {"reward": w . r(y), "advantage": A})``.

  Raises:
    ValueError: weights not a ``[G]`` vector with G the length of ``rewards`` (K mismatch); with
      concrete weights, weights off the simplex (negative, non-finite, sum not 1 within 1e-5);
      missing or bad fields.

  Examples:
    >>> import jax.numpy as jnp
    >>> ex = Example(logp=-1.0, ref_logp=-1.5, rewards=jnp.array([1.0, 0.0]))
    >>> loss, aux = maxmin_rlhf(ex, weights=jnp.array([0.5, 0.5]), kl_coef=0.5)
    >>> round(float(aux["advantage"]), 4), round(float(loss), 4)  # A = 0.5 - 0.5 * 0.5
    (0.25, 0.25)

  References:
    Chakraborty et al., MaxMin-RLHF: Alignment with diverse human preferences, ICML 2024.
    https://arxiv.org/abs/2402.08925
  """
  name = "maxmin_rlhf"
  fields = ("logp", "ref_logp", "rewards") + (() if example.score is None else ("score",))
  logp, ref_logp, rewards, *score = require(example, name, *fields)
  w = jnp.asarray(weights)
  if w.ndim != 1 or w.shape != rewards.shape[-1:]:
    raise ValueError(
      f"{name}: K mismatch: weights must be a [G] vector with G = {rewards.shape[-1]}, the groups "
      f"of Example.rewards; got weights of shape {w.shape}."
    )
  if rewards.shape[:-1] != logp.shape:
    raise ValueError(
      f"{name}: Example.rewards must be [..., G] over the shape {logp.shape} of Example.logp; "
      f"got {rewards.shape}."
    )
  _check_weights(name, "weights", w)
  baseline = score[0] if score else 0.0
  reward = rewards @ w
  advantage = jax.lax.stop_gradient(reward - kl_coef * (logp - ref_logp) - baseline)
  loss = -advantage * logp * example_weight(example)
  return loss, {"reward": reward, "advantage": advantage}


def egalitarian_weights(weights: ArrayLike, values: ArrayLike, *, step_size: float) -> Array:
  r"""One mirror-descent step of the max-min group weights toward the worst-off group.

  .. math:: w'_g = \frac{w_g e^{-\eta J_g}}{\sum_h w_h e^{-\eta J_h}}
     = \mathrm{softmax}(\log w - \eta J)_g,

  the exponentiated-gradient step of the inner minimization of
  :math:`\max_\pi \min_{w \in \Delta_G} \sum_g w_g J_g(\pi)` (its gradient in w is J), with
  :math:`J_g` the groups' current objective values (higher is better) and :math:`\eta` =
  ``step_size``. MaxMin-RLHF's hard minimum (all weight on :math:`\arg\min_g J_g`) is the limit
  :math:`\eta \to \infty`; alternated with :func:`maxmin_rlhf` policy steps it is a smoothed
  MaxMin-RLHF. Jittable and vmappable.

  Args:
    weights: ``[G]`` current group weights w (on the simplex).
    values: ``[G]`` the groups' objective values :math:`J_g(\pi)`.
    step_size: :math:`\eta \ge 0`.

  Returns:
    ``[G]`` new weights w'.

  Raises:
    ValueError: values not the shape of weights (K mismatch); with concrete inputs, weights off
      the simplex, non-finite values or a negative step size.

  Examples:
    >>> import jax.numpy as jnp
    >>> w = egalitarian_weights(jnp.array([0.5, 0.5]), jnp.array([1.0, 3.0]), step_size=0.5)
    >>> [round(x, 4) for x in w.tolist()]  # e / (1 + e), 1 / (1 + e)
    [0.7311, 0.2689]

  References:
    Chakraborty et al., MaxMin-RLHF: Alignment with diverse human preferences, ICML 2024.
    https://arxiv.org/abs/2402.08925
  """
  name = "egalitarian_weights"
  w, values = jnp.asarray(weights), jnp.asarray(values)
  _check_weights(name, "weights", w)
  if values.shape != w.shape:
    raise ValueError(
      f"{name}: K mismatch: weights has G = {w.shape[0]} groups but values has shape "
      f"{values.shape}."
    )
  if _concrete(values) and not np.all(np.isfinite(np.asarray(values))):
    raise ValueError(f"{name}: values must be finite; got {np.asarray(values)}.")
  if _concrete(step_size) and not (np.isfinite(step_size) and step_size >= 0):
    raise ValueError(f"{name}: step_size must be finite and >= 0; got {step_size}.")
  return jax.nn.softmax(jnp.log(w) - step_size * values)
