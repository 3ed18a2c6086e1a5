"""jaxpref.arena judges: triads, position bias, agreement, self-consistency, TrustJudge, ranking."""

import itertools

import numpy as np
import pytest
import scipy.stats

from jaxpref import arena
from jaxpref.data import Comparisons, load_llmfao
from jaxpref.data._table import select

WIN, TIE, LOSS = 1.0, 0.5, 0.0


def _table(rows, items=("x", "y", "z", "w"), annotators=()):
  """Rows ``(a, b, outcome[, prompt[, annotator[, advantage]]])`` as a Comparisons table."""
  rows = [tuple(r) + (0, -1 if not annotators else 0, 1)[len(r) - 3 :] for r in rows]
  a, b, outcome, prompt, annotator, advantage = (np.array(c) for c in zip(*rows, strict=True))
  return Comparisons(
    item_a=a.astype(np.int64),
    item_b=b.astype(np.int64),
    outcome=outcome.astype(np.float64),
    items=tuple(items),
    prompt=prompt.astype(np.int64),
    annotator=annotator.astype(np.int64),
    annotators=tuple(annotators),
    advantage=advantage.astype(np.int64),
  )


def test_a_three_cycle_a_transitive_triad_and_tie_contradictions():
  table = _table(
    [
      # prompt 0: x > y > z > x, the pair (z, x) listed as (x, z) with x losing.
      (0, 1, WIN, 0),
      (1, 2, WIN, 0),
      (0, 2, LOSS, 0),
      # prompt 1: x > y > z, x > z (transitive), listed in mixed orientations.
      (1, 0, LOSS, 1),
      (2, 1, LOSS, 1),
      (0, 2, WIN, 1),
      # prompt 2: x = y, y = z, x > z (equivalence contradiction).
      (0, 1, TIE, 2),
      (1, 2, TIE, 2),
      (0, 2, WIN, 2),
      # prompt 3: x > y, y > z, x = z (the other kind).
      (0, 1, WIN, 3),
      (1, 2, WIN, 3),
      (2, 0, TIE, 3),
      # prompt 4: two pairs only, no triad.
      (0, 1, WIN, 4),
      (1, 2, WIN, 4),
    ]
  )
  out = arena.intransitive_triads(table)
  assert (out.complete, out.cyclic, out.contradictory) == (4, 1, 2)
  assert out.cyclic_rate == 0.25
  assert out.intransitive_rate == 0.75
  # Pooled over prompts: (x, y) wins 4-0 with one tie, (y, z) 3-0 with a tie, (x, z) 2-1 with a
  # tie: one triad, transitive.
  pooled = arena.intransitive_triads(table, by_prompt=False)
  assert (pooled.complete, pooled.cyclic, pooled.contradictory) == (1, 0, 0)


def test_the_27_verdict_patterns_of_a_triad():
  # Prompt p holds the pattern (r_xy, r_yz, r_xz) in {-1, 0, 1}^3.
  rows = []
  for p, rel in enumerate(itertools.product((-1, 0, 1), repeat=3)):
    for (a, b), r in zip([(0, 1), (1, 2), (0, 2)], rel, strict=True):
      rows.append((a, b, (r + 1) / 2, p))
  out = arena.intransitive_triads(_table(rows))
  assert (out.complete, out.cyclic, out.contradictory) == (27, 2, 12)


def _brute_force_triads(table):
  """Per-prompt majority verdicts, then every triple of items, in plain Python."""
  verdict = {}
  for a, b, o, p in zip(table.item_a, table.item_b, table.outcome, table.prompt, strict=True):
    key = (p, min(a, b), max(a, b))
    s = (2 * o - 1) * (1 if a < b else -1)
    verdict[key] = verdict.get(key, 0) + s
  counts = [0, 0, 0]
  for p in set(table.prompt.tolist()):
    for i, j, k in itertools.combinations(range(table.num_items), 3):
      keys = [(p, i, j), (p, j, k), (p, i, k)]
      if not all(key in verdict for key in keys):
        continue
      r = [int(np.sign(verdict[key])) for key in keys]
      orders = itertools.product(range(3), repeat=3)
      weak = any(
        [np.sign(s[0] - s[1]), np.sign(s[1] - s[2]), np.sign(s[0] - s[2])] == r for s in orders
      )
      cyclic = r[0] == r[1] == -r[2] != 0
      counts[0 if weak else (1 if cyclic else 2)] += 1
  return counts


