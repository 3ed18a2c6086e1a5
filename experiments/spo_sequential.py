"""SPO on a sequential task: self-play against BT-RLHF with intransitive trajectory preferences.

Config: ``configs/spo_sequential.py``. Swamy et al.'s claim (SPO, ICML 2024): when preferences over
whole trajectories are intransitive, rewarding a trajectory with its win rate against other
trajectories of the current policy (self-play) finds the minimax winner, while a Bradley-Terry
reward model followed by RL is misspecified.

The task: ``horizon`` steps with ``actions`` actions each; a trajectory is its action sequence (all
``N = actions ** horizon`` of them are enumerated, in lexicographic order). Step ``t``'s action
``a`` scores ``R[t, a, c] = w_t L[a mod 3, c] + criteria_noise z[t, a, c]`` on three criteria,
``L`` the cyclic Latin square ``[[2, 1, 0], [0, 2, 1], [1, 0, 2]]`` (each action serves one
criterion best, a rock-paper-scissors of styles), ``w_t`` decaying from 1 to ``step_decay`` (the
order of the actions matters) and ``z`` standard normal from ``config.seed``; a trajectory's
criteria are the sums ``s_c = sum_t R[t, a_t, c]``. Preferences (:func:`preference`):

- ``intransitive``: A beats B if A scores higher on the majority of the criteria (ties 1/2): the
  majority relation cycles among the good trajectories, the maximal lottery is mixed and no
  Bradley-Terry model holds;
- ``transitive``: the control, Bradley-Terry on the criteria's sum, ``sigmoid(bt_scale (S_A -
  S_B))``: the maximal lottery is the best trajectory.

A preference query returns a Bernoulli label of ``P`` flipped with probability ``label_noise``.
The policy is tabular softmax over histories: one logit vector per prefix of actions (the state is
the history, since the preferences are not Markovian in any smaller state), initialised uniform.
Both methods take the same policy-gradient step (REINFORCE over ``rounds`` groups of ``round_size
= K`` sampled trajectories, regularised reward ``r(y) - entropy_coef log pi(y)`` (the gradient of
``E r + entropy_coef H(pi)``), leave-one-out baseline within a group, Adam) and differ only in the
reward:

- ``spo``: self-play: ``r(y_i)`` is the mean label of ``y_i`` against the other ``K - 1``
  trajectories of its group (each ordered pair queried: ``K (K - 1)`` queries per group);
- ``bt_rlhf``: before training, as many labelled pairs as spo queries in its whole run are drawn
  from the uniform (reference) policy and a Bradley-Terry reward is fitted by ridge Newton steps,
  linear on the three criteria (``reward_model = "linear"``, the natural reward model) or one score
  per trajectory (``"tabular"``); then policy gradient on that reward.

Metrics (exact, by enumerating the trajectories, on the noise-free ``P``): the duality gap
``max_y P(y > p) - 1/2`` of the policy's trajectory distribution ``p`` (0 exactly at a maximal
lottery) and of its running average, the win rate against the uniform policy and against the
maximal lottery, entropy, TV to the maximal lottery (``equilibria.maximal_lottery``), the mean
sampled reward and the queries made. ``run`` adds, per preference type, the paired head-to-head
win rate of each seed's final spo policy against the same seed's final bt_rlhf policy, and
``spo.png`` draws the duality gap against updates.
"""

import itertools
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common, train_lib
from jaxpref import equilibria, training
from jaxpref.types import Array, PRNGKey

PREFERENCES = ("intransitive", "transitive")
METHODS = ("spo", "bt_rlhf")
REWARD_MODELS = ("linear", "tabular")
OPTIMIZERS = ("sgd", "adam")
MAX_TRAJECTORIES = 729  # actions ** horizon: the exact game is N x N, its lottery an LP.
STYLES = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 2.0]])  # L[action % 3, criterion]


class Hyper(NamedTuple):
  """The traced hyperparameters of one point."""

  learning_rate: Any
  entropy_coef: Any


FIELDS = {"learning_rate": "learning_rate", "entropy_coef": "entropy_coef"}


class Task(NamedTuple):
  """The enumerated task of one preference type."""

  step_rewards: np.ndarray  # [H, A, 3] R[t, a, c]
  actions: np.ndarray  # [N, H] every trajectory's actions, lexicographic
  nodes: np.ndarray  # [N, H] the history node each action is taken at
  num_nodes: int  # sum_{t < H} A^t
  criteria: np.ndarray  # [N, 3] the trajectories' criteria s_c
  preference: np.ndarray  # [N, N] P(row beats column), noise-free
  lottery: np.ndarray  # [N] the maximal lottery of ``preference``


