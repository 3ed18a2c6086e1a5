"""Dueling bandits: von Neumann regret of RUCB, Double Thompson Sampling and Sparring EXP3.

Config: ``configs/dueling_bandits.py``. Each preference matrix (``transitive``: Bradley-Terry with a
Condorcet winner; ``cyclic``: a weighted 3-cycle with dominated arms, no Condorcet winner;
``llmfao``: the Bradley-Terry game of LLMFAO's ``llmfao_arms`` best models, fitted on the crowd's
judgments shipped with jaxpref: transitive with close margins) x each algorithm of
``jaxpref.bandits`` is one ``training.run_sweep`` (seeds x the vmapped ``alpha``) in
``workdir/<matrix>/<algorithm>``: a step plays ``rounds_per_step`` duels in a ``lax.scan``, outcomes
~ Bernoulli(P[i, j]). The regret of a round is ``bandits.regret`` against the maximal lottery of P
(the von Neumann winner; with a Condorcet winner it is Yue et al.'s regret). Logged: cumulative
regret, the total variation between the arms' empirical play and the lottery, and the share of plays
inside the lottery's support. Reported (mean ± 95% interval over seeds): final regret, the regret
added over each of the last doublings of the horizon (flat for logarithmic growth, x sqrt(2) per
doubling for sqrt(T), x 2 for linear) and the play's distance to the lottery; ``regret.png`` draws
the cumulative regret curves.
"""

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common, train_lib
from jaxpref import bandits, data, equilibria, games, training
from jaxpref import preference as pm
from jaxpref.types import Array, PRNGKey

MATRICES = ("transitive", "cyclic", "llmfao")
ALGORITHMS = ("rucb", "double_thompson", "sparring_exp3")


class Hyper(NamedTuple):
  """The traced hyperparameter of one point (RUCB's and DTS's exploration ``alpha``)."""

  alpha: Any


FIELDS = {"alpha": "alpha"}


class State(NamedTuple):
  """One point: the algorithm's state, cumulative regret, play counts and the key."""

  bandit: Any
  regret: Array
  counts: Array
  key: PRNGKey


def transitive_matrix(arms: int) -> np.ndarray:
  """Bradley-Terry scores evenly spaced in [-1, 1] (arm 0 the Condorcet winner)."""
  return np.asarray(games.bradley_terry_game(jnp.linspace(1.0, -1.0, arms)), np.float64)


def cyclic_matrix(arms: int) -> np.ndarray:
  """A 3-cycle (0 > 1 > 2 > 0 by margins 0.3, 0.2, 0.1) whose arms beat ``arms - 3`` others by 0.3.

  The dominated arms compare among themselves by Bradley-Terry; no arm is a Condorcet winner and
  the maximal lottery is (0.2, 0.1, 0.3) / 0.6 on the cycle.
  """
  P = np.full((arms, arms), 0.5)
  P[:3, :3] = np.asarray(games.weighted_three_cycle_game(jnp.array([0.3, 0.2, 0.1])))
  P[:3, 3:], P[3:, :3] = 0.8, 0.2
  if arms > 3:
    P[3:, 3:] = np.asarray(games.bradley_terry_game(jnp.linspace(0.5, -0.5, arms - 3)))
  return P


def llmfao_matrix(arms: int, path: str = "") -> np.ndarray:
  """The Bradley-Terry game of LLMFAO's ``arms`` best models, fitted on all crowd judgments.

  The crowd compared the best models with each other too rarely for an empirical game (50
  judgments among the 8 best, most pairs never), so the arms duel by the BT model fitted on all
  8,931 judgments: a transitive game with close margins.
  """
  table = data.load_llmfao(path or None)
  scores = pm.fit(pm.BradleyTerry(table.num_items, l2=0.01), pm.pairs_from_table(table))
  best = np.sort(np.asarray(scores.params["scores"], np.float64))[::-1][:arms]
  return np.asarray(games.bradley_terry_game(jnp.asarray(best)), np.float64)


def make_matrix(config: ml_collections.ConfigDict, name: str) -> np.ndarray:
  """The preference matrix ``name``."""
  if name == "transitive":
    return transitive_matrix(int(config.arms))
  if name == "cyclic":
    return cyclic_matrix(int(config.arms))
  return llmfao_matrix(int(config.llmfao_arms), config.data.llmfao)


def make_algorithm(name: str, hp: Hyper, config: ml_collections.ConfigDict):
  """The ``jaxpref.bandits`` algorithm ``name`` at ``hp``."""
  if name == "rucb":
    return bandits.rucb(alpha=hp.alpha)
  if name == "double_thompson":
    return bandits.double_thompson(alpha=hp.alpha)
  step_size = float(config.exp3_step_size) or None
  return bandits.sparring_exp3(step_size=step_size)