def test_triads_match_brute_force_on_random_repeated_judgments():
  rng = np.random.default_rng(0)
  n, k = 7, 160
  a = rng.integers(0, n, k)
  b = (a + rng.integers(1, n, k)) % n
  outcome = rng.choice([WIN, TIE, LOSS], k)
  prompt = rng.integers(0, 3, k)
  table = _table(zip(a, b, outcome, prompt, strict=True), items=[f"m{i}" for i in range(n)])
  transitive, cyclic, contradictory = _brute_force_triads(table)
  out = arena.intransitive_triads(table)
  assert out.complete == transitive + cyclic + contradictory > 0
  assert (out.cyclic, out.contradictory) == (cyclic, contradictory)


def test_per_annotator_triads_count_each_annotators_own_verdicts():
  cycle = [(0, 1, WIN), (1, 2, WIN), (2, 0, WIN)]
  rows = [(*r, 0, 0, 1) for r in cycle]  # annotator 0: a 3-cycle
  rows += [(0, 1, WIN, 0, 1, 1), (1, 2, WIN, 0, 1, 1), (0, 2, WIN, 0, 1, 1)]  # 1: transitive
  rows += [(0, 1, WIN, 0, 2, 1)]  # 2: no triad
  table = _table(rows, annotators=("u", "v", "w"))
  out = arena.intransitive_triads(table, per_annotator=True)
  np.testing.assert_array_equal(out.complete, [1, 1, 0])
  np.testing.assert_array_equal(out.cyclic, [1, 0, 0])
  np.testing.assert_array_equal(out.cyclic_rate, [1.0, 0.0, np.nan])
  assert arena.intransitive_triads(table, judge="u").cyclic == 1
  assert arena.intransitive_triads(table, judge=1).cyclic == 0
  # Pooled, (x, z) is 1-1: a tie between x > y > z, an equivalence contradiction.
  pooled = arena.intransitive_triads(table)
  assert (pooled.complete, pooled.cyclic, pooled.contradictory) == (1, 0, 1)


def test_position_bias_on_a_hand_table():
  table = _table(
    [
      (0, 1, WIN, 0, -1, 1),  # first shown (x) wins
      (0, 2, WIN, 0, -1, 1),
      (1, 2, WIN, 0, -1, 1),
      (0, 3, LOSS, 0, -1, 1),  # first shown loses
      (1, 3, TIE, 0, -1, 1),
      (2, 3, LOSS, 0, -1, -1),  # item_b (w) shown first and won
      (0, 1, WIN, 1, -1, -1),  # item_b (y) shown first and lost
      (0, 2, WIN, 1, -1, 0),  # order unknown: left out
    ]
  )
  out = arena.position_bias(table)
  assert (out.first_wins, out.decisive, out.judgments) == (4, 6, 7)
  assert out.first_win_rate == pytest.approx(4 / 6)
  assert out.tie_rate == pytest.approx(1 / 7)
  ci = scipy.stats.binomtest(4, 6).proportion_ci(confidence_level=0.95, method="wilson")
  np.testing.assert_allclose([out.low, out.high], [ci.low, ci.high], rtol=1e-12)


