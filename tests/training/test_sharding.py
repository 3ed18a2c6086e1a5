import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import training


def _point_fn(args, scale):
  x, key = args
  noise = jax.random.normal(jax.random.wrap_key_data(key), (3,))
  return {"y": jnp.sin(x) * scale + noise.sum(), "z": jnp.outer(noise, noise)}


def test_eight_cpu_devices_are_available():
  assert jax.device_count() == 8


@pytest.mark.parametrize("num_points", [8, 13])
@pytest.mark.parametrize("backend", training.BACKENDS)
def test_backends_match_unsharded(backend, num_points):
  x = np.linspace(0.0, 1.0, num_points)
  keys = jax.random.key_data(jax.random.split(jax.random.key(3), num_points))
  expected = jax.vmap(lambda a, k: _point_fn((a, k), 2.0))(x, keys)
  mapper = training.PointMapper(backend, num_points)
  assert mapper.padded % mapper.num_devices == 0 and mapper.padded >= num_points
  out = mapper.map(_point_fn, num_broadcast=1)(mapper.put((x, keys)), mapper.broadcast(2.0))
  if backend in ("jit", "shard_map"):
    assert len(out["y"].sharding.device_set) == 8
  host = mapper.to_host(out)
  assert host["y"].shape == (num_points,) and host["z"].shape == (num_points, 3, 3)
  np.testing.assert_allclose(host["y"], expected["y"], rtol=1e-13)
  np.testing.assert_allclose(host["z"], expected["z"], rtol=1e-13)


def _while_point(args):
  # A data-dependent loop per point (as in simplex projections or certified solver loops).
  (x,) = args
  return jax.lax.while_loop(lambda c: c[0] < 1.0, lambda c: (c[0] * 2.0, c[1] + 1), (x, 0))


@pytest.mark.parametrize("backend", training.BACKENDS)
def test_backends_run_a_while_loop(backend):
  x = np.linspace(0.01, 0.9, 13)
  mapper = training.PointMapper(backend, 13)
  value, count = mapper.to_host(mapper.map(_while_point)(mapper.put((x,))))
  expected = jax.vmap(lambda a: _while_point((a,)))(x)
  np.testing.assert_array_equal(value, expected[0])
  np.testing.assert_array_equal(count, expected[1])


def test_padding_repeats_the_last_point_and_round_trips():
  mapper = training.PointMapper("pmap", 13)
  assert (mapper.num_devices, mapper.padded, mapper.per_device) == (8, 16, 2)
  placed = mapper.put(np.arange(13.0))
  assert placed.shape == (8, 2) and placed[-1].tolist() == [12.0, 12.0]
  canonical = mapper.to_canonical(jnp.asarray(placed))
  assert canonical.shape == (16,)
  np.testing.assert_array_equal(mapper.from_canonical(canonical), placed)


def test_bad_backend_and_device_count():
  with pytest.raises(ValueError, match="Unknown mesh backend 'gpu'"):
    training.PointMapper("gpu", 4)
  with pytest.raises(ValueError, match="devices=9: 8 device"):
    training.PointMapper("jit", 4, num_devices=9)
  assert training.PointMapper("jit", 4, 2).num_devices == 2
  assert training.PointMapper("none", 4).num_devices == 1
