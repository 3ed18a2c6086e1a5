import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import data
from jaxpref import preference as pm


def _table(**changes):
  table = data.Comparisons(
    item_a=np.array([0, 1, 2, 0]),
    item_b=np.array([1, 2, 0, 2]),
    outcome=np.array([1.0, 0.5, 0.0, 1.0]),
    items=("a", "b", "c"),
    prompt=np.zeros(4, np.int64),
    annotator=np.array([1, 0, 1, 1]),
    annotators=("p", "q"),
    advantage=np.array([1, 0, -1, 1]),
  )
  return table._replace(**changes)


def test_make_pairs_fills_defaults():
  pairs = pm.make_pairs([0, 1], [1, 2], [1.0, 0.5])
  assert pairs._fields[-1] == "advantage" and len(jax.tree.leaves(pairs)) == 7
  chex.assert_trees_all_close(
    pairs,
    pm.Pairs(
      item_a=jnp.asarray([0, 1]),
      item_b=jnp.asarray([1, 2]),
      outcome=jnp.asarray([1.0, 0.5]),
      weight=jnp.ones(2),
      annotator=jnp.zeros(2, int),
      context=jnp.zeros((2, 0)),
      advantage=jnp.ones(2),
    ),
  )
  assert pairs.item_a.dtype == pairs.annotator.dtype == jnp.int32
  assert pairs.weight.dtype == pairs.context.dtype == pairs.advantage.dtype == jnp.float64
  pm.check_pairs(pairs, 3)


def test_make_pairs_keeps_given_fields_in_one_float_dtype():
  pairs = pm.make_pairs(
    np.array([0, 1]),
    np.array([1, 0]),
    np.array([1.0, 0.0]),
    weight=[2.0, 0.0],
    annotator=[3, 1],
    context=np.ones((2, 4)),
    advantage=[-1, 0],
    dtype=jnp.float32,
  )
  for field in ("outcome", "weight", "context", "advantage"):
    assert getattr(pairs, field).dtype == jnp.float32, field
  np.testing.assert_array_equal(pairs.advantage, [-1.0, 0.0])
  np.testing.assert_array_equal(pairs.annotator, [3, 1])
  assert pairs.context.shape == (2, 4)
  pm.check_pairs(pairs, 2, context_dim=4, num_annotators=4)


def test_pairs_from_table_carries_every_column():
  features = np.array([[0.5, -1.0], [2.0, 3.0]])
  pairs = pm.pairs_from_table(_table(), annotator_features=features)
  np.testing.assert_array_equal(pairs.item_a, [0, 1, 2, 0])
  np.testing.assert_array_equal(pairs.outcome, [1.0, 0.5, 0.0, 1.0])
  np.testing.assert_array_equal(pairs.annotator, [1, 0, 1, 1])
  np.testing.assert_array_equal(pairs.context, features[[1, 0, 1, 1]])
  np.testing.assert_array_equal(pairs.advantage, [1.0, 0.0, -1.0, 1.0])
  np.testing.assert_array_equal(pairs.weight, 1.0)
  # A table without the column (built by hand) gets +1 everywhere; rows naming no annotator get 0.
  bare = pm.pairs_from_table(_table(advantage=None, annotator=np.full(4, -1), annotators=()))
  np.testing.assert_array_equal(bare.advantage, 1.0)
  np.testing.assert_array_equal(bare.annotator, 0)
  assert bare.context.shape == (4, 0)
  assert pm.pairs_from_table(_table(), dtype=jnp.float32).advantage.dtype == jnp.float32


def test_pairs_from_table_checks_annotator_features():
  with pytest.raises(ValueError, match=r"annotator_features must be \[num_annotators=2, c\]"):
    pm.pairs_from_table(_table(), annotator_features=np.zeros((3, 1)))
  with pytest.raises(ValueError, match="some comparisons name no annotator"):
    pm.pairs_from_table(
      _table(annotator=np.array([0, -1, 1, 1])), annotator_features=np.zeros((2, 1))
    )