def test_agreement_and_kappa_by_hand():
  # Judge A: x > y, x > z, y = z, w > x.
  a = _table([(0, 1, WIN), (0, 2, WIN), (1, 2, TIE), (3, 0, WIN)])
  # Judge B codes items differently (its own sorted vocabulary with an extra item) and lists
  # some pairs reversed: x > y, z > x, y = z, w > x; and a pair A never judged.
  items_b = ("v", "w", "x", "y", "z")
  b = _table(
    [(3, 2, LOSS), (4, 2, WIN), (3, 4, TIE), (2, 1, LOSS), (0, 2, WIN)],
    items=items_b,
  )
  out = arena.judge_agreement(a, b)
  assert out.pairs == 4
  assert out.agreement == 0.75
  assert out.agreement_without_ties == pytest.approx(2 / 3)
  # In name order (w < x < y < z) the confusion is (a, a) 2, (a, b) 1, (tie, tie) 1. Mirrored:
  # diagonal 2, 2, 2 and (a, b) = (b, a) = 1 over 8; margins 3/8, 2/8, 3/8
  # on both sides: p_e = 22/64, kappa = (48 - 22) / (64 - 22) = 13/21.
  assert out.kappa == pytest.approx(13 / 21)
  assert out.confusion.sum() == 4
  # Symmetric in its arguments.
  back = arena.judge_agreement(b, a)
  assert back.kappa == pytest.approx(out.kappa)
  np.testing.assert_array_equal(back.confusion, out.confusion.T)
  np.testing.assert_allclose(arena.cohen_kappa([[20, 5], [10, 15]]), 0.4)


def test_agreement_over_votes_and_majorities():
  # Three votes of a pool on (x, y): 2 x-wins, 1 tie; the other judge says x wins.
  pool = _table([(0, 1, WIN, 0, 0), (1, 0, LOSS, 0, 1), (0, 1, TIE, 0, 2)], annotators="abc")
  judge = _table([(0, 1, WIN)])
  majority = arena.judge_agreement(pool, judge)
  assert (majority.agreement, majority.pairs) == (1.0, 1)
  votes = arena.judge_agreement(pool, judge, aggregate="votes")
  assert votes.agreement == pytest.approx(2 / 3)
  assert votes.agreement_without_ties == 1.0
  assert arena.judge_agreement(pool, judge, judge_a="c").agreement == 0.0


def test_self_consistency_on_a_repeated_pair():
  table = _table(
    [
      (0, 1, WIN, 0, 0, 1),  # judge u: x first, x wins
      (1, 0, LOSS, 0, 0, 1),  # y first, x wins (same verdict, swapped order)
      (1, 0, TIE, 0, 0, 1),  # y first, tie
      (0, 1, WIN, 0, 1, 1),  # judge v once: x wins
      (0, 2, WIN, 1, 0, 1),  # another pair, once
    ],
    annotators=("u", "v"),
  )
  own = arena.self_consistency(table, judge="u")
  assert (own.repeated_pairs, own.judgment_pairs) == (1, 3)
  assert own.rate == pytest.approx(1 / 3)
  assert own.swapped_judgment_pairs == 2
  assert own.swapped_rate == 0.5
  # Same-annotator repeats only (v has none), then the whole table as one judge.
  assert arena.self_consistency(table, by_annotator=True).rate == pytest.approx(1 / 3)
  pooled = arena.self_consistency(table)
  assert (pooled.judgment_pairs, pooled.rate) == (6, 0.5)
  assert pooled.rate_without_ties == 1.0  # the three x-wins
  assert own.rate_without_ties == 1.0
  once = arena.self_consistency(table, judge="v")
  assert np.isnan(once.rate) and once.repeated_pairs == 0


def test_trustjudge_reductions_spec_vectors():
  p, s = np.array([0.05, 0.10, 0.20, 0.40, 0.25]), np.arange(1, 6)
  np.testing.assert_allclose(arena.expected_score(p, s), 3.70, rtol=1e-12)
  np.testing.assert_allclose(arena.expected_score(p / 2, s, normalize=True), 3.70, rtol=1e-12)
  np.testing.assert_allclose(arena.softmax_weighted_score(p, s), 4.022688, atol=1e-6)
  # Batched, and a point mass stays finite.
  batch = arena.softmax_weighted_score(np.stack([p, np.eye(5)[1]]), s)
  np.testing.assert_allclose(batch, [4.022688, 2.0], atol=1e-6)
  out = arena.aggregate_both_orders([0.45, 0.35, 0.20], [0.30, 0.50, 0.20])
  np.testing.assert_allclose(2 * out.probs, [0.75, 0.85, 0.40], rtol=1e-12)
  assert int(out.verdict) == 1  # B, although order 1 alone says A
  relabelled = arena.aggregate_both_orders([0.45, 0.35, 0.20], [0.50, 0.30, 0.20], relabel=True)
  assert int(relabelled.verdict) == 1


