r"""Listwise losses on K responses to a prompt: Plackett-Luce DPO, PRO, LiPO-lambda, set-level MPO.

One example holds a list: ``logp``, ``ref_logp`` and ``score`` are ``[K]`` (the policy's and the
reference's sequence log-probabilities of each response, and its label: a reward or grade, larger
is better, which defines the ranking), ``valid`` an optional ``[K]`` mask for padded lists (so that
K is static under ``jit``). With ``kl_coef`` :math:`\beta` the implicit reward of response i is

.. math:: s_i = \beta \log\frac{\pi_\theta(y_i)}{\pi_{ref}(y_i)}.

With K = 2, PL-DPO is DPO, MPO is DPO, LiPO with ``lambda_weights=False`` is DPO (with its
lambda weights, a constant multiple of it) and PRO is DPO without a reference at
:math:`\beta = r_1 - r_2` (tested). The symbols of each paper and these names: docs/solvers.md,
'Hyperparameter names'.
"""

import jax
import jax.numpy as jnp

from jaxpref.losses._example import Example, example_weight, require
from jaxpref.types import Array

_NEG = -1e30  # A finite -inf for masked entries: no NaN in gradients.


def _list(example: Example, loss: str, *fields: str) -> tuple[list[Array], Array]:
  values = require(example, loss, *fields)
  if values[0].ndim != 1 or values[0].shape[0] < 2:
    raise ValueError(f"{loss}: list fields must be [K] with K >= 2; got {values[0].shape}.")
  valid = jnp.ones(values[0].shape, bool) if example.valid is None else example.valid
  return values, jnp.asarray(valid, bool)


def _suffix_logsumexp(x: Array) -> Array:
  """``out[j] = log sum_{m >= j} exp(x[m])``."""
  return jnp.flip(jax.lax.cumlogsumexp(jnp.flip(x)))


def _best_first(score: Array, valid: Array) -> Array:
  """Indices ordering the list by descending score, padded entries last (stable)."""
  return jnp.argsort(jnp.where(valid, -score, jnp.inf), stable=True)


def pl_dpo(example: Example, *, kl_coef: float = 0.1) -> tuple[Array, dict[str, Array]]:
  r"""Plackett-Luce DPO: the negative PL log-likelihood of the ranking under the implicit rewards.

  With the responses ranked by ``score`` (best first, :math:`\tau(1)` the best),

  .. math:: \ell = -\sum_{k=1}^{K} \Big[s_{\tau(k)} - \log\sum_{j \ge k} e^{s_{\tau(j)}}\Big]

  (the k = K term is 0). The reward model's partition function cancels in every factor, so the
  KL-regularized optimum :math:`\pi \propto \pi_{ref} e^{r/\beta}` is its population minimizer
  under PL-distributed rankings (tested, tabular). Equal scores keep their list order.

  Args:
    example: needs ``logp, ref_logp, score`` (``[K]``); optional ``valid``.
    kl_coef: KL weight :math:`\beta`.

  Returns:
    ``(loss, {"rewards": s})``.

  References:
    Rafailov et al., Direct preference optimization, NeurIPS 2023, App. A.3.
  """
  (logp, ref_logp, score), valid = _list(example, "pl_dpo", "logp", "ref_logp", "score")
  s = kl_coef * (logp - ref_logp)
  order = _best_first(score, valid)
  ranked, ok = s[order], valid[order]
  tail = _suffix_logsumexp(jnp.where(ok, ranked, _NEG))
  loss = -jnp.sum(jnp.where(ok, ranked - jnp.where(ok, tail, 0.0), 0.0))
  return example_weight(example) * loss, {"rewards": s}


def pro(example: Example) -> tuple[Array, dict[str, Array]]:
  r"""PRO's ranking loss: successive softmax choices of the best remaining response.

  With responses sorted by their reward :math:`r` (``score``, best first) and scores
  :math:`c_i` (``logp``: the caller's length-normalized log-probability
  :math:`|y_i|^{-1}\sum_t \log\pi(y_{i,t})`; PRO has no reference model),

  .. math:: \ell = \sum_{k=1}^{n-1}\Big[\log\sum_{i \ge k} e^{c_i w_{k,i}} - c_k w_{k,k}\Big],
     \quad w_{k,i} = r_k - r_i\ (i > k), \quad w_{k,k} = \max_{i > k} w_{k,i}.

  The paper adds :math:`\beta` times an SFT term on the best response (its code:
  ``sft_weight`` :math:`(n-1)^2` times the summed negative log-likelihood); it needs the summed
  log-probability, so the caller adds it. Equal rewards make a stage constant (w = 0).

  Args:
    example: needs ``logp, score`` (``[K]``); optional ``valid``.

  Returns:
    ``(loss, {"stages": [K] per-stage losses, 0 beyond n - 1})``.

  References:
    Song et al., Preference ranking optimization for human alignment, AAAI 2024.
  """
  (c, r), valid = _list(example, "pro", "logp", "score")
  order = _best_first(r, valid)
  c, r, ok = c[order], r[order], valid[order]
  K = c.shape[0]
  k, i = jnp.arange(K)[:, None], jnp.arange(K)[None, :]
  later = (i > k) & ok[None, :] & ok[:, None]
  w = jnp.where(later, r[:, None] - r[None, :], 0.0)
  w_self = jnp.max(jnp.where(later, w, -jnp.inf), axis=1)  # -inf where no later response
  has_later = jnp.any(later, axis=1)
  w = jnp.where(i == k, jnp.where(has_later, w_self, 0.0)[:, None], w)
  logits = jnp.where((i >= k) & ok[None, :], c[None, :] * w, _NEG)
  stages = jax.nn.logsumexp(logits, axis=1) - c * jnp.diagonal(w)
  stages = jnp.where(has_later, stages, 0.0)
  return example_weight(example) * jnp.sum(stages), {"stages": stages}


