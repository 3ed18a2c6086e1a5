r"""Preference heads on sentence embeddings: a Bradley-Terry reward head and a GPM head.

A response y to prompt x is embedded as :math:`\phi = \mathrm{enc}(x, y)` (a frozen sentence
encoder such as MiniLM, on the text pair). Heads map :math:`\phi` to a reward
:math:`r(\phi) = w_2^\top \tanh(W_1\phi)` and, for the GPM head, to a vector
:math:`v(\phi) \in \mathbb{R}^{2k}`:

.. math::
  P(y \succ y' \mid x) = \sigma\big(r(\phi) - r(\phi') + v(\phi)^\top R\, v(\phi')\big),
  \qquad R = \mathrm{blockdiag}\big([[0, 1], [-1, 0]], \dots\big),

so the logit is antisymmetric (P(y ≻ y') + P(y' ≻ y) = 1) and the GPM term can represent
intransitive preferences. Ties count as half a win (soft labels). The heads are fitted by
full-batch Adam with an L2 penalty, under one ``jax.jit``.

References:
  Bradley & Terry, Biometrika 1952; Ouyang et al., Training language models to follow
  instructions with human feedback, NeurIPS 2022 (reward models); Zhang et al., Beyond
  Bradley-Terry models: a general preference model for language model alignment, ICML 2025.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpref import optim
from jaxpref.types import Array

HEADS = ("bt", "gpm")


class PreferenceHead(nnx.Module):
  """A reward head (``"bt"``) or a reward plus skew-symmetric head (``"gpm"``)."""

  def __init__(
    self, dim: int, *, kind: str = "bt", hidden: int = 64, gpm_dim: int = 8, rngs: nnx.Rngs
  ):
    """Builds the head.

    Args:
      dim: embedding width.
      kind: ``"bt"`` or ``"gpm"``.
      hidden: width of the hidden layer.
      gpm_dim: 2k, the width of the GPM vector (even).
      rngs: random streams.
    """
    if kind not in HEADS:
      raise ValueError(f"unknown preference head {kind!r}; known: {HEADS}.")
    if gpm_dim < 2 or gpm_dim % 2:
      raise ValueError(f"gpm_dim must be even and >= 2; got {gpm_dim}.")
    self.kind = kind
    self.hidden = nnx.Linear(dim, hidden, rngs=rngs)
    self.reward_out = nnx.Linear(hidden, 1, rngs=rngs)
    if kind == "gpm":
      self.gpm_out = nnx.Linear(hidden, gpm_dim, rngs=rngs)

  def features(self, phi: Array) -> tuple[Array, Array | None]:
    """``(reward [N], gpm vector [N, 2k] or None)`` of embeddings ``[N, dim]``."""
    h = jnp.tanh(self.hidden(phi))
    v = self.gpm_out(h) if self.kind == "gpm" else None
    return self.reward_out(h)[..., 0], v

  def logit(self, phi_a: Array, phi_b: Array) -> Array:
    """Antisymmetric preference logit of ``a`` over ``b`` (``[N]``)."""
    ra, va = self.features(phi_a)
    rb, vb = self.features(phi_b)
    d = ra - rb
    if va is not None:
      a, b = va.reshape(*va.shape[:-1], -1, 2), vb.reshape(*vb.shape[:-1], -1, 2)
      d = d + jnp.sum(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], axis=-1)
    return d


class HeadMetrics(NamedTuple):
  """Held-out quality of a preference head.

  Attributes:
    accuracy: share of decisive judgments (no tie) whose winner gets P > 1/2.
    log_loss: mean soft binary cross-entropy over all judgments (ties as 1/2); log 2 = chance.
    n: number of judgments.
  """

  accuracy: float
  log_loss: float
  n: int


def _soft_bce(logit: Array, target: Array) -> Array:
  return -(target * jax.nn.log_sigmoid(logit) + (1 - target) * jax.nn.log_sigmoid(-logit))


def head_metrics(head: PreferenceHead, phi_a: Array, phi_b: Array, outcome: Array) -> HeadMetrics:
  """Accuracy on decisive judgments and log-loss on all of them."""
  logit = head.logit(jnp.asarray(phi_a), jnp.asarray(phi_b))
  y = jnp.asarray(outcome, logit.dtype)
  decisive = y != 0.5
  correct = (logit > 0) == (y > 0.5)
  acc = float(jnp.sum(correct & decisive) / jnp.maximum(jnp.sum(decisive), 1))
  return HeadMetrics(acc, float(jnp.mean(_soft_bce(logit, y))), int(y.shape[0]))


def fit_preference_head(
  phi_a: Array,
  phi_b: Array,
  outcome: Array,
  *,
  kind: str = "bt",
  key: Array,
  steps: int = 500,
  learning_rate: float = 1e-2,
  l2: float = 1e-3,
  hidden: int = 64,
  gpm_dim: int = 8,
) -> PreferenceHead:
  """Fits a head by full-batch Adam on the soft-label log-loss plus an L2 penalty on the weights.

  Args:
    phi_a: ``[N, dim]`` embeddings of the first responses.
    phi_b: ``[N, dim]`` embeddings of the second responses.
    outcome: ``[N]`` 1 if the first won, 0 if the second did, 1/2 for a tie.
    kind: ``"bt"`` or ``"gpm"``.
    key: PRNG key for the initial weights.
    steps: Adam steps.
    learning_rate: Adam step size.
    l2: weight penalty.
    hidden: hidden width.
    gpm_dim: GPM vector width.

  Returns:
    The fitted head.

  Raises:
    ValueError: on mismatched shapes, non-finite embeddings or outcomes outside [0, 1].
  """
  phi_a, phi_b = jnp.asarray(phi_a, jnp.float32), jnp.asarray(phi_b, jnp.float32)
  y = jnp.asarray(outcome, jnp.float32)
  if phi_a.shape != phi_b.shape or phi_a.ndim != 2 or y.shape != phi_a.shape[:1]:
    raise ValueError(
      f"need phi_a, phi_b [N, dim] and outcome [N]; got {phi_a.shape}, {phi_b.shape}, {y.shape}."
    )
  if not (np.isfinite(np.asarray(phi_a)).all() and np.isfinite(np.asarray(phi_b)).all()):
    raise ValueError("embeddings must be finite.")
  if np.any((np.asarray(y) < 0) | (np.asarray(y) > 1)):
    raise ValueError("outcomes must lie in [0, 1].")
  head = PreferenceHead(
    phi_a.shape[1], kind=kind, hidden=hidden, gpm_dim=gpm_dim, rngs=nnx.Rngs(key)
  )
  graphdef, params = nnx.split(head)

  def loss_fn(p):
    h = nnx.merge(graphdef, p)
    data = jnp.mean(_soft_bce(h.logit(phi_a, phi_b), y))
    return data + l2 * sum(jnp.sum(w**2) for w in jax.tree.leaves(p))

  train = jax.jit(lambda p: optim.optimize(loss_fn, optax.adam(learning_rate), p, steps=steps))
  return nnx.merge(graphdef, train(params).params)


class TextPreferenceOracle:
  """P(y ≻ y' | x) for text responses: a frozen sentence encoder plus a fitted head.

  Attributes:
    encoder: a :class:`~jaxpref.models.Bert` (e.g. from ``load_minilm``).
    tokenizer: its WordPiece tokenizer.
    head: a fitted :class:`PreferenceHead`.
  """

  def __init__(self, encoder, tokenizer, head: PreferenceHead):
    """Stores the parts."""
    self.encoder, self.tokenizer, self.head = encoder, tokenizer, head

  def embed(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    """Embeddings ``[N, dim]`` of (prompt, response) text pairs."""
    from jaxpref.models._bert import embed_texts

    return embed_texts(self.encoder, self.tokenizer, list(prompts), list(responses))

  def prefer(self, phi_a: np.ndarray, phi_b: np.ndarray) -> np.ndarray:
    """``[N]`` probabilities P(a ≻ b) from embeddings already computed by :meth:`embed`."""
    return np.asarray(jax.nn.sigmoid(self.head.logit(jnp.asarray(phi_a), jnp.asarray(phi_b))))

  def reward(self, phi: np.ndarray) -> np.ndarray:
    """The head's reward r(x, y) (the BT part of the score) of embeddings from :meth:`embed`."""
    return np.asarray(self.head.features(jnp.asarray(phi))[0])

  def rewards(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    """The head's reward r(x, y) per response."""
    return self.reward(self.embed(prompts, responses))

  def __call__(
    self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
  ) -> np.ndarray:
    """``[N]`` probabilities that ``responses_a[i]`` is preferred to ``responses_b[i]``."""
    phi = self.embed([*prompts, *prompts], [*responses_a, *responses_b])
    n = len(prompts)
    return self.prefer(phi[:n], phi[n:])
