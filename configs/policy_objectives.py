"""Policy-level preference objectives on a neural contextual bandit with an exact preference oracle.

Prompts x (feature vectors) and n responses; the oracle is P_x(y > y') = sigmoid(s_x(y) - s_x(y')
+ gamma C(y, y')) with prompt-dependent strengths s_x (linear in x) and a cyclic, intransitive
skew-symmetric part C (gamma = 0: a Bradley-Terry oracle). The policy is a Flax NNX MLP from x to
n logits, the reference uniform. Every objective of ``jaxpref.losses.OBJECTIVES`` listed in
``losses`` is trained with Adam on sampled responses and Bernoulli preference labels (one oracle
query per label), all with the same query budget: ``steps`` = queries // (queries per prompt per
update x prompts) updates, logged about ``evals`` times. Each loss is one ``run_sweep`` over
``vmap.seeds`` seeds x the ``vmap.axes`` (learning_rate, kl_coef, mixture, sppo_step_size,
inpo_step_size, temperature can be vmapped), written to ``workdir/<loss>/`` (metrics.jsonl,
TensorBoard, checkpoints, curves.png) and resumed from there. The task is the same for every seed
(from ``seed``); seeds vary the initialisation and the samples. Reported: the exact KL-regularized
duality gap (``kl_coef``), the unregularized duality gap and the win rate against the reference,
averaged over prompts, as mean ± 95% interval over seeds; ``results.json`` holds every seed's
final values (``[*axes, seed]``) and the mean curves, ``curves.png`` the gaps against queries.

Run (200k queries per loss, 15 losses x 8 seeds, about 3.5 minutes on 2 CPU cores per oracle):

  python -m experiments.train --config configs/policy_objectives.py --workdir /tmp/objectives
  python -m experiments.launch --config configs/policy_objectives.py --workdir /tmp/objectives

The second runs one process per loss (the static axis ``sweep`` lists). To sweep a hyperparameter
in each loss's compiled program, set an axis in a config or in Python, e.g.
``config.vmap.axes.learning_rate = (1e-3, 3e-3)``.

Variants after a colon: ``oracle=bt`` (transitive), ``responses=100`` (EGPO's n = 100 setting),
``seeds=N``, ``listwise=true`` (with ``list_size=K``, default 4): the listwise losses (PL-DPO,
LiPO-lambda, set-level MPO, PRO) on K policy samples ranked by a Bradley-Terry oracle against
DPO and IPO on the same samples as K/2 labelled pairs, at equal labels (a ranking of K counts as
K/2 pair labels) and equal updates:

  python -m experiments.train --config configs/policy_objectives.py:listwise=true --workdir /tmp/l

A loss of your own: ``--config.custom_loss=path/to/file.py:function`` (a per-example
function ``fn(example, **hparams) -> (loss, aux)`` on pairs sampled from the policy with Bernoulli
labels, like online DPO) is registered and trained as ``custom``; in code, register a loss with
``jaxpref.losses.register`` and an objective with ``jaxpref.losses.register_objective`` and list
its name in ``losses``.

Expected (cyclic oracle, n = 10, 200k queries, 8 seeds; the README has the table for both
oracles and the paired comparisons printed after it): the regularized duality gap falls from
0.224 ± 0.014 to 0.021-0.053 for the regularized self-play methods (online IPO in both forms,
EGPO, Nash-MD-PG, INPO and its rounds, Nash-MP, IPO-MD), while online DPO (0.55 ± 0.04), active
DPO (0.52 ± 0.06) and SPPO (0.57 ± 0.04; no KL term and no last-iterate guarantee) end farther from
the regularized equilibrium than they started. The unregularized round-based methods (DNO, GPO,
iterative SPPO, APO) reach duality gaps 0.16-0.24 (from 0.51).

The NLHF methods in rounds (``round_length`` updates with pi_t fixed): ``inpo_iterative``, ``dno``
(pairs from pi_t, soft labels from K-sample win rates), ``gpo`` (the oracle's GPM score logit P),
``sppo_iterative`` and ``apo`` (the same with ``momentum``), ``nash_mp`` (two proximal steps per
round, half a round each). Online: ``ipo_md`` (pairs from the geometric mixture) and
``active_dpo`` (of ``candidates`` policy pairs, the one whose implicit-reward margin is smallest).
"""