def test_ranking_accuracy_spec_vectors():
  ideal = [arena.idealized_ranking_accuracy([-1.0], [0.75], kl_coef=b) for b in (0.1, 1.0, 5.0)]
  np.testing.assert_allclose(
    [np.exp(x.log_ratio[0]) for x in ideal], [21722.9, 1.1036, 0.4583], rtol=1e-4
  )
  assert [x.accuracy for x in ideal] == [1.0, 1.0, 0.0]
  # The threshold in beta is ln 3; alpha = 1 is clipped to 1 - 1e-3 as in the paper.
  batch = arena.idealized_ranking_accuracy([-1.0, -1.0], [0.75, 1.0], kl_coef=np.log(3) + 1e-6)
  assert batch.accuracy == 0.5
  assert np.isinf(arena.idealized_ranking_accuracy([-1.0], 1.0, kl_coef=5.0, eps=0).log_ratio[0])
  np.testing.assert_allclose(
    [arena.dpo_flip_threshold(1.0, kl_coef=b) for b in (0.1, 1.0)], [0.644397, 0.313262], atol=1e-6
  )
  np.testing.assert_allclose(arena.dpo_flip_threshold([0.0], kl_coef=1.0), [np.log(2)])


def test_ranking_accuracy_counts_likelihood_orderings():
  logp_w = np.array([-10.0, -20.0, -5.0, -7.0])
  logp_l = np.array([-12.0, -15.0, -5.0, -30.0])
  out = arena.ranking_accuracy(logp_w, logp_l)
  assert (out.accuracy, out.pairs) == (0.75, 4)  # the tie counts as correct
  assert np.isnan(out.ref_accuracy) and np.isnan(out.reward_accuracy)
  # Per token: -10/5 = -2 < -12/8 = -1.5 flips the first pair; -7/7 = -1 > -30/10 = -3.
  normed = arena.ranking_accuracy(
    logp_w, logp_l, length_chosen=[5, 4, 1, 7], length_rejected=[8, 5, 1, 10]
  )
  assert normed.accuracy == 0.5
  ref = arena.ranking_accuracy(
    logp_w, logp_l, ref_logp_chosen=[-11.0, -22.0, -5.0, -6.0], ref_logp_rejected=[-11.0] * 4
  )
  # Reference: -11 >= -11, -22 < -11, -5 >= -11, -6 >= -11. Margins (2, 6, -6, 18).
  assert ref.ref_accuracy == 0.75
  assert ref.reward_accuracy == 0.75


