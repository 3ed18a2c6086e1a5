"""jaxpref: game-theoretic and multi-objective alignment from preferences, in JAX.

Subpackages: ``jaxpref.games`` (preference games), ``jaxpref.metrics`` (duality gap,
exploitability, KL, win rates), ``jaxpref.equilibria`` (maximal lotteries and solvers),
``jaxpref.data`` (real comparison data), ``jaxpref.preference`` (preference models),
``jaxpref.pareto`` (multi-objective toolkit), ``jaxpref.social`` (social choice),
``jaxpref.losses`` (policy-level preference objectives).
"""

from jaxpref import data, equilibria, games, losses, metrics, pareto, preference, social

__version__ = "0.1.0"

__all__ = [
  "__version__",
  "data",
  "equilibria",
  "games",
  "losses",
  "metrics",
  "pareto",
  "preference",
  "social",
]
