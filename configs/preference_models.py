"""Preference models (BT, BT with ties, GPM, K-mixture) on real human comparisons, over seeds.

Fits Bradley-Terry, Bradley-Terry with ties (Davidson), the General Preference Model and a
K-component mixture over annotators (K chosen per seed on a validation split; covariate-conditioned
mixing where the survey has respondent covariates) to LLMFAO's crowd judgments of 59 LLMs (shipped
with jaxpref), four paired-comparison surveys and Premier League football, and compares held-out
decisive log-loss and accuracy on held-out comparisons (seen annotators) and on held-out
annotators (new people). Every dataset is one ``jaxpref.training.run_sweep`` over
``vmap.seeds`` seeds (default 8): each seed draws its own splits (as masks) and random inits, and
``vmap.axes.bt.l2`` / ``vmap.axes.gpm.l2`` vmap the L2 strengths too. Step t runs one stage
(validation, held-out comparisons, held-out annotators) and is checkpointed, so a run resumes.
Writes ``workdir/<dataset>/metrics.jsonl`` (+ TensorBoard, checkpoints) and ``results.json``
(every metric as ``[*axes, seed]`` values, mean and 95% interval), and prints mean ± interval.
From each seed's final fits on the held-out-comparisons split (host-side): the maximal lottery of
every model's game against the BT ranking (``top_k`` items, mass mean ± 95% interval over seeds
and the share of seeds whose support holds the item), the mixture's per-group held-out accuracy
(vs pooled BT) and, where K > 1, the worst group's log-loss under pooled and group-robust BT;
plots ``heldout.png`` and ``lotteries.png`` (error bars: 95% intervals).

  python -m experiments.train --config configs/preference_models.py --workdir /tmp/prefmodels
  python -m experiments.train --config configs/preference_models.py:datasets=llmfao,seeds=16 \
    --workdir DIR --config.vmap.axes.bt.l2='(0.001,0.01,0.1)'

``datasets=`` takes any of llmfao, soundquality, topmodel2007, cemschoice, football, csv joined by
"+"; ``datasets=csv`` reads ``--config.csv.path=FILE`` with its column names
(``--config.csv.item_a=...``). Paircomp files are read from ``--config.data.paircomp_dir``
(default ``../shared/data/paircomp``; absent surveys are skipped). Every dataset is read, and its
columns checked, before the first fit.

All of it is vmapped: L-BFGS fits (``preference.fit``) and EM (``preference.fit_mixture``) trace
under ``vmap``, GPM and EM restarts are vmapped too, and K is chosen in the graph (every candidate
K is fitted at every stage; the validation stage's log-likelihoods pick one per seed), which costs
``len(components)`` mixture fits per stage instead of one. On CPU a vmapped L-BFGS
``while_loop`` runs every seed until the slowest converges, so seeds cost more than in a Python
loop; an accelerator is where this pays. Backends: ``jit`` (default), ``shard_map``, ``pmap`` and
``none`` give the same numbers (tested on 8 CPU devices).

Expected (8 seeds, ``mixture.components=1,2``, ``em_steps=10``, ``restarts=1``,
``gpm.restarts=2``; the README has the table and the command; paired differences to BT, mean ±
95% interval): on held-out comparisons of seen annotators the mixture (K = 2 on every seed) has
the lowest log-loss on every dataset with people (LLMFAO 0.540 ± 0.018 vs BT 0.589 ± 0.009,
paired -0.049 ± 0.011; CEMSChoice -0.045 ± 0.023; Topmodel2007 -0.032 ± 0.008; SoundQuality
-0.030 ± 0.003); on new people it gains little (-0.004 to -0.006, SoundQuality, CEMSChoice,
Topmodel2007) or nothing (LLMFAO +0.002 ± 0.011); GPM ties BT on SoundQuality and is slightly
worse elsewhere (LLMFAO +0.010 ± 0.006, football +0.049 ± 0.016); Davidson ties help on LLMFAO
(-0.010 ± 0.008) but not on football (+0.003 ± 0.009, the single-seed gain was noise); football
picks K = 1 on every seed. About 40 min for all five datasets on a loaded 2-core machine.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``preference_models`` experiment."""
  arg = common.parse_arg(
    arg, datasets="llmfao+soundquality+topmodel2007+cemschoice+football", seeds=8
  )
  config = ml_collections.ConfigDict()
  config.experiment = "preference_models"  # Which experiment train_lib runs.
  config.x64 = True  # Float64: L-BFGS fits converge to ~1e-8 in the parameters.
  config.seed = 0  # Base seed; seed s of the sweep draws its splits and inits from fold_in(key, s).
  config.datasets = arg.datasets  # Dataset names joined by "+" or "," (see the docstring).
  config.test_fraction = 0.2  # Share of comparisons (or of annotators) held out for testing.
  config.val_fraction = 0.2  # Share of the training comparisons used to choose K.
  config.top_k = 5  # Items of each maximal lottery reported (by mean mass over seeds).
  config.plot = True  # Write heldout.png and lotteries.png.

  config.data = ml_collections.ConfigDict()
  config.data.llmfao = ""  # LLMFAO-format CSV; "" = the crowd file shipped with jaxpref.
  config.data.paircomp_dir = "../shared/data/paircomp"  # Folder of the paircomp survey CSVs.

  config.csv = ml_collections.ConfigDict()
  config.csv.path = ""  # A user's long-form comparison CSV (dataset name "csv").
  config.csv.item_a = "item_a"  # Column of the first (left / home) item.
  config.csv.item_b = "item_b"  # Column of the second item.
  config.csv.outcome = "outcome"  # Column of the result: 1 first wins, 0 tie, -1 second wins.
  config.csv.annotator = "subject"  # Column naming the annotator.
  config.csv.covariates = ""  # Comma-separated annotator covariate columns for the mixture.
  config.csv.advantage = False  # Fit an advantage of the first-listed item.

  config.bt = ml_collections.ConfigDict()
  config.bt.l2 = 0.01  # L2 strength on BT strengths (vmappable: vmap.axes.bt.l2).
  config.bt.ties = "davidson"  # Tie model of "bt_ties" (and of the mixture on data with ties).

  config.gpm = ml_collections.ConfigDict()
  config.gpm.dim = 4  # GPM embedding width 2k (static: a shape).
  config.gpm.l2 = 0.1  # L2 strength on GPM strengths and embeddings (vmappable).
  config.gpm.restarts = 3  # Random initializations (vmapped); the best objective is kept.

  config.mixture = ml_collections.ConfigDict()
  config.mixture.components = "1,2,3,4"  # Candidate K (static), chosen by validation likelihood.
  config.mixture.em_steps = 30  # EM iterations.
  config.mixture.restarts = 2  # Random EM initializations (vmapped); the best likelihood is kept.
  config.mixture.mixing_l2 = 1.0  # L2 strength on the covariate coefficients of the mixing.
  # Step t fits one stage: validation (chooses K), held-out comparisons, held-out annotators.
  common.add_run_sections(config, steps=3, log_every=1, checkpoint_every=1, seeds=arg.seeds)
  config.log.progress_seconds = 0.0  # A line per step: each step is a whole round of fits.
  return config
