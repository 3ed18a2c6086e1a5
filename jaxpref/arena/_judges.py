r"""Judge evaluation: consistency, position bias, agreement, TrustJudge scores, ranking accuracy.

A *judge* is whoever produced a set of pairwise verdicts: one crowd worker, a pool of workers, or
an LLM judge. The statistics read a :class:`~jaxpref.data.Comparisons` table (one row per
verdict, ``outcome`` 1 / 1/2 / 0 for ``item_a`` winning / a tie / ``item_b`` winning) and are
host-side numpy:

- :func:`intransitive_triads`: among triads (three items with all three pairs judged on the same
  prompt) the circular ones, :math:`a \succ b \succ c \succ a` (Kendall and Babington Smith's
  circular triads), and TrustJudge's *equivalence contradictions* (a tie that breaks
  transitivity: :math:`a = b, b = c, a \ne c` or :math:`a \succ b, b \succ c, a = c`);
- :func:`position_bias`: the share of decisive verdicts won by the response shown first, with a
  Wilson interval, and the tie rate (Zheng et al.'s position bias);
- :func:`judge_agreement`: agreement and Cohen's kappa over {a wins, tie, b wins} between two
  judges on the pairs both judged;
- :func:`self_consistency`: agreement of a judge with itself where it judged a pair repeatedly,
  in either presentation order;
- :func:`judge_report`: all of these per judge, as a table.

When a judge judged a pair several times (a pool of workers, a repeated query), the pair's
verdict is the *majority verdict*: the sign of (wins of one item - wins of the other), ties
counting for neither, i.e. the side of 1/2 of the pair's mean score (ties at exactly 1/2).
Verdicts are compared orientation-normalized: a pair shown as (b, a) is the same pair as (a, b)
with its outcome mirrored.

TrustJudge's fixes for score-based judges are pure ``jax.numpy`` functions (jittable and
vmappable): :func:`expected_score` (the probability-weighted score), :func:`softmax_weighted_score`
and :func:`aggregate_both_orders` (likelihood-aware aggregation of both presentation orders).

Chen et al.'s ranking accuracy of a policy, its idealized value at the exact DPO / RLHF optimum and
Theorem 4.1's threshold are :func:`ranking_accuracy`, :func:`idealized_ranking_accuracy` and
:func:`dpo_flip_threshold`.

References:
  Kendall and Babington Smith, On the method of paired comparisons, Biometrika 1940 (circular
  triads); Zheng et al., Judging LLM-as-a-judge with MT-Bench and Chatbot Arena, NeurIPS 2023
  Datasets and Benchmarks (arXiv 2306.05685; position bias, agreement); TrustJudge,
  2025 (equivalence contradictions, distribution-sensitive scoring, likelihood-aware aggregation;
  the definitions follow its released code, the preprint's authors were not checked here);
  Cohen, A coefficient of agreement for nominal scales, Educational and Psychological
  Measurement 1960; Wilson, Probable inference, the law of succession, and statistical
  inference, JASA 1927; Chen, Malladi, Zhang, Chen, Zhang,
  Ranganath, Cho, Preference learning algorithms do not learn preference rankings, NeurIPS 2024
  (arXiv 2405.19534).
"""

import itertools
import statistics
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.data._table import Comparisons
from jaxpref.types import Array, ArrayLike, HostArray

# Verdict categories of a pair (lo, hi) in canonical orientation: lo wins, tie, hi wins.
VERDICTS = ("a", "tie", "b")


def _triad_kinds() -> HostArray:
  """``[27]`` kind of a triad i < j < k by its relations: 0 transitive, 1 cyclic, 2 contradiction.

  Indexed by ``9 (r_ij + 1) + 3 (r_jk + 1) + (r_ik + 1)`` with ``r_xy`` = +1 (x wins), 0 (tie),
  -1 (y wins). A triad is transitive when some weak order (ties allowed) gives all three
  relations; the two strict 3-cycles are cyclic; the other 12 are equivalence contradictions.
  """
  kinds = np.zeros(27, np.int8)
  for r_ij, r_jk, r_ik in itertools.product((-1, 0, 1), repeat=3):
    code = 9 * (r_ij + 1) + 3 * (r_jk + 1) + (r_ik + 1)
    weak_order = any(
      np.sign(si - sj) == r_ij and np.sign(sj - sk) == r_jk and np.sign(si - sk) == r_ik
      for si, sj, sk in itertools.product(range(3), repeat=3)
    )
    if not weak_order:
      kinds[code] = 1 if r_ij == r_jk == -r_ik != 0 else 2
  return kinds


_TRIAD_KINDS = _triad_kinds()


# ------------------------------------------------------------------------------------------------
# Validation and orientation.


def _check_table(table: Comparisons, name: str = "table") -> None:
  """Raises a ValueError for an empty table, a self-comparison or a non-verdict outcome."""
  if table.num_comparisons == 0:
    raise ValueError(f"The {name} has no comparisons.")
  a, b = np.asarray(table.item_a), np.asarray(table.item_b)
  same = np.flatnonzero(a == b)
  if same.size:
    k = int(same[0])
    raise ValueError(
      f"The {name}'s row {k} compares item {table.items[a[k]]!r} with itself "
      f"({same.size} such row(s))."
    )
  outcome = np.asarray(table.outcome)
  bad = np.flatnonzero(~np.isin(outcome, (0.0, 0.5, 1.0)))
  if bad.size:
    k = int(bad[0])
    raise ValueError(
      f"The {name}'s row {k} has outcome {outcome[k]}; judge statistics need verdicts 1 "
      "(item_a wins), 1/2 (tie) or 0 (item_b wins)."
    )


