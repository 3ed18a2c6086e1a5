r"""RUCB, Double Thompson Sampling and Sparring EXP3 as :class:`DuelingBandit` factories."""

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxpref.bandits._base import (
  DuelingBandit,
  DuelState,
  SparringState,
  check_alpha,
  confidence_bounds,
  random_argmax,
  record_duel,
)
from jaxpref.types import Array, PRNGKey


def _float() -> Any:
  return jnp.result_type(float)


def _duel_init(hp: Mapping[str, Any], num_arms: int) -> DuelState:
  del hp
  return DuelState(
    wins=jnp.zeros((num_arms, num_arms), _float()),
    step=jnp.zeros((), jnp.int32),
    hypothesis=jnp.full((), -1, jnp.int32),
  )


# ----------------------------------------------------------------------------------------- RUCB


def _rucb_candidates(hp: Mapping[str, Any], state: DuelState) -> tuple[Array, Array, Array]:
  """``(U, C, B)``: the upper bounds, the candidate mask and the updated hypothesis (or -1)."""
  upper, _ = confidence_bounds(state.wins, state.step + 1, hp["alpha"])
  candidates = jnp.all(upper >= 0.5, axis=1)
  h = state.hypothesis
  # B <- B ∩ C; if |C| = 1 then B <- C.
  h = jnp.where((h >= 0) & candidates[jnp.maximum(h, 0)], h, -1)
  h = jnp.where(jnp.sum(candidates) == 1, jnp.argmax(candidates), h).astype(jnp.int32)
  return upper, candidates, h


def _rucb_select(hp: Mapping[str, Any], state: DuelState, key: PRNGKey) -> tuple[Array, Array]:
  key_c, key_d = jax.random.split(key)
  upper, candidates, h = _rucb_candidates(hp, state)
  n = candidates.shape[0]
  arms = jnp.arange(n)
  size = jnp.sum(candidates)
  # p(c) = 1/2 on the hypothesis B = {h}, the other half spread over C \ B; uniform on C when
  # B is empty; uniform on all arms when C is empty.
  in_b = arms == h
  spread = jnp.where(h >= 0, 0.5 / jnp.maximum(size - 1, 1), 1.0 / jnp.maximum(size, 1))
  weights = jnp.where(in_b, 0.5, spread) * candidates
  weights = jnp.where(size == 0, 1.0, weights)
  c = jax.random.categorical(key_c, jnp.log(weights)).astype(jnp.int32)
  # d = argmax_j U[j, c], ties at random; d = c only when C = {c}.
  d = random_argmax(key_d, upper[:, c], (arms != c) | (size == 1))
  return c, d


def _rucb_update(
  hp: Mapping[str, Any], state: DuelState, i: Array, j: Array, outcome: Array
) -> DuelState:
  _, _, h = _rucb_candidates(hp, state)
  return DuelState(record_duel(state.wins, i, j, outcome), state.step + 1, h)


def rucb(*, alpha: float = 0.51) -> DuelingBandit:
  r"""Relative Upper Confidence Bound (RUCB) of Zoghi et al. (2014).

  Round :math:`t` (1-based) with win counts :math:`W` and :math:`N = W + W^\top`:

  .. math::
    U = \frac{W}{N} + \sqrt{\frac{\alpha \ln t}{N}}\ \ (x/0 := 1),\quad U_{ii} = \tfrac12,\qquad
    \mathcal C = \{c : U_{cj} \ge \tfrac12\ \forall j\}.

  The first arm :math:`c` is drawn from :math:`\mathcal C` by the paper's rule: the hypothesized
  best arm :math:`B` (kept in the state, reset to :math:`B \cap \mathcal C` and set to
  :math:`\mathcal C` when :math:`|\mathcal C| = 1`) gets probability 1/2 and the rest of
  :math:`\mathcal C` shares the other half (uniform on :math:`\mathcal C` when
  :math:`B = \emptyset`, uniform on all arms when :math:`\mathcal C = \emptyset`). The second arm
  is its strongest optimistic challenger :math:`d = \arg\max_j U_{jc}` (ties at random), with
  :math:`d \ne c` unless :math:`\mathcal C = \{c\}`.

  With a Condorcet winner its cumulative regret is :math:`O(K^2 + K \log T)`; without one RUCB is
  not designed to converge (its candidate set empties and it explores at random).

  Args:
    alpha: exploration coefficient :math:`\alpha > 1/2` (the paper's experiments use 0.51).

  Returns:
    A :class:`DuelingBandit` with :class:`DuelState` states.

  Raises:
    ValueError: if ``alpha`` is not a finite number > 1/2.

  References:
    Zoghi, Whiteson, Munos, de Rijke, Relative Upper Confidence Bound for the K-armed dueling
    bandit problem, ICML 2014. https://arxiv.org/abs/1312.3393

  Examples:
    >>> import jax
    >>> bandit = rucb(alpha=0.51)
    >>> state = bandit.init(3)
    >>> i, j = bandit.select(state, jax.random.key(0))
    >>> state = bandit.update(state, i, j, 1)
    >>> int(state.step), float(state.wins.sum()) == float(i != j)
    (1, True)
  """
  check_alpha(alpha)
  return DuelingBandit(
    _duel_init, _rucb_select, _rucb_update, hparams={"alpha": alpha}, name="rucb"
  )


