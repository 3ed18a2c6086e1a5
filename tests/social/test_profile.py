import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import social


def test_from_rankings_stores_ranks():
  p = social.Profile.from_rankings([[2, 0, 1], [0, 1, 2]], [1, 3])
  # Candidate 2 is first on ballot 0: ranks are the inverse permutation of the ranking.
  np.testing.assert_array_equal(p.ranks, [[1, 2, 0], [0, 1, 2]])
  np.testing.assert_array_equal(p.rankings(), [[2, 0, 1], [0, 1, 2]])
  assert p.counts.dtype == np.float64 and p.num_voters == 4.0 and p.num_candidates == 3
  assert p.is_linear
  np.testing.assert_array_equal(social.Profile.from_rankings([[1, 0]]).counts, [1.0])
  np.testing.assert_array_equal(p.support(), [[0, 4, 3], [0, 0, 3], [1, 1, 0]])
  np.testing.assert_array_equal(p.margin_matrix(), [[0, 4, 2], [-4, 0, 2], [-2, -2, 0]])


@pytest.mark.parametrize(
  ("rankings", "match"),
  [
    ([[0, 1, 1]], r"ranking 0 = \[0, 1, 1\] is not a permutation of 0..2"),
    ([[0, 1, 2], [0, 1, 3]], r"ranking 1 = \[0, 1, 3\] is not a permutation"),
    ([[0, -1, 2]], "not a permutation"),
    (np.zeros((0, 3), int), "non-empty"),
    ([0, 1, 2], "non-empty"),
    ([[0]], r"m >= 2 candidates"),
  ],
)
def test_from_rankings_rejects_non_permutations(rankings, match):
  with pytest.raises(ValueError, match=match):
    social.Profile.from_rankings(rankings)


@pytest.mark.parametrize(
  ("counts", "match"),
  [
    ([1, -1], "non-negative; ballot 1 has count -1"),
    ([1, 2, 3], r"one entry per ballot \(2\)"),
    ([1, np.nan], "finite"),
    ([np.inf, 1], "finite"),
    ([0, 0], "empty"),
  ],
)
def test_bad_counts(counts, match):
  with pytest.raises(ValueError, match=match):
    social.Profile.from_rankings([[0, 1, 2], [2, 1, 0]], counts)


def test_bad_ranks():
  with pytest.raises(ValueError, match="integers"):
    social.Profile.from_ranks([[0, 0.5]])
  with pytest.raises(ValueError, match="ballot 1 gives candidate 0 rank -1"):
    social.Profile.from_ranks([[0, 1], [-1, 0]])
  # Whole floats are integers.
  assert social.Profile.from_ranks([[1.0, 0.0]]).ranks.dtype == np.int64


def test_ties_count_half_each_way():
  # Ballot 0 (2 voters) ties candidates 0 and 1 above 2; ballot 1 (1 voter): 1 > 0 = 2.
  p = social.Profile.from_ranks([[0, 0, 1], [1, 0, 1]], [2, 1])
  assert not p.is_linear
  np.testing.assert_array_equal(p.support(), [[0, 0, 2], [1, 0, 3], [0, 0, 0]])
  P = p.preference_matrix()
  np.testing.assert_allclose(P[0, 1], (0 + 2 / 2) / 3)  # 2 ties, 1 against
  np.testing.assert_allclose(P[0, 2], (2 + 1 / 2) / 3)
  np.testing.assert_allclose(P + P.T, 1.0)
  np.testing.assert_allclose(social.majority_game(p), P)
  with pytest.raises(ValueError, match="linear orders"):
    p.rankings()
  # Restricting keeps the ties, renumbered densely.
  np.testing.assert_array_equal(p.restrict([2, 0]).ranks, [[1, 0], [0, 0]])


def test_restrict_linear():
  p = social.Profile.from_rankings([[3, 1, 2, 0], [0, 1, 3, 2]], [2, 3])
  sub = p.restrict([3, 0])
  np.testing.assert_array_equal(sub.rankings(), [[0, 1], [1, 0]])
  np.testing.assert_array_equal(sub.counts, [2, 3])


def test_pairwise_counts():
  e = social.PairwiseCounts([[5, 3, 0], [1, 0, 0], [0, 0, 0]])
  np.testing.assert_array_equal(np.diag(e.support()), 0)  # the diagonal is ignored
  np.testing.assert_array_equal(e.margin_matrix(), [[0, 2, 0], [-2, 0, 0], [0, 0, 0]])
  np.testing.assert_allclose(
    e.preference_matrix(), [[0.5, 0.75, 0.5], [0.25, 0.5, 0.5], [0.5, 0.5, 0.5]]
  )
  np.testing.assert_allclose(social.majority_game(e), e.preference_matrix())
  assert e.num_voters == 4.0 and e.num_candidates == 3 and not e.is_linear
  with pytest.raises(ValueError, match="pairwise counts only"):
    _ = e.ranks
  for bad, match in (
    (np.zeros((2, 3)), r"\[m, m\]"),
    ([[0, -1], [1, 0]], "non-negative"),
    ([[0, np.nan], [1, 0]], "finite"),
    (np.zeros((2, 2)), "empty"),
  ):
    with pytest.raises(ValueError, match=match):
      social.PairwiseCounts(bad)
  with pytest.raises(TypeError, match="Profile or PairwiseCounts"):
    social.majority_game(np.eye(2))


def _random_profiles(seed, batch, ballots, m, ties=False):
  rng = np.random.default_rng(seed)
  if ties:
    ranks = rng.integers(0, m - 1, size=(batch, ballots, m))
  else:
    ranks = np.stack([np.argsort(rng.permutation(m)) for _ in range(batch * ballots)])
  counts = rng.integers(1, 5, size=(batch, ballots)).astype(float)
  return ranks.reshape(batch, ballots, m), counts


@pytest.mark.parametrize("ties", [False, True])
def test_batched_margins_equal_a_loop(ties):
  ranks, counts = _random_profiles(0, 7, 9, 5, ties)
  batched = jax.jit(social.margins)(ranks, counts)
  loop = jnp.stack(
    [social.Profile.from_ranks(r, c).margin_matrix() for r, c in zip(ranks, counts, strict=True)]
  )
  chex.assert_shape(batched, (7, 5, 5))
  chex.assert_trees_all_close(batched, loop)
  # One more batch axis changes nothing.
  chex.assert_trees_all_close(social.margins(ranks[None], counts[None])[0], batched)


def test_batched_scoring_scores_equal_a_loop():
  ranks, counts = _random_profiles(1, 7, 9, 5)
  for weights, rule in (
    (4 - np.arange(5.0), social.borda_scores),
    (np.eye(5)[0], social.plurality_scores),
  ):
    batched = jax.jit(social.scoring_scores)(ranks, counts, weights)
    loop = jnp.stack(
      [rule(social.Profile.from_ranks(r, c)) for r, c in zip(ranks, counts, strict=True)]
    )
    chex.assert_shape(batched, (7, 5))
    chex.assert_trees_all_close(batched, loop)
