"""Dueling bandits: von Neumann regret against the maximal lottery (experiments/dueling_bandits).

RUCB, Double Thompson Sampling and Sparring EXP3 (``jaxpref.bandits``) duel on three preference
matrices: ``transitive`` (Bradley-Terry, arm 0 the Condorcet winner), ``cyclic`` (a weighted 3-cycle
above dominated arms: no Condorcet winner, the maximal lottery mixes the cycle) and ``llmfao`` (the
Bradley-Terry game of LLMFAO's 8 best models, fitted on the shipped crowd judgments). Each matrix x
algorithm is one engine run over seeds; the regret of a round is ``bandits.regret`` against the
maximal lottery. ``regret.png`` in the workdir draws the curves.

Run::

  python -m experiments.train --config configs/dueling_bandits.py --workdir /tmp/dueling

Expected: see the README's "Dueling bandits" table (8 seeds, 8,192 rounds).

Variants after a colon: ``seeds=N``, ``matrices=transitive+cyclic+llmfao``,
``algorithms=rucb+double_thompson+sparring_exp3``.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``dueling_bandits`` experiment."""
  arg = common.parse_arg(
    arg,
    seeds=8,
    matrices="transitive+cyclic+llmfao",
    algorithms="rucb+double_thompson+sparring_exp3",
  )
  config = ml_collections.ConfigDict()
  config.experiment = "dueling_bandits"  # Which experiment train_lib runs.
  config.x64 = False  # Float32.
  config.seed = 0  # Seed s of the sweep draws the duels' outcomes and tie-breaks.
  config.matrices = arg.matrices  # Preference matrices, in turn.
  config.algorithms = arg.algorithms  # jaxpref.bandits algorithms, one engine run each.
  config.arms = 8  # Arms of the transitive and cyclic matrices.
  config.llmfao_arms = 8  # LLMFAO's best models (by Bradley-Terry) used as arms.
  config.data = ml_collections.ConfigDict()
  config.data.llmfao = ""  # LLMFAO-format CSV; "" = the crowd file shipped with jaxpref.
  config.alpha = 0.51  # RUCB's and DTS's exploration alpha (> 1/2; vmappable).
  config.exp3_step_size = 0.0  # Sparring EXP3's eta (0: the anytime sqrt(ln K / (K t))).
  config.rounds_per_step = 64  # Duels per engine step (one lax.scan).
  config.plot = True  # Write regret.png.
  common.add_run_sections(config, steps=128, log_every=4, seeds=arg.seeds)
  config.checkpoint.every = 0  # Runs take seconds: no checkpoints.
  config.log.tensorboard = False  # metrics.jsonl only.
  return config
