r"""A synthetic token-reward preference oracle and a traced win-rate / KL evaluation for LMs.

:class:`TokenRewardOracle` scores a response by the mean of per-token rewards
:math:`u \sim N(0, 1)^V` over its tokens (the end token included) and prefers by Bradley-Terry,
:math:`P(y \succ y') = \sigma(s\,(r(y) - r(y')))`. It is exact, cheap and traceable, so a whole
online training step (sample, query, update) compiles into one program; it is the oracle of the
tiny ``lm_online`` task. :func:`evaluate_vs_reference` samples the policy and the reference with
the same random numbers on fixed prompts and reports the oracle's win rate, the exact token-level
KL (:func:`~jaxpref.models.sequence_kl`) and both rewards.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpref.models._llama import sequence_kl
from jaxpref.models._sampling import sample_padded
from jaxpref.types import Array, PRNGKey


class TokenRewardOracle(NamedTuple):
  """Response reward = mean per-token reward; preferences by Bradley-Terry with ``scale``.

  Attributes:
    token_reward: ``[V]`` reward of each token id.
    scale: ``s`` in ``P = sigmoid(s (r(y) - r(y')))``.
  """

  token_reward: Array
  scale: float

  @classmethod
  def random(cls, key: PRNGKey, vocab: int, scale: float) -> "TokenRewardOracle":
    """Per-token rewards drawn ``N(0, 1)``."""
    return cls(jax.random.normal(key, (vocab,)), scale)

  def reward(self, tokens: Array, mask: Array) -> Array:
    """``[N]`` mean token reward over each row's masked tokens (0 for an empty response)."""
    # A one-hot contraction, not a gather: exact and free of mixed batched/unbatched indices.
    per_token = jax.nn.one_hot(tokens, self.token_reward.shape[0]) @ self.token_reward
    count = jnp.sum(mask, axis=-1)
    return jnp.sum(jnp.where(mask, per_token, 0.0), axis=-1) / jnp.maximum(count, 1)

  def prefer(self, reward_a: Array, reward_b: Array) -> Array:
    """``P(a > b)`` from rewards of :meth:`reward`."""
    return jax.nn.sigmoid(self.scale * (reward_a - reward_b))


def evaluate_vs_reference(
  model: tuple,
  tokens: Array,
  start: Array,
  key: PRNGKey,
  *,
  features: Callable[[Array, Array], Array],
  prefer: Callable[[Array, Array], Array],
  reward: Callable[[Array], Array] | None = None,
  max_new_tokens: int,
  eos_id: int,
  temperature: float | Array = 1.0,
  top_p: float = 1.0,
  clusters: int | None = None,
) -> dict[str, Array]:
  """Win rate of the policy against its reference on fixed prompts, KL and rewards (traceable).

  Both are sampled with the same ``key``, so a policy equal to its reference wins exactly 1/2.

  Args:
    model: ``(graphdef, lora_state, rest_state)`` of a decoder with adapters.
    tokens: ``[N, P]`` left-padded prompts.
    start: ``[N]`` first real slot of each prompt.
    key: PRNG key of both samples.
    features: ``(tokens [N, L], mask [N, L]) -> [N, ...]`` what the oracle compares per
      response (e.g. :meth:`TokenRewardOracle.reward`, or sentence embeddings).
    prefer: ``(features_a, features_b) -> P(a > b)``.
    reward: ``features -> [N]`` scores reported as ``reward`` (identity when ``None``).
    max_new_tokens: response budget.
    eos_id: end token.
    temperature: sampling temperature.
    top_p: nucleus threshold.
    clusters: when rows repeat prompts (row i shows prompt ``i % clusters``, ``N`` a multiple of
      ``clusters``), the standard error is taken over the prompts' mean win rates; over the
      rows when None.

  Returns:
    ``win_rate`` (mean P(policy > reference)) and ``win_rate_se`` (its standard error, NaN for
    fewer than two rows or prompts), ``kl`` (mean exact KL of the policy to the reference on its
    samples), ``reward`` and ``reference_reward`` (mean scores).
  """
  kw = dict(max_new_tokens=max_new_tokens, eos_id=eos_id, temperature=temperature, top_p=top_p)
  pol = sample_padded(model, tokens, start, key, **kw)
  ref = sample_padded(model, tokens, start, key, reference=True, **kw)
  a, b = features(pol.tokens, pol.mask), features(ref.tokens, ref.mask)
  reward = reward or (lambda f: f)
  graphdef, *states = model
  full, mask, first = pol.full()
  kl = sequence_kl(nnx.merge(graphdef, *states), full, mask, start=first)
  win = prefer(a, b)
  if clusters is not None:
    if win.shape[0] % clusters:
      raise ValueError(f"{win.shape[0]} rows do not repeat {clusters} prompts evenly.")
    units = jnp.mean(win.reshape(-1, clusters), axis=0)
  else:
    units = win
  n = units.shape[0]
  se = jnp.std(units, ddof=1) / jnp.sqrt(n) if n > 1 else jnp.full((), jnp.nan)
  return {
    "win_rate": jnp.mean(win),
    "win_rate_se": se,
    "kl": jnp.mean(kl),
    "reward": jnp.mean(reward(a)),
    "reference_reward": jnp.mean(reward(b)),
  }
