"""jaxpref: game-theoretic and multi-objective alignment from preferences, in JAX.

``import jaxpref`` imports twelve subpackages eagerly and exports them (with ``__version__``):

- :mod:`jaxpref.games`: preference games (``P + P^T = 1``), constructors, canonical games, games
  from comparison counts.
- :mod:`jaxpref.metrics`: duality gap and exploitability (unregularized and KL-regularized), KL
  divergence, win rates.
- :mod:`jaxpref.equilibria`: the exact maximal lottery and the iterative solvers behind ``solve``.
- :mod:`jaxpref.data`: real comparison data (LLMFAO ships with the package) and CSV loaders.
- :mod:`jaxpref.preference`: preference models (Bradley-Terry, GPM, mixtures) fitted under ``jit``.
- :mod:`jaxpref.pareto`: the multi-objective toolkit (scalarizations, dominance, hypervolume,
  multi-gradient aggregation).
- :mod:`jaxpref.social`: social choice (profiles, voting rules, majority games, axioms).
- :mod:`jaxpref.losses`: policy-level preference objectives.
- :mod:`jaxpref.arena`: K-wise arenas: votes, Plackett-Luce leaderboards with uncertainty,
  matchmaking, K-Sort's Thurstone update and online Elo.
- :mod:`jaxpref.overoptimization`: reward over-optimization: best-of-n (exact and pooled), Gao
  et al.'s scaling laws, constrained RLHF's Lagrange multipliers, log-sigmoid reward transforms.
- :mod:`jaxpref.bandits`: dueling bandits (RUCB, Double Thompson Sampling, Sparring EXP3) with
  regret against the maximal lottery.
- :mod:`jaxpref.optim`: the gradient step and the compiled training loop every trainer uses.

These are functions on arrays and cost little beyond JAX itself (about 5 s in all on the 2-core CI
machine, some 3 s of which is ``import jax``). Two subpackages are *not* imported here, because
they are heavier and only needed to train networks or run experiments; import them explicitly:

- ``import jaxpref.models``: Flax NNX networks and the language-model stack; pulls in
  ``flax.nnx`` (about 1 s more).
- ``import jaxpref.training``: sweeps, checkpoints and metric logs; pulls in Orbax checkpointing
  and matplotlib (about 3 s more).

:mod:`jaxpref.types` holds the array type aliases the subpackages share; :mod:`jaxpref.shapes` the
shape buckets that size-dependent functions pad to (one compiled program per bucket).
"""

from jaxpref import (
  arena,
  bandits,
  data,
  equilibria,
  games,
  losses,
  metrics,
  optim,
  overoptimization,
  pareto,
  preference,
  social,
)

__version__ = "0.1.0"

__all__ = [
  "__version__",
  "arena",
  "bandits",
  "data",
  "equilibria",
  "games",
  "losses",
  "metrics",
  "optim",
  "overoptimization",
  "pareto",
  "preference",
  "social",
]
