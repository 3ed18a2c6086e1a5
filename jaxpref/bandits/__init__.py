r"""Dueling bandits: RUCB, Double Thompson Sampling and Sparring EXP3, with von Neumann regret.

Each round a learner picks two arms :math:`(i, j)` and observes a Bernoulli(:math:`P_{ij}`)
outcome, ``P[i, j]`` the probability that ``i`` beats ``j`` (a preference matrix of
:mod:`jaxpref.games`). Regret is measured against the von Neumann winner, the maximal lottery
:math:`\pi^*` of :math:`P` (:func:`jaxpref.equilibria.maximal_lottery`), which is the point mass on
the Condorcet winner when there is one; see :func:`regret`.

Style (the :class:`jaxpref.equilibria.Solver` one): a factory returns a :class:`DuelingBandit`, a
pytree whose leaves are the numeric hyperparameters (keyword-only) and whose rules are static, with
three pure methods:

- ``algorithm.init(num_arms) -> state``: a ``NamedTuple`` with win counts ``wins[i, j]`` (times
  ``i`` beat ``j``), the round counter ``step`` and the algorithm's own fields
  (:class:`DuelState`, :class:`SparringState`);
- ``algorithm.select(state, key) -> (i, j)``: the duel to play (``i == j`` is allowed);
- ``algorithm.update(state, i, j, outcome) -> state``: ``outcome`` 1 if ``i`` won. A self-duel
  leaves ``wins`` unchanged (no information about :math:`P`) but counts as a round.

All are jittable and ``vmap``-pable over keys; :func:`simulate` runs one in a ``lax.scan``.

API:

- :func:`rucb`: Relative Upper Confidence Bound (Zoghi et al., ICML 2014), for a Condorcet winner.
- :func:`double_thompson`: Double Thompson Sampling (Wu & Liu, NeurIPS 2016), Copeland winners.
- :func:`sparring_exp3`: two EXP3 learners sparring (Ailon et al., ICML 2014); its average play
  converges to the maximal lottery, also for intransitive :math:`P`.
- :func:`regret`: per-round von Neumann regret of a duel.
- :func:`simulate` / :class:`Simulation`: a run on a known :math:`P` with cumulative regret, play
  counts and the empirical play distribution.
- :class:`DuelingBandit`, :class:`DuelState`, :class:`SparringState`: the interface and states.
"""

from jaxpref.bandits._algorithms import double_thompson, rucb, sparring_exp3
from jaxpref.bandits._base import DuelingBandit, DuelState, SparringState, regret
from jaxpref.bandits._simulation import Simulation, simulate

__all__ = [
  "DuelState",
  "DuelingBandit",
  "Simulation",
  "SparringState",
  "double_thompson",
  "regret",
  "rucb",
  "simulate",
  "sparring_exp3",
]