class State(NamedTuple):
  """One point: policy logits per history node, Adam state, key, learned reward, averages."""

  logits: Array  # [nodes, A]
  opt_state: Any
  key: PRNGKey
  reward: Array  # [N] the fitted BT reward (bt_rlhf) or zeros
  average: Array  # [N] mean trajectory distribution over the updates so far
  count: Array
  sampled: Array  # mean reward of the last update's samples
  queries: Array  # preference queries made (bt_rlhf: all before the first update)


def step_rewards(config: ml_collections.ConfigDict) -> np.ndarray:
  """``R [H, A, 3]``: ``w_t L[a mod 3] + criteria_noise z`` (``config.seed`` draws ``z``)."""
  H, A = int(config.horizon), int(config.actions)
  w = np.linspace(1.0, float(config.step_decay), H)
  z = np.random.default_rng(int(config.seed)).standard_normal((H, A, 3))
  return w[:, None, None] * STYLES[np.arange(A) % 3][None] + float(config.criteria_noise) * z


def enumerate_trajectories(horizon: int, actions: int) -> tuple[np.ndarray, np.ndarray, int]:
  """``(actions [N, H], nodes [N, H], num_nodes)``: every action sequence and its history nodes.

  The node of step ``t`` is ``offset_t + index of the prefix a_{<t}`` (base ``actions``), with
  ``offset_t = sum_{s < t} actions^s``: node 0 is the empty history.
  """
  acts = np.array(list(itertools.product(range(actions), repeat=horizon)), np.int32)
  acts = acts.reshape(actions**horizon, horizon)
  offsets = np.cumsum([0] + [actions**t for t in range(horizon)])[:horizon]
  nodes = np.zeros_like(acts)
  prefix = np.zeros(len(acts), np.int64)
  for t in range(horizon):
    nodes[:, t] = offsets[t] + prefix
    prefix = prefix * actions + acts[:, t]
  return acts, nodes, int(sum(actions**t for t in range(horizon)))


def criteria_of(rewards: np.ndarray, trajectories: np.ndarray) -> np.ndarray:
  """``[..., 3]``: the criteria ``s_c = sum_t R[t, a_t, c]`` of action sequences ``[..., H]``."""
  H = rewards.shape[0]
  return np.sum(rewards[np.arange(H), np.asarray(trajectories)], axis=-2)


def preference(
  rewards: np.ndarray, a: Any, b: Any, kind: str, *, bt_scale: float = 1.0
) -> np.ndarray:
  """``P(a > b)`` for action sequences ``a [..., H]`` and ``b [..., H]`` (broadcast).

  Args:
    rewards: the task's ``R [H, A, 3]``.
    a: action sequences.
    b: action sequences.
    kind: ``intransitive`` (majority of the criteria, ties 1/2) or ``transitive`` (Bradley-Terry on
      the criteria's sum with scale ``bt_scale``).
    bt_scale: the transitive control's inverse temperature.

  Returns:
    ``[...]`` probabilities.

  Raises:
    ValueError: on trajectories of different lengths, or of another length than the task's
      horizon (preferences are over whole trajectories), or an unknown ``kind``.
  """
  a, b = np.asarray(a), np.asarray(b)
  H = rewards.shape[0]
  if a.shape[-1] != b.shape[-1]:
    raise ValueError(
      f"Cannot compare trajectories of different lengths ({a.shape[-1]} and {b.shape[-1]} steps): "
      f"this task's preferences are over whole {H}-step trajectories."
    )
  if a.shape[-1] != H:
    raise ValueError(f"Trajectories have {a.shape[-1]} steps; this task's horizon is {H}.")
  sa, sb = criteria_of(rewards, a), criteria_of(rewards, b)
  if kind == "intransitive":
    margin = np.sum(np.sign(sa - sb), axis=-1)
    return np.where(margin > 0, 1.0, np.where(margin < 0, 0.0, 0.5))
  if kind == "transitive":
    return 1.0 / (1.0 + np.exp(-bt_scale * (np.sum(sa, -1) - np.sum(sb, -1))))
  raise ValueError(f"Unknown preference {kind!r}; known: {', '.join(PREFERENCES)}.")


