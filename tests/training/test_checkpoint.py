import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import training


def _state():
  return {
    "x": jnp.arange(6.0).reshape(2, 3),
    "key": jax.random.split(jax.random.key(0), 2),
    "count": jnp.int32(7),
    "flag": jnp.array([True, False]),
  }


def _abstract(state):
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), state)


def test_round_trip_with_keys_and_meta(tmp_path):
  ckpt = training.Checkpointer(str(tmp_path), max_to_keep=2)
  state = _state()
  for step in (1, 2, 3):
    ckpt.save(step, jax.tree.map(lambda a: a, state), {"data_position": step * 10})
  ckpt.close()
  assert training.Checkpointer(str(tmp_path)).all_steps() == [2, 3]  # keep-last-N
  step, restored, meta = training.Checkpointer(str(tmp_path)).restore(_abstract(state))
  assert step == 3 and meta["data_position"] == 30
  assert jnp.issubdtype(restored["key"].dtype, jax.dtypes.prng_key)
  np.testing.assert_array_equal(
    jax.random.key_data(restored["key"]), jax.random.key_data(state["key"])
  )
  np.testing.assert_array_equal(restored["x"], state["x"])


def test_fingerprint_sees_every_element():
  state = _state()
  base = training.fingerprint(state)
  assert base == training.fingerprint(jax.tree.map(lambda a: a, state))
  assert base != training.fingerprint({**state, "x": state["x"].at[1, 2].set(5.000001)})
  assert base != training.fingerprint({**state, "x": state["x"][::-1]})  # order matters
  assert base != training.fingerprint({**state, "flag": ~state["flag"]})


def test_empty_directory_and_uncommitted_save(tmp_path, caplog):
  assert training.Checkpointer(str(tmp_path / "new")).restore(_abstract(_state())) is None
  (tmp_path / "new" / "5.orbax-checkpoint-tmp-123").mkdir()
  assert training.Checkpointer(str(tmp_path / "new")).restore(_abstract(_state())) is None


def test_missing_metadata_falls_back(tmp_path):
  ckpt = training.Checkpointer(str(tmp_path), async_save=False)
  state = _state()
  ckpt.save(1, state, {})
  ckpt.save(2, state, {})
  ckpt.close()
  os.remove(tmp_path / "2" / "meta" / "metadata")
  step, _, _ = training.Checkpointer(str(tmp_path)).restore(_abstract(state))
  assert step == 1


def test_bad_max_to_keep(tmp_path):
  with pytest.raises(ValueError, match="max_to_keep must be >= 1"):
    training.Checkpointer(str(tmp_path), max_to_keep=0)


def _two_steps(directory):
  ckpt = training.Checkpointer(str(directory), async_save=False)
  state = _state()
  ckpt.save(1, state, {"config": {"lr": 0.1}})
  ckpt.save(2, state, {"config": {"lr": 0.1}})
  ckpt.close()
  return state


def test_refusal_by_check_propagates_and_is_not_a_corrupt_checkpoint(tmp_path):
  state = _two_steps(tmp_path)
  seen = []

  def check(meta):
    seen.append(meta["step"])
    if meta["config"] != {"lr": 0.2}:
      raise training.IncompatibleCheckpointError("lr differs")

  with pytest.raises(training.IncompatibleCheckpointError, match="lr differs"):
    training.Checkpointer(str(tmp_path)).restore(_abstract(state), check=check)
  assert seen == [2]  # refused at the latest step, no fallback to an older one


def test_any_error_raised_by_check_propagates(tmp_path):
  # A broken check (here an AttributeError, as when IncompatibleCheckpointError was missing
  # from jaxpref.training) must surface, not be reported as "no usable checkpoint".
  state = _two_steps(tmp_path)

  def check(meta):
    raise AttributeError("module has no attribute 'Nope'")

  with pytest.raises(AttributeError, match="Nope"):
    training.Checkpointer(str(tmp_path)).restore(_abstract(state), check=check)


def test_check_passes_then_corrupt_arrays_still_fall_back(tmp_path):
  state = _two_steps(tmp_path)
  for root, _, files in os.walk(tmp_path / "2" / "state"):
    for name in files:
      os.remove(os.path.join(root, name))
  checked = []
  step, _, _ = training.Checkpointer(str(tmp_path)).restore(
    _abstract(state), check=lambda meta: checked.append(meta["step"])
  )
  assert step == 1 and checked == [2, 1]