def _judge_mask(table: Comparisons, judge: str | int | None, name: str = "table") -> HostArray:
  """``[K]`` rows of ``judge`` (every row when None); ValueError for an unknown or absent judge."""
  _check_table(table, name)
  if judge is None:
    return np.ones(table.num_comparisons, dtype=bool)
  if isinstance(judge, str):
    if judge not in table.annotators:
      shown = ", ".join(repr(a) for a in table.annotators[:8]) or "none"
      more = ", ..." if len(table.annotators) > 8 else ""
      raise ValueError(f"Unknown judge {judge!r}; the {name} names {shown}{more}.")
    index = table.annotators.index(judge)
  elif isinstance(judge, int | np.integer) and not isinstance(judge, bool):
    if not 0 <= judge < table.num_annotators:
      raise ValueError(
        f"Judge id {judge} is not in [0, {table.num_annotators}): the {name} names "
        f"{table.num_annotators} annotator(s)."
      )
    index = int(judge)
  else:
    raise ValueError(f"judge must be None, an annotator name or an annotator id; got {judge!r}.")
  mask = np.asarray(table.annotator) == index
  if not mask.any():
    raise ValueError(
      f"Judge {table.annotators[index]!r} has no comparisons in the {name} (the name is listed "
      "but no row is theirs)."
    )
  return mask


def _orient(a: HostArray, b: HostArray, outcome: HostArray):
  """``(lo, hi, signed)``: the pair as (smaller id, larger id), +1 lo won, -1 hi won, 0 tie."""
  s = (2.0 * outcome - 1.0).astype(np.int64)  # +1 item_a won
  swap = a > b
  return np.where(swap, b, a), np.where(swap, a, b), np.where(swap, -s, s)


def _canonical(table: Comparisons, mask: HostArray):
  """Orientation-normalized rows: ``(lo, hi, signed, first_is_lo)`` for the rows in ``mask``.

  ``signed`` is +1 when ``lo`` (the smaller item id) won, -1 when ``hi`` won, 0 for a tie;
  ``first_is_lo`` says whether ``lo`` was shown first (advantage +1 or 0: ``item_a``; -1:
  ``item_b``).
  """
  a, b = np.asarray(table.item_a)[mask], np.asarray(table.item_b)[mask]
  lo, hi, signed = _orient(a, b, np.asarray(table.outcome)[mask])
  adv = np.ones_like(a) if table.advantage is None else np.asarray(table.advantage)[mask]
  first = np.where(adv < 0, b, a)
  return lo, hi, signed, first == lo


def _majority(keys: HostArray, signed: HostArray) -> tuple[HostArray, HostArray]:
  """Distinct ``keys`` (sorted) and each one's majority verdict: sign of the summed verdicts."""
  unique, inverse = np.unique(keys, return_inverse=True)
  total = np.bincount(inverse, weights=signed, minlength=unique.size)
  return unique, np.sign(total).astype(np.int64)


def _rate(num: HostArray | int, den: HostArray | int) -> HostArray | float:
  """``num / den``, NaN where ``den`` is 0."""
  num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
  out = np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)
  return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------------------------------------------
# Intransitive triads.


class TriadCounts(NamedTuple):
  r"""Triads judged by one judge (or, with ``per_annotator``, ``[U]`` arrays, one per annotator).

  Attributes:
    complete: triads with all three pairs judged on the same prompt.
    cyclic: circular triads :math:`a \succ b \succ c \succ a`.
    contradictory: equivalence contradictions (a tie that breaks transitivity).
    cyclic_rate: ``cyclic / complete`` (NaN without a complete triad).
    intransitive_rate: ``(cyclic + contradictory) / complete``, TrustJudge's k = 3 rate.
  """

  complete: int | HostArray
  cyclic: int | HostArray
  contradictory: int | HostArray
  cyclic_rate: float | HostArray
  intransitive_rate: float | HostArray


def _triads_per_group(group: HostArray, lo: HostArray, hi: HostArray, signed: HostArray, n: int):
  """Counts ``[G, 3]`` (transitive, cyclic, contradictory) of the triads within each group.

  Each group's pairs get their majority verdict; a triad i < j < k is found from the sorted edge
  list: for edge (i, j) the edges (i, k), k > j, follow it in the same (group, i) block, and (j, k)
  is looked up by binary search. Work and memory are O(sum over nodes of degree^2).
  """
  num_groups = int(group.max()) + 1
  keys, rel = _majority((group * n + lo) * n + hi, signed)
  row = keys // n  # group * n + i, non-decreasing
  block_end = np.searchsorted(row, row, side="right")
  count = block_end - np.arange(keys.size) - 1  # edges (i, k > j) after edge (i, j)
  first = np.repeat(np.arange(keys.size), count)  # edge (i, j)
  offset = np.arange(first.size) - np.repeat(np.cumsum(count) - count, count)
  second = first + 1 + offset  # edge (i, k)
  g, j, k = keys[first] // (n * n), keys[first] % n, keys[second] % n
  want = (g * n + j) * n + k  # edge (j, k)
  third = np.minimum(np.searchsorted(keys, want), keys.size - 1)
  found = keys[third] == want
  code = 9 * (rel[first] + 1) + 3 * (rel[third] + 1) + (rel[second] + 1)
  kind = _TRIAD_KINDS[code[found]]
  counts = np.zeros((num_groups, 3), np.int64)
  np.add.at(counts, (g[found], kind), 1)
  return counts