def make_task(config: ml_collections.ConfigDict, kind: str) -> Task:
  """The enumerated task, its preference matrix and maximal lottery."""
  R = step_rewards(config)
  acts, nodes, num_nodes = enumerate_trajectories(int(config.horizon), int(config.actions))
  P = preference(R, acts[:, None, :], acts[None, :, :], kind, bt_scale=float(config.bt_scale))
  P = 0.5 * (P + 1.0 - P.T)  # exact skew-symmetry (the BT sigmoid rounds)
  lottery = np.asarray(equilibria.maximal_lottery(P))
  return Task(R, acts, nodes, num_nodes, criteria_of(R, acts), P, lottery)


def trajectory_logp(task: Task, logits: Array) -> Array:
  """``[N]`` log-probabilities of every trajectory under the history-tabular policy."""
  logp = jax.nn.log_softmax(logits, axis=-1)
  return jnp.sum(logp[jnp.asarray(task.nodes), jnp.asarray(task.actions)], axis=-1)


def distributions(task: Task, logits: np.ndarray) -> np.ndarray:
  """``[..., N]`` the trajectory distributions of ``[..., nodes, A]`` logits (float64)."""
  flat = logits.reshape(-1, *logits.shape[-2:])
  p = jax.vmap(lambda z: jnp.exp(trajectory_logp(task, z)))(jnp.asarray(flat))
  return np.asarray(p, np.float64).reshape(*logits.shape[:-2], -1)


def fit_bt_reward(
  features: Array, wins: Array, counts: Array, *, l2: float, newton_steps: int
) -> Array:
  """``[N]`` the ridge Bradley-Terry reward ``features @ w`` fitted to aggregated labels.

  ``wins[i, j]`` labels for ``i`` out of ``counts[i, j]`` comparisons of ``(i, j)``; Newton steps
  on the mean log-loss plus ``l2 / 2 |w|^2`` (linear: ``features`` the criteria; tabular: the
  identity), the reward centred.
  """
  D = features[:, None, :] - features[None, :, :]  # [N, N, d]
  total = jnp.maximum(jnp.sum(counts), 1.0)
  eye = jnp.eye(features.shape[1], dtype=features.dtype)

  def newton(_, w):
    r = features @ w
    s = jax.nn.sigmoid(r[:, None] - r[None, :])
    g = jnp.einsum("ij,ijd->d", counts * s - wins, D) / total + l2 * w
    h = jnp.einsum("ij,ijd,ije->de", counts * s * (1 - s), D, D) / total + l2 * eye
    return w - jnp.linalg.solve(h, g)

  w = jax.lax.fori_loop(0, newton_steps, newton, jnp.zeros(features.shape[1], features.dtype))
  reward = features @ w
  return reward - jnp.mean(reward)


def evaluate(task: Task, p: Array) -> dict[str, Array]:
  """Exact duality gap, win rates, entropy and TV to the lottery of a trajectory distribution."""
  P = jnp.asarray(task.preference, p.dtype)
  lottery = jnp.asarray(task.lottery, p.dtype)
  return {
    "gap": jnp.max(P @ p) - 0.5,
    "win_vs_uniform": p @ jnp.mean(P, axis=1),
    "win_vs_lottery": p @ P @ lottery,
    "entropy": -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.maximum(p, 1e-30)), 0.0)),
    "tv_to_lottery": 0.5 * jnp.sum(jnp.abs(p - lottery)),
  }


