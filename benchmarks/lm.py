"""Language-model sampling, geometric-mixture sampling, scoring and LoRA training steps.

  python benchmarks/lm.py [--batch 1,16] [--new_tokens 32] [--prompt 64] [--repeats 3]
                          [--dtype float32] [--weights] [--sections sampling,train,layouts]

A SmolLM2-135M-shaped decoder (30 layers, d = 576, 9 / 3 heads, vocab 49,152; random init, which
does not change the speed; ``--weights`` loads the GGUF instead) with a rank-8 LoRA adapter on
the attention projections. Prompts of ``--prompt`` random ids, temperature 1, exactly
``--new_tokens`` new tokens (no end token), lambda = 0.5 for the mixture. The settings of the
Hugging Face baseline (``docs/solvers.md``, 'Language-model sampling baseline'), so its figures
compare.

Sections (``--sections``), all in JAX in this one run:

``sampling`` (scanned blocks, ``--dtype``):

* ``plain``: ``models.generate`` (KV cache, the whole decode loop compiled).
* ``mixture, one pass``: ``models.generate(mixture=0.5)``: policy and reference rows in one batch
  through the shared base weights (the adapter gated per row), one KV cache.
* ``mixture, two models``: the peers' scheme: two separate models (policy with the adapter merged
  into its weights, and the reference), each with its own KV cache, both run every step.
* ``mixture, no cache``: TRL's Nash-MD wrapper (``use_cache=False``): both models re-run the whole
  prefix every token (a host loop of compiled full forwards, as ``generate`` drives it).
* ``scoring``: sequence log-probabilities of prompt + response under policy and reference.
* ``train step``: one Adam step of online DPO on the LoRA parameters (pairs of sequences).

``train``: the LoRA training step (online DPO on B = ``--train_batch`` sequences of prompt +
response) for each layout (unrolled blocks, scanned, scanned with remat; ``-const``: the frozen
weights closed over as compile-time constants, as the earlier harness did) and dtype (float32;
bfloat16 compute and weights with float32 LoRA and logits): compile seconds (``lower`` +
``compile``), step seconds (median), and the loss against float32's.

``layouts``: the same step under ``mesh`` layouts of the available devices (run with
``JAX_NUM_CPU_DEVICES=8`` on a CPU): ``data=N`` and ``data=N/2, fsdp=2``, loss and updated
adapter against one device (correctness; CPU devices share the same cores, so no speed-up).

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
  pairs = [(model.blocks, plain.blocks)]  # scanned: one stacked block each
  if not model.config.scan_layers:
    pairs = list(zip(model.blocks, plain.blocks, strict=True))
  for src, dst in pairs:
    dst.attn_norm.scale[...] = src.attn_norm.scale[...]
    dst.ffn_norm.scale[...] = src.ffn_norm.scale[...]
    for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"):
      layer = getattr(src, name)
      if isinstance(layer, models.LoRALinear):
        update = layer.scaling * layer.a[...] @ layer.b[...]  # batched over stacked layers
        kernel = layer.base.kernel[...] + update.astype(layer.base.kernel[...].dtype)
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


def _step_body(graphdef, tx):
  """``(lora, opt_state, tokens, mask, rest) -> (lora, opt_state, loss)``: online DPO on pairs."""

  def loss_fn(lora, tokens, mask, rest):
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

  def step(lora, opt_state, tokens, mask, rest):
    loss, g = jax.value_and_grad(loss_fn)(lora, tokens, mask, rest)
    updates, opt_state = tx.update(g, opt_state, lora)
    return optax.apply_updates(lora, updates), opt_state, loss

  return step


def _train_step(graphdef, rest, tx):
  """``step(lora, opt_state, tokens, mask)``: the jitted body with the frozen weights passed."""
  body = jax.jit(_step_body(graphdef, tx))

  def step(lora, opt_state, tokens, mask):
    return body(lora, opt_state, tokens, mask, rest)

  return step


def _timed(fn, repeats):
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  return first, _time(lambda: jax.block_until_ready(fn()), repeats, warmup=False)


def _model(args, **layout) -> models.Llama:
  """The benchmarked decoder with a non-zero adapter (as after some training)."""
  lora = dict(adapter="lora", adapter_rank=8, max_len=args.prompt + args.new_tokens + 8)
  if args.tiny:
    lora.update(vocab_size=512, dim=64, num_layers=2, num_heads=4, num_kv_heads=2, hidden_dim=128)
  if args.weights:
    model = models.load_llama_gguf(models.smollm2_path(), **lora, **layout)
  else:
    model = models.Llama(models.LlamaConfig(**lora, **layout), rngs=nnx.Rngs(0))
  stacked = model.config.scan_layers
  for name in model.config.adapter_targets:  # the same B in every layer and layout
    for block in [model.blocks] if stacked else list(model.blocks):
      layer = getattr(block, name)
      shape = layer.b.shape[1:] if stacked else layer.b.shape
      b = 0.01 * jax.random.normal(jax.random.key(1), shape)
      layer.b[...] = jnp.broadcast_to(b, layer.b.shape)
  return model


def _dtype_layout(dtype: str) -> dict:
  return {"compute_dtype": dtype, "param_dtype": dtype}


def main() -> None:
  """Prints the rows of each requested section."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", default="1,16")
  parser.add_argument("--new_tokens", type=int, default=32)
  parser.add_argument("--prompt", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--weights", action="store_true", help="load SmolLM2's GGUF weights")
  parser.add_argument("--tiny", action="store_true", help="a 2-layer model (smoke runs)")
  parser.add_argument("--no_cache_max_batch", type=int, default=1)
  parser.add_argument("--sections", default="sampling,train")
  parser.add_argument("--train_batch", type=int, default=16)
  parser.add_argument("--layouts", default="unrolled,scan,scan+remat")
  args = parser.parse_args()
  dev = jax.devices()[0]
  cpu = platform.processor() or platform.machine()
  print(
    f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}) x {jax.device_count()}, {cpu}"
  )
  sections = args.sections.split(",")
  if "train" in sections:
    bench_train(args)
  if "layouts" in sections:
    bench_layouts(args)
  if "sampling" in sections:
    bench_sampling(args)


