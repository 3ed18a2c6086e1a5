"""Exact hypervolume and non-dominated sorting: jaxpref.pareto against moocore and pymoo.

  python benchmarks/pareto.py [--sizes 100,1000,10000] [--batch 256] [--repeats 5]

Same points for every library, float64. Fronts: ``n`` points near a spherical front in [0, 1]^m
(most mutually non-dominated, the hard case for hypervolume), reference point (1, ..., 1); for
sorting, uniform points (many fronts). A batch is ``--batch`` fronts of 100 points: jaxpref vmaps
one compiled call over the batch, the peers loop in Python. Times are medians over ``--repeats``
rounds after one warm-up, each round calling jaxpref and the peers in turn (jaxpref's one-off
compile is listed apart); the ratio is peer / jaxpref (> 1 means jaxpref is faster). pymoo's
``HV`` calls moocore's C code after normalising, so its column shows the wrapper's overhead;
pymoo's sorting is its own (``NonDominatedSorting``). A call whose warm-up takes more than
``--budget / 4`` seconds is timed once. At the largest size the ``host`` rows
time the host functions (``hypervolume_host``, ``front_ranks_host``, ``nondominated_mask_host``),
which call moocore when it is installed: the route for evaluating large fronts.

JAX's asynchronous CPU dispatch is turned off unless ``--async_dispatch``: each timed call blocks
until its result is ready, so there is nothing to overlap, and on the 2-core machine the dispatch
thread made some processes' batched timings twice as slow as others' (``benchmarks/README.md``).
"""

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from _timing import interleaved_medians  # noqa: E402
from _timing import median_seconds as _time  # noqa: E402

from jaxpref import pareto  # noqa: E402

_compiles = [0]  # XLA programs compiled so far (every jit and every eager op)
jax.monitoring.register_event_duration_secs_listener(
  lambda event, _, **kw: _compiles.__setitem__(
    0, _compiles[0] + (event == "/jax/core/compile/backend_compile_duration")
  )
)


