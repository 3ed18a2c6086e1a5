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
interval over seeds, and ``coverage`` = Panacea's HV over MODPO's; ``pareto_lm_fronts.png``.

Run:

  python -m experiments.train --config configs/pareto_lm.py --workdir /tmp/pareto_lm

Variants after a colon: ``seeds=8``, ``steps=400``, ``plot=false``. Other methods:
``--config.methods=panacea,modpo,rewarded_soups,ls,mgda,pcgrad,upgrad,dualproj`` (Rewarded Soups
of two single-objective experts; per-weight adapters trained on the two per-objective DPO losses
by linear scalarization or by a gradient aggregator on the LoRA parameters).

Expected (8 seeds, 400 steps, 83 s on the idle 2-core machine; the README has the table): HV
panacea 0.308 +- 0.015 vs modpo 0.337 +- 0.012, coverage 0.914 +- 0.037, controllability 0.95
(panacea) and 0.975 (modpo); ``lm.panacea_loss=pg``: HV 0.332 +- 0.024, controllability 0.98.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``pareto_lm`` experiment."""
  arg = common.parse_arg(arg, plot=True, seeds=8, steps=400)
  config = ml_collections.ConfigDict()
  config.experiment = "pareto_lm"  # Which experiment train_lib runs.
  config.seed = 0  # Base seed: the decoder, prompts and token rewards; seed s adds fold_in(s).
  config.x64 = False  # Float32 (neural training).
  # Methods, each its own run (static): panacea, modpo, rewarded_soups, ls, mgda, pcgrad, upgrad,
  # dualproj (experiments/pareto_lm.py).
  config.methods = "panacea,modpo"  # The CI comparison; the README's table adds the others.
  config.plot = arg.plot  # Write the PNG of the fronts.
  config.hv_margin = 0.5  # HV reference point: the reference policy's E r minus this, per axis.

  config.synthetic = ml_collections.ConfigDict()
  config.synthetic.correlation = -0.5  # Correlation of the two token-reward vectors.

  config.lm = ml_collections.ConfigDict()
  config.lm.panacea_loss = "dpo"  # Panacea's loss: "dpo" (LS of per-objective DPO) or "pg" (RLHF).
  config.lm.learning_rate = 1e-2  # Adam step size on the adapters (vmappable).
  config.lm.kl_coef = 0.1  # KL weight beta on sequence log-ratios (vmappable).
  config.lm.batch_prompts = 8  # Prompts per update (two responses each).
  config.lm.prompts = 16  # Random token prompts.
  config.lm.eval_prompts = 256  # Evaluation rows per weight (prompts cycled; same keys).
  config.lm.grid = 10  # Panacea's evaluation grid: Das-Dennis divisions (11 weights).
  config.lm.modpo_weights = "0.1,0.3,0.5,0.7,0.9"  # MODPO: objective 1 weights, one adapter each.
  config.lm.buckets = "16"  # Padded prompt lengths compiled for.
  config.lm.max_new_tokens = 8  # Response budget.
  config.lm.vocab = 64  # Vocabulary (the last id ends a response).
  config.lm.dim = 32  # Width.
  config.lm.layers = 2  # Blocks.
  config.lm.heads = 4  # Query heads.
  config.lm.kv_heads = 2  # Key-value heads.
  config.lm.hidden = 64  # Feed-forward width.
  config.lm.max_len = 32  # Context length compiled for.
  config.lm.rank = 4  # Learned singular values per SVD-LoRA projection.
  config.lm.alpha = 8.0  # Adapter scale alpha.
  config.lm.targets = "wq,wv,wo"  # Projections that get an adapter.

  # Every method runs steps updates at each (hyperparameter, seed) point.
  common.add_run_sections(
    config, steps=arg.steps, log_every=100, checkpoint_every=0, seeds=arg.seeds
  )
  return config
