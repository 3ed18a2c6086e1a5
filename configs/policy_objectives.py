"""Policy-level preference objectives on a neural contextual bandit with an exact preference oracle.

Prompts x (feature vectors) and n responses; the oracle is P_x(y > y') = sigmoid(s_x(y) - s_x(y')
+ gamma C(y, y')) with prompt-dependent strengths s_x (linear in x) and a cyclic, intransitive
skew-symmetric part C (gamma = 0: a Bradley-Terry oracle). The policy is a Flax NNX MLP from x to
n logits, the reference uniform. Every loss of ``jaxpref.losses`` listed in ``losses`` is trained
with Adam from the same initialisation on sampled responses and Bernoulli preference labels
(one oracle query per label), all with the same query budget. Reported after every chunk: the exact
KL-regularized duality gap (``kl_coef``) and unregularized duality gap of the learned policy,
averaged over prompts, and its win rate against the reference. Writes ``results.json`` and
``curves.png``.

Run (about 1 minute on 2 CPU cores):

  python -m experiments.train --config configs/policy_objectives.py --workdir /tmp/objectives

Variants after a colon: ``oracle=bt`` (transitive), ``responses=100`` (EGPO's n = 100 setting).
A loss of your own: ``--config.custom_loss=path/to/file.py:function`` (a per-example function
``fn(example, **hparams) -> (loss, aux)`` on pairs sampled from the policy with Bernoulli labels,
like online DPO) is trained and reported as ``custom``.

Expected (seed 0, cyclic oracle, n = 10, 200k queries; the README has the table): the
regularized duality gap falls from 0.208 to 0.031-0.047 for online IPO (both forms), EGPO,
Nash-MD-PG and INPO, while online DPO (0.479) and SPPO (0.613, no KL term and no last-iterate
guarantee) end farther from the regularized equilibrium than they started.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``policy_objectives`` experiment."""
  arg = common.parse_arg(arg, oracle="cyclic", responses=10, plot=True)
  config = ml_collections.ConfigDict()
  config.experiment = "policy_objectives"  # Which experiment train_lib runs.
  config.x64 = False  # Float32 (neural training).
  config.seed = 0  # Seed of the task, the initialisation and the samples.
  config.oracle = arg.oracle  # "cyclic" (intransitive) or "bt" (transitive).
  config.responses = arg.responses  # n responses per prompt.
  config.prompts = 32  # Number of prompts (all used every step).
  config.features = 8  # Prompt feature width.
  config.cycle = 2.0  # gamma: weight of the cyclic part of the oracle.
  config.kl_coef = 0.1  # KL weight beta to the reference in every regularized loss and metric.
  config.hidden = "64,64"  # Hidden widths of the policy MLP.
  config.learning_rate = 3e-3  # Adam step size (all losses).
  config.queries = 200_000  # Oracle queries per loss (labels summed over prompts and steps).
  config.evals = 20  # Evaluation points along the budget.
  config.losses = "online_dpo,online_ipo,online_ipo_uniform,egpo,nash_md_pg,sppo,inpo"  # Trained.
  config.mixture = 0.125  # lambda of Nash-MD-PG's geometric-mixture opponent.
  config.sppo_samples = 4  # Opponent samples per response for SPPO's win-rate estimate.
  config.sppo_step_size = 1.0  # SPPO's step size eta (multiplier of the win rate).
  config.inpo_step_size = 1 / 0.3  # INPO's inverse step eta = 0.3 (its tau is kl_coef).
  config.custom_loss = ""  # "file.py:function" of a per-example loss to train as "custom".
  config.combination = ""  # e.g. "dpo:0.5,ipo:0.5": a weighted sum trained as "combined".
  config.plot = arg.plot  # Write curves.png.
  return config
