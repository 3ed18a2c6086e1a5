r"""K-wise arenas: votes on K shown items, leaderboards with uncertainty, and matchmaking.

An arena shows K items (models, responses) and a voter ranks them or picks the best. This
subpackage simulates such arenas from a known Plackett-Luce (PL) model and estimates the
leaderboard online, so matchmaking rules and estimators can be compared by how fast the estimated
order reaches the true one:

- votes: :func:`sample_kwise_vote` (an exact PL draw on the shown set, optionally flipped) as a
  :class:`~jaxpref.preference.Rankings` row;
- the PL leaderboard: :func:`pl_leaderboard` (MAP scores, Laplace standard errors and
  covariance, pairwise rank intervals), :func:`laplace_covariance`;
- K-Sort Arena's Thurstone K-wise update: :class:`ThurstoneState`, :func:`thurstone_init`,
  :func:`thurstone_update` (TrueSkill's pair scale by default, the paper's printed one as an
  option), :func:`conservative_score` (:math:`\mu - 3\sigma`); online Elo: :func:`elo_update`;
- matchmaking: :func:`uniform_matchmaking`, :func:`information_matchmaking` (greedy expected
  information gain on the PL Laplace posterior, :func:`set_information_gain`) and K-Sort Arena's
  :func:`ucb_matchmaking`;
- rank metrics: :func:`kendall_tau` (tau-b, as scipy), :func:`rank_mse`, :func:`order_is_exact`;
- the simulation: :class:`Arena` (static structure + traced hyperparameters), :class:`ArenaState`,
  :func:`arena_init`, :func:`arena_step` (one vote, jittable and vmappable over seeds),
  :func:`arena_metrics`.

Everything is a pure function of arrays with explicit PRNG keys; shapes are static (K, the vote
buffer's capacity), so a whole run is one ``lax.scan`` or an engine
(:func:`jaxpref.training.run_sweep`) program.

References:
  Li et al., K-Sort Arena: efficient and reliable benchmarking for generative models via K-wise
  human preferences, CVPR 2025 (arXiv 2408.14468); Plackett, The analysis of permutations,
  JRSS C 1975; Luce, Individual Choice Behavior, 1959; Herbrich, Minka, Graepel, TrueSkill: a
  Bayesian skill rating system, NeurIPS 2007.
"""

from jaxpref.arena._kwise import (
  MODES,
  PLLeaderboard,
  kendall_tau,
  laplace_covariance,
  pl_derivatives,
  pl_leaderboard,
  rank_mse,
  sample_kwise_vote,
)
from jaxpref.arena._matchmaking import (
  information_matchmaking,
  set_information_gain,
  ucb_matchmaking,
  uniform_matchmaking,
)
from jaxpref.arena._simulation import (
  ESTIMATORS,
  MATCHMAKING,
  Arena,
  ArenaState,
  arena_init,
  arena_metrics,
  arena_step,
  check_arena,
  newton_refit,
  order_is_exact,
)
from jaxpref.arena._thurstone import (
  PAIR_SCALES,
  ThurstoneState,
  conservative_score,
  elo_update,
  thurstone_init,
  thurstone_update,
)

__all__ = [
  "ESTIMATORS",
  "MATCHMAKING",
  "MODES",
  "PAIR_SCALES",
  "Arena",
  "ArenaState",
  "PLLeaderboard",
  "ThurstoneState",
  "arena_init",
  "arena_metrics",
  "arena_step",
  "check_arena",
  "conservative_score",
  "elo_update",
  "information_matchmaking",
  "kendall_tau",
  "laplace_covariance",
  "newton_refit",
  "order_is_exact",
  "pl_derivatives",
  "pl_leaderboard",
  "rank_mse",
  "sample_kwise_vote",
  "set_information_gain",
  "thurstone_init",
  "thurstone_update",
  "ucb_matchmaking",
  "uniform_matchmaking",
]
