"""Parts (a) and (c) of ``configs/pareto_front.py`` as per-point ``jaxpref.training`` programs.

Part (b) is in ``experiments/pareto_kl.py``, with the helpers defined here. Each
``make_<part>(config)`` returns a :class:`Part`: a :class:`~jaxpref.training.Program` for
one (hyperparameter, seed) point, which ``experiments/pareto_front.py`` runs with
``training.run_sweep``, and ``fronts(state, hparams)``, the fronts traced by the final state,
whose exact hypervolume is computed on the host. Every model lives in the state as a tuple of
parameter arrays; the per-weight MODPO models and the per-reward Rewarded-Soups experts are
stacked on a leading axis and trained with ``jax.vmap``. Reports, per point: (a) the IGD+ of every
conditioning/scalarization; (b) and (c) the largest KL from the closed-form policy to each method's.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments import common
from jaxpref import data, models, optim, pareto, training
from jaxpref import preference as pm
from jaxpref.types import Array, PRNGKey

PARTS = ("ff", "kl", "llmfao")
FF_EXACT_HV = 0.34209  # Spec A.0 (pymoo/moocore on a dense front), reference (1, 1).


class FFHyper(NamedTuple):
  """Traced hyperparameters of part (a)."""

  learning_rate: float


class PolicyHyper(NamedTuple):
  """Traced hyperparameters of parts (b) and (c)."""

  learning_rate: float
  kl_coef: float


# Per part: config fields that can be vmap axes, and where they land in its hyperparameters.
FIELDS = {
  "ff": {"ff.learning_rate": "learning_rate"},
  "kl": {"kl.learning_rate": "learning_rate", "kl.kl_coef": "kl_coef"},
  "llmfao": {"llmfao.learning_rate": "learning_rate", "llmfao.kl_coef": "kl_coef"},
}
HYPERS = {"ff": FFHyper, "kl": PolicyHyper, "llmfao": PolicyHyper}


class Part(NamedTuple):
  """A part: its per-point program, its fronts ``{name: [k, m]}`` and static facts."""

  program: training.Program
  fronts: Callable[[Any, Any], dict[str, Array]]
  info: dict[str, Any]


def widths(text: str) -> list[int]:
  """``"32,32"`` -> ``[32, 32]``."""
  return [int(w) for w in str(text).split(",") if w.strip()]


class Net:
  """An NNX module as a static graph plus a tuple of parameter arrays (a plain pytree)."""

  def __init__(self, build: Callable[[nnx.Rngs], nnx.Module]):
    """``build(rngs)`` makes the module; its graph is read once, abstractly."""
    self.build = build
    graphdef, state = nnx.split(nnx.eval_shape(lambda: build(nnx.Rngs(0))))
    self.graphdef, self.treedef = graphdef, jax.tree.structure(state)

  def init(self, key: PRNGKey) -> tuple[tuple[Array, ...], Any]:
    """``(params, adam_state)`` of a module built from ``key`` (traceable)."""
    params = tuple(jax.tree.leaves(nnx.state(self.build(nnx.Rngs(key)))))
    return params, optax.adam(1.0).init(params)  # Adam's state does not depend on the rate.

  def __call__(self, params: tuple[Array, ...]) -> nnx.Module:
    """The module with these parameters."""
    return nnx.merge(self.graphdef, jax.tree.unflatten(self.treedef, list(params)))

  def step(self, net: Any, loss_fn: Callable[[nnx.Module], Array], learning_rate: Array) -> Any:
    """One Adam step on ``loss_fn(module)``: ``(params, opt_state) -> (params, opt_state)``."""
    out = optim.gradient_step(lambda p: loss_fn(self(p)), optax.adam(learning_rate), *net)
    return out.params, out.opt_state


def step_key(state: dict[str, Any], t: Array) -> PRNGKey:
  """The key of step ``t``: ``fold_in`` of the state's raw key data."""
  return jax.random.fold_in(jax.random.wrap_key_data(state["key"]), t)


