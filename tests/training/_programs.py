"""A small sweep and per-point program for the training tests (no experiments/, configs/).

The program runs noisy regularized mirror descent on a random symmetric zero-sum game per point:
swept step size and KL coefficient (the typed :class:`Hyper`), a game drawn from the point's key,
and a PRNG key in the state that is split at every step (so checkpoints must carry keys, and a
resumed run must continue the same random stream). Run as a script it is a minimal command line
around ``run_sweep`` for the tests that kill a real process::

  python -m tests.training._programs --workdir DIR [--steps 1000 --log_every 5 ...]
"""

import argparse
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpref import training
from jaxpref.types import Array, PRNGKey

# The swept axes of small_sweep, outermost first.
AXES = {"kl_coef": (0.0, 0.1), "step_size": (0.5, 2.0)}


class Hyper(NamedTuple):
  """The program's hyperparameters (traced scalars at each point)."""

  step_size: float
  kl_coef: float


class GameState(NamedTuple):
  """One point's state."""

  A: Array  # [n, n] antisymmetric payoff: value 0, exploitability max_i (A p)_i.
  logits: Array  # [n] the policy's logits.
  average: Array  # [n] running average of the policies.
  key: PRNGKey  # Split at every step for the payoff noise.


def small_sweep(
  *,
  step_size: float = 1.0,
  kl_coef: float = 0.01,
  axes: dict[str, Any] | None = None,
  seeds: int = 3,
  seed: int = 0,
  seed_offset: int = 0,
) -> training.Sweep:
  """2 KL coefficients x 2 step sizes x 3 seeds (:data:`AXES` unless ``axes`` is given)."""
  return training.make_sweep(
    Hyper(step_size, kl_coef),
    axes=AXES if axes is None else axes,
    seeds=seeds,
    seed=seed,
    seed_offset=seed_offset,
  )


def run_kwargs(*, n: int = 5, noise: float = 0.05, **overrides: Any) -> dict[str, Any]:
  """The engine options of the tests' runs: 40 steps, log every 10, checkpoint every 20.

  The provenance records the program's static settings (``n``, ``noise``), as an application
  would; ``overrides`` replace any option (``backend="none"``, ``stop_after=20``, ...).
  """
  return {
    "steps": 40,
    "log_every": 10,
    "checkpoint_every": 20,
    "max_to_keep": 3,
    "async_save": False,
    "tensorboard": False,
    "progress_seconds": -1.0,
    "provenance": {"game": {"n": n}, "noise": noise},
    **overrides,
  }


def make_program(n: int = 5, noise: float = 0.05) -> training.Program:
  """The per-point program on ``n``-item games with payoff noise ``noise`` (both static)."""

  def init(hp: Hyper, key: PRNGKey) -> GameState:
    del hp
    k_game, k_run = jax.random.split(key)
    M = jax.random.normal(k_game, (n, n))
    A = M - M.T
    return GameState(A, jnp.zeros((n,), A.dtype), jnp.full((n,), 1.0 / n, A.dtype), k_run)

  def step(state: GameState, hp: Hyper, t: Array) -> GameState:
    eta, beta = hp.step_size, hp.kl_coef
    key, sub = jax.random.split(state.key)
    p = jax.nn.softmax(state.logits)
    payoff = state.A @ p + noise * jax.random.normal(sub, (n,), state.A.dtype)
    logits = (1.0 - eta * beta) * state.logits + eta * payoff
    average = state.average + (p - state.average) / (t + 1)
    return GameState(state.A, logits, average, key)

  def metrics(state: GameState, hp: Hyper) -> dict[str, Array]:
    del hp
    p = jax.nn.softmax(state.logits)
    return {
      "gap": jnp.max(state.A @ p),
      "gap_average": jnp.max(state.A @ state.average),
      "entropy": -jnp.sum(p * jnp.log(p)),
    }

  return training.Program(init, step, metrics)


def main() -> None:
  """Runs the small sweep from the command line, printing the library's progress."""
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--n", type=int, default=8)
  parser.add_argument("--seeds", type=int, default=4)
  parser.add_argument("--steps", type=int, default=1000)
  parser.add_argument("--log_every", type=int, default=5)
  parser.add_argument("--checkpoint_every", type=int, default=25)
  args = parser.parse_args()
  options = run_kwargs(
    n=args.n,
    steps=args.steps,
    log_every=args.log_every,
    checkpoint_every=args.checkpoint_every,
    async_save=True,
    progress_seconds=0.0,
  )
  with training.progress_hook(lambda line: print(line, flush=True)):
    training.run_sweep(
      make_program(args.n),
      small_sweep(seeds=args.seeds),
      workdir=args.workdir,
      name="game",
      **options,
    )


if __name__ == "__main__":
  main()
