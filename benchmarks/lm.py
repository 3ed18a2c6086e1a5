"""Language-model sampling, geometric-mixture sampling, scoring and LoRA training steps.

  python benchmarks/lm.py [--batch 1,16] [--new_tokens 32] [--prompt 64] [--repeats 3]
                          [--dtype float32] [--weights]

A SmolLM2-135M-shaped decoder (30 layers, d = 576, 9 / 3 heads, vocab 49,152; random init, which
does not change the speed; ``--weights`` loads the GGUF instead) with a rank-8 LoRA adapter on
the attention projections. Prompts of ``--prompt`` random ids, temperature 1, exactly
``--new_tokens`` new tokens (no end token), lambda = 0.5 for the mixture. The settings of the
Hugging Face baseline (``docs/solvers.md``, 'Language-model sampling baseline'), so its figures
compare.

Rows, all in JAX in this one run:

* ``plain``: ``models.generate`` (KV cache, the whole decode loop compiled).
* ``mixture, one pass``: ``models.generate(mixture=0.5)``: policy and reference rows in one batch
  through the shared base weights (the adapter gated per row), one KV cache.
* ``mixture, two models``: the peers' scheme: two separate models (policy with the adapter merged
  into its weights, and the reference), each with its own KV cache, both run every step.
* ``mixture, no cache``: TRL's Nash-MD wrapper (``use_cache=False``): both models re-run the whole
  prefix every token (a host loop of compiled full forwards, as ``generate`` drives it).
* ``scoring``: sequence log-probabilities of prompt + response under policy and reference.
* ``train step``: one Adam step of online DPO on the LoRA parameters (pairs of sequences).

Tokens/s count new tokens of all B rows; the mixture ratio is its time per token over plain's.
Medians over ``--repeats`` after a warm-up call (compile time printed apart).
"""

import argparse
import dataclasses
import functools
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _timing import median_seconds as _time
from flax import nnx

from jaxpref import losses, models


def _merged_policy(model: models.Llama) -> models.Llama:
  """A plain model whose kernels include the LoRA update (the peers' separate policy copy)."""
  plain = models.Llama(dataclasses.replace(model.config, adapter=None), rngs=nnx.Rngs(1))
  plain.embed.embedding[...] = model.embed.embedding[...]
  plain.norm.scale[...] = model.norm.scale[...]
  for src, dst in zip(model.blocks, plain.blocks, strict=True):
    dst.attn_norm.scale[...] = src.attn_norm.scale[...]
    dst.ffn_norm.scale[...] = src.ffn_norm.scale[...]
    for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"):
      layer = getattr(src, name)
      if isinstance(layer, models.LoRALinear):
        kernel = layer.base.kernel[...] + layer.scaling * layer.a[...] @ layer.b[...]
      else:
        kernel = layer.kernel[...]
      getattr(dst, name).kernel[...] = kernel
  return plain


@functools.partial(jax.jit, static_argnames=("g1", "g2", "steps"))
def _two_model_mixture(g1, s1, g2, s2, tokens, key, mixture, *, steps):
  """Peers' mixture: two models, two KV caches, two forward passes per token."""
  pol, ref = nnx.merge(g1, s1), nnx.merge(g2, s2)
  B, P = tokens.shape
  c1 = models.init_cache(pol.config, B, max_len=P + steps)
  c2 = models.init_cache(ref.config, B, max_len=P + steps)
  l1, c1 = pol(tokens, c1)
  l2, c2 = ref(tokens, c2)

  def body(carry, key):
    c1, c2, l1, l2 = carry
    mix = (1 - mixture) * jax.nn.log_softmax(l1) + mixture * jax.nn.log_softmax(l2)
    tok = jax.random.categorical(key, mix)[:, None]
    l1, c1 = pol(tok, c1)
    l2, c2 = ref(tok, c2)
    return (c1, c2, l1[:, -1], l2[:, -1]), tok[:, 0]

  carry = (c1, c2, l1[:, -1], l2[:, -1])
  _, out = jax.lax.scan(body, carry, jax.random.split(key, steps))
  return out.T


