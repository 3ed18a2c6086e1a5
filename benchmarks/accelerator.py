"""Every accelerator target in one run: one table, the machine named.

  python benchmarks/accelerator.py [--smoke] [--out results.json] [--only solve,hbm,...]

Sections (``../shared/docs/performance.md`` §8-9 give the GPU targets; the table repeats them):

* ``solve``: ``equilibria.solve`` (default solver, float32, tol 1e-4) on uniform random games,
  games/s per n, every answer's duality gap rechecked in float64 on the host;
* ``hbm``: the solver's batched mat-vec (``einsum('bij,bj->bi')``, fp32) in GB/s of A read and as
  a fraction of the device's measured read ceiling where one is known;
* ``sweep``: a 64-point ``policy_objectives`` sweep (4 learning rates x 16 seeds, online IPO) as
  one vmapped ``run_sweep`` against a Python loop over the same points (compiled once);
* ``pareto``: batched hypervolume (256 fronts x 100 points, m = 2, 3) and front ranks on the
  device against moocore looping on the host (skipped without moocore), answers checked;
* ``lm``: a SmolLM2-135M-shaped decoder (random init): tokens/s of ``models.generate`` at
  B = 1 / 64 / 256, the one-pass geometric mixture's cost over plain sampling, and the LoRA
  online-DPO training step (sequences/s).

``--smoke`` runs every section at small sizes (a tiny decoder, small batches) so that the script
is exercised on a CPU in a couple of minutes; its figures are not performance claims. A section
that fails prints its error in the table and the others still run. ``--out`` writes the rows as
JSON.
"""

import argparse
import dataclasses
import functools
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from _timing import median_seconds

# Measured read ceilings (bytes/s) of the batched mat-vec's A, by device kind (performance.md §8).
READ_CEILING = {"NVIDIA H100 80GB HBM3": 3.117e12}
TARGETS = {  # §8-9 targets on an H100, as printed in the table's last column
  ("solve", 10): ">= 1e6 games/s",
  ("solve", 50): ">= 1e5 games/s",
  ("solve", 200): ">= 9e3 games/s",
  ("solve", 1000): ">= 350 games/s",
  ("hbm", 50): ">= 80% of read",
  ("hbm", 200): ">= 90% of read",
  ("hbm", 1000): ">= 90% of read",
  ("lm", 1): ">= 746 tokens/s (20x HF)",
  ("lm", 64): ">= 38,420 tokens/s (20x HF)",
  ("lm", 256): ">= 41,975 tokens/s (5x HF)",
  ("mixture", 0): "<= 1.3x plain",
}


@dataclasses.dataclass
class Row:
  """One line of the table."""

  section: str
  task: str
  value: float | None
  unit: str
  note: str = ""
  target: str = ""


def _sizes(smoke: bool) -> dict:
  if smoke:
    return {
      "solve": [(10, 64), (50, 16)],
      "hbm": [(50, 64), (200, 8)],
      "sweep": {"learning_rates": "1e-3,1e-2", "po_seeds": 2, "queries": 640},
      "pareto": (16, 50),
      "lm": {"batches": (1, 4), "new_tokens": 8, "prompt": 8, "tiny": True},
    }
  return {
    "solve": [(10, 65536), (50, 8192), (200, 1024), (1000, 32)],
    "hbm": [(50, 65536), (200, 8192), (1000, 256)],
    "sweep": {"learning_rates": "1e-3,3e-3,1e-2,3e-2", "po_seeds": 16, "queries": 6400},
    "pareto": (256, 100),
    "lm": {"batches": (1, 64, 256), "new_tokens": 128, "prompt": 64, "tiny": False},
  }


def bench_solve(sizes) -> list[Row]:
  """games/s of ``solve`` at gap <= 1e-4, every answer rechecked in float64."""
  from solvers import TOL, bench_jaxpref, gap64

  from jaxpref.games import uniform_random_game

  rows = []
  for n, batch in sizes:
    P32 = uniform_random_game(jax.random.key(n), n, (batch,)).astype(jnp.float32)
    p64 = np.asarray(P32, np.float64)
    p64 = (p64 + 1.0 - np.swapaxes(p64, -1, -2)) / 2
    out = bench_jaxpref(P32, repeats=2)
    gap = float(gap64(p64, out["policy"]).max())
    ok = out["converged"] and gap <= TOL
    note = (
      f"batch {batch}, max gap {gap:.1e}{'' if ok else ' FAILED'}, compile {out['compile']:.1f} s"
    )
    rows.append(
      Row("solve", f"n={n}", batch / out["seconds"], "games/s", note, TARGETS.get(("solve", n), ""))
    )
  return rows


