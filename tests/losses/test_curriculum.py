"""Curry-DPO's curriculum: pairs of a rated list by decreasing gap, buckets, the epoch order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import losses


def test_best_vs_rest_pairs_by_decreasing_gap():
  score = jnp.array([2.0, 5.0, 1.0, 4.0])
  p = losses.curriculum_pairs(score)
  np.testing.assert_array_equal(p.chosen, [1, 1, 1])
  np.testing.assert_array_equal(p.rejected, [2, 0, 3])  # gaps 4, 3, 1: easy first
  np.testing.assert_allclose(p.gap, [4.0, 3.0, 1.0])
  assert bool(jnp.all(p.mask))


def test_all_pairs_ties_and_padding_are_masked():
  score = jnp.array([3.0, 1.0, 3.0, 0.0])
  valid = jnp.array([True, True, True, False])
  p = losses.curriculum_pairs(score, valid, pairing="all")
  got = {(int(c), int(r), float(g)) for c, r, g, m in zip(*p, strict=True) if m}
  assert got == {(0, 1, 2.0), (2, 1, 2.0)}  # the tie (0, 2) and the padded item give no pair
  assert p.mask.tolist() == [True, True, False, False, False, False]  # masked ones last
  # jit and vmap over a batch of lists.
  batch = jax.jit(jax.vmap(losses.curriculum_pairs))(jnp.stack([score, -score]))
  assert batch.chosen.shape == (2, 3)


def test_buckets_and_order():
  gap = jnp.array([0.5, 3.0, 1.0, 2.0, 0.1, 4.0])
  b = losses.curriculum_buckets(gap, buckets=3)
  np.testing.assert_array_equal(b, [2, 0, 1, 1, 2, 0])
  order = losses.curriculum_order(jax.random.key(0), gap, buckets=3)
  np.testing.assert_array_equal(jnp.sort(order), jnp.arange(6))
  np.testing.assert_array_equal(b[order], [0, 0, 1, 1, 2, 2])  # easy first
  # Within a bucket the order is random: another key permutes some bucket differently.
  orders = {tuple(losses.curriculum_order(jax.random.key(k), gap).tolist()) for k in range(8)}
  assert len(orders) > 1
  masked = losses.curriculum_buckets(gap, buckets=2, mask=gap > 0.4)
  assert int(masked[4]) == 2  # a masked pair is never trained


def test_bad_input():
  with pytest.raises(ValueError, match="pairing must be one of"):
    losses.curriculum_pairs(jnp.ones(3), pairing="random")
  with pytest.raises(ValueError, match=r"\[K\] with K >= 2"):
    losses.curriculum_pairs(jnp.ones(1))
  with pytest.raises(ValueError, match="buckets must be >= 1"):
    losses.curriculum_buckets(jnp.ones(3), buckets=0)
