"""Margins and voting rules for many profiles at once: jaxpref.social against pref_voting.

  python benchmarks/social_choice.py [--profiles 10000] [--voters 101] [--repeats 3]

Impartial-culture profiles (random linear orders) of ``--voters`` voters over m = 4, 6, 10
candidates, the same profiles for both libraries. jaxpref computes the margin matrices and Borda
scores of all profiles in one compiled call (``social.margins``, ``social.scoring_scores``); its
combinatorial rules (Copeland, beat path, ranked pairs) run per profile on the host from those
margins, and the margin-based rules also batched (``social.winner_masks``: one compiled call for
all profiles; pref_voting's time on the first ``--rule_profiles`` profiles is scaled to all of
them). pref_voting builds a ``Profile`` per election and answers each rule per profile.
Medians over ``--repeats`` after a warm-up (jaxpref's compile listed apart); ratio = pref_voting /
jaxpref. Results are checked for equality on every profile.
"""

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from _timing import median_seconds as _time  # noqa: E402

from jaxpref import social  # noqa: E402


def _row(task: str, ours: float, compile_s: str, theirs: float) -> None:
  print(f"{task:<28} {ours:10.4f} {compile_s:>10} {theirs:14.3f} {theirs / ours:7.1f}x")


def main() -> None:
  """Prints one table row per (task, m)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--profiles", type=int, default=10_000)
  parser.add_argument("--voters", type=int, default=101)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--rule_profiles", type=int, default=1000)
  parser.add_argument("--tied_budget", type=float, default=5.0)
  args = parser.parse_args()
  from pref_voting import c1_methods, margin_based_methods, scoring_methods
  from pref_voting.profiles import Profile

  cpu = platform.processor() or platform.machine()
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {cpu}")
  print(
    f"{args.profiles} profiles x {args.voters} voters (rules on the first {args.rule_profiles})"
  )
  print(f"{'task':<28} {'jaxpref s':>10} {'compile s':>10} {'pref_voting s':>14} {'ratio':>8}")
  rng = np.random.default_rng(0)
  for m in (4, 6, 10):
    rankings = np.argsort(rng.random((args.profiles, args.voters, m)), axis=-1)
    ranks = np.argsort(rankings, axis=-1)
    counts = np.ones((args.profiles, args.voters))
    R, C = jnp.asarray(ranks), jnp.asarray(counts)
    borda_w = jnp.asarray(m - 1 - np.arange(m), jnp.float64)
    margins = jax.jit(social.margins)
    scores = jax.jit(social.scoring_scores)
    start = time.perf_counter()
    jax.block_until_ready(margins(R, C))
    jax.block_until_ready(scores(R, C, borda_w))
    compile_s = time.perf_counter() - start
    ours_m = _time(lambda R=R, C=C, f=margins: jax.block_until_ready(f(R, C)), args.repeats)
    ours_b = _time(
      lambda R=R, C=C, f=scores, w=borda_w: jax.block_until_ready(f(R, C, w)), args.repeats
    )
    profiles = [Profile(rankings[k].tolist()) for k in range(args.profiles)]
    M = np.asarray(margins(R, C))
    B = np.asarray(scores(R, C, borda_w))
    for k in range(0, args.profiles, max(1, args.profiles // 50)):
      theirs = np.array([[profiles[k].margin(a, b) for b in range(m)] for a in range(m)])
      assert np.array_equal(theirs, M[k]), k
      bs = profiles[k].borda_scores()
      assert np.allclose([bs[c] for c in range(m)], B[k]), k

    def pv_margins(rankings=rankings, m=m):  # Profile() computes and caches the margins
      out = []
      for r in rankings:
        p = Profile(r.tolist())
        out.append([[p.margin(a, b) for b in range(m)] for a in range(m)])
      return out

    start = time.perf_counter()
    pv_margins()
    theirs_m = time.perf_counter() - start
    theirs_b = _time(lambda profiles=profiles: [p.borda_scores() for p in profiles], 1)
    _row(f"margins m={m}", ours_m, f"{compile_s:10.2f}", theirs_m)
    _row(f"borda scores m={m}", ours_b, "", theirs_b)
    n = args.rule_profiles
    for name, ours_fn, theirs_fn in (
      ("copeland", social.copeland, c1_methods.copeland),
      ("beat_path", social.beat_path, margin_based_methods.beat_path),
      ("borda winners", social.borda, scoring_methods.borda),
    ):
      ours_profiles = [social.Profile.from_ranks(ranks[k], counts[k]) for k in range(n)]
      ours = _time(lambda fn=ours_fn, ps=ours_profiles: [fn(p) for p in ps], 1)
      theirs = _time(lambda fn=theirs_fn, ps=profiles[:n]: [fn(p) for p in ps], 1)
      for k in range(0, n, max(1, n // 50)):
        assert ours_fn(ours_profiles[k]) == theirs_fn(profiles[k]), (name, k)
      _row(f"{name} m={m} ({n})", ours, "", theirs)
    _batched_rules(M, profiles, m, n, args.repeats)
  _ranked_pairs_with_ties(args.tied_budget)


def _batched_rules(M: np.ndarray, profiles: list, m: int, n: int, repeats: int) -> None:
  """Winner masks of every profile in one compiled call against pref_voting per profile.

  pref_voting answers the first ``n`` profiles and its time is scaled to all of them (printed as
  such); answers are checked equal on every profile it answered.
  """
  from pref_voting import c1_methods, margin_based_methods

  peers = {
    "copeland": c1_methods.copeland,
    "llull": c1_methods.llull,
    "minimax": margin_based_methods.minimax,
    "beat_path": margin_based_methods.beat_path,
    "split_cycle": margin_based_methods.split_cycle,
    "top_cycle": c1_methods.top_cycle,
    "uncovered_set": c1_methods.uc_gill,
  }
  Mj = jnp.asarray(M)
  for rule, peer in peers.items():
    start = time.perf_counter()
    jax.block_until_ready(social.winner_masks(Mj, rule))
    compile_s = time.perf_counter() - start
    ours = _time(lambda r=rule: jax.block_until_ready(social.winner_masks(Mj, r)), repeats)
    masks = np.asarray(social.winner_masks(Mj, rule))
    start = time.perf_counter()
    answers = [peer(p) for p in profiles[:n]]
    theirs = (time.perf_counter() - start) * len(profiles) / n
    for k, answer in enumerate(answers):
      assert np.flatnonzero(masks[k]).tolist() == sorted(answer), (rule, k)
    _row(f"{rule} batched m={m}", ours, f"{compile_s:10.2f}", theirs)


def _ranked_pairs_with_ties(budget: float) -> None:
  """Ranked pairs over every tie-breaking on 200 profiles with many equal margins (2-6 voters).

  pref_voting enumerates the tie-breaking orders; each of its calls gets ``budget`` seconds
  (SIGALRM) and the answers it finishes are checked equal to jaxpref's.
  """
  import signal

  from pref_voting import margin_based_methods
  from pref_voting.profiles import Profile

  rng = np.random.default_rng(1)
  profiles = []
  for _ in range(200):
    m, v = int(rng.integers(3, 9)), int(rng.integers(2, 7))
    profiles.append(np.array([rng.permutation(m) for _ in range(v)]))
  start = time.perf_counter()
  ours = [social.ranked_pairs(social.Profile.from_rankings(r)) for r in profiles]
  ours_s = time.perf_counter() - start

  def alarm(*_):
    raise TimeoutError

  signal.signal(signal.SIGALRM, alarm)
  finished, theirs_s = 0, 0.0
  for r, want in zip(profiles, ours, strict=True):
    signal.setitimer(signal.ITIMER_REAL, budget)
    start = time.perf_counter()
    try:
      got = margin_based_methods.ranked_pairs(Profile(r.tolist()))
    except TimeoutError:
      continue
    finally:
      signal.setitimer(signal.ITIMER_REAL, 0)
      theirs_s += time.perf_counter() - start
    assert sorted(got) == want, (r, got, want)
    finished += 1
  print(
    f"ranked pairs, every tie-breaking, 200 profiles (m 3-8, 2-6 voters): jaxpref {ours_s:.2f} s; "
    f"pref_voting {theirs_s:.1f} s and finished {finished}/200 within {budget:g} s each (all "
    "finished answers equal)"
  )


if __name__ == "__main__":
  main()
