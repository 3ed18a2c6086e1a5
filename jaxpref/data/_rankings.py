"""Rankings as long-form tables: a CSV loader and rankings read off complete transitive comparisons.

A :class:`RankingTable` holds each ranking as the list of its items' positions (1 = best; tied
items share a position). ``jaxpref.preference.rankings_from_table`` turns it into the padded
``Rankings`` a Plackett-Luce model is fitted on (ranked up to the first tie, the rest of the set
kept as the unranked remainder).
"""

import csv
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxpref.data._table import Comparisons, encode_labels
from jaxpref.types import HostArray


class RankingTable(NamedTuple):
  """Rankings of item sets, one entry per ranking.

  Attributes:
    rankings: per ranking, ``(item ids, positions)`` int arrays of equal length, sorted by
      position (1 = best; equal positions are ties).
    items: item names, indexed by id.
    annotator: ``[R]`` annotator id of each ranking (-1 where there is none).
    annotators: annotator names, indexed by id.
  """

  rankings: tuple[tuple[HostArray, HostArray], ...]
  items: tuple[str, ...]
  annotator: HostArray
  annotators: tuple[str, ...] = ()

  @property
  def num_items(self) -> int:
    """Number of items ``n``."""
    return len(self.items)


def load_rankings(
  path: str | os.PathLike,
  *,
  ranking: str = "ranking",
  item: str = "item",
  position: str = "position",
  annotator: str | None = None,
  items: Sequence[str] | None = None,
) -> RankingTable:
  """Reads a long-form ranking CSV: one row per (ranking id, item, position).

  Args:
    path: the CSV file.
    ranking: column identifying the ranking a row belongs to.
    item: column naming the item.
    position: column with the item's integer position in its ranking (1 = best; ties share one).
    annotator: column naming who ranked (constant within a ranking); ``None`` for none.
    items: the item vocabulary in id order; sorted names of the items seen when ``None``.

  Returns:
    The :class:`RankingTable` (rankings in order of first appearance).

  Raises:
    FileNotFoundError: if ``path`` does not exist.
    ValueError: an empty file, a missing column (named), a position that is not a positive
      integer, an item twice in one ranking, a ranking of fewer than 2 items, an annotator that
      changes within a ranking, or an item outside ``items`` (each with its line).
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"No rankings file at {path!r}.")
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    header = list(reader.fieldnames or ())
    required = [c for c in (ranking, item, position, annotator) if c is not None]
    missing = [c for c in required if c not in header]
    if not header or missing:
      raise ValueError(
        f"{path}: missing column(s) {', '.join(repr(c) for c in missing or required)}; "
        f"the file has {', '.join(header) or 'no header'}."
      )
    rows = list(reader)
  if not rows:
    raise ValueError(f"{path}: no rankings (the file has a header but no rows).")
  groups: dict[str, list[tuple[int, str, int, str]]] = {}
  for line, row in enumerate(rows, start=2):
    try:
      pos = int(row[position])
    except ValueError:
      pos = 0
    if pos < 1:
      raise ValueError(f"{path}, line {line}: position {row[position]!r} is not an integer >= 1.")
    who = row[annotator] if annotator else ""
    groups.setdefault(row[ranking], []).append((line, row[item], pos, who))
  names = tuple(sorted({r[item] for r in rows})) if items is None else tuple(items)
  index = {name: i for i, name in enumerate(names)}
  out, who_ids = [], []
  for key, entries in groups.items():
    seen = set()
    for line, name, _, who in entries:
      if name not in index:
        raise ValueError(f"{path}, line {line}: item {name!r} is not in the given items.")
      if name in seen:
        raise ValueError(f"{path}, line {line}: item {name!r} appears twice in ranking {key!r}.")
      seen.add(name)
      if who != entries[0][3]:
        raise ValueError(f"{path}, line {line}: ranking {key!r} has two annotators.")
    if len(entries) < 2:
      raise ValueError(f"{path}: ranking {key!r} has {len(entries)} item; need at least 2.")
    entries = sorted(entries, key=lambda e: e[2])
    out.append(
      (
        np.array([index[e[1]] for e in entries], np.int64),
        np.array([e[2] for e in entries], np.int64),
      )
    )
    who_ids.append(entries[0][3])
  if annotator is None:
    ids, annotator_names = np.full(len(out), -1, np.int64), ()
  else:
    ids, annotator_names = encode_labels(who_ids)
  return RankingTable(tuple(out), names, np.asarray(ids, np.int64), annotator_names)


def rankings_from_comparisons(table: Comparisons) -> tuple[RankingTable, int]:
  """The ranking of each (annotator, prompt) whose comparisons are complete and transitive.

  A group of comparisons by one annotator on one prompt gives a ranking when every pair of its
  items was compared exactly once and the results agree with one weak order (wins, losses and
  ties of a ranking with tied positions). Its positions are ``1 + the number of items that beat
  the item``. Groups that are incomplete, repeat a pair or contradict every order are skipped.

  Args:
    table: pairwise comparisons (annotator -1 counts as one annotator).

  Returns:
    ``(the rankings, the number of groups skipped)``.
  """
  keys = np.stack([table.annotator, table.prompt], axis=1)
  groups, inverse = np.unique(keys, axis=0, return_inverse=True)
  by_group = np.argsort(inverse.ravel(), kind="stable")  # Rows grouped, file order within each.
  bounds = np.searchsorted(inverse.ravel()[by_group], np.arange(len(groups) + 1))
  out, who, skipped = [], [], 0
  for g, key in enumerate(groups):
    rows = by_group[bounds[g] : bounds[g + 1]]
    members = np.unique(np.concatenate([table.item_a[rows], table.item_b[rows]]))
    m = len(members)
    pairs = {tuple(sorted((int(table.item_a[r]), int(table.item_b[r])))) for r in rows}
    if m < 2 or len(rows) != m * (m - 1) // 2 or len(pairs) != len(rows):
      skipped += 1
      continue
    at = {int(v): k for k, v in enumerate(members)}
    score = np.zeros((m, m))  # score[i, j]: 1 i beat j, 1/2 tie, 0 lost
    for r in rows:
      a, b, y = at[int(table.item_a[r])], at[int(table.item_b[r])], float(table.outcome[r])
      score[a, b], score[b, a] = y, 1.0 - y
    beaten_by = (score.T == 1.0).sum(axis=1)  # how many items beat each item
    position = 1 + beaten_by
    # A weak order: i beats j iff i's position is better, ties iff equal.
    want = np.where(
      position[:, None] < position[None, :], 1.0, np.where(position[:, None] > position, 0.0, 0.5)
    )
    np.fill_diagonal(want, 0.0)
    np.fill_diagonal(score, 0.0)
    if not np.array_equal(want, score):
      skipped += 1
      continue
    order = np.argsort(position, kind="stable")
    out.append((members[order].astype(np.int64), position[order].astype(np.int64)))
    who.append(int(key[0]))
  return RankingTable(tuple(out), table.items, np.asarray(who, np.int64), table.annotators), skipped
