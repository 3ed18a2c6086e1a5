"""Exact Kemeny by integer programming: brute force, single-peaked profiles, the spec's vectors."""

import itertools

import numpy as np
import pytest

from jaxpref import social

SEVENTEEN = social.Profile.from_rankings(
  [[3, 1, 2, 0], [0, 1, 3, 2], [0, 2, 3, 1], [2, 3, 1, 0], [1, 3, 2, 0]], [2, 3, 5, 4, 3]
)
CYCLE = social.Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], [3, 2, 2])


def _counts(profile: social.Profile) -> np.ndarray:
  """N[a, b] with ties counted 1/2 each way, computed independently of the library."""
  r, n = profile.ranks, profile.counts
  above = np.einsum("r,rab->ab", n, (r[:, :, None] < r[:, None, :]).astype(float))
  tied = np.einsum("r,rab->ab", n, (r[:, :, None] == r[:, None, :]).astype(float))
  N = above + tied / 2
  np.fill_diagonal(N, 0)
  return N


def _brute_force(N: np.ndarray) -> tuple[float, list[tuple[int, ...]]]:
  """The minimal disagreements and every ranking attaining them (all m! rankings)."""
  m = len(N)
  perms = np.array(list(itertools.permutations(range(m))))  # [m!, m] best first
  pos = np.argsort(perms, axis=1)  # [m!, m] position of each candidate
  above = pos[:, :, None] < pos[:, None, :]  # [m!, a, b]: a above b
  dist = np.einsum("kab,ba->k", above, N)  # [m!]
  best = dist.min()
  return float(best), [tuple(p) for p in perms[dist <= best + 1e-9].tolist()]


def _disagreements(N: np.ndarray, ranking) -> float:
  return float(sum(N[b, a] for i, a in enumerate(ranking) for b in ranking[i + 1 :]))