def bench_hbm(sizes, kind: str) -> list[Row]:
  """GB/s of A read by the batched mat-vec, and the fraction of the device's read ceiling."""
  rows = []
  matvec = jax.jit(lambda A, x: jnp.einsum("bij,bj->bi", A, x, precision=jax.lax.Precision.HIGHEST))
  for n, batch in sizes:
    A = jax.random.uniform(jax.random.key(0), (batch, n, n), jnp.float32)
    x = jax.random.uniform(jax.random.key(1), (batch, n), jnp.float32)
    jax.block_until_ready(matvec(A, x))
    seconds = median_seconds(lambda A=A, x=x: jax.block_until_ready(matvec(A, x)), 5)
    rate = A.size * 4 / seconds
    ceiling = READ_CEILING.get(kind)
    note = f"batch {batch}" + (
      f", {rate / ceiling:.0%} of {ceiling / 1e9:,.0f} GB/s" if ceiling else ""
    )
    rows.append(Row("hbm", f"mat-vec n={n}", rate / 1e9, "GB/s", note, TARGETS.get(("hbm", n), "")))
  return rows


def bench_sweep(spec) -> list[Row]:
  """A policy_objectives sweep vmapped in one program against a Python loop over its points."""
  import sweep

  args = argparse.Namespace(loss="online_ipo", **spec)
  config = sweep.po_config(args)
  t_vmap, _, final_v = sweep.po_run_vmapped(config)
  t_loop, _, final_l = sweep.po_run_loop(config)
  points = len(spec["learning_rates"].split(",")) * int(spec["po_seeds"])
  diff = max(float(np.max(np.abs(final_v[k] - final_l[k]))) for k in final_v)
  return [
    Row("sweep", f"{points}-point sweep, vmapped", t_vmap, "s", "compile included"),
    Row("sweep", f"{points}-point sweep, Python loop", t_loop, "s", "compiled once"),
    Row("sweep", "loop / vmapped", t_loop / t_vmap, "x", f"max metric difference {diff:.1e}"),
  ]


def _moocore_hv(F, ref):
  import moocore

  return [moocore.hypervolume(f, ref=ref) for f in F]


def _moocore_ranks(F):
  import moocore

  return [moocore.pareto_rank(f) for f in F]


def bench_pareto(spec) -> list[Row]:
  """Batched hypervolume and front ranks on the device against moocore on the host."""
  from jaxpref import pareto

  try:
    import moocore
  except ImportError:
    moocore = None
  batch, n = spec
  rng = np.random.default_rng(0)
  rows = []
  for m in (2, 3):
    g = np.abs(rng.normal(size=(batch, n, m)))
    F = 1.0 - g / np.linalg.norm(g, axis=-1, keepdims=True) * rng.uniform(0.7, 1.0, (batch, n, 1))
    ref = np.ones(m)
    hv = jax.jit(jax.vmap(lambda f, r: pareto.hypervolume(f, ref_point=r), in_axes=(0, None)))
    ranks = jax.jit(jax.vmap(pareto.front_ranks))
    Fd, refd = jnp.asarray(F, jnp.float32), jnp.asarray(ref, jnp.float32)
    tasks = (
      ("hypervolume", functools.partial(hv, Fd, refd), functools.partial(_moocore_hv, F, ref)),
      ("front ranks", functools.partial(ranks, Fd), functools.partial(_moocore_ranks, F)),
    )
    for name, fn, peer in tasks:
      ours = median_seconds(lambda fn=fn: jax.block_until_ready(fn()), 3)
      note = f"{batch} x {n}"
      if moocore is not None:
        theirs = median_seconds(peer, 3)
        got, want = np.asarray(fn()), np.asarray(peer())
        ok = np.allclose(got, want, rtol=1e-4) if name == "hypervolume" else np.all(got == want)
        note += f", moocore {theirs * 1e3:.1f} ms ({theirs / ours:.1f}x), "
        note += "equal" if ok else "DIFFER"
      rows.append(Row("pareto", f"{name} m={m}", ours * 1e3, "ms", note))
  return rows


