"""Runs pref_voting on profiles read from stdin (JSON) and prints its answers as JSON.

A separate process, because pref_voting (through ortools) and highspy/cvxpy cannot share one
(clashing HiGHS symbols; ``docs/solvers.md``, 'Peer libraries that cannot share a process').
"""

import json
import signal
import sys

from pref_voting import (
  c1_methods,
  iterative_methods,
  margin_based_methods,
  other_methods,
  probabilistic_methods,
  scoring_methods,
)
from pref_voting.profiles import Profile

RULES = {
  "plurality": scoring_methods.plurality,
  "borda": scoring_methods.borda,
  "dowdall": scoring_methods.dowdall,
  "anti_plurality": scoring_methods.anti_plurality,
  "copeland": c1_methods.copeland,
  "llull": c1_methods.llull,
  "condorcet": c1_methods.condorcet,
  "minimax": margin_based_methods.minimax,
  "leximax": margin_based_methods.leximax,
  "baldwin": iterative_methods.baldwin,
  "strict_nanson": iterative_methods.strict_nanson,
  "weak_nanson": iterative_methods.weak_nanson,
  "instant_runoff": iterative_methods.instant_runoff,
  "coombs": iterative_methods.coombs,
  # pref_voting's ranked_pairs tries every tie-breaking order (minutes on some 6-candidate
  # profiles); its stack-based variant gives the same winners fast.
  "ranked_pairs": margin_based_methods._ranked_pairs_from_stacks,
  "beat_path": margin_based_methods.beat_path,
  "split_cycle": margin_based_methods.split_cycle,
  "top_cycle": c1_methods.top_cycle,
  "uncovered_set": c1_methods.uc_gill,
  "kemeny_young": other_methods.kemeny_young,
  "bradley_terry": other_methods.bradley_terry,
  "pareto_optimal": other_methods.pareto,
}


def _timeout(*_):
  raise TimeoutError


def _answer(fn, prof):
  """The rule's winners, or None when pref_voting fails (BT without an MLE) or takes > 5 s."""
  signal.alarm(5)
  try:
    return [int(c) for c in fn(prof)]
  except (RuntimeError, TimeoutError):
    return None
  finally:
    signal.alarm(0)


def main() -> None:
  """Answers every rule, the minimax score variants and the maximal lottery per profile."""
  signal.signal(signal.SIGALRM, _timeout)
  out = []
  for rankings, counts in json.load(sys.stdin):
    prof = Profile(rankings, counts)
    answer = {name: _answer(fn, prof) for name, fn in RULES.items()}
    for method in ("margins", "winning", "pairwise_opposition"):
      scores = margin_based_methods.minimax_scores(prof, score_method=method)
      answer[f"minimax_scores/{method}"] = [float(scores[c]) for c in range(prof.num_cands)]
    ml = probabilistic_methods.maximal_lottery(prof)
    answer["maximal_lottery"] = [float(ml.get(c, 0.0)) for c in range(prof.num_cands)]
    answer["condorcet_winner"] = prof.condorcet_winner()
    out.append(answer)
  json.dump(out, sys.stdout)


if __name__ == "__main__":
  main()
