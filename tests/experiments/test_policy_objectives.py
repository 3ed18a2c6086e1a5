import json
import math

import jax
import numpy as np
import pytest

from configs import policy_objectives as config_lib
from experiments import common, policy_objectives, train_lib
from jaxpref import losses, training
from tests.experiments import _overrides
from tests.experiments.test_train import _cli

CUSTOM = '''
import jax


def hinge(example):
  """A margin loss on the reference-normalised log-ratio, written outside jaxpref."""
  h = (example.logp - example.ref_logp) - (example.logp2 - example.ref_logp2)
  sign = 2 * example.pref - 1
  return jax.nn.relu(1.0 - 10.0 * sign * h), {}
'''


def _small(**overrides):
  """4 prompts x 4 responses, an 8-unit MLP, 24 one-query updates logged 3 times, 2 seeds."""
  config = config_lib.get_config("plot=false,seeds=2")
  config.losses = "online_ipo"
  config.prompts, config.features, config.responses, config.hidden = 4, 3, 4, "8"
  config.queries, config.evals = 96, 3
  config.learning_rate = 0.03
  config.checkpoint.every, config.checkpoint.async_save = 8, False
  config.log.tensorboard, config.log.progress_seconds = False, -1.0
  return _overrides.override(config, **overrides)


def _sweep(config, workdir, **kwargs):
  """One loss's run_sweep, as the experiment runs it."""
  name = common.names(config.losses)[0]
  objective = losses.get_objective(name)
  one = policy_objectives.loss_config(config, objective)
  hp = train_lib.config_hparams(config, policy_objectives.FIELDS, policy_objectives.Hyper)
  sweep = train_lib.sweep_from_config(config, hp, policy_objectives.FIELDS)
  program = policy_objectives.make_program(config, objective)
  options = {**train_lib.run_options(one), **kwargs}
  return training.run_sweep(program, sweep, workdir=str(workdir), name=name, **options)


# The experiment registers custom losses: every test restores the registries (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("registries")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """2 learning rates x 2 seeds on one device, uninterrupted (float32 as the experiment runs)."""
  config = _small(**{"vmap.axes.learning_rate": (0.01, 0.03), "mesh.backend": "none"})
  jax.config.update("jax_enable_x64", False)
  try:
    yield config, _sweep(config, tmp_path_factory.mktemp("reference"))
  finally:
    jax.config.update("jax_enable_x64", True)


@pytest.fixture
def float32():
  jax.config.update("jax_enable_x64", False)
  yield
  jax.config.update("jax_enable_x64", True)


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
def test_vmapped_sweep_equals_each_point_alone(reference, float32):
  config, result = reference
  assert result.sweep.shape == (2, 2) and result.history["regularized_gap"].shape == (2, 2, 3)
  flat = {k: v.reshape(4, -1)[:, -1] for k, v in result.history.items()}
  fields = policy_objectives.FIELDS
  hp_type = policy_objectives.Hyper
  for index in range(4):
    one = train_lib.point_config(config, result.sweep, index, fields)
    sweep = train_lib.sweep_from_config(one, train_lib.config_hparams(one, fields, hp_type), fields)
    program = policy_objectives.make_program(one, losses.get_objective("online_ipo"))
    hp = train_lib.config_hparams(one, fields, hp_type)
    key = training.seed_keys(one.seed, training.sweep_points(sweep)[1])[0]

    @jax.jit
    def run_point(key, program=program, hp=hp):
      state = program.init(hp, key)
      state = jax.lax.fori_loop(0, 24, lambda t, s, p=program: p.step(s, hp, t), state)
      return program.metrics(state, hp)

    values = run_point(key)
    for name in ("regularized_gap", "duality_gap", "win_rate_vs_ref", "loss"):
      np.testing.assert_allclose(values[name], flat[name][index], rtol=1e-6, atol=1e-6)
  # The two learning rates differ, the seeds differ.
  gap = result.history["regularized_gap"][..., -1]
  assert gap[0, 0] != gap[1, 0] and gap[0, 0] != gap[0, 1]


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jit", "shard_map"])
def test_eight_devices_equal_one(reference, backend, tmp_path, float32):
  assert jax.device_count() == 8  # tests/conftest.py starts 8 CPU devices
  config, expected = reference
  config = _small(**{"vmap.axes.learning_rate": (0.01, 0.03), "mesh.backend": backend})
  config.vmap.seeds = 3  # 6 points over 8 devices: padded, unpadded on the way back
  result = _sweep(config, tmp_path)
  for name, values in expected.history.items():
    np.testing.assert_allclose(result.history[name][:, :2], values, rtol=1e-6, atol=1e-7)


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(reference, tmp_path, float32):
  config, expected = reference
  partial = _sweep(config, tmp_path, stop_after=8)
  assert partial.resumed_from is None
  resumed = _sweep(config, tmp_path)
  assert resumed.resumed_from == 8
  for a, b in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(expected.state), strict=True):
    np.testing.assert_array_equal(a, b)
  for name in expected.history:
    np.testing.assert_array_equal(resumed.history[name], expected.history[name])


