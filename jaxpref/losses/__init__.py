"""Policy-level preference objectives, each a pure per-example function ``(example, **hp)``.

Every loss takes one :class:`Example` (log-probabilities of y and y' under the policy, the
reference and the previous iterate; preference probabilities, labels, win rates or scores) and
keyword-only hyperparameters, and returns ``(loss, aux)``; callers vmap over a batch.
Hyperparameters have one name everywhere: ``kl_coef`` (beta, the KL weight to the reference),
``step_size`` (eta, the multiplier of the win rate or score), ``mixture`` (lambda of the geometric
mixture) and ``weights`` (objective weights); each docstring converts its paper's symbols.
:data:`LOSSES` maps config names to functions, :func:`register` adds a new one,
:func:`combined_loss` mixes several; :func:`curriculum_pairs` / :func:`curriculum_order` build
Curry-DPO's easy-to-hard pair curriculum from rated lists. CPO's controllable DPO (:func:`cpo`)
labels pairs by how well they meet target ratings. Several annotator groups: GRPO's
:func:`group_robust_dpo` with its adversarial group weights (:func:`group_robust_weights`,
:func:`group_batch_weights`), and MaxMin-RLHF's policy-gradient :func:`maxmin_rlhf` with its
max-min weight step :func:`egalitarian_weights`. :data:`OBJECTIVES` couples a loss
with its online protocol (sampling, oracle queries per update, extragradient),
:func:`register_objective` adds one.
"""

from jaxpref.losses._curriculum import (
  CurriculumPairs,
  curriculum_buckets,
  curriculum_order,
  curriculum_pairs,
)
from jaxpref.losses._distributional import aot
from jaxpref.losses._example import Example
from jaxpref.losses._extragradient import ExtragradientStep, extragradient_step
from jaxpref.losses._groups import (
  egalitarian_weights,
  group_batch_weights,
  group_robust_dpo,
  group_robust_weights,
  maxmin_rlhf,
)
from jaxpref.losses._listwise import lipo, mpo, pl_dpo, pro
from jaxpref.losses._multi import cpo, modpo
from jaxpref.losses._objectives import (
  OBJECTIVES,
  SAMPLINGS,
  Objective,
  OnlineHparams,
  Rounds,
  bandit_examples,
  check_online_hparams,
  get_objective,
  objective_loss,
  objective_queries,
  objective_rounds,
  objective_step,
  order_pairs,
  register_objective,
)
from jaxpref.losses._offline import cdpo, dpo, ipo, rdpo
from jaxpref.losses._online import geometric_mixture, inpo, nash_md_pg, nash_mp, online_ipo
from jaxpref.losses._registry import LOSSES, combined_loss, get_loss, register
from jaxpref.losses._self_play import dno, gpo, sppo

__all__ = [
  "LOSSES",
  "OBJECTIVES",
  "SAMPLINGS",
  "CurriculumPairs",
  "Example",
  "ExtragradientStep",
  "Objective",
  "OnlineHparams",
  "Rounds",
  "aot",
  "bandit_examples",
  "cdpo",
  "check_online_hparams",
  "combined_loss",
  "cpo",
  "curriculum_buckets",
  "curriculum_order",
  "curriculum_pairs",
  "dno",
  "dpo",
  "egalitarian_weights",
  "extragradient_step",
  "geometric_mixture",
  "get_loss",
  "get_objective",
  "gpo",
  "group_batch_weights",
  "group_robust_dpo",
  "group_robust_weights",
  "inpo",
  "ipo",
  "lipo",
  "maxmin_rlhf",
  "modpo",
  "mpo",
  "nash_md_pg",
  "nash_mp",
  "objective_loss",
  "objective_queries",
  "objective_rounds",
  "objective_step",
  "online_ipo",
  "order_pairs",
  "pl_dpo",
  "pro",
  "rdpo",
  "register",
  "register_objective",
  "sppo",
]