import ml_collections

from configs import common

LOSSES = (
  "online_dpo,online_ipo,online_ipo_uniform,egpo,nash_md_pg,sppo,inpo,"
  "inpo_iterative,dno,gpo,sppo_iterative,apo,nash_mp,ipo_md,active_dpo"
)
LISTWISE = "pairs_dpo,pairs_ipo,list_pl_dpo,list_lipo,list_mpo,list_pro"


def _parse(arg: str | None) -> ml_collections.ConfigDict:
  return common.parse_arg(
    arg, oracle="cyclic", responses=10, plot=True, seeds=8, listwise=False, list_size=4
  )


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``policy_objectives`` experiment."""
  arg = _parse(arg)
  config = ml_collections.ConfigDict()
  config.experiment = "policy_objectives"  # Which experiment train_lib runs.
  config.x64 = False  # Float32 (neural training).
  config.seed = 0  # Seed of the task; seed s of the sweep draws init and samples from fold_in(s).
  config.oracle = "bt" if arg.listwise else arg.oracle  # "cyclic" or "bt"; listwise needs "bt".
  config.responses = arg.responses  # n responses per prompt.
  config.prompts = 32  # Number of prompts (all used every step).
  config.features = 8  # Prompt feature width.
  config.cycle = 2.0  # gamma: weight of the cyclic part of the oracle.
  config.kl_coef = 0.1  # KL weight beta to the reference in every regularized loss and metric.
  config.hidden = "64,64"  # Hidden widths of the policy MLP.
  config.learning_rate = 3e-3  # Adam step size (all losses).
  config.queries = 200_000  # Oracle queries per loss (labels summed over prompts and steps).
  config.evals = 20  # About this many logged evaluations along the budget (per loss).
  # Trained, one run_sweep each (a static axis: sweep() lists them).
  config.losses = LISTWISE if arg.listwise else LOSSES  # Comma-separated OBJECTIVES names.
  config.list_size = arg.list_size  # K responses ranked per prompt by list_* / paired by pairs_*.
  config.mixture = 0.125  # lambda of Nash-MD-PG's geometric-mixture opponent.
  config.sppo_samples = 4  # K opponents per response: SPPO/APO win rates, DNO's r_t, GPO's score.
  config.sppo_step_size = 1.0  # SPPO's (and APO's) step size eta (multiplier of the win rate).
  config.inpo_step_size = 1 / 0.3  # INPO's inverse step eta = 0.3 (its tau is kl_coef).
  config.dno_step_size = 1.0  # DNO's multiplier of the win rate (1 / its eta).
  config.gpo_step_size = 0.5  # GPO's eta (multiplier of the GPM score logit P).
  config.nash_mp_step_size = 2.0  # Nash-MP's eta (the tabular 1/L; KL weight is kl_coef).
  config.momentum = 0.3  # APO's extrapolation alpha in [0, 1) (the paper's 0.3).
  config.round_length = 50  # Updates per round of an iterative objective (pi_t held fixed).
  config.candidates = 4  # active_dpo: pairs drawn per prompt, the most uncertain one labelled.
  config.temperature = 1.0  # Sampling temperature of the responses (the loss is untempered).
  config.custom_loss = ""  # "file.py:function" of a per-example loss to train as "custom".
  config.combination = ""  # e.g. "dpo:0.5,ipo:0.5": a weighted sum trained as "combined".
  config.plot = arg.plot  # Write curves.png (all losses) and <loss>/curves.png.
  # steps is derived: updates of a loss with one query per prompt per update. A loss with q queries
  # runs steps // q updates, logs every max(1, its updates // evals) and rounds checkpoint.every to
  # a multiple of that.
  common.add_run_sections(config, steps=1, log_every=1, checkpoint_every=1000, seeds=arg.seeds)
  config.steps = config.get_ref("queries") // config.get_ref("prompts")  # Follows queries.
  return config


def sweep(add, arg: str | None = None) -> None:
  """Lists the static runs for ``experiments.launch``: one per loss (different code)."""
  for name in (LISTWISE if _parse(arg).listwise else LOSSES).split(","):
    add(losses=name)