def intransitive_triads(
  table: Comparisons,
  *,
  judge: str | int | None = None,
  by_prompt: bool = True,
  per_annotator: bool = False,
) -> TriadCounts:
  r"""Circular triads and equivalence contradictions among a judge's verdicts.

  A triad is three items :math:`\{a, b, c\}` whose three pairs the judge judged (on the same
  prompt when ``by_prompt``). With each pair's majority verdict it is *cyclic* when
  :math:`a \succ b \succ c \succ a` (a circular triad of Kendall and Babington Smith, who count
  them in a complete tournament: at most :math:`(n^3 - n)/24` for odd n), an *equivalence
  contradiction* when a tie breaks transitivity (:math:`a = b, b = c, a \ne c`, or
  :math:`a \succ b, b \succ c, a = c`, TrustJudge), and transitive when a weak order explains
  all three verdicts. Of the 27 verdict patterns of a triad 13 are transitive, 2 cyclic and 12
  contradictions. TrustJudge's pairwise transitivity inconsistency for subsets of size k = 3 is
  ``intransitive_rate`` (it also reports k = 4, 5: a subset is inconsistent when a triad inside
  is).

  Args:
    table: the verdicts.
    judge: an annotator name or id; None for every row (a pool of annotators judging as one, each
      pair by its majority verdict).
    by_prompt: triads within a prompt (True), or pairs pooled over prompts (False).
    per_annotator: count each annotator's triads separately (their own verdicts only); the
      fields are then ``[num_annotators]`` arrays.

  Returns:
    :class:`TriadCounts`.

  Raises:
    ValueError: for an empty table, a self-comparison, an outcome that is not a verdict, an
      unknown judge or one without rows, or ``per_annotator`` on a table naming no annotators.

  Examples:
    >>> import numpy as np
    >>> from jaxpref.data import Comparisons
    >>> t = Comparisons(np.array([0, 1, 2]), np.array([1, 2, 0]), np.array([1.0, 1.0, 1.0]),
    ...                 ("x", "y", "z"), np.zeros(3, int), np.full(3, -1))
    >>> intransitive_triads(t).cyclic_rate  # x > y > z > x
    1.0
  """
  mask = _judge_mask(table, judge)
  lo, hi, signed, _ = _canonical(table, mask)
  _, prompt = np.unique(np.asarray(table.prompt)[mask], return_inverse=True)
  prompt = prompt.reshape(-1) if by_prompt else np.zeros_like(lo)
  num_prompts = int(prompt.max()) + 1
  if per_annotator:
    annotator = np.asarray(table.annotator)[mask]
    if table.num_annotators == 0 or (annotator < 0).any():
      raise ValueError("per_annotator needs a table naming the annotator of every row.")
    group = annotator * num_prompts + prompt
  else:
    group = prompt
  counts = _triads_per_group(group, lo, hi, signed, table.num_items)
  if per_annotator:
    per = np.zeros((table.num_annotators, 3), np.int64)
    np.add.at(per, np.arange(counts.shape[0]) // num_prompts, counts)
    complete, cyclic, contradictory = per.sum(1), per[:, 1], per[:, 2]
  else:
    complete, cyclic, contradictory = (int(v) for v in (counts.sum(), *counts[:, 1:].sum(0)))
  return TriadCounts(
    complete=complete,
    cyclic=cyclic,
    contradictory=contradictory,
    cyclic_rate=_rate(cyclic, complete),
    intransitive_rate=_rate(cyclic + contradictory, complete),
  )


# ------------------------------------------------------------------------------------------------
# Position bias.


class PositionBias(NamedTuple):
  """First-position advantage of a judge.

  Attributes:
    first_win_rate: share of decisive (non-tie) verdicts won by the response shown first
      (1/2 for an unbiased judge on randomly ordered pairs); NaN without a decisive verdict.
    low: lower end of its Wilson interval.
    high: upper end.
    tie_rate: share of ties among the verdicts with a known presentation order.
    first_wins: decisive verdicts won by the first-shown response.
    decisive: decisive verdicts.
    judgments: verdicts with a known presentation order.
  """

  first_win_rate: float
  low: float
  high: float
  tie_rate: float
  first_wins: int
  decisive: int
  judgments: int


def wilson_interval(
  successes: int, trials: int, *, confidence: float = 0.95
) -> tuple[float, float]:
  r"""Wilson score interval of a binomial proportion.

  .. math::
    \frac{\hat p + z^2/2n}{1 + z^2/n} \pm \frac{z}{1 + z^2/n}
    \sqrt{\frac{\hat p (1 - \hat p)}{n} + \frac{z^2}{4 n^2}}

  Args:
    successes: number of successes.
    trials: number of trials ``n``; NaN bounds when 0.
    confidence: coverage, in (0, 1).

  Returns:
    ``(low, high)``.
  """
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1); got {confidence}.")
  if trials == 0:
    return float("nan"), float("nan")
  z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
  p, n = successes / trials, trials
  scale = 1.0 + z**2 / n
  center = (p + z**2 / (2 * n)) / scale
  half = z / scale * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
  return float(center - half), float(center + half)


def position_bias(
  table: Comparisons, *, judge: str | int | None = None, confidence: float = 0.95
) -> PositionBias:
  """Share of decisive verdicts won by the response shown first (position bias).

  The shown order is the table's ``advantage``: +1 ``item_a`` was shown first (LLMFAO's left
  response: :func:`~jaxpref.data.load_llmfao` puts the left model in ``item_a`` with advantage
  +1), -1 ``item_b`` was, 0 unknown (the row is left out). Zheng et al. measure position bias by
  asking twice with the order swapped; with one order per pair, as here, the first-win rate
  mixes position bias with any quality difference between the sides, and is unbiased for it
  when the order was random.

  Args:
    table: the verdicts.
    judge: an annotator name or id; None for every row.
    confidence: coverage of the Wilson interval.

  Returns:
    :class:`PositionBias`.

  Raises:
    ValueError: for an empty table, a self-comparison, an outcome that is not a verdict, an
      unknown judge or one without rows, or no row with a known presentation order.
  """
  mask = _judge_mask(table, judge)
  adv = (
    np.ones(table.num_comparisons, np.int64)
    if table.advantage is None
    else np.asarray(table.advantage)
  )
  known = mask & (adv != 0)
  if not known.any():
    raise ValueError("No verdict says which response was shown first (advantage 0 everywhere).")
  outcome, adv = np.asarray(table.outcome)[known], adv[known]
  first = np.where(adv > 0, outcome, 1.0 - outcome)  # score of the first-shown response
  wins, losses = int((first == 1.0).sum()), int((first == 0.0).sum())
  decisive = wins + losses
  low, high = wilson_interval(wins, decisive, confidence=confidence)
  return PositionBias(
    first_win_rate=_rate(wins, decisive),
    low=low,
    high=high,
    tie_rate=_rate(int((first == 0.5).sum()), first.size),
    first_wins=wins,
    decisive=decisive,
    judgments=int(first.size),
  )


