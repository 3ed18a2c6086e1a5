"""An arena report on LLMFAO: leaderboards with uncertainty, judge consistency, matchmaking, Kemeny.

``experiments/arena.py``. The crowd's 8,931 judgments of 59 LLMs (shipped with jaxpref) give a
Bradley-Terry leaderboard (Davidson ties, left-position advantage) with bootstrap intervals of
every strength and rank, online Elo's rank range over random orders of the same judgments, and how
often each model is in the maximal lottery's support under resampling (``leaderboard``; seeds are
independent bootstrap replications through the engine); per-judge consistency for the crowd,
GPT-4 and GPT-3.5 (``judges``: intransitive triads, position bias, agreement); the matchmaking
simulation with pairs (``matchmaking``: votes to Kendall tau >= 0.9, uniform vs information-based;
fields as in ``experiments/kwise_arena.py``); exact Kemeny over the prompts' BT rankings
(``kemeny``). Prints the tables; ``leaderboard/`` holds the engine's logs.

Run (all parts, 8 seeds x 125 resamples, a few minutes on 2 CPU cores):

  python -m experiments.train --config configs/arena.py --workdir /tmp/arena

Expected (8 seeds; the README has the tables): GPT 4 first with a BT strength of +1.71 [+1.17,
+2.33] and rank interval 1-4, the next 20 models' rank intervals overlapping; one-pass Elo moves
a model by about 8 ranks between random orders; about 31 of 59 models in the maximal lottery's
support; triads: GPT-4 4.3% intransitive, GPT-3.5 24.8%, left wins 45.5% / 69.5%; pair
matchmaking reaches Kendall tau >= 0.9 in about 230 votes (information) vs 390 (uniform);
Kemeny over prompts has Kendall tau 0.745 with the pooled BT order.

Variants after a colon: ``parts=leaderboard+judges+matchmaking+kemeny``, ``seeds=N``,
``resamples=B`` (per seed). The GPT-4 / GPT-3.5 judgments are read from ``data.llmfao_dir``
(skipped with a note where absent).
"""

import ml_collections

from configs import common
from experiments import kwise_arena


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``arena`` experiment."""
  arg = common.parse_arg(arg, parts="judges+leaderboard+matchmaking+kemeny", seeds=8, resamples=125)
  config = ml_collections.ConfigDict()
  config.experiment = "arena"  # Which experiment train_lib runs.
  config.x64 = True  # Float64 fits.
  config.seed = 0  # Seed s of the sweep draws its resamples and orders from fold_in(key, s).
  config.parts = arg.parts  # Parts to run, joined by "+".
  config.top = 15  # Models printed in the leaderboard table.
  config.plot = True  # Write leaderboard.png (and matchmaking/kendall_tau.png).
  config.data = ml_collections.ConfigDict()
  config.data.llmfao = ""  # LLMFAO crowd CSV; "" = the file shipped with jaxpref.
  config.data.llmfao_dir = "../shared/data/llmfao"  # Folder of the GPT-4 / GPT-3.5 judgments.
  config.bt = ml_collections.ConfigDict()
  config.bt.l2 = 0.01  # L2 strength of the BT fits (vmappable).
  config.bt.ties = "davidson"  # Tie model ("" = ties as half a win).
  config.bt.advantage = True  # Fit a left-position advantage.
  config.bootstrap = ml_collections.ConfigDict()
  config.bootstrap.resamples = arg.resamples  # Resamples per seed (one compiled program).
  config.bootstrap.level = 0.95  # Nominal coverage of the percentile intervals.
  config.elo = ml_collections.ConfigDict()
  config.elo.permutations = 100  # Random orders of the judgments per seed.
  config.elo.k_factor = 4.0  # FastChat's step (vmappable).
  config.lottery = ml_collections.ConfigDict()
  config.lottery.resamples = 25  # Resamples per seed for the maximal lottery's support.
  # The pair-matchmaking simulation (fields: experiments/kwise_arena.py DEFAULTS).
  config.matchmaking = ml_collections.ConfigDict(  # The simulation's section.
    dict(
      kwise_arena.DEFAULTS,
      k=2,
      votes=1500,
      rules="uniform,information,elo_pairs",
      seeds=arg.seeds,
    )
  )
  config.matchmaking.plot = config.get_ref("plot")  # Follows config.plot.
  common.add_run_sections(config, steps=1, log_every=1, seeds=arg.seeds)
  config.log.progress_seconds = -1.0  # One step per point.
  config.log.tensorboard = False  # Hundreds of per-model scalars: metrics.jsonl only.
  return config
