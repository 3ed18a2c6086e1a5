from typing import NamedTuple

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
  # -1 = all devices, but none that would only hold padded copies of the points.
  two = training.PointMapper("jit", 2)
  assert (two.num_devices, two.padded) == (2, 2)
  assert training.PointMapper("jit", 1).num_devices == 1
  within = training.PointMapper("jit", 3, data=2)
  assert (within.num_devices, within.point_devices, within.padded) == (6, 3, 3)
  assert training.PointMapper("jit", 13).num_devices == 8


class _HP(NamedTuple):
  scale: float = 1.0


class _Fit(NamedTuple):
  w: jax.Array  # [16, 8] weights: split over fsdp
  opt: jax.Array  # [16, 8] a second-moment estimate: the same layout
  count: jax.Array  # scalar: replicated


def _fit_init(hp, key):
  w = jax.random.normal(key, (16, 8)) * hp.scale
  return training.shard_params(_Fit(w, jnp.zeros_like(w), jnp.zeros((), jnp.int32)))


def _fit_step(state, hp, t):
  """One RMSProp step of least squares on a batch of 32 rows drawn from the step index."""
  x = jax.random.normal(jax.random.fold_in(jax.random.key(0), t), (32, 16))
  x = training.shard_batch(x)
  grad = jax.grad(lambda w: jnp.mean((x @ w - 1.0) ** 2))(state.w)
  opt = 0.9 * state.opt + 0.1 * grad**2
  w = state.w - 0.01 * grad / (jnp.sqrt(opt) + 1e-8)
  return training.shard_params(_Fit(w, opt, state.count + 1))


def _fit_metrics(state, hp):
  return {"norm": jnp.sum(state.w**2), "count": state.count}


@pytest.mark.parametrize(("data", "fsdp"), [(4, 1), (2, 2), (1, 8)])
def test_data_and_fsdp_axes_equal_one_device(data, fsdp, tmp_path):
  program = training.Program(_fit_init, _fit_step, _fit_metrics)
  sweep = training.make_sweep(_HP(), seeds=3, axes={"scale": (0.5, 1.0)})
  kw = dict(steps=4, log_every=2, progress_seconds=-1, tensorboard=False)
  one = training.run_sweep(program, sweep, workdir=str(tmp_path / "one"), backend="none", **kw)
  split = training.run_sweep(
    program, sweep, workdir=str(tmp_path / "split"), data=data, fsdp=fsdp, **kw
  )
  np.testing.assert_allclose(split.state.w, one.state.w, rtol=1e-5, atol=1e-6)
  for name in one.history:
    np.testing.assert_allclose(split.history[name], one.history[name], rtol=1e-5)


def test_fsdp_really_shards_the_state_and_data_the_rows():
  mapper = training.PointMapper("jit", 6, data=2, fsdp=2)
  assert dict(mapper.mesh.shape) == {"points": 2, "data": 2, "fsdp": 2}
  assert mapper.padded == 6
  keys = jax.random.key_data(jax.random.split(jax.random.key(0), 6))
  state = mapper.map(lambda args: _fit_init(_HP(args[0]), jax.random.wrap_key_data(args[1])))(
    mapper.put((np.ones(6), keys))
  )
  spec = state.w.sharding.spec
  assert spec[0] == "points" and "fsdp" in tuple(spec)  # [points, 16 / fsdp, 8]
  assert state.w.addressable_shards[0].data.shape == (3, 8, 8)
  assert state.count.sharding.spec[1:] == ()  # scalars stay whole per point

  def rows(args):
    return training.shard_batch(jnp.ones((32, 4)) * args[0])

  out = mapper.map(rows)(mapper.put((np.ones(6),)))
  assert tuple(out.sharding.spec)[:2] == ("points", "data")
  assert training.shard_batch(jnp.ones((3, 2))).shape == (3, 2)  # off-mesh: the identity


def test_param_spec_picks_the_largest_divisible_dimension():
  from jax.sharding import PartitionSpec as P

  assert training.param_spec((30, 576, 8), 2) == P(None, "fsdp", None)
  assert training.param_spec((30, 7, 9), 2) == P("fsdp", None, None)
  assert training.param_spec((3, 5), 2) == P()
  assert training.param_spec((), 4) == P()


def test_bad_within_point_axes():
  with pytest.raises(ValueError, match="need the 'jit' backend"):
    training.PointMapper("shard_map", 4, data=2)
  with pytest.raises(ValueError, match=r"do not split into mesh\.data=3"):
    training.PointMapper("jit", 4, data=3)
  with pytest.raises(ValueError, match="must be >= 1"):
    training.PointMapper("jit", 4, fsdp=0)
