"""Policy-level preference objectives on a neural contextual bandit, one engine sweep per loss.

Config: ``configs/policy_objectives.py``. Every loss (an objective of ``jaxpref.losses.OBJECTIVES``)
is one static axis, run in sequence, each through ``jaxpref.training.run_sweep`` (one compiled
program over ``seeds x`` the vmapped hyperparameter axes) with its outputs in ``workdir/<loss>/``
(metrics.jsonl, TensorBoard, checkpoints, so each resumes on its own). The task (prompt features
and oracle) comes from ``key(config.seed)`` and is the SAME at every point: seeds vary only the
policy's initialisation and the sampled responses and labels, so the intervals measure the
training noise on one problem (the one the README's table reports). Returns per loss every
metric's final values as ``[*axes, seed]``, their mean and 95% interval, the same at 10%, 25% and
50% of the labels (``at_fraction``), and the mean curves;
``experiments/policy_objectives_report.py`` prints the table and draws curves.png.
"""

import copy
import importlib.util
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments import common, train_lib
from experiments import policy_objectives_report as report
from jaxpref import games, losses, metrics, models, training
from jaxpref.types import Array, PRNGKey

Hyper = losses.OnlineHparams  # The traced hyperparameters of one point (any can be an axis).
FIELDS = {name: name for name in Hyper._fields}  # Config path -> Hyper field.
COMBINABLE = ("dpo", "ipo", "cdpo", "rdpo")  # Losses on policy pairs a combination may use.
METRICS = ("regularized_gap", "duality_gap", "win_rate_vs_ref", "loss")
LIST_SAMPLINGS = ("policy_lists", "policy_list_pairs")
EARLY_FRACTIONS = (0.1, 0.25, 0.5)  # results.json's "at_fraction": metrics at these label budgets.


class PointState(NamedTuple):
  """One point's policy parameters (the MLP's leaves), Adam state, PRNG key and last loss.

  ``anchor`` is an iterative objective's pi_t: the parameters at the start of the current round
  (``config.round_length`` updates); ``previous`` APO's policy at the end of the round before
  (theta_hat_t, before extrapolation); ``opponent`` Nash-MP's mu (pi_t, then pi_{t+1/2} from
  mid-round). Objectives that do not use them carry them unchanged.
  """

  params: Any
  opt_state: Any
  key: PRNGKey
  loss: Array
  anchor: Any
  previous: Any
  opponent: Any


def parse_combination(text: str) -> dict[str, float]:
  """``"dpo:0.5,ipo:0.5"`` -> ``{"dpo": 0.5, "ipo": 0.5}``; raises on unknown names or weights."""
  out = {}
  for part in common.names(text):
    name, _, weight = part.partition(":")
    if name not in COMBINABLE:
      raise ValueError(f"combination: unknown loss {name!r}; known: {', '.join(COMBINABLE)}.")
    try:
      out[name] = float(weight or 1.0)
    except ValueError:
      raise ValueError(
        f"combination: weight of {name!r} must be a number; got {weight!r}."
      ) from None
  return out


