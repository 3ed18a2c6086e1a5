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
* Personalized models (a shared structure and a few numbers per person, inferred for a new person
  from a few of their comparisons): :class:`LoRe` (low-rank rewards), :class:`PAL` (ideal points),
  :class:`VPL` (a latent person variable from an amortized encoder), :class:`MiCRo` (heads routed
  by the prompt, then by Hedge on a person's context), with
  :func:`people_posterior` (empirical-Bayes few-shot inference) and :func:`adapt_people` (MAP).
* Disagreement-aware fitting ("beyond the binary"): :func:`agreement_margins` from repeated
  judgments and :func:`fit_with_margins`.
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
from jaxpref.preference._fewshot import few_shot_masks, person_ranks
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
from jaxpref.preference._margins import agreement_margins, fit_with_margins
from jaxpref.preference._micro import (
  MiCRo,
  MiCRoFit,
  fit_micro,
  micro_adapt_routers,
  micro_component_log_likelihoods,
  micro_personal_log_likelihood,
  micro_preference_matrix,
  micro_routing,
)
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
from jaxpref.preference._personal import (
  PAL,
  LoRe,
  PersonalFit,
  adapt_people,
  fit_personal,
  people_posterior,
  people_rewards,
  personal_log_likelihood,
  personal_logits,
  personal_preference_matrix,
  population_prior,
  posterior_log_likelihood,
)
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
from jaxpref.preference._synthetic import (
  bt_mixture_games,
  cyclic_gpm,
  latent_user_rewards,
  sample_comparisons,
  sample_person_comparisons,
)
from jaxpref.preference._vpl import (
  VPL,
  VPLFit,
  by_person,
  fit_vpl,
  person_layout,
  vpl_encode,
  vpl_log_likelihood,
  vpl_predict,
  vpl_preference_matrix,
  vpl_rewards,
)

__all__ = [
  "LINKS",
  "PAL",
  "VPL",
  "BradleyTerry",
  "Fit",
  "GeneralPreference",
  "GroupRobustFit",
  "LoRe",
  "MaxMinLottery",
  "MiCRo",
  "MiCRoFit",
  "Mixture",
  "MixtureFit",
  "MixtureParams",
  "Pairs",
  "Params",
  "PersonalFit",
  "PlackettLuce",
  "PreferenceModel",
  "Rankings",
  "VPLFit",
  "adapt_people",
  "agreement_margins",
  "bt_mixture_games",
  "by_person",
  "check_pairs",
  "check_rankings",
  "choices",
  "component_log_likelihoods",
  "component_matrices",
  "cyclic_gpm",
  "few_shot_masks",
  "fit",
  "fit_group_robust",
  "fit_micro",
  "fit_mixture",
  "fit_personal",
  "fit_rankings",
  "fit_vpl",
  "fit_with_margins",
  "fitted_game",
  "group_accuracy",
  "group_losses",
  "heldout_metrics",
  "latent_user_rewards",
  "log_likelihood",
  "make_pairs",
  "make_rankings",
  "maximal_lotteries",
  "maxmin_lottery",
  "micro_adapt_routers",
  "micro_component_log_likelihoods",
  "micro_personal_log_likelihood",
  "micro_preference_matrix",
  "micro_routing",
  "minimize",
  "mixture_groups_report",
  "mixture_log_likelihood",
  "mixture_outcome_probabilities",
  "objective",
  "outcome_log_likelihood",
  "outcome_log_probs",
  "outcome_probabilities",
  "pairs_from_table",
  "people_posterior",
  "people_rewards",
  "person_layout",
  "person_ranks",
  "personal_log_likelihood",
  "personal_logits",
  "personal_preference_matrix",
  "population_prior",
  "posterior_log_likelihood",
  "preference_matrix",
  "prior_log_weights",
  "ranking_log_likelihood",
  "ranking_objective",
  "rankings_from_table",
  "sample_comparisons",
  "sample_person_comparisons",
  "split_masks",
  "top_lottery_items",
  "utilitarian_matrix",
  "vpl_encode",
  "vpl_log_likelihood",
  "vpl_predict",
  "vpl_preference_matrix",
  "vpl_rewards",
  "win_probability",
]