def test_bad_inputs_raise():
  table = _table([(0, 1, WIN, 0, 0), (1, 2, LOSS, 0, 0)], annotators=("u", "v"))
  with pytest.raises(ValueError, match="Unknown judge 'nobody'"):
    arena.intransitive_triads(table, judge="nobody")
  with pytest.raises(ValueError, match="'v' has no comparisons"):
    arena.position_bias(table, judge="v")
  with pytest.raises(ValueError, match="not in"):
    arena.self_consistency(table, judge=5)
  with pytest.raises(ValueError, match="no comparisons"):
    arena.judge_report({"empty": select(table, np.zeros(2, dtype=bool))})
  with pytest.raises(ValueError, match="with itself"):
    arena.judge_agreement(table, _table([(0, 1, WIN), (2, 2, TIE)]))
  with pytest.raises(ValueError, match="verdicts"):
    arena.intransitive_triads(_table([(0, 1, 0.3)]))
  with pytest.raises(ValueError, match="per_annotator"):
    arena.intransitive_triads(_table([(0, 1, WIN)]), per_annotator=True)
  with pytest.raises(ValueError, match="no \\(prompt, pair\\) in common"):
    arena.judge_agreement(_table([(0, 1, WIN)]), _table([(0, 1, WIN, 7)]))
  with pytest.raises(ValueError, match="aggregate"):
    arena.judge_agreement(table, table, aggregate="mean")
  with pytest.raises(ValueError, match="shown first"):
    arena.position_bias(_table([(0, 1, WIN, 0, -1, 0)]))
  with pytest.raises(ValueError, match="No judges"):
    arena.judge_report({})
  with pytest.raises(ValueError, match="shape"):
    arena.ranking_accuracy([0.0, 1.0], [0.0])
  with pytest.raises(ValueError, match="NaN"):
    arena.ranking_accuracy([0.0, np.nan], [0.0, 1.0])
  with pytest.raises(ValueError, match="empty"):
    arena.ranking_accuracy([], [])
  with pytest.raises(ValueError, match="both"):
    arena.ranking_accuracy([0.0], [0.0], ref_logp_chosen=[0.0])
  with pytest.raises(ValueError, match="positive"):
    arena.ranking_accuracy([0.0], [0.0], length_chosen=[0], length_rejected=[1])
  with pytest.raises(ValueError, match="alpha"):
    arena.idealized_ranking_accuracy([0.0], [0.5], kl_coef=1.0)
  with pytest.raises(ValueError, match="kl_coef"):
    arena.dpo_flip_threshold(1.0, kl_coef=0.0)
  with pytest.raises(ValueError, match="scores"):
    arena.expected_score([0.5, 0.5], [1, 2, 3])
  with pytest.raises(ValueError, match="one shape"):
    arena.aggregate_both_orders([0.5, 0.3, 0.2], [0.5, 0.5])


def _check_rates(report):
  for row in report.values():
    for key, value in row.items():
      if "rate" in key or key.startswith(("agreement", "self_consistency", "first_win")):
        assert np.isnan(value) or 0.0 <= value <= 1.0, (key, value)


def test_llmfao_crowd_runs_and_gives_rates():
  crowd = load_llmfao()
  report = arena.judge_report({"crowd": crowd})
  _check_rates(report)
  row, workers = report["crowd"], report["crowd (per annotator)"]
  assert (row["judgments"], row["pairs"], workers["annotators"]) == (8931, 2139, 124)
  assert row["complete_triads"] > 0 and 0 < row["intransitive_rate"] < 1
  assert row["repeated_pairs"] > 0 and 0 < row["self_consistency"] < 1
  assert workers["repeated_pairs"] == 0  # no worker judged a pair twice
  assert row["first_win_low"] < row["first_win_rate"] < row["first_win_high"]


def test_llmfao_gpt_judges(shared_data):
  folder = shared_data / "llmfao"
  gpt4, gpt3 = folder / "gpt4-crowd-comparisons.csv", folder / "gpt3-crowd-comparisons.csv"
  if not (gpt4.exists() and gpt3.exists()):
    pytest.skip("the GPT-4 / GPT-3.5 LLMFAO judgments are not in ../shared/data/llmfao")
  tables = {"crowd": load_llmfao(), "gpt4": load_llmfao(gpt4), "gpt3": load_llmfao(gpt3)}
  report = arena.judge_report(tables)
  _check_rates(report)
  # The same 2,139 pairs: every pair is matched, and the agreement is symmetric.
  assert report["gpt4"]["pairs"] == 2139
  assert report["crowd"]["kappa_gpt4"] == report["gpt4"]["kappa_crowd"]
  # GPT-3.5 favours the first-listed answer and cycles more than GPT-4.
  assert report["gpt3"]["first_win_low"] > 0.6 > report["gpt4"]["first_win_high"]
  assert report["gpt3"]["cyclic_rate"] > report["gpt4"]["cyclic_rate"]