def lipo(
  example: Example, *, kl_coef: float = 0.1, lambda_weights: bool = True
) -> tuple[Array, dict[str, Array]]:
  r"""LiPO-lambda: pairwise logistic losses on every ordered pair, weighted by their lambda.

  With labels :math:`\psi` (``score``) and :math:`\tau_i` the rank of response i when the list
  is sorted by the current :math:`s` (descending, held fixed in the gradient),

  .. math:: \ell = \sum_{\psi_i > \psi_j} \Delta_{ij} \log(1 + e^{-(s_i - s_j)}), \quad
     \Delta_{ij} = |G_i - G_j|\,\Big|\frac{1}{D(\tau_i)} - \frac{1}{D(\tau_j)}\Big|,

  :math:`G_i = 2^{\psi_i} - 1`, :math:`D(\tau) = \log(1 + \tau)` (natural log). Pairs with equal
  labels are left out. ``lambda_weights=False`` sets :math:`\Delta = 1`: all-pairs DPO.

  Args:
    example: needs ``logp, ref_logp, score`` (``[K]``); optional ``valid``.
    kl_coef: KL weight :math:`\beta`.
    lambda_weights: weight the pairs by :math:`\Delta_{ij}` (LiPO-lambda) or by 1 (all-pairs DPO).

  Returns:
    ``(loss, {"rewards": s, "lambda": [K, K] pair weights})``.

  References:
    Liu et al., LiPO: Listwise preference optimization through learning-to-rank, 2024.
  """
  (logp, ref_logp, psi), valid = _list(example, "lipo", "logp", "ref_logp", "score")
  s = kl_coef * (logp - ref_logp)
  pair = (psi[:, None] > psi[None, :]) & valid[:, None] & valid[None, :]
  if lambda_weights:
    order = _best_first(jax.lax.stop_gradient(s), valid)
    rank = jnp.zeros_like(order).at[order].set(jnp.arange(1, order.shape[0] + 1))
    gain, discount = 2.0**psi - 1.0, 1.0 / jnp.log1p(rank.astype(s.dtype))
    delta = jnp.abs(gain[:, None] - gain[None, :]) * jnp.abs(discount[:, None] - discount[None, :])
  else:
    delta = jnp.ones((s.shape[0], s.shape[0]), s.dtype)
  delta = jnp.where(pair, delta, 0.0)
  terms = delta * jax.nn.softplus(-(s[:, None] - s[None, :]))
  return example_weight(example) * jnp.sum(terms), {"rewards": s, "lambda": delta}


def mpo(
  example: Example, *, kl_coef: float = 0.1, deviation_weight: float = 0.0
) -> tuple[Array, dict[str, Array]]:
  r"""Set-level multi-preference optimization: the chosen set against the whole list.

  Responses scoring above the list's mean reward :math:`\bar S` (``score``) form the chosen set
  :math:`Y^+`, the rest the rejected set:

  .. math:: \ell = -\log\frac{\sum_{i \in Y^+} w_i e^{s_i}}{\sum_{i} w_i e^{s_i}}, \quad
     w_i = e^{\alpha |S_i - \bar S|},

  with :math:`\alpha` = ``deviation_weight`` (0: the group Bradley-Terry "chosen set beats
  rejected set"). A list whose rewards are all equal has no chosen set: its loss is 0.

  Args:
    example: needs ``logp, ref_logp, score`` (``[K]``); optional ``valid``.
    kl_coef: KL weight :math:`\beta`.
    deviation_weight: :math:`\alpha` of the weights (>= 0).

  Returns:
    ``(loss, {"rewards": s, "chosen": [K] mask of Y+})``.

  References:
    Gupta et al., Multi-preference optimization: generalizing DPO via set-level contrasts, 2024.
  """
  (logp, ref_logp, S), valid = _list(example, "mpo", "logp", "ref_logp", "score")
  s = kl_coef * (logp - ref_logp)
  mean = jnp.sum(jnp.where(valid, S, 0.0)) / jnp.maximum(jnp.sum(valid), 1)
  chosen = valid & (mean < S)
  logw = deviation_weight * jnp.abs(S - mean) + s
  top = jax.nn.logsumexp(jnp.where(chosen, logw, _NEG))
  total = jax.nn.logsumexp(jnp.where(valid, logw, _NEG))
  loss = jnp.where(jnp.any(chosen), total - top, 0.0)
  return example_weight(example) * loss, {"rewards": s, "chosen": chosen}