def make_program(config: ml_collections.ConfigDict, P: np.ndarray, name: str) -> training.Program:
  """The per-point program: ``rounds_per_step`` duels per step, regret against the lottery."""
  lottery = jnp.asarray(equilibria.maximal_lottery(P), jnp.float32)
  Pj = jnp.asarray(P, jnp.float32)
  n, rounds = P.shape[0], int(config.rounds_per_step)
  support = lottery > 1e-6

  def init(hp: Hyper, key: PRNGKey) -> State:
    bandit = make_algorithm(name, hp, config)
    zero = jnp.zeros((), jnp.float32)
    return State(bandit.init(n), zero, jnp.zeros(n, jnp.float32), key)

  def step(state: State, hp: Hyper, t: Array) -> State:
    del t
    bandit = make_algorithm(name, hp, config)

    def duel(carry, key):
      inner, regret, counts = carry
      k_select, k_outcome = jax.random.split(key)
      i, j = bandit.select(inner, k_select)
      outcome = jax.random.bernoulli(k_outcome, Pj[i, j]).astype(jnp.float32)
      inner = bandit.update(inner, i, j, outcome)
      counts = counts.at[i].add(1.0).at[j].add(1.0)
      return (inner, regret + bandits.regret(Pj, lottery, i, j), counts), None

    key, k_rounds = jax.random.split(state.key)
    carry = (state.bandit, state.regret, state.counts)
    (inner, regret, counts), _ = jax.lax.scan(duel, carry, jax.random.split(k_rounds, rounds))
    return State(inner, regret, counts, key)

  def metrics(state: State, hp: Hyper) -> dict[str, Array]:
    del hp
    play = state.counts / jnp.maximum(jnp.sum(state.counts), 1.0)
    return {
      "regret": state.regret,
      "tv_to_lottery": 0.5 * jnp.sum(jnp.abs(play - lottery)),
      "support_play": jnp.sum(jnp.where(support, play, 0.0)),
    }

  return training.Program(init, step, metrics)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks names, sizes and the swept alpha before anything compiles."""
  common.known_names(config.matrices, MATRICES, field="matrices")
  common.known_names(config.algorithms, ALGORITHMS, field="algorithms")
  if int(config.arms) < 4 or int(config.llmfao_arms) < 2:
    raise ValueError("config.arms must be >= 4 (a 3-cycle plus dominated arms), llmfao_arms >= 2.")
  if int(config.rounds_per_step) < 1:
    raise ValueError(f"config.rounds_per_step must be >= 1; got {config.rounds_per_step}.")
  for value in np.ravel(config.vmap.axes.get("alpha", (config.alpha,))):
    if not float(value) > 0.5:
      raise ValueError(f"alpha must be > 1/2 (RUCB's condition); got {value}.")
  if float(config.exp3_step_size) < 0:
    raise ValueError(
      f"config.exp3_step_size must be >= 0 (0: anytime); got {config.exp3_step_size}."
    )


def doublings(rounds: np.ndarray, regret: np.ndarray, count: int = 3) -> dict[str, Any]:
  """Regret added over each of the last ``count`` doublings ``(T/2, T]``, per seed, with stats."""
  out = {}
  end = int(rounds[-1])
  for k in range(count):
    hi, lo = end // 2**k, end // 2 ** (k + 1)
    i_hi, i_lo = int(np.argmin(np.abs(rounds - hi))), int(np.argmin(np.abs(rounds - lo)))
    out[f"{lo}-{hi}"] = common.stats(regret[..., i_hi] - regret[..., i_lo])
  return out


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """One engine run per matrix x algorithm; prints the table, writes results and regret.png."""
  hp = train_lib.config_hparams(config, FIELDS, Hyper)
  sweep = train_lib.sweep_from_config(config, hp, FIELDS)
  results: dict[str, Any] = {"rounds": int(config.steps) * int(config.rounds_per_step)}
  curves = {}
  for matrix in common.names(config.matrices):
    P = make_matrix(config, matrix)
    lottery = np.asarray(equilibria.maximal_lottery(P))
    entry = {"lottery": lottery.round(4).tolist(), "condorcet": bool(lottery.max() > 1 - 1e-6)}
    for name in common.names(config.algorithms):
      out = training.run_sweep(
        make_program(config, P, name),
        sweep,
        workdir=os.path.join(workdir, matrix, name),
        name=f"{matrix}/{name}",
        **train_lib.run_options(config),
      )
      rounds = np.asarray(out.log_steps) * int(config.rounds_per_step)
      h = {k: np.asarray(v) for k, v in out.history.items()}
      entry[name] = {
        "final": {k: common.stats(v[..., -1]) for k, v in h.items()},
        "doublings": doublings(rounds, h["regret"]),
      }
      curves[(matrix, name)] = (rounds, h["regret"])
      results[matrix] = entry
      common.write_results(workdir, results)
  if jax.process_index() == 0:
    print_table(results)
    if config.plot:
      path = os.path.join(workdir, "regret.png")
      ylabel = "cumulative von Neumann regret"
      common.plot_panels(curves, path, xlabel="rounds", ylabel=ylabel, log2_x=True)
      print(f"Wrote {path}")
  return results


def print_table(results: dict[str, Any]) -> None:
  """Final regret, regret per doubling and the play's distance to the lottery (first point)."""
  print(f"\nvon Neumann regret after {results['rounds']} rounds (mean ± 95% interval over seeds)")
  for matrix, entry in results.items():
    if matrix == "rounds":
      continue
    kind = "Condorcet winner" if entry["condorcet"] else "no Condorcet winner"
    print(f"{matrix} ({kind}; lottery {entry['lottery']})")
    for name, r in entry.items():
      if not isinstance(r, dict):
        continue

      def cell(s):
        return f"{np.ravel(s['mean'])[0]:.1f} ± {np.ravel(s['ci95'])[0]:.1f}"

      doubles = ", ".join(f"({k}] {cell(v)}" for k, v in r["doublings"].items())
      tv = r["final"]["tv_to_lottery"]
      print(
        f"  {name:16s} regret {cell(r['final']['regret'])}; per doubling {doubles}; "
        f"TV to lottery {np.ravel(tv['mean'])[0]:.3f} ± {np.ravel(tv['ci95'])[0]:.3f}"
      )
