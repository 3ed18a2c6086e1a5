"""One preference example, the shared input of every loss in :mod:`jaxpref.losses`.

Every loss is written for a single example and vmapped by the caller. Fields a loss does not use
stay ``None``; a loss that needs a missing field raises a ``ValueError`` naming it.

Log-probabilities are sequence log-probabilities (sums over tokens) of the responses y and y'
under the policy being trained (``logp``, ``logp2``), the fixed reference policy
(``ref_logp``, ``ref_logp2``) and, for iterative methods, the previous iterate / sampling policy
pi_t (``anchor``, ``anchor2``).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array


class Example(NamedTuple):
  """Inputs of a per-example preference loss (any field may be ``None``).

  Attributes:
    logp: log pi_theta(y | x).
    logp2: log pi_theta(y' | x).
    ref_logp: log pi_ref(y | x).
    ref_logp2: log pi_ref(y' | x).
    anchor: log pi_t(y | x) (previous iterate, SPPO / DNO / INPO / GPO).
    anchor2: log pi_t(y' | x).
    pref: P(y > y' | x) in [0, 1], or a label (1 = y preferred, 0 = y' preferred, 1/2 = tie).
    win: estimated win rate of y against the opponent, P(y > pi_s) in [0, 1].
    win2: the same for y'.
    score: a general preference score s(y > y' | x) or s(y > pi_t) (GPO), any real.
    margin: ``[k - 1]`` margin rewards of y under the other objectives (MODPO).
    margin2: ``[k - 1]`` margin rewards of y'.
    weight: per-example weight (default 1).
    valid: ``[K]`` mask of the present responses of a padded list (listwise losses; all present
      when ``None``).
    group: integer id, in 0..G-1, of the group of the example's annotator (group-robust losses).
    rewards: ``[G]`` rewards of y under each group's reward model (MaxMin-RLHF).
  """

  logp: Array | None = None
  logp2: Array | None = None
  ref_logp: Array | None = None
  ref_logp2: Array | None = None
  anchor: Array | None = None
  anchor2: Array | None = None
  pref: Array | None = None
  win: Array | None = None
  win2: Array | None = None
  score: Array | None = None
  margin: Array | None = None
  margin2: Array | None = None
  weight: Array | None = None
  valid: Array | None = None
  group: Array | None = None
  rewards: Array | None = None


PROBABILITY_FIELDS = ("pref", "win", "win2")
# Per-example vectors (one entry per objective or group): left out of the shared-shape check.
VECTOR_FIELDS = ("margin", "margin2", "rewards")


def require(example: Example, loss: str, *fields: str) -> list[Array]:
  """Returns the named fields as arrays; raises ``ValueError`` naming a missing or bad one.

  Probabilities (``pref``, ``win``, ``win2``) must lie in [0, 1] and every value must be finite
  (checked when the values are concrete, i.e. outside ``jit``). The fields share one shape (a scalar
  for one example), ``group`` included, which must hold integers; the per-example vectors
  ``margin``, ``margin2`` and ``rewards`` (``[G]``, at least 1-D) are left out of that check.
  """
  out = []
  shapes = {}
  for name in fields:
    value = getattr(example, name)
    if value is None:
      raise ValueError(f"{loss} needs Example.{name}; it is None.")
    value = jnp.asarray(value)
    if name == "group" and not jnp.issubdtype(value.dtype, jnp.integer):
      raise ValueError(f"{loss}: Example.group must hold integer group ids; got {value.dtype}.")
    if name == "rewards" and value.ndim < 1:
      raise ValueError(f"{loss}: Example.rewards must be a [G] vector, one per group; got ().")
    if not isinstance(value, jax.core.Tracer):
      host = np.asarray(value)
      if not np.all(np.isfinite(host)):
        raise ValueError(f"{loss}: Example.{name} must be finite; got {host}.")
      if name in PROBABILITY_FIELDS and (np.any(host < 0) or np.any(host > 1)):
        raise ValueError(f"{loss}: Example.{name} must be a probability in [0, 1]; got {host}.")
    if name not in VECTOR_FIELDS:
      shapes[name] = value.shape
    out.append(value)
  if len(set(shapes.values())) > 1:
    raise ValueError(
      f"{loss}: Example fields must share one shape (one example, or vmap a batch); got {shapes}."
    )
  return out


def soft_bce(logits: Array, p: Array) -> Array:
  r"""Binary cross-entropy of :math:`\sigma(z)` against a soft label p.

  .. math:: -p \log\sigma(z) - (1 - p)\log\sigma(-z).
  """
  return -(p * jax.nn.log_sigmoid(logits) + (1 - p) * jax.nn.log_sigmoid(-logits))


def example_weight(example: Example) -> Array:
  """The example's weight (1 when unset)."""
  return jnp.asarray(1.0) if example.weight is None else jnp.asarray(example.weight)