# ------------------------------------------------------------------------ Double Thompson Sampling


def _dts_select(hp: Mapping[str, Any], state: DuelState, key: PRNGKey) -> tuple[Array, Array]:
  key_beta, key_tie1, key_tie2 = jax.random.split(key, 3)
  wins = state.wins
  n = wins.shape[0]
  off = ~jnp.eye(n, dtype=bool)
  upper, lower = confidence_bounds(wins, state.step + 1, hp["alpha"])
  # Phase 1: candidates maximize the upper Copeland score; among them, the Thompson sample's
  # Copeland score picks the first arm.
  zeta = jnp.sum((upper > 0.5) & off, axis=1)
  candidates = zeta == jnp.max(zeta)
  # Both phases' Beta(W + 1, W^T + 1) draws from one Gamma call (one sampler to compile):
  # Beta(a, b) = G_a / (G_a + G_b); phase 2 reads column `first` of the second, independent draw.
  g = jax.random.gamma(key_beta, jnp.stack([wins, wins.T, wins, wins.T]) + 1)
  sample, sample2 = g[0] / (g[0] + g[1]), g[2] / (g[2] + g[3])
  above = jnp.triu(jnp.ones((n, n), bool), 1)
  theta = jnp.where(above, sample, jnp.where(above.T, 1 - sample.T, 0.5))
  score = jnp.sum((theta > 0.5) & off, axis=1).astype(wins.dtype)
  first = random_argmax(key_tie1, score, candidates)
  # Phase 2: a fresh sample of theta[:, first]; the best of the arms not known to lose to it.
  theta2 = jnp.where(jnp.arange(n) == first, 0.5, sample2[:, first])
  second = random_argmax(key_tie2, theta2, lower[:, first] <= 0.5)
  return first, second


def _duel_update(
  hp: Mapping[str, Any], state: DuelState, i: Array, j: Array, outcome: Array
) -> DuelState:
  del hp
  return state._replace(wins=record_duel(state.wins, i, j, outcome), step=state.step + 1)


def double_thompson(*, alpha: float = 0.51) -> DuelingBandit:
  r"""Double Thompson Sampling (D-TS) of Wu & Liu (2016).

  Round :math:`t` with :math:`U, L = W/N \pm \sqrt{\alpha \ln t / N}` (:math:`U = 1`, :math:`L = 0`
  on unplayed pairs, :math:`1/2` on the diagonal):

  1. Upper Copeland scores :math:`\hat\zeta_i = \#\{j \ne i : U_{ij} > 1/2\}` and candidates
     :math:`\mathcal C = \arg\max_i \hat\zeta_i`. Draw :math:`\theta^{(1)}_{ij} \sim
     \mathrm{Beta}(W_{ij} + 1, W_{ji} + 1)` for :math:`i < j` (:math:`\theta^{(1)}_{ji} = 1 -
     \theta^{(1)}_{ij}`); the first arm maximizes the sampled Copeland score
     :math:`\#\{j \ne i : \theta^{(1)}_{ij} > 1/2\}` over :math:`\mathcal C`.
  2. Draw :math:`\theta^{(2)}_{i a_1} \sim \mathrm{Beta}(W_{i a_1} + 1, W_{a_1 i} + 1)`
     (:math:`\theta^{(2)}_{a_1 a_1} = 1/2`); the second arm maximizes it over
     :math:`\{i : L_{i a_1} \le 1/2\}` (which contains :math:`a_1`, so a self-duel happens once
     :math:`a_1` is confidently the best).

  Ties are broken at random. Both phases are vectorized: the round draws two independent ``[n, n]``
  Beta matrices at once (phase 2 reads column :math:`a_1` of the second). Copeland regret
  :math:`O(K^2 \log T)`; with a Condorcet winner this is the usual regret.

  Args:
    alpha: exploration coefficient :math:`\alpha > 1/2` of the confidence bounds (0.51 in the
      paper's experiments).

  Returns:
    A :class:`DuelingBandit` with :class:`DuelState` states (``hypothesis`` unused).

  Raises:
    ValueError: if ``alpha`` is not a finite number > 1/2.

  References:
    Wu, Liu, Double Thompson Sampling for dueling bandits, NeurIPS 2016.
    https://arxiv.org/abs/1604.07101

  Examples:
    >>> import jax
    >>> bandit = double_thompson()
    >>> state = bandit.init(4)
    >>> i, j = jax.jit(bandit.select)(state, jax.random.key(0))
    >>> 0 <= int(i) < 4 and 0 <= int(j) < 4
    True
  """
  check_alpha(alpha)
  return DuelingBandit(
    _duel_init, _dts_select, _duel_update, hparams={"alpha": alpha}, name="double_thompson"
  )