def _front(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
  g = np.abs(rng.normal(size=(n, m)))
  return 1.0 - g / np.linalg.norm(g, axis=1, keepdims=True) * rng.uniform(0.7, 1.0, (n, 1))


def _compile_seconds(fn, *args) -> float:
  start = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - start


def _row(label: str, ours: float, compile_s: float, peers: dict[str, float | None]) -> str:
  cells = [f"{label:<26}", f"{ours * 1e3:10.3f}", f"{compile_s:8.2f}"]
  for t in peers.values():
    cells.append(f"{t * 1e3:10.3f} {t / ours:7.1f}x" if t is not None else f"{'-':>10} {'-':>8}")
  return " ".join(cells)


def main() -> None:
  """Runs the benchmark and prints one table per task."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="100,1000,10000")
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--budget", type=float, default=20.0)
  parser.add_argument(
    "--async_dispatch",
    action="store_true",
    help="keep JAX's asynchronous CPU dispatch (by default off: every timed call blocks anyway)",
  )
  args = parser.parse_args()
  jax.config.update("jax_cpu_enable_async_dispatch", args.async_dispatch)
  import moocore
  from pymoo.indicators.hv import HV
  from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

  sizes = [int(s) for s in args.sizes.split(",")]
  rng = np.random.default_rng(0)
  cpu = platform.processor() or platform.machine()
  dispatch = "asynchronous" if args.async_dispatch else "synchronous"
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {cpu}, {dispatch} dispatch")
  header = (
    f"{'task':<26} {'jaxpref ms':>10} {'compile':>8} {'moocore ms':>10} {'ratio':>8} "
    f"{'pymoo ms':>10} {'ratio':>8}"
  )
  hv_jit = jax.jit(lambda F, ref: pareto.hypervolume(F, ref_point=ref))
  ranks_jit = jax.jit(pareto.front_ranks)
  nd_jit = jax.jit(pareto.nondominated_mask)
  sorter = NonDominatedSorting()

  def compare(label, ours, peers, compile_s=0.0):
    """One row: jaxpref's ``ours`` and each peer timed in alternating rounds."""
    times = interleaved_medians({"jaxpref": ours, **peers}, args.repeats, budget=args.budget)
    print(_row(label, times.pop("jaxpref"), compile_s, times))

  print("\nExact hypervolume (reference 1, points near a spherical front)")
  print(header)
  for m in (2, 3):
    ref = np.ones(m)
    for n in sizes:
      F = _front(rng, n, m)
      Fj, refj = jnp.asarray(F), jnp.asarray(ref)
      compile_s = _compile_seconds(hv_jit, Fj, refj)
      got, want = float(hv_jit(Fj, refj)), moocore.hypervolume(F, ref=ref)
      assert abs(got - want) <= 1e-10 * max(1.0, abs(want)), (got, want)
      peers = {
        "moocore": lambda F=F, ref=ref: moocore.hypervolume(F, ref=ref),
        "pymoo": lambda F=F, ref=ref: HV(ref_point=ref)(F),
      }
      ours = lambda Fj=Fj, refj=refj: jax.block_until_ready(hv_jit(Fj, refj))  # noqa: E731
      compare(f"HV m={m} n={n}", ours, peers, compile_s)
      if n == max(sizes):  # host evaluation of a large front: hypervolume_host calls moocore
        assert pareto.hypervolume_host(F, ref_point=ref) == want
        compare(
          f"HV host m={m} n={n}", lambda F=F, r=ref: pareto.hypervolume_host(F, ref_point=r), peers
        )
    B = np.stack([_front(rng, 100, m) for _ in range(args.batch)])
    batched = jax.jit(
      jax.vmap(lambda F, ref: pareto.hypervolume(F, ref_point=ref), in_axes=(0, None))
    )
    Bj, refj = jnp.asarray(B), jnp.asarray(ref)
    compile_s = _compile_seconds(batched, Bj, refj)
    want = [moocore.hypervolume(f, ref=ref) for f in B]
    np.testing.assert_allclose(batched(Bj, refj), want, rtol=1e-10)
    peers = {
      "moocore": lambda B=B, ref=ref: [moocore.hypervolume(f, ref=ref) for f in B],
      "pymoo": lambda B=B, ref=ref: [HV(ref_point=ref)(f) for f in B],
    }
    ours = lambda Bj=Bj, r=refj, fn=batched: jax.block_until_ready(fn(Bj, r))  # noqa: E731
    compare(f"HV m={m} {args.batch} x 100", ours, peers, compile_s)

  print("\nA loop of eager calls over 50 fronts of 10-200 points (first loop: compiles included)")
  print(f"{'task':<26} {'jaxpref s':>10} {'programs':>8} {'warm s':>10} {'moocore s':>10}")
  for m in (2, 3):
    fronts = [_front(rng, int(n), m) for n in rng.integers(10, 201, 50)]
    ref = np.ones(m)
    before = _compiles[0]
    start = time.perf_counter()
    got = [float(pareto.hypervolume(F, ref_point=ref)) for F in fronts]
    first = time.perf_counter() - start
    programs = _compiles[0] - before
    warm = _time(lambda fs=fronts, r=ref: [pareto.hypervolume(F, ref_point=r) for F in fs], 1)
    want = [moocore.hypervolume(F, ref=ref) for F in fronts]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    theirs = _time(lambda fs=fronts, r=ref: [moocore.hypervolume(F, ref=r) for F in fs], 3)
    print(f"{f'HV loop m={m}':<26} {first:10.3f} {programs:8d} {warm:10.4f} {theirs:10.4f}")

  print("\nNon-dominated sorting (front rank of every point; uniform points)")
  print(header)
  for m in (2, 3):
    for n in sizes:
      F = rng.uniform(size=(n, m))
      Fj = jnp.asarray(F)
      compile_s = _compile_seconds(ranks_jit, Fj)
      ranks = np.asarray(ranks_jit(Fj))
      np.testing.assert_array_equal(ranks, moocore.pareto_rank(F))
      peers = {
        "moocore": lambda F=F: moocore.pareto_rank(F),
        "pymoo": lambda F=F: sorter.do(F),
      }
      ours = lambda Fj=Fj: jax.block_until_ready(ranks_jit(Fj))  # noqa: E731
      compare(f"ranks m={m} n={n} ({ranks.max() + 1} fronts)", ours, peers, compile_s)
      if n == max(sizes):  # host evaluation: front_ranks_host calls moocore
        np.testing.assert_array_equal(pareto.front_ranks_host(F), ranks)
        compare(f"ranks host m={m} n={n}", lambda F=F: pareto.front_ranks_host(F), peers)
      compile_s = _compile_seconds(nd_jit, Fj)
      np.testing.assert_array_equal(nd_jit(Fj), ranks == 0)
      peers = {
        "moocore": lambda F=F: moocore.is_nondominated(F, keep_weakly=True),
        "pymoo": lambda F=F: sorter.do(F, only_non_dominated_front=True),
      }
      ours = lambda Fj=Fj: jax.block_until_ready(nd_jit(Fj))  # noqa: E731
      compare(f"front 0 m={m} n={n}", ours, peers, compile_s)
      if n == max(sizes):
        np.testing.assert_array_equal(pareto.nondominated_mask_host(F), ranks == 0)
        compare(f"front 0 host m={m} n={n}", lambda F=F: pareto.nondominated_mask_host(F), peers)
    B = rng.uniform(size=(args.batch, 100, m))
    batched = jax.jit(jax.vmap(pareto.front_ranks))
    Bj = jnp.asarray(B)
    compile_s = _compile_seconds(batched, Bj)
    np.testing.assert_array_equal(batched(Bj), [moocore.pareto_rank(f) for f in B])
    peers = {
      "moocore": lambda B=B: [moocore.pareto_rank(f) for f in B],
      "pymoo": lambda B=B: [sorter.do(f) for f in B],
    }
    ours = lambda Bj=Bj, fn=batched: jax.block_until_ready(fn(Bj))  # noqa: E731
    compare(f"ranks m={m} {args.batch} x 100", ours, peers, compile_s)


if __name__ == "__main__":
  main()
