import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref.games import canonical_games, uniform_random_game, validate_preference_matrix


@pytest.mark.parametrize("name", sorted(canonical_games()))
def test_canonical_games_are_valid(name):
  P = canonical_games()[name].P
  assert validate_preference_matrix(P) is not None


def test_returns_host_array_and_accepts_batches_and_jax_arrays():
  P = uniform_random_game(jax.random.key(0), 5, batch_shape=(2, 3))
  out = validate_preference_matrix(P)
  assert isinstance(out, np.ndarray)
  chex.assert_shape(out, (2, 3, 5, 5))
  chex.assert_trees_all_equal(out, np.asarray(P))


GOOD = np.array([[0.5, 0.7, 0.2], [0.3, 0.5, 0.9], [0.8, 0.1, 0.5]])


def _with(idx, value, P=GOOD):
  P = P.copy()
  P[idx] = value
  return P


@pytest.mark.parametrize(
  "P, message",
  [
    (np.array(0.5), r"at least 2 axes\); got shape \(\)"),
    (np.full((2, 3), 0.5), r"square in its last two axes; got shape \(2, 3\)"),
    (np.full((1, 1), 0.5), r"at least 2 items; got n = 1"),
    (np.zeros((0, 0)), r"at least 2 items; got n = 0"),
    (_with((1, 2), np.nan), r"finite: P\[1, 2\] = nan"),
    (_with((2, 0), np.inf), r"finite: P\[2, 0\] = inf"),
    (_with((0, 1), 1.3), r"\[0, 1\]: P\[0, 1\] = 1.3"),
    (_with((1, 0), -0.2), r"\[0, 1\]: P\[1, 0\] = -0.2"),
    (_with((0, 2), 0.3), r"P\[0, 2\] \+ P\[2, 0\] = 1.1, expected 1"),
    (_with((1, 1), 0.6), r"diagonal must be 1/2 but P\[1, 1\] = 0.6"),
    (np.array([[True, False], [False, True]]), r"real array of probabilities; got dtype bool"),
    (np.array([["a", "b"], ["c", "d"]]), r"real array of probabilities"),
  ],
)
def test_bad_input_raises_with_message(P, message):
  with pytest.raises(ValueError, match=message):
    validate_preference_matrix(P)


def test_batch_index_is_named():
  P = np.stack([GOOD, _with((2, 1), 0.35)])
  with pytest.raises(ValueError, match=r"P\[1, 1, 2\] \+ P\[1, 2, 1\]"):
    validate_preference_matrix(P)


def test_atol_controls_antisymmetry():
  P = _with((0, 1), 0.7 + 1e-4)
  with pytest.raises(ValueError, match="antisymmetric"):
    validate_preference_matrix(P)
  validate_preference_matrix(P, atol=1e-3)


def test_tracer_is_rejected():
  with pytest.raises(TypeError, match="inside jit"):
    jax.jit(validate_preference_matrix)(jnp.asarray(GOOD))


def test_is_preference_matrix_is_traceable_and_checks_shapes_statically():
  import jax
  import jax.numpy as jnp

  from jaxpref.games import is_preference_matrix

  good = jnp.array([[0.5, 0.7], [0.3, 0.5]])
  batch = jnp.stack([good, good.at[0, 0].set(0.6), good.at[0, 1].set(jnp.nan), good + 0.6])
  assert jax.jit(is_preference_matrix)(batch).tolist() == [True, False, False, False]
  assert bool(is_preference_matrix(good.astype(jnp.float32) + 1e-7))  # within atol
  for shape, message in (((3,), "at least 2 axes"), ((2, 3), "square"), ((1, 1), "2 items")):
    with pytest.raises(ValueError, match=message):
      jax.jit(is_preference_matrix)(jnp.full(shape, 0.5))
