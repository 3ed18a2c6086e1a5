r"""Outcome models: from an antisymmetric logit to probabilities of win, tie and loss.

Every preference model here produces a logit :math:`d = d(a, b)` with :math:`d(a, b) = -d(b, a)`
(plus an optional advantage of the first-listed item). The link turns it into three probabilities:

* ``"bt"`` (Bradley & Terry 1952): :math:`p_{win} = \sigma(d)`, :math:`p_{loss} = \sigma(-d)`, no
  tie. A tie (outcome 1/2) counts as half a win for each side:
  :math:`\tfrac12 \log\sigma(d) + \tfrac12 \log\sigma(-d)`.
* ``"davidson"`` (Davidson 1970): :math:`(p_{win}, p_{tie}, p_{loss}) =
  \mathrm{softmax}(d/2,\ \theta,\ -d/2)`, i.e. :math:`p_{tie} \propto \nu \sqrt{\pi_a \pi_b}` with
  :math:`\nu = e^\theta`.
* ``"rao_kupper"`` (Rao & Kupper 1967): :math:`p_{win} = \sigma(d - \eta)`,
  :math:`p_{loss} = \sigma(-d - \eta)`, :math:`p_{tie}` the rest, with threshold
  :math:`\eta = \mathrm{softplus}(\theta) > 0`.

An outcome :math:`y \in [0, 1]` (score of the first item) is read as the mixture
:math:`(\max(2y - 1, 0),\ 1 - |2y - 1|,\ \max(1 - 2y, 0))` of win, tie and loss, so 1, 1/2 and 0 are
a win, a tie and a loss. The preference probability used for games is
:math:`P(a \succ b) = p_{win} + \tfrac12 p_{tie}`, so :math:`P + P^\top = 1` for every link.
"""

import jax
import jax.numpy as jnp

from jaxpref.types import Array

LINKS = ("bt", "davidson", "rao_kupper")


def check_link(link: str) -> None:
  """Raises ``ValueError`` unless ``link`` is one of :data:`LINKS`."""
  if link not in LINKS:
    raise ValueError(f"Unknown tie model {link!r}; expected one of {', '.join(LINKS)}.")


def outcome_log_probs(logit: Array, tie: Array | None, link: str) -> Array:
  """Log-probabilities of (win, tie, loss) of the first item; ``[..., 3]``.

  Args:
    logit: ``[...]`` antisymmetric logits ``d``.
    tie: the link's unconstrained tie parameter ``theta`` (``None`` for ``"bt"``).
    link: one of :data:`LINKS`.

  Returns:
    ``[..., 3]`` log-probabilities; the tie entry is ``-inf`` for ``"bt"``.
  """
  check_link(link)
  if link == "bt":
    return jnp.stack(
      [jax.nn.log_sigmoid(logit), jnp.full_like(logit, -jnp.inf), jax.nn.log_sigmoid(-logit)], -1
    )
  if link == "davidson":
    tie = jnp.broadcast_to(tie, logit.shape)
    return jax.nn.log_softmax(jnp.stack([logit / 2, tie, -logit / 2], -1), axis=-1)
  eta = jax.nn.softplus(tie)
  log_win = jax.nn.log_sigmoid(logit - eta)
  log_loss = jax.nn.log_sigmoid(-logit - eta)
  # p_tie = 1 - p_win - p_loss = sigmoid(eta - d) - sigmoid(-eta - d), evaluated in logs.
  log_hi = jax.nn.log_sigmoid(eta - logit)
  log_tie = log_hi + jnp.log(-jnp.expm1(log_loss - log_hi))
  return jnp.stack([log_win, log_tie, log_loss], -1)


def outcome_weights(outcome: Array) -> Array:
  """``[..., 3]`` weights of (win, tie, loss) that an outcome score ``y`` stands for."""
  s = 2 * outcome - 1
  return jnp.stack([jnp.maximum(s, 0), 1 - jnp.abs(s), jnp.maximum(-s, 0)], -1)


def outcome_log_likelihood(logit: Array, tie: Array | None, outcome: Array, link: str) -> Array:
  r"""Log-likelihood of outcome scores ``y`` under the link; ``[...]``.

  For ``"bt"``: :math:`y \log\sigma(d) + (1 - y)\log\sigma(-d)` (ties as half a win each).

  Args:
    logit: ``[...]`` logits.
    tie: the tie parameter (``None`` for ``"bt"``).
    outcome: ``[...]`` scores of the first item in ``[0, 1]``.
    link: one of :data:`LINKS`.

  Returns:
    ``[...]`` log-likelihoods.
  """
  if link == "bt":
    return outcome * jax.nn.log_sigmoid(logit) + (1 - outcome) * jax.nn.log_sigmoid(-logit)
  logp = outcome_log_probs(logit, tie, link)
  w = outcome_weights(outcome)
  # 0 * log p is 0 even where p underflows.
  return jnp.sum(jnp.where(w > 0, w * logp, 0.0), axis=-1)


def preference_probability(logit: Array, tie: Array | None, link: str) -> Array:
  r""":math:`P(a \succ b) = p_{win} + p_{tie} / 2`; ``[...]``."""
  if link == "bt":
    return jax.nn.sigmoid(logit)
  p = jnp.exp(outcome_log_probs(logit, tie, link))
  return p[..., 0] + 0.5 * p[..., 1]