def load_custom_loss(spec: str):
  """Imports ``function`` from ``file.py:function``; raises ``ValueError`` naming the problem."""
  path, sep, name = spec.rpartition(":")
  if not sep or not name:
    raise ValueError(f"custom_loss must be 'file.py:function'; got {spec!r}.")
  if not os.path.isfile(path):
    raise ValueError(f"custom_loss {spec!r}: no file at {path!r}.")
  module_spec = importlib.util.spec_from_file_location("_jaxpref_custom_loss", path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except Exception as e:  # A user's file may fail in any way: say where and how.
    where = f" (line {e.lineno})" if isinstance(e, SyntaxError) else ""
    raise ValueError(f"custom_loss: importing {path}{where} failed: {type(e).__name__}: {e}") from e
  if not callable(getattr(module, name, None)):
    raise ValueError(f"custom_loss: {path} has no function {name!r}.")
  return getattr(module, name)


def objectives(config: ml_collections.ConfigDict) -> dict[str, losses.Objective]:
  """The configured losses; ``custom`` and ``combined`` are registered here (policy pairs)."""
  out = {name: losses.get_objective(name) for name in common.names(config.losses)}
  if config.custom_loss:
    losses.register("custom", load_custom_loss(config.custom_loss), overwrite=True)
    out["custom"] = losses.Objective("policy_pairs", 1, "custom")
  if config.get("combination"):
    weights = parse_combination(config.combination)

    def combined(example, *, kl_coef):
      hp = {name: {"kl_coef": kl_coef} for name in weights}
      return losses.combined_loss(example, weights=weights, hparams=hp)

    losses.register("combined", combined, overwrite=True)
    out["combined"] = losses.Objective("policy_pairs", 1, "combined", {"kl_coef": "kl_coef"})
  return out


def loss_config(config: ml_collections.ConfigDict, objective: losses.Objective):
  """The run sections of one loss: its updates, about ``evals`` logs, checkpoints on log steps."""
  out = copy.deepcopy(config)
  per = losses.objective_queries(objective, config)
  out.steps = max(1, int(config.queries) // (per * int(config.prompts)))
  out.log.every = max(1, out.steps // int(config.evals))
  if config.checkpoint.every:
    out.checkpoint.every = max(1, round(config.checkpoint.every / out.log.every)) * out.log.every
  return out


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks losses, oracle, sizes and every swept value before anything is compiled."""
  known = sorted(losses.OBJECTIVES)
  for name in common.names(config.losses):
    if name not in losses.OBJECTIVES:
      raise ValueError(f"Unknown loss {name!r} in config.losses; known: {', '.join(known)}.")
  if config.oracle not in ("cyclic", "bt"):
    raise ValueError(f'config.oracle must be "cyclic" or "bt"; got {config.oracle!r}.')
  lists = [n for n, o in objectives(config).items() if o.sampling in LIST_SAMPLINGS]
  if lists and config.oracle != "bt":
    raise ValueError(
      f"{', '.join(lists)} rank K responses by Plackett-Luce draws, exact only for a transitive "
      "oracle: set config.oracle='bt'."
    )
  if lists and (config.list_size < 2 or config.list_size % 2):
    raise ValueError(f"config.list_size must be even and >= 2; got {config.list_size}.")
  for field in (
    "responses",
    "prompts",
    "features",
    "queries",
    "evals",
    "sppo_samples",
    "round_length",
    "candidates",
  ):
    if config[field] < (2 if field == "responses" else 1):
      raise ValueError(f"config.{field} must be >= {2 if field == 'responses' else 1}.")
  prox = [n for n, o in objectives(config).items() if o.mirror_prox]
  if prox and config.round_length < 2:
    raise ValueError(
      f"{', '.join(prox)} spend half a round on each proximal step: config.round_length must be "
      f">= 2; got {config.round_length}."
    )
  if config.steps != config.queries // config.prompts:
    raise ValueError("config.steps is queries // prompts: set config.queries, not config.steps.")
  sweep = train_lib.sweep_from_config(
    config, train_lib.config_hparams(config, FIELDS, Hyper), FIELDS
  )
  losses.check_online_hparams(training.sweep_points(sweep)[0], name="config.{} (or its vmap axis)")
  hparams = train_lib.config_hparams(config, FIELDS, Hyper)
  logp, P = jnp.log(jnp.full((2, 3), 1 / 3)), jnp.full((2, 3, 3), 0.5)
  for name, objective in objectives(config).items():
    try:
      example = losses.bandit_examples(
        objective.sampling,
        jax.random.key(0),
        logp,
        P,
        mixture=config.mixture,
        samples=2,
        list_size=int(config.list_size),
        candidates=int(config.candidates),
      )
      value = jax.vmap(losses.objective_loss(objective, hparams))(example)
      if jnp.shape(value) != (2,) or not np.all(np.isfinite(value)):
        raise ValueError(f"expected a finite scalar per example, got {value}")
    except Exception as e:  # A user's loss may fail in any way: name it and the problem.
      raise ValueError(f"loss {name!r} fails on a tiny {objective.sampling} Example: {e}") from None


def make_program(config: ml_collections.ConfigDict, objective: losses.Objective):
  """The per-point program of one loss: MLP policy, Adam, one update per step, exact metrics."""
  cycle = config.cycle if config.oracle == "cyclic" else 0.0
  X, P = games.contextual_bandit(
    jax.random.key(config.seed),
    prompts=config.prompts,
    features=config.features,
    n=config.responses,
    cycle=cycle,
  )
  hidden = [int(h) for h in config.hidden.split(",")]

  def model(key: PRNGKey) -> models.MLP:
    return models.MLP(config.features, hidden, config.responses, rngs=nnx.Rngs(key))

  graphdef, template = nnx.split(model(jax.random.key(0)))
  treedef = jax.tree.structure(template)

  def logp_of(params: list[Array]) -> Array:  # Params are the state's leaves: plain arrays.
    return jax.nn.log_softmax(nnx.merge(graphdef, jax.tree.unflatten(treedef, params))(X))

  def init(hp: Hyper, key: PRNGKey) -> PointState:
    k_init, k_run = jax.random.split(key)
    params = jax.tree.leaves(nnx.split(model(k_init))[1])
    opt_state = optax.adam(hp.learning_rate).init(params)
    return PointState(params, opt_state, k_run, jnp.zeros((), X.dtype), params, params, params)

  def step(state: PointState, hp: Hyper, t: Array) -> PointState:
    # The key stream lives in the state (folding in the step would mix batched and not); t only
    # starts an iterative objective's rounds.
    next_key, key = jax.random.split(state.key)
    loss_of = losses.objective_loss(objective, hp)
    params, anchor, previous, opponent = losses.objective_rounds(
      objective,
      losses.Rounds(state.params, state.anchor, state.previous, state.opponent),
      t,
      round_length=int(config.round_length),
      momentum=hp.momentum,
    )
    anchor_logp = jax.lax.stop_gradient(logp_of(anchor)) if objective.iterative else None
    mu = jax.lax.stop_gradient(logp_of(opponent)) if objective.mirror_prox else None

    def batch_loss(params, extrapolated) -> Array:
      opp = jax.lax.stop_gradient(logp_of(extrapolated)) if objective.extragradient else mu
      ex = losses.bandit_examples(
        objective.sampling,
        key,
        logp_of(params),
        P,
        mixture=hp.mixture,
        samples=int(config.sppo_samples),
        opponent=opp,
        temperature=hp.temperature,
        list_size=int(config.list_size),
        anchor=anchor_logp,
        candidates=int(config.candidates),
      )
      return jnp.mean(jax.vmap(loss_of)(ex))

    out = losses.objective_step(
      objective, batch_loss, optax.adam(hp.learning_rate), params, state.opt_state
    )
    return PointState(out.params, out.opt_state, next_key, out.loss, anchor, previous, opponent)

  def point_metrics(state: PointState, hp: Hyper) -> dict[str, Array]:
    pi = jnp.exp(logp_of(state.params))
    return {**metrics.policy_metrics(P, pi, kl_coef=hp.kl_coef), "loss": state.loss}

  return training.Program(init, step, point_metrics)


def initial_metrics(program: training.Program, sweep: training.Sweep) -> dict[str, np.ndarray]:
  """The metrics of every point's initial policy, ``[*axes, seed]`` (the engine logs none)."""
  points, seeds = training.sweep_points(sweep)
  dtype = jnp.zeros(()).dtype
  hp = jax.tree.map(lambda v: jnp.asarray(v, dtype if v.dtype.kind == "f" else v.dtype), points)
  fn = jax.jit(jax.vmap(lambda h, k: program.metrics(program.init(h, k), h)))
  values = fn(hp, training.seed_keys(sweep.seed, seeds))
  return training.unflatten({k: np.asarray(v) for k, v in values.items()}, sweep)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs one sweep per loss (each resuming from ``workdir/<loss>``); prints and plots results."""
  sweep = train_lib.sweep_from_config(
    config, train_lib.config_hparams(config, FIELDS, Hyper), FIELDS
  )
  results, curves = {}, {}
  initial = None
  for name, objective in objectives(config).items():
    one = loss_config(config, objective)
    options = train_lib.run_options(one)
    spec = {"custom": config.custom_loss, "combined": config.get("combination", "")}.get(name, "")
    drop = ("losses", "custom_loss", "combination")  # Other losses' settings do not matter here.
    provenance = {k: v for k, v in options["provenance"].items() if k not in drop}
    options["provenance"] = {**provenance, "loss": name, "loss_spec": spec}
    program = make_program(config, objective)
    if initial is None:
      initial = {k: common.stats(v) for k, v in initial_metrics(program, sweep).items()}
    out = training.run_sweep(
      program, sweep, workdir=os.path.join(workdir, name), name=name, **options
    )
    per = losses.objective_queries(objective, config)
    queries = out.log_steps * per * int(config.prompts)
    curves[name] = (queries, out.history)
    results[name] = {
      "objective": {k: objective._asdict()[k] for k in ("sampling", "loss", "extragradient")},
      "queries_per_update": per,
      "updates": int(one.steps),
      "queries": int(queries[-1]),
      "resumed_from": out.resumed_from,
      "steps_per_second": out.steps_per_second,
      "initial": initial,
      "final": {k: common.stats(v[..., -1]) for k, v in out.history.items()},
      # Early budgets: every seed's values at the log nearest each fraction of the labels.
      "at_fraction": {
        f"{f:g}": {
          k: common.stats(v[..., int(np.argmin(np.abs(queries - f * queries[-1])))])
          for k, v in out.history.items()
        }
        for f in EARLY_FRACTIONS
      },
      "curve": {
        "queries": queries.tolist(),
        **{k: training.summarize(v, axis=-2).mean.tolist() for k, v in out.history.items()},
      },
    }
    common.write_results(workdir, results)  # A later loss's failure keeps this one.
    if config.plot and jax.process_index() == 0:
      training.plot_sweep_curves(
        out.history,
        queries,
        sweep,
        os.path.join(workdir, name, "curves.png"),
        metrics=["regularized_gap", "duality_gap"],
        xlabel="oracle queries",
      )
  paired = report.paired_differences(results, EARLY_FRACTIONS)
  if paired:
    results["paired"] = paired
    common.write_results(workdir, results)
  if jax.process_index() == 0:
    report.print_table(config, sweep, {k: v for k, v in results.items() if k != "paired"})
    report.print_paired(paired, EARLY_FRACTIONS[0])
    if config.plot:
      print(f"Wrote {report.plot_losses(curves, sweep, os.path.join(workdir, 'curves.png'))}")
  return results