# Compiles the experiment several times; the engine's own invariance tests run by default.
@pytest.mark.slow
def test_cli_with_a_custom_loss_defined_outside_the_package(tmp_path):
  path = tmp_path / "my_loss.py"
  path.write_text(CUSTOM)
  workdir = tmp_path / "run"
  proc = _cli(
    "--config",
    "configs/policy_objectives.py:seeds=2",
    "--workdir",
    str(workdir),
    "--config.losses=egpo",
    "--config.prompts=4",
    "--config.hidden=8",
    "--config.queries=256",
    "--config.evals=2",
    f"--config.custom_loss={path}:hinge",
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((workdir / "results.json").read_text())
  assert set(results) == {"egpo", "custom"}
  assert results["egpo"]["queries_per_update"] == 4  # two calls, two labels each
  assert results["egpo"]["updates"] == 16 and results["custom"]["updates"] == 64
  final = results["custom"]["final"]["regularized_gap"]
  assert np.shape(final["values"]) == (2,) and math.isclose(np.mean(final["values"]), final["mean"])
  assert results["custom"]["curve"]["queries"] == [128, 256]
  for name in ("egpo", "custom"):
    assert (workdir / name / "metrics.jsonl").exists() and (workdir / name / "checkpoints").is_dir()
  assert (workdir / "curves.png").stat().st_size > 10_000
  assert "custom" in proc.stdout and "±" in proc.stdout


# A full small run (minutes of compilation on 2 cores); its pieces are tested in the default suite.
@pytest.mark.slow
def test_weighted_combination_from_the_config(tmp_path):
  config = _small(**{"combination": "dpo:0.5,ipo:0.5", "vmap.seeds": 1})
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  assert set(results) == {"online_ipo", "combined"}
  config.combination = "dpo:0.5,kto:1"
  with pytest.raises(ValueError, match="unknown loss 'kto'"):
    train_lib.validate_config(config)


@pytest.mark.parametrize(
  ("override", "message"),
  [
    ({"losses": "dpo_v2"}, "Unknown loss 'dpo_v2' in config.losses"),
    ({"oracle": "random"}, "oracle must be"),
    ({"kl_coef": 0.0}, r"config.kl_coef \(or its vmap axis\) must be > 0; got 0"),
    ({"mixture": 1.5}, r"config.mixture \(or its vmap axis\) must be in \[0, 1\]; got 1.5"),
    ({"vmap.axes.learning_rate": (0.01, -1.0)}, "config.learning_rate .* must be > 0; got -1"),
    ({"vmap.axes.learning_rate": (0.01, float("nan"))}, "learning_rate: values must be finite"),
    ({"vmap.axes.learning_rate": ()}, "learning_rate: expected a non-empty tuple"),
    ({"vmap.axes.hidden": (8, 16)}, "vmap.axes.hidden: only numeric fields can be vmapped"),
    ({"vmap.axes.queries": (8, 16)}, "queries is not a vmappable hyperparameter"),
    ({"custom_loss": "/no/such/file.py:fn"}, "no file at"),
    ({"responses": 1}, "config.responses must be >= 2"),
    ({"losses": "list_pl_dpo"}, "list_pl_dpo rank K responses .* set config.oracle='bt'"),
    ({"losses": "pairs_dpo", "oracle": "bt", "list_size": 3}, "list_size must be even"),
    ({"losses": "apo", "momentum": 1.0}, r"config.momentum .* must be in \[0, 1\); got 1"),
    ({"losses": "inpo_iterative", "round_length": 0}, "config.round_length must be >= 1"),
    ({"losses": "nash_mp", "round_length": 1}, "nash_mp spend half a round on each proximal"),
    ({"losses": "active_dpo", "candidates": 0}, "config.candidates must be >= 1"),
  ],
)
def test_validation(override, message):
  config = _small(**override)
  with pytest.raises(ValueError, match=message):
    train_lib.validate_config(config)


def test_listwise_variant_lists_its_losses_and_validates():
  config = config_lib.get_config("listwise=true,list_size=6")
  assert config.oracle == "bt" and config.list_size == 6
  assert common.names(config.losses) == common.names(config_lib.LISTWISE)
  names = []
  config_lib.sweep(lambda **kw: names.append(kw["losses"]), "listwise=true")
  assert names == common.names(config_lib.LISTWISE)
  # Equal labels: a list of K costs K/2 queries, as K/2 pairs do.
  config.losses = "pairs_dpo,list_lipo"
  steps = {
    n: policy_objectives.loss_config(config, o).steps
    for n, o in policy_objectives.objectives(config).items()
  }
  assert steps["pairs_dpo"] == steps["list_lipo"] == config.queries // (3 * config.prompts)


def test_custom_loss_without_the_function_or_failing(tmp_path):
  path = tmp_path / "losses.py"
  path.write_text("def broken(example):\n  return example.win * 2, {}\n")
  config = _small(custom_loss=f"{path}:hinge")
  with pytest.raises(ValueError, match="no function 'hinge'"):
    train_lib.validate_config(config)
  config.custom_loss = f"{path}:broken"
  with pytest.raises(ValueError, match="loss 'custom' fails on a tiny policy_pairs Example"):
    train_lib.validate_config(config)


# The config's default run (about 2 minutes on 2 cores): its docstring's "Expected" sentence.
@pytest.mark.slow
def test_default_run_gives_the_docstrings_results(tmp_path):
  config = config_lib.get_config("plot=false")
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  runs = {k: r for k, r in results.items() if k != "paired"}
  gap = {k: float(np.ravel(r["final"]["regularized_gap"]["mean"])[0]) for k, r in runs.items()}
  start = float(np.ravel(results["online_ipo"]["initial"]["regularized_gap"]["mean"])[0])
  assert abs(start - 0.224) <= 0.002
  for name in ("online_ipo", "online_ipo_uniform", "egpo", "nash_md_pg", "inpo"):
    assert 0.02 <= gap[name] <= 0.06, gap
  for name in ("online_dpo", "sppo"):  # farther from the regularized equilibrium than the start
    assert gap[name] > 0.5 > start, gap


def test_iterative_inpo_holds_pi_t_for_a_round_and_differs_from_online_inpo():
  config = _small(losses="inpo_iterative", round_length=3)
  hp = train_lib.config_hparams(config, policy_objectives.FIELDS, policy_objectives.Hyper)
  runs = {}
  for name in ("inpo_iterative", "inpo"):
    program = policy_objectives.make_program(config, losses.get_objective(name))
    state = program.init(hp, jax.random.key(0))
    states = [state]
    for t in range(5):
      state = program.step(state, hp, jax.numpy.asarray(t))
      states.append(state)
    runs[name] = states
  it = runs["inpo_iterative"]
  leaves = jax.tree.leaves
  # Rounds start at t = 0 and t = 3: pi_t is the policy at those steps, held in between.
  for k in (1, 2, 3):
    for a, b in zip(leaves(it[k].anchor), leaves(it[0].params), strict=True):
      np.testing.assert_array_equal(a, b)
  for k in (4, 5):
    for a, b in zip(leaves(it[k].anchor), leaves(it[3].params), strict=True):
      np.testing.assert_array_equal(a, b)
  # The first update is the same (pi_t = the policy); the second differs: online INPO re-anchors.
  for a, b in zip(leaves(it[1].params), leaves(runs["inpo"][1].params), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  gap = max(
    float(np.max(np.abs(a - b)))
    for a, b in zip(leaves(it[2].params), leaves(runs["inpo"][2].params), strict=True)
  )
  assert gap > 1e-6


def _steps(config, name, count):
  """The states of ``count`` eager updates of one objective from seed 0 (the first included)."""
  hp = train_lib.config_hparams(config, policy_objectives.FIELDS, policy_objectives.Hyper)
  program = policy_objectives.make_program(config, losses.get_objective(name))
  states = [program.init(hp, jax.random.key(0))]
  for t in range(count):
    states.append(program.step(states[-1], hp, jax.numpy.asarray(t)))
  return hp, states


def _same(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_apo_extrapolates_the_parameters_at_each_new_round():
  _, s = _steps(_small(losses="apo", round_length=2, momentum=0.3), "apo", 5)
  # Round 1 (t = 0, 1): no extrapolation yet; rounds start at t = 2 and t = 4.
  _same(s[1].anchor, s[0].params)
  for start in (2, 4):
    hat, hat_prev = s[start].params, s[start].previous
    _same(hat_prev, s[start - 2].params)  # the policy that ended the round before
    moved = jax.tree.map(lambda p, q: p + 0.3 * (p - q), hat, hat_prev)
    _same(s[start + 1].anchor, moved)  # pi_t is the extrapolated policy
    _same(s[start + 1].previous, hat)  # theta_hat_t, before extrapolation
  # With momentum 0 APO is iterative SPPO, update for update.
  _, plain = _steps(_small(losses="apo", round_length=2, momentum=0.0), "apo", 5)
  _, sppo = _steps(_small(losses="sppo_iterative", round_length=2), "sppo_iterative", 5)
  _same(plain[-1].params, sppo[-1].params)


def test_nash_mp_switches_the_opponent_at_mid_round_and_keeps_the_anchor():
  _, s = _steps(_small(losses="nash_mp", round_length=4), "nash_mp", 6)
  for t in (1, 2):  # improvement step: mu = pi_t = the policy at t = 0
    _same(s[t].opponent, s[0].params)
    _same(s[t].anchor, s[0].params)
  for t in (3, 4):  # correction step: mu = pi_{t+1/2} = the policy at mid-round (t = 2)
    _same(s[t].opponent, s[2].params)
    _same(s[t].anchor, s[0].params)
  _same(s[5].anchor, s[4].params)  # the next round
  _same(s[5].opponent, s[4].params)


@pytest.mark.parametrize("name", ["dno", "gpo"])
def test_dno_and_gpo_train_the_bandit_toward_the_condorcet_winner(name, float32):
  config = _small(losses=name, round_length=5, oracle="bt")
  hp = train_lib.config_hparams(config, policy_objectives.FIELDS, policy_objectives.Hyper)
  program = policy_objectives.make_program(config, losses.get_objective(name))

  @jax.jit
  def run(key):
    state = program.init(hp, key)
    start = program.metrics(state, hp)
    state = jax.lax.fori_loop(0, 60, lambda t, s: program.step(s, hp, t), state)
    return start, program.metrics(state, hp)

  for seed in (0, 1):
    start, end = run(jax.random.key(seed))
    assert float(end["duality_gap"]) < 0.5 * float(start["duality_gap"]), (seed, start, end)
    assert float(end["win_rate_vs_ref"]) > float(start["win_rate_vs_ref"]) + 0.1


def test_the_language_model_refuses_listwise_objectives_and_short_rounds():
  from configs import lm_online as lm_config
  from experiments import lm_online

  config = lm_config.get_config()
  for name, rounds, message in [
    ("list_lipo", 10, "no policy_lists sampler"),
    ("inpo_iterative", 0, "round_length must be >= 1 for inpo_iterative"),
    ("nash_mp", 1, "round_length must be >= 2 for nash_mp"),
  ]:
    config.objective, config.round_length = name, rounds
    with pytest.raises(ValueError, match=message):
      lm_online.validate(config)


def test_paired_differences_subtract_seed_by_seed():
  from experiments import policy_objectives_report as report

  def run(values):
    one = {m: {"values": values} for m in report.METRICS}
    return {"final": one, "at_fraction": {"0.1": one}}

  results = {"apo": run([0.3, 0.5, 0.4]), "sppo_iterative": run([0.1, 0.2, 0.3])}
  paired = report.paired_differences(results, (0.1,))
  assert list(paired) == ["apo-sppo_iterative"]  # the other pairs did not run
  diff = paired["apo-sppo_iterative"]["final"]["duality_gap"]
  np.testing.assert_allclose(diff["values"], [0.2, 0.3, 0.1])
  np.testing.assert_allclose(diff["mean"], 0.2)
  assert diff["ci95"] > 0 and "0.1" in paired["apo-sppo_iterative"]
