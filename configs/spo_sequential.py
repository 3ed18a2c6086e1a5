"""SPO on a sequential task (``experiments/spo_sequential.py``).

Swamy et al., A Minimaximalist Approach to Reinforcement Learning from Human Feedback (ICML 2024,
https://arxiv.org/abs/2401.04056): a 4-step task with 3 actions per step (81 trajectories, all
enumerated), each trajectory scored on three criteria; ``intransitive`` preferences (the majority
of the criteria: Condorcet cycles among the good trajectories, a mixed maximal lottery) and the
``transitive`` control (Bradley-Terry on the criteria's sum). ``spo`` (self-play: a trajectory's
reward is its win rate against the other K - 1 of its round) and ``bt_rlhf`` (a linear BT reward
on the criteria fitted to as many labelled uniform pairs as spo queries, then the same policy
gradient) each run 8 seeds through the engine. Reported: the duality gap of the final trajectory
distribution, its TV to the maximal lottery, win rates, entropy and the paired head-to-head win
rate of spo's policy against bt_rlhf's; ``spo.png`` in the workdir draws the gap against updates.

Run (8 seeds)::

  python -m experiments.train --config configs/spo_sequential.py --workdir /tmp/spo

Expected (8 seeds, 3,000 updates, 672,000 preference queries per run; about 17 s on 2 CPU
cores, identical on a rerun): on ``intransitive`` the maximal lottery mixes 11 trajectories
(entropy 1.74, no Condorcet winner). spo's final duality gap is 0.082 ± 0.038 (its average
iterate 0.061 ± 0.010; the entropy bonus's regularised equilibrium itself has a gap of about
0.035), TV to the lottery 0.323 ± 0.040; bt_rlhf collapses onto one trajectory (entropy 0.07) with
gap 0.500 ± 0.000 (some trajectory beats it surely) and TV 0.989 ± 0.006; the lottery beats it
0.656 of the time (bt_rlhf's win rate against it 0.344 ± 0.001, spo's 0.485 ± 0.001). Head to
head, paired by seed, spo's policy wins 0.509 ± 0.057 against bt_rlhf's: not beaten, but not
significantly better either (the BT policy sits on a trajectory of the lottery's support, mass
0.33). On the ``transitive`` control both find the best trajectory: bt_rlhf's gap 0.000, spo's
0.018 ± 0.001 (its entropy bonus weighs more on win rates in [0, 1] than on BT logits: TV to the
point mass 0.386 ± 0.020), head to head 0.482 ± 0.001. With Adam instead of SGD spo's last
iterate cycles (gap about 0.5 at learning rate 0.05, entropy 0.01).

Variants after a colon: ``preferences=intransitive+transitive``, ``methods=spo+bt_rlhf``,
``seeds=N``, ``reward_model=linear`` (or ``tabular``: one BT score per trajectory),
``label_noise=0.0``. spo's policy gradient is plain SGD with an entropy bonus (``entropy_coef``):
without the bonus, or with Adam, the last iterate cycles around the lottery.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``spo_sequential`` experiment."""
  arg = common.parse_arg(
    arg,
    preferences="intransitive+transitive",
    methods="spo+bt_rlhf",
    seeds=8,
    reward_model="linear",
    label_noise=0.0,
  )
  config = ml_collections.ConfigDict()
  config.experiment = "spo_sequential"  # Which experiment train_lib runs.
  config.x64 = False  # Float32 (the maximal lottery is solved in float64 on the host).
  config.seed = 0  # Seed of the task's criteria noise; seed s of the sweep draws samples, labels.
  config.preferences = arg.preferences  # Preference types in turn: intransitive, transitive.
  config.methods = arg.methods  # spo, bt_rlhf: one engine run each per preference type.
  config.horizon = 4  # Steps H of a trajectory.
  config.actions = 3  # Actions per step (actions ** horizon trajectories, at most 729).
  config.step_decay = 0.5  # Weight of the last step's criteria (the first has 1; linear between).
  config.criteria_noise = 0.5  # Scale of the seeded normal noise on each step's criteria.
  config.bt_scale = 1.0  # The transitive control's P = sigmoid(bt_scale (S_A - S_B)).
  config.label_noise = arg.label_noise  # Probability that a queried label is flipped.
  config.round_size = 8  # K: trajectories of one self-play round (spo's win rate; K >= 2).
  config.rounds = 4  # Rounds (groups of K samples) per update; both methods.
  config.reward_model = arg.reward_model  # bt_rlhf's BT reward: linear (criteria) or tabular.
  config.reward_l2 = 1e-3  # Ridge of the BT reward fit (on the mean log-loss).
  config.newton_steps = 20  # Newton steps of the BT reward fit.
  config.optimizer = "sgd"  # Policy optimizer: sgd or adam (adam cycles in self-play).
  config.learning_rate = 1.0  # Step size on the policy logits (vmappable).
  config.entropy_coef = 0.03  # Entropy bonus: reward r(y) - entropy_coef log pi(y) (vmappable).
  config.plot = True  # Write spo.png.
  common.add_run_sections(config, steps=3000, log_every=100, seeds=arg.seeds)
  config.checkpoint.every = 0  # Runs take seconds: no checkpoints.
  config.log.tensorboard = False  # metrics.jsonl only.
  return config