@functools.partial(jax.jit, static_argnames=("g1", "g2"))
def _full_forward_last(g1, s1, g2, s2, tokens, t, key, mixture):
  """No-cache mixture step: both models over the padded sequence, logits at position t - 1."""
  pol, ref = nnx.merge(g1, s1), nnx.merge(g2, s2)
  B, T = tokens.shape
  l1, _ = pol(tokens, models.init_cache(pol.config, B, max_len=T))
  l2, _ = ref(tokens, models.init_cache(ref.config, B, max_len=T))
  pick = jax.lax.dynamic_index_in_dim(l1, t - 1, axis=1, keepdims=False)
  pick2 = jax.lax.dynamic_index_in_dim(l2, t - 1, axis=1, keepdims=False)
  mix = (1 - mixture) * jax.nn.log_softmax(pick) + mixture * jax.nn.log_softmax(pick2)
  return tokens.at[:, t].set(jax.random.categorical(key, mix))


def _no_cache_mixture(g1, s1, g2, s2, prompt, key, mixture, steps):
  B, P = prompt.shape
  tokens = jnp.concatenate([prompt, jnp.zeros((B, steps), prompt.dtype)], axis=1)
  for t, k in zip(range(P, P + steps), jax.random.split(key, steps), strict=True):
    tokens = _full_forward_last(g1, s1, g2, s2, tokens, t, k, mixture)
  return tokens.block_until_ready()