def test_pairs_from_a_loaded_csv(tmp_path):
  path = tmp_path / "games.csv"
  path.write_text("home,away,outcome,venue\nx,y,1,home\ny,z,-1,neutral\nz,x,0,away\n")
  table = data.load_comparisons(
    path, item_a="home", item_b="away", annotator=None, advantage="venue"
  )
  pairs = pm.pairs_from_table(table)
  np.testing.assert_array_equal(pairs.advantage, [1.0, 0.0, -1.0])
  np.testing.assert_array_equal(pairs.outcome, [1.0, 0.0, 0.5])


@pytest.mark.parametrize(
  ("change", "match"),
  [
    ({"item_a": jnp.asarray([0, 7])}, r"item_a\[1\] = 7 is outside"),
    ({"item_b": jnp.asarray([1, -1])}, r"item_b\[1\] = -1 is outside"),
    ({"item_b": jnp.asarray([1, 0])}, "Row 1 compares item 0 with itself"),
    ({"outcome": jnp.asarray([1.0, 1.5])}, r"outcome\[1\] = 1.5"),
    ({"outcome": jnp.asarray([1.0, jnp.nan])}, r"outcome\[1\] = nan"),
    ({"weight": jnp.asarray([1.0, -1.0])}, "non-negative"),
    ({"weight": jnp.asarray([1.0, jnp.inf])}, "finite and non-negative"),
    ({"context": jnp.ones((2, 3))}, "expects 0 context features"),
    ({"annotator": jnp.asarray([0])}, "share the leading length"),
    ({"advantage": jnp.asarray([1.0, 2.0])}, r"advantage\[1\] = 2.0 must be 1 \(item_a"),
    ({"advantage": jnp.asarray([0.5, 1.0])}, r"advantage\[0\] = 0.5 must be 1"),
    ({"advantage": jnp.asarray([1.0, jnp.nan])}, r"advantage\[1\] = nan must be"),
    ({"advantage": jnp.asarray([-1.0, jnp.inf])}, r"advantage\[1\] = inf must be"),
    ({"advantage": jnp.ones(3)}, r"share the leading length.*'advantage': \(3,\)"),
  ],
)
def test_check_pairs_names_the_problem(change, match):
  pairs = pm.make_pairs([0, 0], [1, 2], [1.0, 0.0])._replace(**change)
  with pytest.raises(ValueError, match=match):
    pm.check_pairs(pairs, 3, context_dim=0)


def test_check_pairs_context_and_annotators():
  pairs = pm.make_pairs([0, 1], [1, 0], [1.0, 0.0], annotator=[0, 4], context=jnp.ones((2, 2)))
  pm.check_pairs(pairs, 2, context_dim=2, num_annotators=5)
  with pytest.raises(ValueError, match=r"annotator ids must be in \[0, 4\); got \[0, 4\]"):
    pm.check_pairs(pairs, 2, num_annotators=4)
  with pytest.raises(ValueError, match="context has non-finite values"):
    pm.check_pairs(pairs._replace(context=jnp.full((2, 2), jnp.nan)), 2)
  with pytest.raises(TypeError):
    pm.check_pairs(pairs, 2, 2)  # context_dim and num_annotators are keyword-only


def test_check_pairs_skips_tracers_and_fit_checks():
  pairs = pm.make_pairs([0, 0], [1, 2], [1.0, 0.0], advantage=[1, 3])
  jax.jit(lambda p: pm.check_pairs(p, 3))(pairs)  # no concrete values: nothing to check
  with pytest.raises(ValueError, match=r"advantage\[1\] = 3.0"):
    pm.fit(pm.BradleyTerry(3, advantage=True), pairs)
  with pytest.raises(ValueError, match="No comparisons"):
    pm.fit(pm.BradleyTerry(3), pm.make_pairs(jnp.zeros(0, int), jnp.zeros(0, int), jnp.zeros(0)))