# ---------------------------------------------------------------------------------- Sparring EXP3


def _sparring_init(hp: Mapping[str, Any], num_arms: int) -> SparringState:
  del hp
  return SparringState(
    wins=jnp.zeros((num_arms, num_arms), _float()),
    step=jnp.zeros((), jnp.int32),
    rewards=jnp.zeros((2, num_arms), _float()),
  )


def _exp3_probabilities(hp: Mapping[str, Any], state: SparringState) -> Array:
  """``[2, n]`` the two learners' distributions at the current round."""
  n = state.rewards.shape[-1]
  t = (state.step + 1).astype(state.rewards.dtype)
  step_size = hp["step_size"]
  if step_size is None:
    step_size = jnp.sqrt(math.log(n) / (n * t))
  exploration = jnp.minimum(1.0, n * step_size)
  hedge = jax.nn.softmax(step_size * state.rewards, axis=-1)
  return (1 - exploration) * hedge + exploration / n


def _sparring_select(
  hp: Mapping[str, Any], state: SparringState, key: PRNGKey
) -> tuple[Array, Array]:
  probs = _exp3_probabilities(hp, state)
  arms = jax.random.categorical(key, jnp.log(probs), axis=-1).astype(jnp.int32)
  return arms[0], arms[1]


def _sparring_update(
  hp: Mapping[str, Any], state: SparringState, i: Array, j: Array, outcome: Array
) -> SparringState:
  probs = _exp3_probabilities(hp, state)
  rewards = state.rewards.at[0, i].add(outcome / probs[0, i])
  rewards = rewards.at[1, j].add((1 - outcome) / probs[1, j])
  return SparringState(record_duel(state.wins, i, j, outcome), state.step + 1, rewards)


def sparring_exp3(*, step_size: float | None = None) -> DuelingBandit:
  r"""Sparring EXP3 (Ailon et al., 2014): two EXP3 learners play the duel against each other.

  Learner :math:`k \in \{1, 2\}` keeps importance-weighted reward sums :math:`\hat S_k` and plays

  .. math::
    p_k = (1 - \gamma_t)\,\mathrm{softmax}(\eta_t \hat S_k) + \gamma_t / K,\qquad
    \gamma_t = \min(1, K \eta_t),

  learner 1's arm :math:`i` and learner 2's arm :math:`j` duel, learner 1 gets reward 1 if
  :math:`i` won and learner 2 if :math:`j` won, and each adds reward / probability to its own
  arm's entry (EXP3 of Auer et al. with :math:`\eta = \gamma / K`). ``step_size`` fixes
  :math:`\eta_t = \eta`; by default :math:`\eta_t = \sqrt{\ln K / (K t)}` (the anytime form of
  Auer et al.'s horizon-tuned :math:`\gamma = \sqrt{K \ln K / ((e - 1) T)}`, so no horizon is
  needed). The two learners play a symmetric constant-sum game with no regret, so their average
  play converges to the von Neumann winner (the maximal lottery), also when :math:`P` has no
  Condorcet winner: this is the algorithm for intransitive :math:`P`, where it has
  :math:`O(\sqrt{K T \ln K})` von Neumann regret.

  Self-duels (both learners on one arm) happen and are fed back like any duel (a fair coin).

  Args:
    step_size: EXP3 learning rate :math:`\eta > 0` on the importance-weighted rewards, or ``None``
      for the anytime schedule above.

  Returns:
    A :class:`DuelingBandit` with :class:`SparringState` states.

  Raises:
    ValueError: if ``step_size`` is given and not a finite number > 0.

  References:
    Ailon, Karnin, Joachims, Reducing dueling bandits to cardinal bandits, ICML 2014.
    https://arxiv.org/abs/1405.3396 ; Auer, Cesa-Bianchi, Freund, Schapire, The nonstochastic
    multiarmed bandit problem, SIAM J. Comput. 2002; Dudik et al., Contextual dueling bandits, COLT
    2015, https://arxiv.org/abs/1502.06362 (the von Neumann winner).

  Examples:
    >>> import numpy as np
    >>> bandit = sparring_exp3()
    >>> state = bandit.update(bandit.init(3), 0, 1, 1)
    >>> np.asarray(state.rewards, dtype=float).round(3).tolist()  # 1 / p with p = 1/3 (gamma_1 = 1)
    [[3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
  """
  if step_size is not None and not isinstance(step_size, jax.core.Tracer):
    value = float(step_size)
    if not math.isfinite(value) or value <= 0:
      raise ValueError(f"step_size must be a finite number > 0 or None, got {step_size!r}")
  return DuelingBandit(
    _sparring_init,
    _sparring_select,
    _sparring_update,
    hparams={"step_size": step_size},
    name="sparring_exp3",
  )