def bench_lm(spec) -> list[Row]:
  """Sampling tokens/s, the one-pass mixture's cost ratio and the LoRA training step."""
  import optax
  from flax import nnx
  from lm import _train_step

  from jaxpref import models

  P, N = int(spec["prompt"]), int(spec["new_tokens"])
  sizes = dict(adapter="lora", adapter_rank=8, max_len=P + N + 8)
  if spec["tiny"]:
    sizes.update(vocab_size=512, dim=64, num_layers=2, num_heads=4, num_kv_heads=2, hidden_dim=128)
  model = models.Llama(models.LlamaConfig(**sizes), rngs=nnx.Rngs(0))
  vocab = model.config.vocab_size
  graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)
  tx = optax.adam(1e-4)
  step, opt_state = _train_step(graphdef, rest, tx), tx.init(lora)
  rows = []
  for B in spec["batches"]:
    rng = np.random.default_rng(B)
    prompts = [list(rng.integers(0, vocab, P)) for _ in range(B)]
    kw = dict(max_new_tokens=N, eos_id=-1, temperature=1.0, buckets=(P,))
    key, gs = jax.random.key(0), (graphdef, lora, rest)

    def sample(mixture=None, prompts=prompts, kw=kw, key=key, gs=gs):
      extra = {} if mixture is None else {"mixture": mixture}
      return jax.block_until_ready(models.generate(gs, prompts, key, **extra, **kw).tokens)

    plain = median_seconds(sample, 3)
    mixed = median_seconds(functools.partial(sample, 0.5), 3)
    target = TARGETS.get(("lm", B), "") if not spec["tiny"] else ""
    rows.append(Row("lm", f"generate B={B}", B * N / plain, "tokens/s", f"{N} new tokens", target))
    rows.append(
      Row("lm", f"mixture / plain B={B}", mixed / plain, "x", "one pass", TARGETS[("mixture", 0)])
    )
    if B % 2 == 0:
      tokens = jnp.asarray(rng.integers(0, vocab, (B, P + N)), jnp.int32)
      mask = jnp.broadcast_to(jnp.arange(P + N) >= P, tokens.shape)
      train = functools.partial(step, lora, opt_state, tokens, mask)
      t = median_seconds(lambda train=train: jax.block_until_ready(train()[2]), 3)
      rows.append(Row("lm", f"LoRA train step B={B}", B / t, "seq/s", f"{P + N} tokens each"))
  return rows


def _run(name: str, fn: Callable[[], list[Row]]) -> list[Row]:
  start = time.perf_counter()
  try:
    rows = fn()
  except Exception as e:  # a failed section is reported, the others still run
    traceback.print_exc()
    return [Row(name, "FAILED", None, "", f"{type(e).__name__}: {e}"[:120])]
  print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
  return rows


def main() -> None:
  """Runs the sections and prints one table."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--smoke", action="store_true", help="small sizes (CPU check)")
  parser.add_argument("--out", default="", help="write the rows as JSON here")
  parser.add_argument("--only", default="solve,hbm,sweep,pareto,lm")
  args = parser.parse_args()
  dev = jax.devices()[0]
  kind = dev.device_kind
  sizes = _sizes(args.smoke)
  sections = {
    "solve": lambda: bench_solve(sizes["solve"]),
    "hbm": lambda: bench_hbm(sizes["hbm"], kind),
    "sweep": lambda: bench_sweep(sizes["sweep"]),
    "pareto": lambda: bench_pareto(sizes["pareto"]),
    "lm": lambda: bench_lm(sizes["lm"]),
  }
  start = time.perf_counter()
  rows = []
  for name in args.only.split(","):
    rows += _run(name, sections[name])
  cpu = platform.processor() or platform.machine()
  mode = "smoke (small sizes, not performance figures)" if args.smoke else "full"
  print(f"\njax {jax.__version__} on {dev.platform} ({kind}), host {cpu}; {mode}")
  print(f"total {time.perf_counter() - start:.0f} s")
  print("| section | task | value | unit | target (H100) | note |\n|---|---|---|---|---|---|")
  for r in rows:
    value = "-" if r.value is None else f"{r.value:,.4g}"
    print(f"| {r.section} | {r.task} | {value} | {r.unit} | {r.target} | {r.note} |")
  if args.out:
    with open(args.out, "w") as f:
      json.dump(
        {
          "device": kind,
          "platform": dev.platform,
          "smoke": args.smoke,
          "rows": [dataclasses.asdict(r) for r in rows],
        },
        f,
        indent=1,
      )
  if any(r.task == "FAILED" for r in rows):
    sys.exit(1)


if __name__ == "__main__":
  main()
