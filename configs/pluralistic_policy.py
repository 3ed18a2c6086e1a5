"""Pluralistic alignment at the policy level (``experiments/pluralistic_policy.py``).

A neural contextual bandit aligned for several annotator groups: a synthetic 80/20 majority /
minority with partly opposed rewards (MaxMin-RLHF's setting) and the groups of Bradley-Terry
mixtures fitted to real comparisons (LLMFAO, shipped; CEMSChoice from ``data.paircomp_dir``, K by
held-out log-likelihood), and a tiny LoRA-adapted decoder with two groups' token rewards
(``tiny_lm``: ``experiments/pluralistic_lm.py``). Per seed, ``labels`` comparisons of reference
pairs labelled by simulated annotators of the groups; trained on the same data: ``dpo`` (pooled
labels: the utilitarian baseline), ``group_robust_dpo`` (GRPO, groups known), ``aot`` (AOT, pooled),
``rlhf`` (one pooled BT reward + policy gradient) and ``maxmin_rlhf`` (hard-EM groups, one reward
each, policy gradient with max-min group weights). Reported per group: win rate against the
reference and value ``E r_g - beta KL``; the worst and the minority group; the welfare's gap to the
exact utilitarian optimum and the worst value's gap to the exact egalitarian optimum; KL; paired
differences against ``dpo``. The PNG is ``pluralistic.png`` in the workdir.

Run (8 seeds; the README has the tables)::

  python -m experiments.train --config configs/pluralistic_policy.py --workdir /tmp/pluralistic

Expected (8 seeds, about 6 minutes on 2 CPU cores; the README has the tables): on the synthetic
80/20 case pooled DPO serves the majority (win rate 0.808 ± 0.007) and leaves the minority below
the reference (0.303 ± 0.009; the exact utilitarian optimum gives it 0.280); group-robust DPO and
MaxMin-RLHF lift it to 0.552 ± 0.013 and 0.583 ± 0.009 (exact egalitarian optimum 0.597), the
majority falling to 0.60 as at that optimum; MaxMin-RLHF's worst group value ends 0.162 ± 0.066
from the optimum's. LLMFAO's mixture has K = 3 groups (shares 0.02 / 0.31 / 0.67): pooled DPO
leaves the 2% group at 0.439 ± 0.031, group-robust DPO lifts it to 0.543 ± 0.036. The unpaired
AOT collapses to one response (KL = log n). On the tiny LM pooled DPO leaves the minority at
0.040 ± 0.039, group-robust DPO does not help it and MaxMin-RLHF lifts it to 0.448 ± 0.088.

Variants after a colon: ``scenarios=synthetic+llmfao+cemschoice+tiny_lm``, ``methods=dpo+...``,
``seeds=N``, ``minority=0.2``, ``opposed=1.5`` (the synthetic groups' disagreement; 0.5: they
share as much as they disagree on).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``pluralistic_policy`` experiment."""
  arg = common.parse_arg(
    arg,
    scenarios="synthetic+llmfao+cemschoice+tiny_lm",
    methods="dpo+group_robust_dpo+aot+rlhf+maxmin_rlhf",
    seeds=8,
    minority=0.2,
    opposed=1.5,
  )
  config = ml_collections.ConfigDict()
  config.experiment = "pluralistic_policy"  # Which experiment train_lib runs.
  config.x64 = False  # Float32 (neural training).
  config.seed = 0  # Seed of the tasks; seed s of the sweep draws data, init and samples.
  config.scenarios = arg.scenarios  # Tasks in turn: synthetic, llmfao, cemschoice, tiny_lm.
  config.methods = arg.methods  # Trained methods, one engine run each per scenario.
  config.prompts = 16  # Prompts of the synthetic task (real tasks have one).
  config.features = 8  # Prompt feature width (synthetic).
  config.responses = 8  # Responses per prompt (synthetic; real tasks: the items).
  config.synthetic = ml_collections.ConfigDict()
  config.synthetic.minority = arg.minority  # The minority group's share of the annotators.
  config.synthetic.shared = 0.5  # Scale of the reward part both groups share.
  config.synthetic.opposed = arg.opposed  # Scale of the part on which they disagree (+u vs -u).
  config.real = ml_collections.ConfigDict()
  config.real.components = "1,2,3"  # Candidate K of the real data's mixture.
  config.real.em_steps = 20  # EM steps of the real data's mixture fits.
  config.real.val_fraction = 0.2  # Held-out comparisons choosing K.
  config.real.l2 = 0.1  # Ridge of each mixture component's BT scores.
  config.data = ml_collections.ConfigDict()
  config.data.llmfao = ""  # LLMFAO-format CSV; "" = the crowd file shipped with jaxpref.
  config.data.paircomp_dir = "../shared/data/paircomp"  # Folder with CEMSChoice.csv.
  config.lm = ml_collections.ConfigDict()  # The tiny_lm scenario (experiments/pluralistic_lm.py).
  config.lm.steps = 300  # Adapter updates per method.
  config.lm.learning_rate = 1e-2  # Adam step size on the adapter.
  config.lm.kl_coef = 0.25  # beta of the LM's methods (on sequence log-ratios).
  config.lm.batch_prompts = 8  # Prompts per update (two sampled responses each, one vote).
  config.lm.prompts = 16  # Random token prompts.
  config.lm.eval_prompts = 16  # Prompts per evaluation.
  config.lm.buckets = "16"  # Padded prompt lengths compiled for.
  config.lm.max_new_tokens = 12  # Response budget.
  config.lm.scale = 4.0  # P = sigmoid(scale * (r_g(y) - r_g(y'))), r_g the mean token reward.
  config.lm.vocab = 64  # Vocabulary (the last id ends a response).
  config.lm.dim = 32  # Width.
  config.lm.layers = 2  # Blocks.
  config.lm.heads = 4  # Query heads.
  config.lm.kv_heads = 2  # Key-value heads.
  config.lm.hidden = 64  # Feed-forward width.
  config.lm.max_len = 64  # Context length compiled for.
  config.lm.rank = 8  # LoRA rank.
  config.lm.alpha = 16.0  # LoRA scale alpha.
  config.lm.targets = "wq,wk,wv,wo"  # Projections that get an adapter.
  config.annotators = 100  # Simulated annotators (the groups' shares of them).
  config.labels = 8192  # Labelled reference pairs per seed.
  config.batch = 256  # Minibatch of labelled pairs (DPO, GRPO, AOT) per update.
  config.samples = 8  # Policy samples per prompt per update (reward methods).
  config.reward_l2 = 0.1  # Ridge of the learned BT rewards (rlhf, maxmin_rlhf).
  config.components = 0  # MaxMin-RLHF's K (0: the true number of groups).
  config.em_steps = 10  # MaxMin-RLHF's hard-EM steps.
  config.em_max_steps = 50  # L-BFGS iteration cap of each EM M-step.
  config.em_restarts = 2  # EM restarts (the best likelihood is kept).
  config.aot_paired = False  # AOT on sorted log-ratio differences (paired) or on each side.
  config.hidden = "64,64"  # Hidden widths of the policy MLP.
  config.kl_coef = 0.25  # beta, the KL weight of every method and of the values (vmappable).
  config.learning_rate = 3e-3  # Adam step size (vmappable).
  config.group_step_size = 0.01  # Step size of the group weights (GRPO's alpha, MaxMin's w).
  config.egalitarian_steps = 5000  # Mirror-descent steps of the exact egalitarian optimum.
  config.plot = True  # Write pluralistic.png.
  common.add_run_sections(config, steps=2000, log_every=100, seeds=arg.seeds)
  config.checkpoint.every = 0  # Runs take about a minute each: no checkpoints.
  config.log.tensorboard = False  # metrics.jsonl only.
  return config
