r"""Plackett-Luce vs Bradley-Terry on real rankings, and the K-wise arena in simulation.

Part ``fit`` (``experiments/rankings.py``): the rankings of each dataset are the complete,
transitive comparison sets of one annotator on one prompt (paircomp surveys: a respondent's 15
pairs of 6 items, or 28 of 8; ties kept as tied places), or a user's long-form ranking CSV
(``datasets=rankings_csv``, ``--config.rankings_csv=FILE`` with columns ranking, item, position).
Seed s holds out ``test_fraction`` of the rankings; Plackett-Luce (rankings cut at their first
tie), Bradley-Terry (every implied pair, ties as half a win) and, on data with ties,
Davidson-Luce and Davidson-BT are fitted with the same ``l2`` and scored on the held-out rankings:
mean ranking log-likelihood and pairwise log-likelihood, mean ± 95% interval over seeds, and the
paired differences PL - BT and DL - Davidson. LLMFAO (shipped with jaxpref) gives no ranking of
more than 2 items (no worker judged every pair of 3 models on one prompt), so PL = BT there
exactly; it runs as the check that needs no other file.

Part ``arena``: the K-wise arena simulation of ``experiments/kwise_arena.py``: a known
Plackett-Luce model over ``arena.models`` items, one vote per engine step, seeds vmapped; rules
``uniform_pairs`` (random pairs, PL MLE), ``uniform`` / ``information`` (random or
expected-information K-sets, PL MLE), ``ksort`` (K-Sort Arena's Thurstone update and UCB
matchmaking) and ``elo_pairs`` (online Elo on random pairs); Kendall tau to the true order
against votes (``arena/kendall_tau.png``) and the votes until the order is exact.

Run (8 seeds, a few seconds per dataset on 2 CPU cores after compilation):

  python -m experiments.train --config configs/rankings.py --workdir /tmp/rankings
  python -m experiments.train --config configs/rankings.py:parts=arena --workdir /tmp/arena \
    --config.arena.votes=3000

Expected (8 seeds): on every survey the PL - BT difference in held-out ranking log-likelihood is
within noise (e.g. Topmodel2007 +0.022 ± 0.024, CEMSChoice +0.016 ± 0.038 per ranking), as is
Davidson-Luce - Davidson on CEMSChoice's tied rankings (+0.018 ± 0.035); on LLMFAO (pairs only)
DL = Davidson exactly and PL - BT = -0.11 ± 0.05 (PL drops tied pairs). The arena (3,000 votes,
20 items, K = 4): votes to Kendall tau >= 0.9 are about 400 for random pairs, 135 for random
4-sets and 80 for information-chosen 4-sets; K-Sort's Thurstone + UCB stalls near tau 0.85.

Variants after a colon: ``datasets=a+b`` (llmfao, topmodel2007, germanparties2009, firstnames,
cemschoice, soundquality, rankings_csv), ``parts=fit+arena``, ``seeds=N``.
"""

import ml_collections

from configs import common
from experiments import kwise_arena


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``rankings`` experiment."""
  arg = common.parse_arg(
    arg,
    datasets="topmodel2007+germanparties2009+firstnames+cemschoice+soundquality+llmfao",
    parts="fit",
    seeds=8,
  )
  config = ml_collections.ConfigDict()
  config.experiment = "rankings"  # Which experiment train_lib runs.
  config.x64 = True  # Float64: L-BFGS fits converge to ~1e-8 in the parameters.
  config.seed = 0  # Base seed; seed s draws its held-out rankings from fold_in(key, s).
  config.parts = arg.parts  # "fit", "arena" or both joined by "+".
  config.datasets = arg.datasets  # Dataset names joined by "+".
  config.rankings_csv = ""  # A user's long-form rankings file (dataset "rankings_csv").
  config.test_fraction = 0.2  # Share of the rankings held out per seed.
  config.l2 = 0.01  # L2 strength of every model (vmappable: vmap.axes.l2).
  config.data = ml_collections.ConfigDict()
  config.data.llmfao = ""  # LLMFAO-format CSV; "" = the crowd file shipped with jaxpref.
  config.data.paircomp_dir = "../shared/data/paircomp"  # Folder of the paircomp survey CSVs.
  # The arena simulation (fields and their meaning: experiments/kwise_arena.py DEFAULTS).
  defaults = dict(kwise_arena.DEFAULTS, seeds=arg.seeds)
  config.arena = ml_collections.ConfigDict(defaults)  # The simulation's section.
  common.add_run_sections(config, steps=1, log_every=1, seeds=arg.seeds)
  config.log.progress_seconds = -1.0  # One step per point: no progress lines.
  return config