def _train_inputs(args, vocab: int):
  B, T = args.train_batch, args.prompt + args.new_tokens
  tokens = jax.random.randint(jax.random.key(2), (B, T), 0, vocab)
  mask = jnp.broadcast_to(jnp.arange(T) >= args.prompt, (B, T))
  return tokens, mask


def bench_train(args) -> None:
  """Compile and step time of the LoRA training step per layout and dtype."""
  layouts = {
    "unrolled": dict(scan_layers=False),
    "scan": dict(scan_layers=True),
    "scan+remat": dict(scan_layers=True, remat="dots"),
    # The earlier harness: the frozen weights closed over (compile-time constants).
    "unrolled-const": dict(scan_layers=False),
    "scan-const": dict(scan_layers=True),
  }
  print(f"\ntraining step (online DPO on the LoRA), B = {args.train_batch}, T = "
        f"{args.prompt + args.new_tokens}, median of {args.repeats}")  # fmt: skip
  print(f"{'layout':<12} {'dtype':<9} {'compile s':>10} {'step s':>8} {'seq/s':>7} {'loss':>10}")
  for dtype in ("float32", "bfloat16"):
    for name in args.layouts.split(","):
      model = _model(args, **layouts[name], **_dtype_layout(dtype))
      graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
      tx = optax.adam(1e-4)
      inputs = (lora, tx.init(lora), *_train_inputs(args, model.config.vocab_size), rest)
      body = _step_body(graphdef, tx)
      if name.endswith("-const"):
        inputs = inputs[:-1]

        def body(*args, fn=body, frozen=rest):
          return fn(*args, frozen)

      start = time.perf_counter()
      compiled = jax.jit(body).lower(*inputs).compile()
      compile_s = time.perf_counter() - start
      loss = float(compiled(*inputs)[2])
      t = _time(
        lambda c=compiled, x=inputs: jax.block_until_ready(c(*x)[2]), args.repeats, warmup=False
      )
      print(
        f"{name:<12} {dtype:<9} {compile_s:10.1f} {t:8.3f} {args.train_batch / t:7.2f} {loss:10.6f}"
      )


