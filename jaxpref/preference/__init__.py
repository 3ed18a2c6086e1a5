"""Preference models fitted to human comparisons, and the games they define.

* :class:`BradleyTerry` (L2 prior, Davidson / Rao-Kupper ties, position or home advantage, item
  and context features) and :class:`GeneralPreference` (GPM: skew-symmetric embeddings that
  represent cycles), frozen pytree dataclasses with parameter dicts, fitted by :func:`fit` (optax
  L-BFGS under ``jit``, vmappable over seeds and ``l2``).
* :class:`PlackettLuce` for rankings and K-wise choices (:class:`Rankings`, padded rows),
  fitted by :func:`fit_rankings`; with K = 2 it is Bradley-Terry.
* :class:`Mixture`: K components over annotators fitted by EM (soft, or hard as MaxMin-RLHF), with
  covariate-conditioned mixing.
* Aggregation over groups: utilitarian, egalitarian (:func:`maxmin_lottery`), group-robust fitting.
* :func:`preference_matrix` turns any fitted model into a game for :mod:`jaxpref.equilibria`;
  :func:`maximal_lotteries` solves the games of a batch of fits (e.g. per seed) exactly.
* Held-out evaluation that vmaps over seeds: random split masks (:func:`split_masks`) and masked
  log-loss / accuracy (:func:`heldout_metrics`).
"""

from jaxpref.preference._aggregate import (
  GroupRobustFit,
  MaxMinLottery,
  fit_group_robust,
  group_losses,
  maxmin_lottery,
  utilitarian_matrix,
)
from jaxpref.preference._fit import (
  Fit,
  fit,
  log_likelihood,
  minimize,
  objective,
  outcome_probabilities,
  preference_matrix,
  win_probability,
)
from jaxpref.preference._heldout import (
  group_accuracy,
  heldout_metrics,
  mixture_groups_report,
  mixture_outcome_probabilities,
  split_masks,
)
from jaxpref.preference._links import LINKS, outcome_log_likelihood, outcome_log_probs
from jaxpref.preference._lotteries import fitted_game, maximal_lotteries, top_lottery_items
from jaxpref.preference._mixture import (
  Mixture,
  MixtureFit,
  MixtureParams,
  component_log_likelihoods,
  component_matrices,
  fit_mixture,
  mixture_log_likelihood,
  prior_log_weights,
)
from jaxpref.preference._models import BradleyTerry, GeneralPreference, Params, PreferenceModel
from jaxpref.preference._pairs import Pairs, check_pairs, make_pairs, pairs_from_table
from jaxpref.preference._plackett_luce import (
  PlackettLuce,
  fit_rankings,
  ranking_log_likelihood,
  ranking_objective,
)
from jaxpref.preference._rankings import (
  Rankings,
  check_rankings,
  choices,
  make_rankings,
  rankings_from_table,
)
from jaxpref.preference._synthetic import bt_mixture_games, cyclic_gpm, sample_comparisons

__all__ = [
  "LINKS",
  "BradleyTerry",
  "Fit",
  "GeneralPreference",
  "GroupRobustFit",
  "MaxMinLottery",
  "Mixture",
  "MixtureFit",
  "MixtureParams",
  "Pairs",
  "Params",
  "PlackettLuce",
  "PreferenceModel",
  "Rankings",
  "bt_mixture_games",
  "check_pairs",
  "check_rankings",
  "choices",
  "component_log_likelihoods",
  "component_matrices",
  "cyclic_gpm",
  "fit",
  "fit_group_robust",
  "fit_mixture",
  "fit_rankings",
  "fitted_game",
  "group_accuracy",
  "group_losses",
  "heldout_metrics",
  "log_likelihood",
  "make_pairs",
  "make_rankings",
  "maximal_lotteries",
  "maxmin_lottery",
  "minimize",
  "mixture_groups_report",
  "mixture_log_likelihood",
  "mixture_outcome_probabilities",
  "objective",
  "outcome_log_likelihood",
  "outcome_log_probs",
  "outcome_probabilities",
  "pairs_from_table",
  "preference_matrix",
  "prior_log_weights",
  "ranking_log_likelihood",
  "ranking_objective",
  "rankings_from_table",
  "sample_comparisons",
  "split_masks",
  "top_lottery_items",
  "utilitarian_matrix",
  "win_probability",
]