def simplex_draws(key: PRNGKey, num: int, num_objectives: int) -> Array:
  """``[num, m]`` uniform weights on the simplex (Dirichlet(1)) as normalized exponentials.

  ``jax.random.dirichlet``'s gamma sampler fails under ``vmap`` with keys sharded over the point
  axis (the ``jit`` backend), so the uniform-simplex weights are drawn without it.
  """
  e = jax.random.exponential(key, (num, num_objectives))
  return e / jnp.sum(e, axis=-1, keepdims=True)


def set_loss(net, key, objectives, *, num_objectives: int, num_weights: int, method: str, **kw):
  """``models.pareto_set_loss`` with Dirichlet(1) weights (:func:`simplex_draws`)."""
  weights = simplex_draws(key, num_weights, num_objectives)
  return jnp.mean(pareto.scalarize(objectives(net, weights, None), weights, method, **kw))


# (a) Fonseca-Fleming Pareto-set learning. ------------------------------------------------------


def fonseca_fleming(x: Array) -> Array:
  """The two Fonseca-Fleming objectives of ``x [..., n]`` (minimised)."""
  n = x.shape[-1]
  f1 = 1 - jnp.exp(-jnp.sum((x - 1 / jnp.sqrt(n)) ** 2, -1))
  f2 = 1 - jnp.exp(-jnp.sum((x + 1 / jnp.sqrt(n)) ** 2, -1))
  return jnp.stack([f1, f2], -1)


def ff_true_front(num: int = 20_001) -> np.ndarray:
  """``[num, 2]`` points of the exact Fonseca-Fleming front (n = 2)."""
  s = np.linspace(-1, 1, num)
  return np.stack([1 - np.exp(-((s - 1) ** 2)), 1 - np.exp(-((s + 1) ** 2))], axis=1)


def make_ff(config: ml_collections.ConfigDict) -> Part:
  """One conditioned network per conditioning x scalarization (static), all in one state."""
  cfg = config.ff
  combos = [(c, m) for c in common.names(cfg.conditionings) for m in common.names(cfg.methods)]
  nets = {
    c: Net(
      lambda rngs, c=c: models.ConditionedMLP(
        1, widths(cfg.hidden), cfg.dim, num_objectives=2, conditioning=c, rank=cfg.rank, rngs=rngs
      )
    )
    for c, _ in combos
  }
  grid = jnp.asarray(pareto.das_dennis(2, config.grid), jnp.float32)
  true_front = jnp.asarray(ff_true_front()[::20], jnp.float32)

  def objectives(net, weights, key):
    del key
    return fonseca_fleming(4 * jnp.tanh(net(jnp.ones((weights.shape[0], 1)), weights) / 4))

  def init(hp: FFHyper, key: PRNGKey) -> dict[str, Any]:
    del hp
    k_init, k_run = jax.random.split(key)
    return {
      "key": jax.random.key_data(k_run),
      "nets": {f"{c}/{m}": nets[c].init(k_init) for c, m in combos},
    }

  def step(state, hp: FFHyper, t: Array):
    key, out = step_key(state, t), {}
    for c, m in combos:

      def loss(net, m=m):
        opts = {"method": m, "ideal": jnp.zeros(2), "mu": cfg.mu, "num_weights": cfg.num_weights}
        return set_loss(net, key, objectives, num_objectives=2, **opts)

      out[f"{c}/{m}"] = nets[c].step(state["nets"][f"{c}/{m}"], loss, hp.learning_rate)
    return {**state, "nets": out}

  def fronts(state, hp):
    del hp
    return {
      f"{c}/{m}": objectives(nets[c](state["nets"][f"{c}/{m}"][0]), grid, None) for c, m in combos
    }

  def point_metrics(state, hp):
    return {f"{k}/igd_plus": pareto.igd_plus(F, true_front) for k, F in fronts(state, hp).items()}

  return Part(training.Program(init, step, point_metrics), fronts, {"grid": np.asarray(grid)})


def conditioned(num_inputs, hidden, vocab, m, rank):
  """A policy network conditioned on the weights with SVD-LoRA (Panacea)."""
  return Net(
    lambda rngs: models.ConditionedMLP(
      num_inputs, hidden, vocab, num_objectives=m, conditioning="svd_lora", rank=rank, rngs=rngs
    )
  )


