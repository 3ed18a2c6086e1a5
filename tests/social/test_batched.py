"""Batched margin-based rules equal the host rules on random profiles, with and without ties."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import social


@pytest.mark.parametrize("m", [3, 6])
def test_batched_rules_equal_the_host_rules(m):
  rng = np.random.default_rng(m)
  profiles = []
  for k in range(60):  # odd k: few voters, many tied and zero margins
    voters = int(rng.integers(1, 6)) if k % 2 else int(rng.integers(20, 60))
    profiles.append(social.Profile.from_rankings([rng.permutation(m) for _ in range(voters)]))
  M = jnp.asarray(np.stack([p.margin_matrix() for p in profiles]))
  for rule in social.BATCHED_RULES:
    masks = np.asarray(social.winner_masks(M, rule))
    assert masks.shape == (60, m) and masks.any(-1).all()
    for p, mask in zip(profiles, masks, strict=True):
      assert np.flatnonzero(mask).tolist() == sorted(social.RULES[rule](p)), rule


def test_margins_from_ranks_feed_the_rules_and_bad_input_is_refused():
  ranks = jnp.array([[[0, 1, 2], [1, 2, 0], [2, 0, 1]]] * 2)
  counts = jnp.array([[3.0, 2, 2], [1.0, 1, 1]])
  M = social.margins(ranks, counts)  # a 3-cycle of margins 3, 3, 1 and a perfect tie
  assert social.winner_masks(M, "beat_path").tolist() == [[True, False, False], [True] * 3]
  assert social.winner_masks(M, "top_cycle").tolist() == [[True] * 3, [True] * 3]
  np.testing.assert_array_equal(social.widest_paths(M)[0], [[0, 3, 3], [1, 0, 3], [1, 1, 0]])
  with pytest.raises(ValueError, match="unknown rule 'borda'"):
    social.winner_masks(M, "borda")
  with pytest.raises(ValueError, match=r"must be \[\.\.\., m, m\]"):
    social.winner_masks(jnp.zeros((3, 4)), "copeland")
