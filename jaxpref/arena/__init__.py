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
- leaderboards from pairwise comparisons: :func:`bootstrap_leaderboard` (percentile intervals of
  strengths and ranks from vmapped refits on :func:`resample_weights`), online Elo
  (:func:`elo_ratings`) and its order dependence (:func:`elo_permutations`), the empirical game of
  weighted comparisons (:func:`comparison_game`) for maximal lotteries under resampling;
- matchmaking: :func:`uniform_matchmaking`, :func:`information_matchmaking` (greedy expected
  information gain on the PL Laplace posterior, :func:`set_information_gain`) and K-Sort Arena's
  :func:`ucb_matchmaking`;
- rank metrics: :func:`kendall_tau` (tau-b, as scipy), :func:`rank_mse`, :func:`order_is_exact`;
- judges: :func:`intransitive_triads` (circular triads and TrustJudge's tie contradictions),
  :func:`position_bias`, :func:`judge_agreement` (agreement, Cohen's kappa),
  :func:`self_consistency`, :func:`judge_report`; TrustJudge's :func:`expected_score`,
  :func:`softmax_weighted_score`, :func:`aggregate_both_orders`; Chen et al.'s
  :func:`ranking_accuracy`, :func:`idealized_ranking_accuracy`, :func:`dpo_flip_threshold`;
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

from jaxpref.arena._judges import (
  BothOrders,
  IdealizedRankingAccuracy,
  JudgeAgreement,
  PositionBias,
  RankingAccuracy,
  SelfConsistency,
  TriadCounts,
  aggregate_both_orders,
  cohen_kappa,
  dpo_flip_threshold,
  expected_score,
  idealized_ranking_accuracy,
  intransitive_triads,
  judge_agreement,
  judge_report,
  position_bias,
  ranking_accuracy,
  self_consistency,
  softmax_weighted_score,
  wilson_interval,
)
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
from jaxpref.arena._leaderboard import (
  RESAMPLING,
  BootstrapLeaderboard,
  bootstrap_leaderboard,
  comparison_game,
  elo_permutations,
  elo_ratings,
  leaderboard_from_weights,
  ranks,
  resample_weights,
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
  "RESAMPLING",
  "Arena",
  "ArenaState",
  "BootstrapLeaderboard",
  "BothOrders",
  "IdealizedRankingAccuracy",
  "JudgeAgreement",
  "PLLeaderboard",
  "PositionBias",
  "RankingAccuracy",
  "SelfConsistency",
  "ThurstoneState",
  "TriadCounts",
  "aggregate_both_orders",
  "arena_init",
  "arena_metrics",
  "arena_step",
  "bootstrap_leaderboard",
  "check_arena",
  "cohen_kappa",
  "comparison_game",
  "conservative_score",
  "dpo_flip_threshold",
  "elo_permutations",
  "elo_ratings",
  "elo_update",
  "expected_score",
  "idealized_ranking_accuracy",
  "information_matchmaking",
  "intransitive_triads",
  "judge_agreement",
  "judge_report",
  "kendall_tau",
  "laplace_covariance",
  "leaderboard_from_weights",
  "newton_refit",
  "order_is_exact",
  "pl_derivatives",
  "pl_leaderboard",
  "position_bias",
  "rank_mse",
  "ranking_accuracy",
  "ranks",
  "resample_weights",
  "sample_kwise_vote",
  "self_consistency",
  "set_information_gain",
  "softmax_weighted_score",
  "thurstone_init",
  "thurstone_update",
  "ucb_matchmaking",
  "uniform_matchmaking",
  "wilson_interval",
]
