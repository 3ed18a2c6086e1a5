"""Preference models (BT, BT with ties, GPM, K-mixture) on real human comparison data.

Fits Bradley-Terry, Bradley-Terry with ties (Davidson), the General Preference Model and a
K-component mixture over annotators (K chosen on validation data; covariate-conditioned mixing
where the survey has respondent covariates) to LLMFAO's crowd judgments of 59 LLMs (shipped with
jaxpref), four paired-comparison surveys and Premier League football, and compares held-out
log-loss and accuracy on held-out comparisons and on held-out annotators, per-group accuracy of
the mixture, and the maximal lottery of each model's game against the BT ranking. Writes
``results.json``, ``heldout.png`` and ``lotteries.png`` into the workdir.

Run (about 3 minutes on 2 CPU cores, ~30-45 s per dataset, mostly compiles; ``datasets=llmfao``
alone needs no ``../shared`` folder):

  python -m experiments.train --config configs/preference_models.py --workdir /tmp/prefmodels

Variants after a colon: ``datasets=llmfao+football`` (any of llmfao, soundquality, topmodel2007,
cemschoice, football, csv). A CSV of your own: ``datasets=csv`` with
``--config.csv.path=FILE`` and its column names (``--config.csv.item_a=...``). Paircomp files are
read from ``--config.data.paircomp_dir`` (default ``../shared/data/paircomp``).

Expected (seed 0; the README's results section has the full table): on held-out comparisons of
seen annotators the mixture has the lowest decisive log-loss wherever there are people (LLMFAO
0.519 vs BT 0.576 with K = 2; SoundQuality 0.503 vs 0.542, CEMSChoice 0.496 vs 0.619 with K = 4);
on new people it gains little (SoundQuality 0.529 vs 0.540) or nothing (CEMSChoice 0.606 vs
0.602); GPM ties BT on SoundQuality (0.5418 both) and loses on football (0.576 vs 0.533); football
picks K = 1, and BT with Davidson ties is best there (0.510).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``preference_models`` experiment."""
  arg = common.parse_arg(
    arg, datasets="llmfao+soundquality+topmodel2007+cemschoice+football", plot=True
  )
  config = ml_collections.ConfigDict()
  config.experiment = "preference_models"  # Which experiment train_lib runs.
  config.x64 = True  # Float64: L-BFGS fits converge to ~1e-8 in the parameters.
  config.seed = 0  # Seed of the splits and of the random initializations.
  config.datasets = arg.datasets  # Dataset names joined by "+" or "," (see the docstring).
  config.test_fraction = 0.2  # Share of comparisons (or of annotators) held out for testing.
  config.val_fraction = 0.2  # Share of the training comparisons used to choose K.
  config.top_k = 5  # Items listed per lottery in the table and results.json.
  config.plot = arg.plot  # Write heldout.png and lotteries.png.

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
  config.bt.l2 = 0.01  # L2 strength on BT strengths (Gaussian prior of variance 1 / (2 l2)).
  config.bt.ties = "davidson"  # Tie model of "bt_ties" (and of the mixture on data with ties).

  config.gpm = ml_collections.ConfigDict()
  config.gpm.dim = 4  # GPM embedding width 2k.
  config.gpm.l2 = 0.1  # L2 strength on GPM strengths and embeddings.
  config.gpm.restarts = 3  # Random initializations; the best objective is kept.

  config.mixture = ml_collections.ConfigDict()
  config.mixture.components = "1,2,3,4"  # Candidate K, chosen by validation log-likelihood.
  config.mixture.em_steps = 30  # EM iterations.
  config.mixture.restarts = 2  # Random EM initializations; the best likelihood is kept.
  config.mixture.mixing_l2 = 1.0  # L2 strength on the covariate coefficients of the mixing.
  return config