# ------------------------------------------------------------------------------------------------
# Agreement between judges.


class JudgeAgreement(NamedTuple):
  """Agreement of two judges on the (prompt, pair)s both judged.

  Attributes:
    agreement: share of identical verdicts (a wins, tie, b wins).
    agreement_without_ties: the same among verdict pairs where neither is a tie (MT-Bench's
      "w/o tie").
    kappa: Cohen's kappa over the three verdicts, orientation-symmetrized.
    pairs: (prompt, pair)s judged by both.
    confusion: ``[3, 3]`` counts, rows the first judge's verdict (a wins, tie, b wins; ``a`` the
      item first in name order), columns the second's; vote pairs with ``aggregate="votes"``.
  """

  agreement: float
  agreement_without_ties: float
  kappa: float
  pairs: int
  confusion: HostArray


def _verdict_counts(
  table: Comparisons, mask: HostArray, ids: HostArray, prompt_ids: HostArray, n: int
) -> tuple[HostArray, HostArray]:
  """Per (prompt, pair) keys on a shared vocabulary of ``n`` items and ``[P, 3]`` verdict counts."""
  lo, hi, signed = _orient(
    ids[np.asarray(table.item_a)[mask]],
    ids[np.asarray(table.item_b)[mask]],
    np.asarray(table.outcome)[mask],
  )
  keys, inverse = np.unique((prompt_ids * n + lo) * n + hi, return_inverse=True)
  counts = np.zeros((keys.size, 3), np.int64)
  np.add.at(counts, (inverse.reshape(-1), 1 - signed), 1)  # column 0: lo wins, 2: hi wins
  return keys, counts


def _majority_one_hot(counts: HostArray) -> HostArray:
  verdict = np.sign(counts[:, 0] - counts[:, 2])  # +1 lo wins
  return np.eye(3, dtype=np.int64)[1 - verdict]


def cohen_kappa(confusion: ArrayLike) -> float:
  r"""Cohen's kappa of a square confusion matrix of counts.

  :math:`\kappa = (p_o - p_e) / (1 - p_e)` with :math:`p_o` the share on the diagonal and
  :math:`p_e = \sum_c p_{c\cdot} p_{\cdot c}` the agreement expected from the margins; NaN when
  :math:`p_e = 1`.
  """
  c = np.asarray(confusion, np.float64)
  total = c.sum()
  if total <= 0:
    return float("nan")
  p_o = np.trace(c) / total
  p_e = float(c.sum(1) @ c.sum(0)) / total**2
  return float("nan") if p_e >= 1.0 else float((p_o - p_e) / (1.0 - p_e))


def judge_agreement(
  table_a: Comparisons,
  table_b: Comparisons,
  *,
  judge_a: str | int | None = None,
  judge_b: str | int | None = None,
  aggregate: str = "majority",
) -> JudgeAgreement:
  r"""Agreement and Cohen's kappa between two judges on the pairs both judged.

  Pairs are matched by prompt and item *names* (the two tables may code items differently) in
  either orientation, and each verdict is read from the same item's side. With
  ``aggregate="majority"`` each judge's verdict on a pair is its majority verdict (a pool of
  workers as one judge); with ``"votes"`` every pair of verdicts, one from each table, counts
  (Zheng et al.'s human-vs-GPT-4 agreement over votes).

  Kappa is computed on the confusion matrix plus its mirror image (each pair counted from both
  items' sides), so it does not depend on which item of a pair is called ``a``: the win and loss
  margins are then equal and :math:`p_e = p^A_{tie} p^B_{tie} + (1 - p^A_{tie})(1 - p^B_{tie})/2`.
  ``agreement`` is unchanged by the mirroring.

  Args:
    table_a: the first judge's verdicts.
    table_b: the second judge's verdicts.
    judge_a: an annotator of ``table_a`` (name or id); None for every row.
    judge_b: an annotator of ``table_b``; None for every row.
    aggregate: ``"majority"`` or ``"votes"``.

  Returns:
    :class:`JudgeAgreement`.

  Raises:
    ValueError: for an empty table, a self-comparison, an outcome that is not a verdict, an
      unknown judge or one without rows, an unknown ``aggregate``, or no pair judged by both.
  """
  if aggregate not in ("majority", "votes"):
    raise ValueError(f"aggregate must be 'majority' or 'votes'; got {aggregate!r}.")
  mask_a = _judge_mask(table_a, judge_a, "first table")
  mask_b = _judge_mask(table_b, judge_b, "second table")
  names = sorted(set(table_a.items) | set(table_b.items))
  index = {name: i for i, name in enumerate(names)}
  ids_a = np.array([index[x] for x in table_a.items], np.int64)
  ids_b = np.array([index[x] for x in table_b.items], np.int64)
  prompts_a, prompts_b = np.asarray(table_a.prompt)[mask_a], np.asarray(table_b.prompt)[mask_b]
  _, prompt_ids = np.unique(np.concatenate([prompts_a, prompts_b]), return_inverse=True)
  prompt_ids = prompt_ids.reshape(-1)
  n = len(names)
  keys_a, counts_a = _verdict_counts(table_a, mask_a, ids_a, prompt_ids[: prompts_a.size], n)
  keys_b, counts_b = _verdict_counts(table_b, mask_b, ids_b, prompt_ids[prompts_a.size :], n)
  common, ia, ib = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
  if common.size == 0:
    raise ValueError("The two judges judged no (prompt, pair) in common.")
  va, vb = counts_a[ia], counts_b[ib]
  if aggregate == "majority":
    va, vb = _majority_one_hot(va), _majority_one_hot(vb)
  confusion = va.T @ vb  # [3, 3]
  decisive = confusion[np.ix_([0, 2], [0, 2])]
  mirrored = confusion + confusion[::-1, ::-1]
  return JudgeAgreement(
    agreement=_rate(np.trace(confusion), confusion.sum()),
    agreement_without_ties=_rate(np.trace(decisive), decisive.sum()),
    kappa=cohen_kappa(mirrored),
    pairs=int(common.size),
    confusion=confusion,
  )