def conditioned_logp(net, X, log_ref, weights):
  """``[B, P, V]`` log-probabilities of the conditioned policy for ``weights [B, m]``."""
  return jax.nn.log_softmax(log_ref + net(X[None], weights[:, None, :]), axis=-1)


def conditioned_step(net_def, net, key, task, hp, num_weights):
  """One Adam step of the conditioned policy on the LS-scalarized negated values."""
  X, log_ref, R = task

  def objectives(net, weights, key):
    del key
    logp = conditioned_logp(net, X, log_ref, weights)
    return -pareto.policy_values(logp, log_ref, R, kl_coef=hp.kl_coef)

  def loss(net):
    opts = {"method": "ls", "num_weights": num_weights}
    return set_loss(net, key, objectives, num_objectives=R.shape[-1], **opts)

  return net_def.step(net, loss, hp.learning_rate)


# (c) LLMFAO: crowd vs GPT-4 strengths as two rewards over 59 LLMs. -----------------------------


def llmfao_scores(cfg: ml_collections.ConfigDict) -> tuple[np.ndarray, list[str], dict[str, int]]:
  """Standardized BT strengths ``[59, 2]`` (crowd, GPT-4), the LLM names, comparison counts."""
  crowd = data.load_llmfao(cfg.crowd or None)
  gpt4 = data.load_llmfao(cfg.gpt4)
  if list(crowd.items) != list(gpt4.items):
    raise ValueError("llmfao: the crowd and GPT-4 files name different sets of models.")
  scores = []
  for table in (crowd, gpt4):
    model = pm.BradleyTerry(num_items=table.num_items, l2=cfg.l2)
    s = np.asarray(pm.fit(model, pm.pairs_from_table(table)).params["scores"], np.float64)
    scores.append((s - s.mean()) / s.std())
  counts = {"crowd": crowd.num_comparisons, "gpt4": gpt4.num_comparisons}
  return np.stack(scores, axis=1), list(crowd.items), counts


def make_llmfao(config: ml_collections.ConfigDict) -> Part:
  """A router policy over the LLMs conditioned on the weights; the BT fits run once, here."""
  S, items, counts = llmfao_scores(config.llmfao)
  R = jnp.asarray(S, jnp.float32)[None]  # One "prompt": [1, 59, 2].
  log_ref = jnp.full((1, len(items)), -np.log(len(items)), jnp.float32)
  X = jnp.ones((1, 1), jnp.float32)
  grid = jnp.asarray(pareto.das_dennis(2, config.grid), jnp.float32)
  cond = conditioned(1, [64], len(items), 2, 4)

  def init(hp: PolicyHyper, key: PRNGKey) -> dict[str, Any]:
    del hp
    k_cond, k_run = jax.random.split(key)
    return {"key": jax.random.key_data(k_run), "conditioned": cond.init(k_cond)}

  def step(state, hp: PolicyHyper, t: Array):
    net = conditioned_step(cond, state["conditioned"], step_key(state, t), (X, log_ref, R), hp, 16)
    return {**state, "conditioned": net}

  def fronts(state, hp):
    logps = {
      "closed_form": pareto.closed_form_policy(log_ref, R, grid, kl_coef=hp.kl_coef),
      "conditioned": conditioned_logp(cond(state["conditioned"][0]), X, log_ref, grid),
    }
    values = {k: pareto.policy_values(v, log_ref, R, kl_coef=hp.kl_coef) for k, v in logps.items()}
    return {**values, **{f"{k}/logp": v for k, v in logps.items()}}

  def point_metrics(state, hp):
    F = fronts(state, hp)
    return {
      "conditioned/max_kl": jnp.max(pareto.policy_kl(F["closed_form/logp"], F["conditioned/logp"]))
    }

  info = {"scores": S, "items": items, "counts": counts, "grid": np.asarray(grid)}
  return Part(training.Program(init, step, point_metrics), fronts, info)
