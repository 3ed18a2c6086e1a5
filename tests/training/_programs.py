"""A small sweep config and per-point program for the training tests (no experiments/, configs/).

The program runs noisy regularized mirror descent on a random symmetric zero-sum game per point:
swept step size and KL coefficient, a game drawn from the point's key, and a PRNG key in the state
that is split at every step (so checkpoints must carry keys, and a resumed run must continue the
same random stream). Run as a script it is a minimal command line around ``run_sweep`` for the
tests that kill a real process::

  python -m tests.training._programs --workdir DIR [--steps 1000 --log_every 5 ...]
"""

import argparse
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxpref import training
from jaxpref.types import Array, PRNGKey


class GameState(NamedTuple):
  """One point's state."""

  A: Array  # [n, n] antisymmetric payoff: value 0, exploitability max_i (A p)_i.
  logits: Array  # [n] the policy's logits.
  average: Array  # [n] running average of the policies.
  key: PRNGKey  # Split at every step for the payoff noise.


def small_config(**overrides: Any) -> ml_collections.ConfigDict:
  """5-item games: 2 step sizes x 2 KL coefficients x 3 seeds, 40 steps, log every 10."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.steps = 40
  config.game = ml_collections.ConfigDict({"n": 5})
  config.solver = ml_collections.ConfigDict(
    {"name": "mirror_descent", "step_size": 1.0, "kl_coef": 0.01, "noise": 0.05}
  )
  config.vmap = ml_collections.ConfigDict({"seeds": 3, "seed_offset": 0})
  config.vmap.axes = ml_collections.ConfigDict()
  config.vmap.axes.solver = ml_collections.ConfigDict()
  config.vmap.axes.solver.step_size = (0.5, 2.0)
  config.vmap.axes.solver.kl_coef = (0.0, 0.1)
  config.mesh = ml_collections.ConfigDict({"backend": "jit", "devices": -1})
  config.log = ml_collections.ConfigDict(
    {"every": 10, "tensorboard": False, "progress_seconds": -1.0}
  )
  config.checkpoint = ml_collections.ConfigDict(
    {"every": 20, "max_to_keep": 3, "async_save": False}
  )
  for key, value in overrides.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def make_program(config: ml_collections.ConfigDict) -> training.Program:
  """The per-point program of :func:`small_config`'s sweep."""
  n = int(config.game.n)

  def hparam(hparams: dict[str, Array], name: str):
    return hparams.get(f"solver.{name}", config.solver[name])

  def init(hparams: dict[str, Array], key: PRNGKey) -> GameState:
    del hparams
    k_game, k_run = jax.random.split(key)
    M = jax.random.normal(k_game, (n, n))
    A = M - M.T
    return GameState(A, jnp.zeros((n,), A.dtype), jnp.full((n,), 1.0 / n, A.dtype), k_run)

  def step(state: GameState, hparams: dict[str, Array], t: Array) -> GameState:
    eta, beta = hparam(hparams, "step_size"), hparam(hparams, "kl_coef")
    key, sub = jax.random.split(state.key)
    p = jax.nn.softmax(state.logits)
    payoff = state.A @ p + config.solver.noise * jax.random.normal(sub, (n,), state.A.dtype)
    logits = (1.0 - eta * beta) * state.logits + eta * payoff
    average = state.average + (p - state.average) / (t + 1)
    return GameState(state.A, logits, average, key)

  def metrics(state: GameState, hparams: dict[str, Array]) -> dict[str, Array]:
    del hparams
    p = jax.nn.softmax(state.logits)
    return {
      "gap": jnp.max(state.A @ p),
      "gap_average": jnp.max(state.A @ state.average),
      "entropy": -jnp.sum(p * jnp.log(p)),
    }

  return training.Program(init, step, metrics)


def main() -> None:
  """Runs ``small_config``'s sweep from the command line, printing the library's progress."""
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--n", type=int, default=8)
  parser.add_argument("--seeds", type=int, default=4)
  parser.add_argument("--steps", type=int, default=1000)
  parser.add_argument("--log_every", type=int, default=5)
  parser.add_argument("--checkpoint_every", type=int, default=25)
  args = parser.parse_args()
  config = small_config(
    **{
      "game.n": args.n,
      "vmap.seeds": args.seeds,
      "steps": args.steps,
      "log.every": args.log_every,
      "log.progress_seconds": 0.0,
      "checkpoint.every": args.checkpoint_every,
      "checkpoint.async_save": True,
    }
  )
  with training.progress_hook(lambda line: print(line, flush=True)):
    training.run_sweep(make_program(config), config, args.workdir, name="game")


if __name__ == "__main__":
  main()