# ------------------------------------------------------------------------------------------------
# Self-consistency.


class SelfConsistency(NamedTuple):
  r"""Agreement of a judge with itself on repeated (prompt, pair)s.

  Attributes:
    rate: share of identical verdicts over all pairs of judgments of the same (prompt, pair);
      NaN when nothing was judged twice.
    rate_without_ties: the same among pairs of judgments where neither is a tie (MT-Bench's
      "w/o tie"); NaN when there are none.
    repeated_pairs: (prompt, pair)s judged at least twice.
    judgment_pairs: pairs of judgments compared, :math:`\sum_p m_p (m_p - 1) / 2`.
    swapped_rate: the same among pairs of judgments shown in opposite orders (Zheng et al.'s
      position consistency when each pair was asked in both orders); NaN when none.
    swapped_judgment_pairs: pairs of judgments shown in opposite orders.
  """

  rate: float
  rate_without_ties: float
  repeated_pairs: int
  judgment_pairs: int
  swapped_rate: float
  swapped_judgment_pairs: int


def self_consistency(
  table: Comparisons, *, judge: str | int | None = None, by_annotator: bool = False
) -> SelfConsistency:
  r"""Share of identical verdicts where the same judge judged the same (prompt, pair) again.

  For a (prompt, pair) judged :math:`m_p` times with :math:`m_{pc}` verdicts of kind c (a wins,
  tie, b wins, orientation-normalized), the rate is

  .. math::
    \frac{\sum_p \sum_c m_{pc}(m_{pc} - 1)/2}{\sum_p m_p (m_p - 1)/2},

  the chance that two of its judgments drawn without replacement agree. With ``judge=None`` and
  ``by_annotator=False`` the whole table is one judge, so for a pool of workers this is the
  agreement between two different workers' verdicts (inter-annotator agreement); with
  ``by_annotator=True`` only repeats by the same annotator count, pooled over annotators.
  A row with advantage -1 was shown in the order (``item_b``, ``item_a``); 0 or +1, as listed.

  Args:
    table: the verdicts.
    judge: an annotator name or id; None for every row.
    by_annotator: compare only judgments of the same annotator.

  Returns:
    :class:`SelfConsistency` (NaN rates where nothing was judged twice).

  Raises:
    ValueError: for an empty table, a self-comparison, an outcome that is not a verdict, or an
      unknown judge or one without rows.
  """
  mask = _judge_mask(table, judge)
  lo, hi, signed, first_is_lo = _canonical(table, mask)
  n = table.num_items
  _, prompt = np.unique(np.asarray(table.prompt)[mask], return_inverse=True)
  key = (prompt.reshape(-1) * n + lo) * n + hi
  if by_annotator:
    annotator = np.asarray(table.annotator)[mask] + 1  # -1 (none) -> 0
    key = key * (table.num_annotators + 1) + annotator
  _, group = np.unique(key, return_inverse=True)
  counts = np.zeros((int(group.max()) + 1, 2, 3), np.int64)  # [pair, shown order, verdict]
  np.add.at(counts, (group.reshape(-1), first_is_lo.astype(np.int64), 1 - signed), 1)
  per_verdict, m = counts.sum(1), counts.sum((1, 2))
  judgment_pairs = int((m * (m - 1) // 2).sum())
  agreeing = int((per_verdict * (per_verdict - 1) // 2).sum())
  decisive = per_verdict[:, 0] + per_verdict[:, 2]
  decisive_pairs = int((decisive * (decisive - 1) // 2).sum())
  decisive_agreeing = agreeing - int((per_verdict[:, 1] * (per_verdict[:, 1] - 1) // 2).sum())
  order = counts.sum(2)  # [pair, shown order]
  swapped = int((order[:, 0] * order[:, 1]).sum())
  swapped_agreeing = int((counts[:, 0, :] * counts[:, 1, :]).sum())
  return SelfConsistency(
    rate=_rate(agreeing, judgment_pairs),
    rate_without_ties=_rate(decisive_agreeing, decisive_pairs),
    repeated_pairs=int((m >= 2).sum()),
    judgment_pairs=judgment_pairs,
    swapped_rate=_rate(swapped_agreeing, swapped),
    swapped_judgment_pairs=swapped,
  )


# ------------------------------------------------------------------------------------------------
# Report.


def _quartiles(values: HostArray, prefix: str) -> dict[str, float]:
  values = values[np.isfinite(values)]
  if values.size == 0:
    return {
      f"{prefix}_median": float("nan"),
      f"{prefix}_q25": float("nan"),
      f"{prefix}_q75": float("nan"),
    }
  q25, median, q75 = np.quantile(values, [0.25, 0.5, 0.75])
  return {
    f"{prefix}_median": float(median),
    f"{prefix}_q25": float(q25),
    f"{prefix}_q75": float(q75),
  }


def judge_report(tables: Mapping[str, Comparisons]) -> dict[str, dict[str, float]]:
  """Consistency, position bias and agreement of several judges, one row per judge.

  Each table is one judge (all its rows pooled; a crowd's pairs by majority verdict). A table
  naming annotators gets a second row ``"<name> (per annotator)"``: the median and quartiles over
  annotators of each one's own triad rates (annotators with at least one complete triad) and
  first-win rate (annotators with a decisive verdict), and self-consistency over repeats by the
  same annotator.

  Row keys: ``judgments``, ``pairs`` ((prompt, pair)s judged), ``tie_rate``, ``first_win_rate``,
  ``first_win_low`` / ``first_win_high`` (95% Wilson), ``complete_triads``, ``cyclic_triads``,
  ``contradictory_triads``, ``cyclic_rate``, ``intransitive_rate``, ``self_consistency`` (for a
  pool: two different annotators agreeing on a pair), ``self_consistency_without_ties``,
  ``repeated_pairs``, and for every other
  judge ``agreement_<other>``, ``agreement_without_ties_<other>`` and ``kappa_<other>`` (majority
  verdicts). Per-annotator rows: ``annotators``, ``annotators_with_triads``,
  ``cyclic_rate_{median,q25,q75}``, ``intransitive_rate_{median,q25,q75}``,
  ``first_win_rate_{median,q25,q75}``, ``self_consistency``, ``repeated_pairs``.

  Args:
    tables: judge name -> its verdicts (e.g. ``{"crowd": load_llmfao(), "gpt4": ...}``).

  Returns:
    ``{row name: {key: value}}``, in the order of ``tables``.

  Raises:
    ValueError: if ``tables`` is empty, or for a table that the statistics reject.
  """
  if not tables:
    raise ValueError("No judges given.")
  report = {}
  for name, table in tables.items():
    _check_table(table, f"table {name!r}")
    lo, hi, _, _ = _canonical(table, np.ones(table.num_comparisons, dtype=bool))
    n = table.num_items
    triads = intransitive_triads(table)
    bias = position_bias(table)
    consistency = self_consistency(table)
    row = {
      "judgments": table.num_comparisons,
      "pairs": int(np.unique((np.asarray(table.prompt) * n + lo) * n + hi).size),
      "tie_rate": float(np.mean(np.asarray(table.outcome) == 0.5)),
      "first_win_rate": bias.first_win_rate,
      "first_win_low": bias.low,
      "first_win_high": bias.high,
      "complete_triads": triads.complete,
      "cyclic_triads": triads.cyclic,
      "contradictory_triads": triads.contradictory,
      "cyclic_rate": triads.cyclic_rate,
      "intransitive_rate": triads.intransitive_rate,
      "self_consistency": consistency.rate,
      "self_consistency_without_ties": consistency.rate_without_ties,
      "repeated_pairs": consistency.repeated_pairs,
    }
    for other, other_table in tables.items():
      if other == name:
        continue
      agreement = judge_agreement(table, other_table)
      row[f"agreement_{other}"] = agreement.agreement
      row[f"agreement_without_ties_{other}"] = agreement.agreement_without_ties
      row[f"kappa_{other}"] = agreement.kappa
    report[name] = row
    if table.num_annotators and (np.asarray(table.annotator) >= 0).all():
      report[f"{name} (per annotator)"] = _per_annotator_row(table)
  return report


def _per_annotator_row(table: Comparisons) -> dict[str, float]:
  triads = intransitive_triads(table, per_annotator=True)
  has_triads = triads.complete >= 1
  annotator = np.asarray(table.annotator)
  adv = np.ones_like(annotator) if table.advantage is None else np.asarray(table.advantage)
  first = np.where(adv > 0, table.outcome, 1.0 - np.asarray(table.outcome))
  known = adv != 0
  u = table.num_annotators
  wins = np.bincount(annotator[known], weights=first[known] == 1.0, minlength=u)
  losses = np.bincount(annotator[known], weights=first[known] == 0.0, minlength=u)
  consistency = self_consistency(table, by_annotator=True)
  return {
    "annotators": u,
    "annotators_with_triads": int(has_triads.sum()),
    **_quartiles(triads.cyclic_rate[has_triads], "cyclic_rate"),
    **_quartiles(triads.intransitive_rate[has_triads], "intransitive_rate"),
    **_quartiles(np.asarray(_rate(wins, wins + losses)), "first_win_rate"),
    "self_consistency": consistency.rate,
    "repeated_pairs": consistency.repeated_pairs,
  }


# ------------------------------------------------------------------------------------------------
# TrustJudge reductions (jax.numpy: jittable, vmappable).


def _check_scores(probs: Array, scores: Array) -> None:
  if probs.ndim < 1 or scores.ndim != 1 or probs.shape[-1] != scores.shape[0]:
    raise ValueError(
      f"probs must be [..., S] and scores [S]; got probs {probs.shape}, scores {scores.shape}."
    )


def expected_score(probs: ArrayLike, scores: ArrayLike, *, normalize: bool = False) -> Array:
  r"""Probability-weighted score of a score-token distribution (TrustJudge's ``geval``).

  :math:`\sum_s s\, p_s`, with :math:`p_s` the judge's probability of the score token ``s``: a
  fine-grained score that keeps the information argmax decoding discards. TrustJudge leaves
  :math:`p` unnormalized (the mass on non-score tokens then shrinks the score);
  ``normalize=True`` divides by :math:`\sum_s p_s`.

  Args:
    probs: ``[..., S]`` probabilities of the score tokens.
    scores: ``[S]`` the score each token stands for.
    normalize: renormalize ``probs`` over the score tokens.

  Returns:
    ``[...]`` the scores.

  Examples:
    >>> float(expected_score([0.05, 0.10, 0.20, 0.40, 0.25], [1, 2, 3, 4, 5]))  # doctest: +ELLIPSIS
    3.7...
  """
  probs, scores = jnp.asarray(probs), jnp.asarray(scores, dtype=jnp.result_type(float))
  _check_scores(probs, scores)
  total = probs @ scores
  return total / probs.sum(-1) if normalize else total


def softmax_weighted_score(
  probs: ArrayLike, scores: ArrayLike, *, temperature: float = 0.2
) -> Array:
  r"""TrustJudge's ``softmax_weighted`` score: scores weighted by a sharpened token distribution.

  :math:`\sum_s s\, w_s` with :math:`w = \mathrm{softmax}(\mathrm{logit}(p_s) / T)`,
  :math:`\mathrm{logit}(p) = \log(p / (1 - p))`, :math:`T` = ``temperature`` (0.2 in TrustJudge's
  code): between the expectation (:func:`expected_score`) and the argmax score (T -> 0).
  Probabilities are clipped to :math:`[\text{tiny}, 1 - \epsilon]` so 0 and 1 stay finite.

  Args:
    probs: ``[..., S]`` probabilities of the score tokens.
    scores: ``[S]`` the score each token stands for.
    temperature: softmax temperature, > 0.

  Returns:
    ``[...]`` the scores.
  """
  if not temperature > 0:
    raise ValueError(f"temperature must be > 0; got {temperature}.")
  probs, scores = jnp.asarray(probs), jnp.asarray(scores, dtype=jnp.result_type(float))
  _check_scores(probs, scores)
  info = jnp.finfo(jnp.result_type(probs.dtype, float))
  p = jnp.clip(probs, info.tiny, 1.0 - info.eps)
  weights = jax.nn.softmax((jnp.log(p) - jnp.log1p(-p)) / temperature, axis=-1)
  return weights @ scores


class BothOrders(NamedTuple):
  """Verdict from both presentation orders.

  Attributes:
    verdict: ``[...]`` int, 0 A wins, 1 B wins, 2 tie (the argmax of ``probs``).
    probs: ``[..., 3]`` the (A, B, tie) probabilities averaged over the two orders.
  """

  verdict: Array
  probs: Array


def aggregate_both_orders(
  p_order1: ArrayLike, p_order2: ArrayLike, *, relabel: bool = False
) -> BothOrders:
  r"""TrustJudge's likelihood-aware aggregation: add both orders' (A, B, tie) probabilities.

  The judge is asked with A first and again with B first; the verdict is the argmax of
  :math:`p^{(1)} + p^{(2)}` over (A, B, tie), so a confident verdict in one order outweighs a weak
  contrary one in the other (a majority of the two argmaxes would be a tie or undecided).

  Args:
    p_order1: ``[..., 3]`` probabilities of (A wins, B wins, tie), A shown first.
    p_order2: ``[..., 3]`` the same with B shown first, already in (A, B, tie) labels; with
      ``relabel=True`` in the judge's own labels for that order (first shown = B, second = A,
      tie), which are swapped here.
    relabel: swap the first two entries of ``p_order2``.

  Returns:
    :class:`BothOrders`.

  Examples:
    >>> out = aggregate_both_orders([0.45, 0.35, 0.20], [0.30, 0.50, 0.20])
    >>> int(out.verdict)  # B wins, although the first order alone says A
    1
  """
  p1, p2 = jnp.asarray(p_order1), jnp.asarray(p_order2)
  if p1.shape != p2.shape or p1.ndim < 1 or p1.shape[-1] != 3:
    raise ValueError(
      f"Both orders must be [..., 3] (A, B, tie) probabilities of one shape; got {p1.shape} and "
      f"{p2.shape}."
    )
  if relabel:
    p2 = p2[..., jnp.array([1, 0, 2])]
  probs = (p1 + p2) / 2
  return BothOrders(verdict=jnp.argmax(probs, axis=-1), probs=probs)


# ------------------------------------------------------------------------------------------------
# Ranking accuracy (Chen et al., NeurIPS 2024).


class RankingAccuracy(NamedTuple):
  r"""Ranking accuracy of a policy on preference pairs.

  Attributes:
    accuracy: :math:`R`, share of pairs with :math:`\pi(y_w|x) \ge \pi(y_l|x)` (or the
      length-normalized :math:`\tilde R`).
    ref_accuracy: the same for the reference model; NaN without reference log-likelihoods.
    reward_accuracy: share of pairs whose implicit DPO reward margin
      :math:`\beta[(\log\pi - \log\pi_{ref})(y_w) - (\log\pi - \log\pi_{ref})(y_l)]` is > 0 (the
      "reward accuracy" usually logged; independent of :math:`\beta > 0`); NaN without reference.
    pairs: number of pairs.
  """

  accuracy: float
  ref_accuracy: float
  reward_accuracy: float
  pairs: int


def _host(name: str, x: ArrayLike, shape: tuple[int, ...] | None = None) -> HostArray:
  x = np.asarray(x, dtype=np.float64)
  if shape is not None and x.shape != shape:
    raise ValueError(f"{name} has shape {x.shape}; expected {shape} like logp_chosen.")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} has NaN or infinite values.")
  return x


def ranking_accuracy(
  logp_chosen: ArrayLike,
  logp_rejected: ArrayLike,
  *,
  ref_logp_chosen: ArrayLike | None = None,
  ref_logp_rejected: ArrayLike | None = None,
  length_chosen: ArrayLike | None = None,
  length_rejected: ArrayLike | None = None,
) -> RankingAccuracy:
  r"""Chen et al.'s ranking accuracy: how often the policy gives the preferred response more mass.

  .. math::
    R = \frac{1}{|D|} \sum_{(x, y_w, y_l) \in D} 1[\pi(y_w|x) \ge \pi(y_l|x)],

  on sequence log-likelihoods; with lengths, the length-normalized :math:`\tilde R` compares
  :math:`\log\pi(y|x) / |y|`. Chen et al. find most preference-tuned models below 60% and the
  reference's ranking rarely flipped by DPO. Host-side (validates its inputs); inside ``jit``
  use ``jnp.mean(logp_chosen >= logp_rejected)``.

  Args:
    logp_chosen: ``[B]`` :math:`\log\pi(y_w|x)`, summed over the response's tokens.
    logp_rejected: ``[B]`` :math:`\log\pi(y_l|x)`.
    ref_logp_chosen: ``[B]`` :math:`\log\pi_{ref}(y_w|x)`, for ``ref_accuracy`` and
      ``reward_accuracy``; give both reference arrays or neither.
    ref_logp_rejected: ``[B]`` :math:`\log\pi_{ref}(y_l|x)`.
    length_chosen: ``[B]`` token counts of ``y_w`` (> 0) for :math:`\tilde R`; both or neither.
    length_rejected: ``[B]`` token counts of ``y_l``.

  Returns:
    :class:`RankingAccuracy`.

  Raises:
    ValueError: on an empty batch, mismatched shapes, NaN or infinite values, only one of a pair
      of optional arrays, or a non-positive length.
  """
  chosen = _host("logp_chosen", logp_chosen)
  if chosen.size == 0:
    raise ValueError("No pairs (logp_chosen is empty).")
  rejected = _host("logp_rejected", logp_rejected, chosen.shape)
  if (ref_logp_chosen is None) != (ref_logp_rejected is None):
    raise ValueError("Give both ref_logp_chosen and ref_logp_rejected, or neither.")
  if (length_chosen is None) != (length_rejected is None):
    raise ValueError("Give both length_chosen and length_rejected, or neither.")
  scale_w = scale_l = 1.0
  if length_chosen is not None:
    scale_w = _host("length_chosen", length_chosen, chosen.shape)
    scale_l = _host("length_rejected", length_rejected, chosen.shape)
    if (scale_w <= 0).any() or (scale_l <= 0).any():
      raise ValueError("Lengths must be positive.")
  accuracy = float(np.mean(chosen / scale_w >= rejected / scale_l))
  ref_accuracy = reward_accuracy = float("nan")
  if ref_logp_chosen is not None:
    ref_w = _host("ref_logp_chosen", ref_logp_chosen, chosen.shape)
    ref_l = _host("ref_logp_rejected", ref_logp_rejected, chosen.shape)
    ref_accuracy = float(np.mean(ref_w / scale_w >= ref_l / scale_l))
    reward_accuracy = float(np.mean((chosen - ref_w) - (rejected - ref_l) > 0))
  return RankingAccuracy(accuracy, ref_accuracy, reward_accuracy, int(chosen.size))


class IdealizedRankingAccuracy(NamedTuple):
  r"""Ranking accuracy of the exact DPO / RLHF optimum.

  Attributes:
    accuracy: :math:`R^*`, share of pairs with optimal log-ratio > 0.
    log_ratio: ``[B]`` :math:`\log(\pi^*(y_w|x) / \pi^*(y_l|x))`.
  """

  accuracy: float
  log_ratio: HostArray


def idealized_ranking_accuracy(
  ref_logratio: ArrayLike, alpha: ArrayLike, *, kl_coef: float, eps: float = 1e-3
) -> IdealizedRankingAccuracy:
  r"""Ranking accuracy of the exact DPO / RLHF optimum (Chen et al., Thm 3.1, Cor. 3.3).

  With Bradley-Terry ground truth and :math:`\alpha` the share of raters preferring :math:`y_w`,
  the optimum of the KL-regularized objective (``kl_coef`` = :math:`\beta`) has

  .. math::
    \frac{\pi^*(y_w|x)}{\pi^*(y_l|x)} = \frac{\pi_{ref}(y_w|x)}{\pi_{ref}(y_l|x)}
    \Big(\frac{\alpha}{1 - \alpha}\Big)^{1/\beta},

  and :math:`R^*` is the share of pairs where that ratio exceeds 1. :math:`\alpha = 1` puts the
  optimum at infinity; as in the paper, :math:`\alpha` is clipped to :math:`1 - \epsilon`.

  Args:
    ref_logratio: ``[B]`` :math:`\log\pi_{ref}(y_w|x) - \log\pi_{ref}(y_l|x)`.
    alpha: ``[B]`` (or scalar) share of raters preferring :math:`y_w`, in (1/2, 1] (ties, 1/2,
      are not ranked: drop them).
    kl_coef: :math:`\beta > 0`.
    eps: clipping of :math:`\alpha` below 1 (0 keeps :math:`\alpha = 1` at an infinite ratio).

  Returns:
    :class:`IdealizedRankingAccuracy`.

  Raises:
    ValueError: on an empty batch, NaN, mismatched shapes, alpha outside (1/2, 1], or
      ``kl_coef <= 0``.

  Examples:
    >>> out = idealized_ranking_accuracy([-1.0], [0.75], kl_coef=1.0)
    >>> round(float(np.exp(out.log_ratio[0])), 4), out.accuracy
    (1.1036, 1.0)
  """
  if not kl_coef > 0:
    raise ValueError(f"kl_coef must be > 0; got {kl_coef}.")
  if not 0.0 <= eps < 0.5:
    raise ValueError(f"eps must be in [0, 1/2); got {eps}.")
  ref = _host("ref_logratio", ref_logratio)
  if ref.size == 0:
    raise ValueError("No pairs (ref_logratio is empty).")
  alpha = np.asarray(alpha, np.float64)
  if np.isnan(alpha).any() or ((alpha <= 0.5) | (alpha > 1.0)).any():
    raise ValueError("alpha must be in (1/2, 1] (the share of raters preferring y_w).")
  try:
    alpha = np.broadcast_to(alpha, ref.shape)
  except ValueError:
    raise ValueError(f"alpha has shape {alpha.shape}; expected {ref.shape} or a scalar.") from None
  alpha = np.minimum(alpha, 1.0 - eps)
  with np.errstate(divide="ignore"):
    log_ratio = ref + (np.log(alpha) - np.log1p(-alpha)) / kl_coef
  return IdealizedRankingAccuracy(float(np.mean(log_ratio > 0)), log_ratio)


def dpo_flip_threshold(c: ArrayLike, *, kl_coef: float) -> HostArray | float:
  r"""The DPO loss below which a pair's ranking is right (Chen et al., Thm 4.1).

  With :math:`c = \log(\pi_{ref}(y_l|x) / \pi_{ref}(y_w|x))` (> 0: the reference ranks the pair
  wrongly), the policy ranks the pair correctly iff its DPO loss on it is at most

  .. math:: -\log\sigma(\beta c) = \log(1 + e^{-\beta c}),

  with :math:`\beta` = ``kl_coef``. At initialization (policy = reference) the loss is
  :math:`\log 2`; a large :math:`\beta c` needs a loss near 0 to flip the ranking.

  Args:
    c: ``[...]`` the reference log-ratio of rejected over chosen.
    kl_coef: :math:`\beta > 0`.

  Returns:
    The thresholds (a float for a scalar ``c``).

  Examples:
    >>> round(dpo_flip_threshold(1.0, kl_coef=0.1), 6)
    0.644397
  """
  if not kl_coef > 0:
    raise ValueError(f"kl_coef must be > 0; got {kl_coef}.")
  c = np.asarray(c, np.float64)
  if np.isnan(c).any():
    raise ValueError("c has NaN values.")
  out = np.logaddexp(0.0, -kl_coef * c)
  return float(out) if out.ndim == 0 else out