def make_program(config: ml_collections.ConfigDict, task: Task, method: str) -> training.Program:
  """The per-point program of ``method`` on ``task``."""
  H, A = int(config.horizon), int(config.actions)
  N = A**H
  G, K = int(config.rounds), int(config.round_size)
  noise = float(config.label_noise)
  P = jnp.asarray(task.preference, jnp.float32)
  P_query = noise + (1.0 - 2.0 * noise) * P  # a label is flipped with probability label_noise
  offsets = np.cumsum([0] + [A**t for t in range(H)])[:H]
  budget = int(config.steps) * G * K * (K - 1)
  features = (
    jnp.asarray(task.criteria, jnp.float32)
    if config.reward_model == "linear"
    else jnp.eye(N, dtype=jnp.float32)
  )

  def optimizer(learning_rate: Any) -> optax.GradientTransformation:
    if config.optimizer == "sgd":
      return optax.sgd(learning_rate)
    return optax.adam(learning_rate)

  def distribution(logits: Array) -> Array:
    return jnp.exp(trajectory_logp(task, logits))

  def init(hp: Hyper, key: PRNGKey) -> State:
    k_pairs, k_labels, k_run = jax.random.split(key, 3)
    logits = jnp.zeros((task.num_nodes, A), jnp.float32)
    reward = jnp.zeros((N,), jnp.float32)
    queries = jnp.zeros((), jnp.float32)
    if method == "bt_rlhf":  # the labelled pairs of the uniform reference policy, then BT
      k_i, k_j = jax.random.split(k_pairs)
      i = jax.random.randint(k_i, (budget,), 0, N)
      j = (i + jax.random.randint(k_j, (budget,), 1, N)) % N  # two distinct trajectories
      label = jax.random.bernoulli(k_labels, P_query[i, j]).astype(jnp.float32)
      wins = jnp.zeros((N, N)).at[i, j].add(label).at[j, i].add(1.0 - label)
      counts = jnp.zeros((N, N)).at[i, j].add(1.0).at[j, i].add(1.0)
      reward = fit_bt_reward(
        features,
        wins,
        counts,
        l2=float(config.reward_l2),
        newton_steps=int(config.newton_steps),
      )
      queries = jnp.float32(budget)
    opt_state = optimizer(hp.learning_rate).init(logits)
    zero = jnp.zeros((), jnp.float32)
    return State(logits, opt_state, k_run, reward, distribution(logits), zero, zero, queries)

  def rollout(logits: Array, key: PRNGKey) -> tuple[Array, Array, Array]:
    """``G x K`` trajectories sampled step by step: ``(index [G, K], nodes, actions [G, K, H])``."""
    index = jnp.zeros((G, K), jnp.int32)
    nodes, acts = [], []
    for t, k in enumerate(jax.random.split(key, H)):
      node = offsets[t] + index
      a = jax.random.categorical(k, logits[node])
      nodes.append(node)
      acts.append(a)
      index = index * A + a
    return index, jnp.stack(nodes, -1), jnp.stack(acts, -1)

  def step(state: State, hp: Hyper, t: Array) -> State:
    del t
    key, k_roll, k_label = jax.random.split(state.key, 3)
    y, nodes, acts = rollout(state.logits, k_roll)
    if method == "spo":  # each ordered pair of a group queried once; own pair masked
      labels = jax.random.bernoulli(k_label, P_query[y[:, :, None], y[:, None, :]])
      others = 1.0 - jnp.eye(K, dtype=jnp.float32)
      reward = jnp.sum(labels * others, axis=-1) / (K - 1)  # [G, K] win rates
      queries = state.queries + G * K * (K - 1)
    else:
      reward, queries = state.reward[y], state.queries

    def objective(logits):
      lp = jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits)[nodes], acts[..., None], -1), -2)
      lp = lp[..., 0]  # [G, K] log pi(y)
      regularized = jax.lax.stop_gradient(reward - hp.entropy_coef * lp)
      baseline = (jnp.sum(regularized, axis=1, keepdims=True) - regularized) / (K - 1)
      return -jnp.mean((regularized - baseline) * lp)

    grads = jax.grad(objective)(state.logits)
    updates, opt_state = optimizer(hp.learning_rate).update(grads, state.opt_state)
    logits = optax.apply_updates(state.logits, updates)
    count = state.count + 1.0
    average = state.average + (distribution(logits) - state.average) / (count + 1.0)
    return State(logits, opt_state, key, state.reward, average, count, jnp.mean(reward), queries)

  def metrics(state: State, hp: Hyper) -> dict[str, Array]:
    del hp
    out = evaluate(task, distribution(state.logits))
    out["gap_average"] = evaluate(task, state.average)["gap"]
    return out | {"reward": state.sampled, "queries": state.queries}

  return training.Program(init, step, metrics)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks names, sizes and the swept values before anything compiles."""
  common.known_names(config.preferences, PREFERENCES, field="preferences", what="preference")
  common.known_names(config.methods, METHODS, field="methods", what="method")
  if config.reward_model not in REWARD_MODELS:
    raise ValueError(
      f"Unknown reward model {config.reward_model!r}; known: {', '.join(REWARD_MODELS)}."
    )
  if config.optimizer not in OPTIMIZERS:
    raise ValueError(f"Unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}.")
  if int(config.horizon) < 1:
    raise ValueError(f"config.horizon must be >= 1; got {config.horizon}.")
  if int(config.actions) < 2:
    raise ValueError(f"config.actions must be >= 2; got {config.actions}.")
  if int(config.actions) ** int(config.horizon) > MAX_TRAJECTORIES:
    raise ValueError(
      f"actions ** horizon = {int(config.actions) ** int(config.horizon)} trajectories; the exact "
      f"evaluation enumerates them: at most {MAX_TRAJECTORIES}."
    )
  if int(config.round_size) < 2:
    raise ValueError(
      f"config.round_size (K) must be >= 2: spo's reward is a win rate against the other K - 1 "
      f"trajectories of the round; got {config.round_size}."
    )
  for field in ("rounds", "newton_steps"):
    if int(config[field]) < 1:
      raise ValueError(f"config.{field} must be >= 1; got {config[field]}.")
  if not 0.0 <= float(config.label_noise) < 0.5:
    raise ValueError(f"config.label_noise must be in [0, 1/2); got {config.label_noise}.")
  for value in np.ravel(config.vmap.axes.get("learning_rate", (config.learning_rate,))):
    if float(value) <= 0:
      raise ValueError(f"learning_rate must be > 0; got {value}.")
  for value in np.ravel(config.vmap.axes.get("entropy_coef", (config.entropy_coef,))):
    if float(value) < 0:
      raise ValueError(f"entropy_coef must be >= 0; got {value}.")


def lottery_info(task: Task) -> dict[str, Any]:
  """The maximal lottery's support (trajectories and their mass) and whether it is a point mass."""
  support = np.flatnonzero(task.lottery > 1e-6)
  order = support[np.argsort(-task.lottery[support])]
  return {
    "support": len(support),
    "condorcet": bool(task.lottery.max() > 1 - 1e-6),
    "entropy": float(-np.sum(task.lottery[support] * np.log(task.lottery[support]))),
    "top": [
      {"actions": task.actions[i].tolist(), "mass": round(float(task.lottery[i]), 4)}
      for i in order[:8]
    ],
  }


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Each preference type x method through the engine; head-to-head; results and spo.png."""
  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  G, K = int(config.rounds), int(config.round_size)
  results: dict[str, Any] = {
    "axes": {n: np.asarray(v).tolist() for n, v in zip(sweep.names, sweep.values, strict=True)},
    "trajectories": int(config.actions) ** int(config.horizon),
    "queries": int(config.steps) * G * K * (K - 1),
  }
  curves = {}
  for kind in common.names(config.preferences):
    task = make_task(config, kind)
    entry: dict[str, Any] = {"lottery": lottery_info(task), "methods": {}}
    finals = {}
    for method in common.names(config.methods):
      out = training.run_sweep(
        make_program(config, task, method),
        sweep,
        workdir=os.path.join(workdir, kind, method),
        name=f"{kind}/{method}",
        **train_lib.run_options(config),
      )
      h = {k: np.asarray(v) for k, v in out.history.items()}
      entry["methods"][method] = {"final": {k: common.stats(v[..., -1]) for k, v in h.items()}}
      finals[method] = distributions(task, np.asarray(out.state.logits))
      curves[(kind, method)] = (np.asarray(out.log_steps), h["gap"])
      results[kind] = entry
      common.write_results(workdir, results)
    if "spo" in finals and "bt_rlhf" in finals:  # paired by seed
      win = np.einsum("...n,nm,...m->...", finals["spo"], task.preference, finals["bt_rlhf"])
      entry["spo_vs_bt_rlhf"] = common.stats(win)
  if jax.process_index() == 0:
    print_table(results)
    if config.plot:
      path = os.path.join(workdir, "spo.png")
      ylabel = "duality gap  max_y P(y > p) - 1/2"
      common.plot_panels(curves, path, xlabel="updates", ylabel=ylabel)
      print(f"Wrote {path}")
  return results


def _cell(s: dict[str, Any], digits: int = 3) -> str:
  return f"{np.ravel(s['mean'])[0]:.{digits}f} ± {np.ravel(s['ci95'])[0]:.{digits}f}"


def print_table(results: dict[str, Any]) -> None:
  """Final gap, TV to the lottery, win rates and entropy per preference type (first point)."""
  print(
    f"\nSPO on {results['trajectories']} trajectories, {results['queries']} preference queries "
    "per run (mean ± 95% interval over seeds)"
  )
  for kind in PREFERENCES:
    if kind not in results:
      continue
    entry = results[kind]
    info = entry["lottery"]
    print(
      f"{kind}: maximal lottery on {info['support']} trajectories (entropy {info['entropy']:.3f})"
    )
    for method, r in entry["methods"].items():
      f = r["final"]
      print(
        f"  {method:8s} gap {_cell(f['gap'])} (average {_cell(f['gap_average'])}); TV to lottery "
        f"{_cell(f['tv_to_lottery'])}; vs uniform {_cell(f['win_vs_uniform'])}; entropy "
        f"{_cell(f['entropy'])}"
      )
    if "spo_vs_bt_rlhf" in entry:
      print(f"  spo beats bt_rlhf (paired by seed): {_cell(entry['spo_vs_bt_rlhf'])}")