def _train_step(graphdef, rest, tx):
  def loss_fn(lora, tokens, mask):
    model = nnx.merge(graphdef, lora, rest)
    n = tokens.shape[0]
    lp = models.sequence_log_probs(model, tokens, mask, gate=jnp.ones((n,)))
    ref_lp = jax.lax.stop_gradient(
      models.sequence_log_probs(model, tokens, mask, gate=jnp.zeros((n,)))
    )
    ex = losses.Example(
      logp=lp[0::2],
      logp2=lp[1::2],
      ref_logp=ref_lp[0::2],
      ref_logp2=ref_lp[1::2],
      pref=jnp.full(n // 2, 0.7),
    )
    return jnp.mean(jax.vmap(lambda e: losses.dpo(e)[0])(ex))

  @jax.jit
  def step(lora, opt_state, tokens, mask):
    loss, g = jax.value_and_grad(loss_fn)(lora, tokens, mask)
    updates, opt_state = tx.update(g, opt_state, lora)
    return optax.apply_updates(lora, updates), opt_state, loss

  return step


def _timed(fn, repeats):
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  return first, _time(lambda: jax.block_until_ready(fn()), repeats, warmup=False)


def main() -> None:
  """Prints one row per (task, batch size)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", default="1,16")
  parser.add_argument("--new_tokens", type=int, default=32)
  parser.add_argument("--prompt", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--weights", action="store_true", help="load SmolLM2's GGUF weights")
  parser.add_argument("--no_cache_max_batch", type=int, default=1)
  args = parser.parse_args()
  dtype = jnp.dtype(args.dtype)
  lora = dict(adapter="lora", adapter_rank=8, max_len=args.prompt + args.new_tokens + 8)
  if args.weights:
    model = models.load_llama_gguf(models.smollm2_path(), dtype=dtype, **lora)
  else:
    model = models.Llama(models.LlamaConfig(**lora), rngs=nnx.Rngs(0))
  for block in model.blocks:  # a non-zero adapter, as after some training
    for name in model.config.adapter_targets:
      layer = getattr(block, name)
      layer.b[...] = 0.01 * jax.random.normal(jax.random.key(1), layer.b.shape)
  if dtype != jnp.float32:
    _, state = nnx.split(model)
    nnx.update(model, jax.tree.map(lambda x: x.astype(dtype), state))
  graphdef, lora_state, rest = nnx.split(model, nnx.LoRAParam, ...)
  policy = _merged_policy(model)
  reference = models.Llama(dataclasses.replace(model.config, adapter=None), rngs=nnx.Rngs(2))
  g1, s1 = nnx.split(policy)
  g2, s2 = nnx.split(reference)
  tx = optax.adam(1e-4)
  step = _train_step(graphdef, rest, tx)
  opt_state = tx.init(lora_state)
  dev = jax.devices()[0]
  cpu = platform.processor() or platform.machine()
  n_params = sum(x.size for x in jax.tree.leaves(nnx.split(policy)[1]))
  print(f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}), {cpu}; {args.dtype}")
  print(
    f"{n_params / 1e6:.1f}M parameters, prompt {args.prompt}, {args.new_tokens} new tokens, "
    f"median of {args.repeats}"
  )
  print(f"{'task':<26} {'B':>4} {'s/call':>9} {'compile+1st s':>14} {'tokens/s':>10} {'ratio':>7}")
  parts = (graphdef, lora_state, rest, g1, s1, g2, s2, step, opt_state)
  for B in (int(b) for b in args.batch.split(",")):
    _bench_batch(B, args, *parts)


def _bench_batch(B, args, graphdef, lora_state, rest, g1, s1, g2, s2, step, opt_state) -> None:
  """The rows of one batch size."""
  N = args.new_tokens
  rng = np.random.default_rng(B)
  prompts = [list(rng.integers(0, 49152, args.prompt)) for _ in range(B)]
  key = jax.random.key(0)
  kw = dict(max_new_tokens=N, eos_id=-1, temperature=1.0, buckets=(args.prompt,))
  gs = (graphdef, lora_state, rest)
  first, plain = _timed(lambda: models.generate(gs, prompts, key, **kw).tokens, args.repeats)
  print(f"{'plain':<26} {B:>4} {plain:9.3f} {first:14.1f} {B * N / plain:10.1f} {1.0:7.2f}")
  prompt = jnp.asarray(prompts, jnp.int32)
  rows = [
    ("mixture, one pass", lambda: models.generate(gs, prompts, key, mixture=0.5, **kw).tokens),
    ("mixture, two models", lambda: _two_model_mixture(g1, s1, g2, s2, prompt, key, 0.5, steps=N)),
  ]
  if args.no_cache_max_batch >= B:
    rows.append(
      ("mixture, no cache", lambda: _no_cache_mixture(g1, s1, g2, s2, prompt, key, 0.5, N))
    )
  for name, fn in rows:
    first, t = _timed(fn, args.repeats)
    print(f"{name:<26} {B:>4} {t:9.3f} {first:14.1f} {B * N / t:10.1f} {t / plain:7.2f}")
  tokens = jnp.concatenate([prompt, jax.random.randint(key, (B, N), 0, 49152)], axis=1)
  mask = jnp.broadcast_to(jnp.arange(args.prompt + N) >= args.prompt, tokens.shape)

  @jax.jit
  def score(lora, t, m):
    model = nnx.merge(graphdef, lora, rest)
    return (
      models.sequence_log_probs(model, t, m),
      models.sequence_log_probs(model, t, m, gate=jnp.zeros(B)),
    )

  first, t = _timed(lambda: score(lora_state, tokens, mask), args.repeats)
  print(f"{'scoring (seq/s)':<26} {B:>4} {t:9.3f} {first:14.1f} {B / t:10.2f} {'':>7}")
  if B % 2 == 0:
    first, t = _timed(lambda: step(lora_state, opt_state, tokens, mask)[2], args.repeats)
    print(f"{'train step (seq/s)':<26} {B:>4} {t:9.3f} {first:14.1f} {B / t:10.2f} {'':>7}")


if __name__ == "__main__":
  main()