def _random_profiles(seed: int, count: int, ties: bool = False):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(count):
    m = int(rng.integers(3, 8))
    R = int(rng.integers(2, 8))
    if ties:
      ranks = rng.integers(0, m // 2 + 1, size=(R, m))
      out.append(social.Profile.from_ranks(ranks, rng.integers(1, 4, size=R)))
    else:
      rankings = np.argsort(rng.random((R, m)), axis=1)
      out.append(social.Profile.from_rankings(rankings, rng.integers(1, 4, size=R)))
  return out


def test_spec_vectors():
  r = social.kemeny_ilp(SEVENTEEN)
  assert r.ranking == [2, 3, 1, 0] and r.disagreements == 46 and r.optimal
  assert r.lower_bound == 46 and r.rounds >= 1
  assert _brute_force(_counts(SEVENTEEN)) == (46.0, [(2, 3, 1, 0)])  # unique
  r = social.kemeny_ilp(CYCLE)
  assert r.ranking == [0, 1, 2] and r.disagreements == 8 and r.optimal
  assert social.kemeny_winners(SEVENTEEN) == social.kemeny_young(SEVENTEEN) == [2]
  assert social.kemeny_winners(CYCLE) == social.kemeny_young(CYCLE) == [0]


@pytest.mark.parametrize("ties", [False, True])
def test_equals_brute_force(ties):
  profiles = _random_profiles(3 + ties, 12, ties)
  profiles.append(social.Profile.from_rankings(np.argsort(np.random.default_rng(5).random((6, 8)))))
  several = 0
  for p in profiles:
    N = _counts(p)
    best, argmins = _brute_force(N)
    r = social.kemeny_ilp(p)
    assert r.optimal and r.lower_bound == pytest.approx(best)
    assert r.disagreements == pytest.approx(best) == _disagreements(N, r.ranking)
    assert tuple(r.ranking) in argmins
    if len(argmins) == 1:
      assert tuple(r.ranking) == argmins[0]
    # Winners = first places of all optimal rankings, as the enumeration rule says.
    winners = social.kemeny_winners(p)
    assert winners == sorted({a[0] for a in argmins}) == social.kemeny_young(p)
    several += len(winners) > 1
    # The same program from the plain count matrix and with ties adding nothing (constant shift).
    assert social.kemeny_ilp(N).disagreements == pytest.approx(best)
    strict = social.kemeny_ilp(p.support())
    assert strict.disagreements == pytest.approx(_disagreements(p.support(), strict.ranking))
    assert _disagreements(N, strict.ranking) == pytest.approx(best)
  assert several >= 2  # tied winners are exercised


def test_ties_count_half():
  # 0 ~ 1 > 2 (2 voters), 1 ~ 2 > 0 (1 voter), 0 > 1 ~ 2 (2 voters): a tie adds 1/2 each way.
  p = social.Profile.from_ranks([[0, 0, 1], [1, 0, 0], [0, 1, 1]], [2, 1, 2])
  N = _counts(p)
  np.testing.assert_allclose(N, [[0, 3, 4], [2, 0, 3.5], [1, 1.5, 0]])
  r = social.kemeny_ilp(p)
  assert r.ranking == [0, 1, 2] and r.disagreements == 4.5 and r.optimal
  assert _brute_force(N) == (4.5, [(0, 1, 2)])
  # Ties adding nothing shift every ranking by the same constant (2 + 1 + 2 tied voter-pairs / 2).
  strict = social.kemeny_ilp(p.support())
  assert strict.ranking == [0, 1, 2] and strict.disagreements == 4.5 - 2.5


def _single_peaked(rng, m: int, voters: int) -> np.ndarray:
  """Rankings single-peaked on the axis 0 < 1 < ... < m-1: grow left or right from a peak."""
  out = []
  for _ in range(voters):
    lo = hi = int(rng.integers(m))
    row = [lo]
    while len(row) < m:
      if hi == m - 1 or (lo > 0 and rng.random() < 0.5):
        lo -= 1
        row.append(lo)
      else:
        hi += 1
        row.append(hi)
    out.append(row)
  return np.array(out)


def test_single_peaked_gives_the_majority_order():
  rng = np.random.default_rng(0)
  for _ in range(3):
    p = social.Profile.from_rankings(_single_peaked(rng, 20, 51))
    M = p.margin_matrix()
    wins = (M > 0).sum(1)
    assert sorted(wins.tolist()) == list(range(20))  # transitive majority (odd electorate)
    majority = np.argsort(-wins).tolist()
    r = social.kemeny_ilp(p)
    assert r.ranking == majority and r.optimal
    assert social.kemeny_winners(p) == [majority[0]]


def test_condorcet_winner_at_m_30_and_small_m():
  rng = np.random.default_rng(1)
  centre = rng.permutation(30)
  rows = []
  for _ in range(15):  # noisy copies of one centre ranking
    row = centre.copy()
    for i in rng.integers(0, 29, size=20):
      row[[i, i + 1]] = row[[i + 1, i]]
    rows.append(row)
  p = social.Profile.from_rankings(rows)
  r = social.kemeny_ilp(p)
  assert r.optimal and r.ranking[0] == social.condorcet_winner(p)
  assert social.kemeny_winners(p) == [r.ranking[0]]
  assert social.kemeny_ilp([[0.0]]) == social.KemenyResult([0], 0.0, True, 0, 0, 0.0)
  assert social.kemeny_ilp([[0, 1], [3, 0]]).ranking == [1, 0]


def test_time_limit_is_reported():
  rng = np.random.default_rng(2)
  p = social.Profile.from_rankings(np.argsort(rng.random((51, 60)), axis=1))
  r = social.kemeny_ilp(p, time_limit=1e-3)
  assert not r.optimal
  assert sorted(r.ranking) == list(range(60))
  assert r.lower_bound <= r.disagreements == _disagreements(_counts(p), r.ranking)
  assert r.lower_bound > 0


def test_bad_inputs():
  with pytest.raises(ValueError, match="square"):
    social.kemeny_ilp(np.zeros((2, 3)))
  with pytest.raises(ValueError, match="m >= 1"):
    social.kemeny_ilp(np.zeros((0, 0)))
  with pytest.raises(ValueError, match="non-negative"):
    social.kemeny_ilp([[0, -1], [1, 0]])
  with pytest.raises(ValueError, match="finite"):
    social.kemeny_ilp([[0, np.nan], [1, 0]])
  with pytest.raises(ValueError, match="time_limit"):
    social.kemeny_ilp(CYCLE, time_limit=0)
  with pytest.raises(ValueError, match="max_rounds"):
    social.kemeny_ilp(CYCLE, max_rounds=0)
  with pytest.raises(ValueError, match="kemeny_ilp"):
    social.kemeny_young(social.Profile.from_rankings([list(range(9))]))


def test_leaderboard():
  tasks = [
    ["gpt", "llama", "qwen", "phi"],
    ["llama", "gpt", "phi", "qwen"],
    ["gpt", "qwen", "llama", "phi"],
  ]
  r = social.kemeny_leaderboard(tasks)
  assert r.ranking == ["gpt", "llama", "qwen", "phi"] and r.optimal
  assert r.disagreements == 3.0  # the minority of gpt/llama, llama/qwen, qwen/phi
  # Weights: task 1 three times as heavy flips gpt/llama and qwen/phi.
  r = social.kemeny_leaderboard(tasks, weights=[1, 3, 1])
  assert r.ranking == ["llama", "gpt", "phi", "qwen"] and r.disagreements == 5.0
  # Missing systems: ignored (the task abstains on their pairs) vs tied at the bottom (top-k).
  partial = [["a", "b"], ["a", "b"], ["c", "b", "a"]]
  r = social.kemeny_leaderboard(partial)
  assert r.ranking == ["c", "a", "b"] and r.disagreements == 1.0
  r = social.kemeny_leaderboard(partial, missing="bottom")
  assert r.ranking == ["a", "b", "c"] and r.disagreements == 3.0
  # Ties inside a task count 1/2; int labels; items fixes the set.
  r = social.kemeny_leaderboard([[0, (1, 2)], [(0, 2), 1]], items=[0, 1, 2])
  assert r.ranking == [0, 2, 1] and r.disagreements == 1.0
  # Rows of an int array are best-first rankings: the same program as a profile's.
  rows = np.argsort(np.random.default_rng(0).random((9, 6)), axis=1)
  ours = social.kemeny_leaderboard(rows)
  assert ours.disagreements == social.kemeny_ilp(social.Profile.from_rankings(rows)).disagreements


def test_leaderboard_bad_inputs():
  with pytest.raises(ValueError, match="at least one"):
    social.kemeny_leaderboard([])
  with pytest.raises(ValueError, match="more than once"):
    social.kemeny_leaderboard([["a", "b", "a"]])
  with pytest.raises(ValueError, match="not in items"):
    social.kemeny_leaderboard([["a", "b"]], items=["a"])
  with pytest.raises(ValueError, match="weights"):
    social.kemeny_leaderboard([["a", "b"]], weights=[-1])
  with pytest.raises(ValueError, match="missing"):
    social.kemeny_leaderboard([["a", "b"]], missing="last")
  with pytest.raises(ValueError, match="never ranked"):
    social.kemeny_leaderboard([["a", "b"], ["c"]])


@pytest.mark.slow
def test_larger_programs_are_certified():
  """Uniform random (hard) profiles, m = 40 and 50: optimal, no improving single move."""
  rng = np.random.default_rng(7)
  for m in (40, 50):
    p = social.Profile.from_rankings(np.argsort(rng.random((51, m)), axis=1))
    N = _counts(p)
    r = social.kemeny_ilp(p)
    assert r.optimal and r.lower_bound == r.disagreements == _disagreements(N, r.ranking)
    for i in range(m):  # moving any one candidate anywhere else never helps
      rest = r.ranking[:i] + r.ranking[i + 1 :]
      for j in range(m):
        moved = [*rest[:j], r.ranking[i], *rest[j:]]
        assert _disagreements(N, moved) >= r.disagreements
