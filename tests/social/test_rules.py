import importlib.util
import itertools
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from jaxpref import equilibria, social

SEVENTEEN = social.Profile.from_rankings(
  [[3, 1, 2, 0], [0, 1, 3, 2], [0, 2, 3, 1], [2, 3, 1, 0], [1, 3, 2, 0]], [2, 3, 5, 4, 3]
)
ORACLE = pathlib.Path(__file__).with_name("_pref_voting_oracle.py")


def _maximal_lottery(election):
  return np.asarray(equilibria.maximal_lottery(social.majority_game(election)), np.float64)


def test_seventeen_voter_profile():
  p = SEVENTEEN
  np.testing.assert_array_equal(social.borda_scores(p), [24, 23, 27, 28])
  np.testing.assert_array_equal(social.copeland_scores(p), [-3, -1, 3, 1])
  np.testing.assert_array_equal(social.plurality_scores(p), [8, 3, 4, 2])
  np.testing.assert_array_equal(
    p.margin_matrix(), [[0, -1, -1, -1], [1, 0, -1, -5], [1, 1, 0, 1], [1, 5, -1, 0]]
  )
  expected = {"plurality": [0], "borda": [3], "copeland": [2], "minimax": [2], "condorcet": [2]}
  expected |= {"instant_runoff": [1], "baldwin": [2]}
  for rule, winners in expected.items():
    assert social.RULES[rule](p) == winners, rule
  assert social.condorcet_winner(p) == 2
  np.testing.assert_allclose(_maximal_lottery(p), [0, 0, 1, 0], atol=1e-9)


def test_cycles():
  cyc = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
  np.testing.assert_allclose(
    _maximal_lottery(social.Profile.from_rankings(cyc, [1, 1, 1])), [1 / 3] * 3, atol=1e-9
  )
  p = social.Profile.from_rankings(cyc, [3, 2, 2])
  np.testing.assert_array_equal(p.margin_matrix(), [[0, 3, -1], [-3, 0, 3], [1, -3, 0]])
  np.testing.assert_allclose(_maximal_lottery(p), [3 / 7, 1 / 7, 3 / 7], atol=1e-9)
  assert social.condorcet_winner(p) is None and social.condorcet(p) == [0, 1, 2]


def _random_profiles(seed: int, count: int):
  """Impartial culture and Mallows-like profiles, m = 3..6, odd and even electorates."""
  rng = np.random.default_rng(seed)
  out = []
  for k in range(count):
    m = int(rng.integers(3, 7))
    num_ballots = int(rng.integers(2, 9))
    if k % 3 == 0:  # a shared centre ranking, perturbed: often a Condorcet winner
      centre = rng.permutation(m)
      rows = []
      for _ in range(num_ballots):
        row = centre.copy()
        for _ in range(int(rng.integers(0, 3))):
          i = int(rng.integers(0, m - 1))
          row[[i, i + 1]] = row[[i + 1, i]]
        rows.append(row)
    else:
      rows = [rng.permutation(m) for _ in range(num_ballots)]
    counts = rng.integers(1, 6, size=num_ballots)
    out.append(([r.tolist() for r in rows], counts.tolist()))
  return out


@pytest.fixture(scope="module")
def oracle_answers():
  # Only look for pref_voting here: importing it would clash with highspy (HiGHS symbols) in
  # this process; the oracle runs in its own.
  if importlib.util.find_spec("pref_voting") is None:
    pytest.skip("pref_voting is not installed")
  profiles = _random_profiles(1, 100)
  proc = subprocess.run(
    [sys.executable, str(ORACLE)],
    input=json.dumps(profiles),
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return profiles, json.loads(proc.stdout)


def test_every_shared_rule_agrees_with_pref_voting(oracle_answers):
  profiles, answers = oracle_answers
  with_cw = 0
  compared = dict.fromkeys(social.RULES, 0)
  for (rankings, counts), answer in zip(profiles, answers, strict=True):
    p = social.Profile.from_rankings(rankings, counts)
    for name, rule in social.RULES.items():
      if answer[name] is None:  # pref_voting gave no answer (BT MLE does not exist)
        continue
      assert rule(p) == answer[name], (name, rankings, counts)
      compared[name] += 1
    for method in social.MINIMAX_SCORES:
      ours = social.minimax_scores(p, method)
      theirs = np.asarray(answer[f"minimax_scores/{method}"])
      # pref_voting reports minimax scores negated (higher is better).
      np.testing.assert_allclose(ours, -theirs, err_msg=method)
    assert social.condorcet_winner(p) == answer["condorcet_winner"]
    with_cw += answer["condorcet_winner"] is not None
    ours, theirs = _maximal_lottery(p), np.asarray(answer["maximal_lottery"])
    M = p.margin_matrix()
    assert np.all(ours @ M >= -1e-7) and np.all(theirs @ M >= -1e-7)  # both are maximal lotteries
    if p.num_voters % 2 == 1:  # unique for an odd number of linear ballots
      np.testing.assert_allclose(ours, theirs, atol=1e-6)
  assert with_cw >= 20 and len(profiles) - with_cw >= 10  # both kinds are well represented
  assert min(compared.values()) >= 0.6 * len(profiles), compared  # BT answers need an MLE


def test_rules_reject_bad_inputs():
  # Profile validation is tested in test_profile.py.
  with pytest.raises(ValueError, match="linear orders"):
    social.borda(social.Profile.from_ranks([[0, 0, 1]]))
  with pytest.raises(ValueError, match="m <= 8"):
    social.kemeny_young(social.Profile.from_rankings([list(range(9))]))
  with pytest.raises(ValueError, match="Unknown minimax"):
    social.minimax_scores(SEVENTEEN, "borda")


def _ranked_pairs_by_every_order(profile):
  """The definition: lock edges in every order of each tie group; the union of the winners."""
  M = profile.margin_matrix()
  m = len(M)
  edges = sorted(((M[a, b], a, b) for a in range(m) for b in range(m) if M[a, b] > 0), reverse=True)
  groups = [[(a, b) for _, a, b in g] for _, g in itertools.groupby(edges, key=lambda e: e[0])]
  winners = set()
  for orders in itertools.product(*(itertools.permutations(g) for g in groups)):
    reach = np.eye(m, dtype=bool)
    for a, b in itertools.chain(*orders):
      if not reach[b, a]:
        reach |= reach[:, a : a + 1] & reach[b : b + 1, :]
    winners |= {c for c in range(m) if not np.any(reach[:, c] & ~np.eye(m, dtype=bool)[:, c])}
  return sorted(winners)


def test_ranked_pairs_equals_every_tie_breaking_order_on_tied_profiles():
  rng = np.random.default_rng(7)
  checked = 0
  while checked < 40:  # few voters: many equal margins
    m, v = int(rng.integers(3, 6)), int(rng.integers(2, 5))
    profile = social.Profile.from_rankings([rng.permutation(m) for _ in range(v)])
    M = profile.margin_matrix()
    sizes = np.unique(M[M > 0], return_counts=True)[1]
    if np.prod([math.factorial(int(k)) for k in sizes]) > 2000:
      continue  # the definition's enumeration would be slow; the search is not
    assert social.ranked_pairs(profile) == _ranked_pairs_by_every_order(profile)
    checked += 1