def bench_layouts(args) -> None:
  """The training step under data / fsdp layouts against one device (correctness)."""
  from jax.sharding import NamedSharding

  from jaxpref import training

  n = jax.device_count()
  model = _model(args)
  graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
  tx = optax.adam(1e-4)
  opt_state = tx.init(lora)
  tokens, mask = _train_inputs(args, model.config.vocab_size)

  def constrained(lora, opt_state, tokens, mask, rest):
    rest = training.shard_params(rest)
    tokens, mask = training.shard_batch((tokens, mask))
    new, opt, loss = _step_body(graphdef, tx)(lora, opt_state, tokens, mask, rest)
    return training.shard_params(new), training.shard_params(opt), loss

  one = jax.jit(constrained)(lora, opt_state, tokens, mask, rest)
  print(f"\nlayouts of the training step on {n} devices (B = {args.train_batch})")
  print(f"{'layout':<16} {'step s':>8} {'max |loss diff|':>16} {'max |update diff|':>18} "
        f"{'sharded leaves':>15}")  # fmt: skip
  for data, fsdp in ((n, 1), (n // 2, 2)):
    if data < 1 or args.train_batch % data:
      continue
    mesh = jax.make_mesh(
      (data, fsdp), ("data", "fsdp"), axis_types=(jax.sharding.AxisType.Auto,) * 2
    )
    placed = jax.tree.map(
      lambda x, mesh=mesh, fsdp=fsdp: jax.device_put(
        x, NamedSharding(mesh, training.param_spec(tuple(x.shape), fsdp))
      ),
      rest,
    )
    with jax.set_mesh(mesh):
      fn = jax.jit(constrained)
      out = fn(lora, opt_state, tokens, mask, placed)
      t = _time(lambda fn=fn, placed=placed: jax.block_until_ready(
        fn(lora, opt_state, tokens, mask, placed)[2]), args.repeats)  # fmt: skip
    diff = max(
      float(jnp.max(jnp.abs(a - b)))
      for a, b in zip(jax.tree.leaves(out[0]), jax.tree.leaves(one[0]), strict=True)
    )
    sharded = sum(not x.sharding.is_fully_replicated for x in jax.tree.leaves((out[0], out[1])))
    total = len(jax.tree.leaves((out[0], out[1])))
    print(f"data={data} fsdp={fsdp:<4} {t:8.3f} {abs(float(out[2]) - float(one[2])):16.2e} "
          f"{diff:18.2e} {sharded:>7}/{total}")  # fmt: skip


def bench_sampling(args) -> None:
  """Sampling, mixture sampling, scoring and the training step per batch size (scanned)."""
  model = _model(args, **_dtype_layout(args.dtype))
  graphdef, lora_state, rest = nnx.split(model, nnx.LoRAParam, ...)
  policy = _merged_policy(model)
  reference = models.Llama(dataclasses.replace(model.config, adapter=None), rngs=nnx.Rngs(2))
  g1, s1 = nnx.split(policy)
  g2, s2 = nnx.split(reference)
  tx = optax.adam(1e-4)
  step = _train_step(graphdef, rest, tx)
  opt_state = tx.init(lora_state)
  n_params = sum(x.size for x in jax.tree.leaves(nnx.split(policy)[1]))
  print(
    f"\nsampling: {n_params / 1e6:.1f}M parameters, {args.dtype}, prompt {args.prompt}, "
    f"{args.new_tokens} new tokens, median of {args.repeats}"
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
