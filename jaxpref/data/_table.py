"""Long-form comparison tables: one row per judgment, items and annotators integer-coded.

Paired-comparison surveys in the psychotools / BradleyTerry2 layout
(``subject,item_a,item_b,outcome,<covariates>``, outcome 1 / 0 / -1), football results
(``season,home,away,outcome``) and any user CSV of the same shape load through
:func:`load_comparisons`; the column names and outcome codes are arguments. An optional column
says, per row, which side had the home / position advantage (neutral venues, the position shown).
"""

import csv
import os
import types
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from jaxpref.types import HostArray

# Score of item_a for the codes used by psychotools / BradleyTerry2 and most survey exports.
SIGNED_CODES: Mapping[str, float] = types.MappingProxyType({"1": 1.0, "0": 0.5, "-1": 0.0})

# Advantage indicator for the text of an advantage cell, from item_a's side: +1 item_a has the
# advantage (plays at home, shown first), -1 item_b has it, 0 neither (neutral venue). Numbers
# ("1", "-1.0", "+1", "0") are read as numbers, so these are the words.
ADVANTAGE_CODES: Mapping[str, int] = types.MappingProxyType({"home": 1, "away": -1, "neutral": 0})


class Comparisons(NamedTuple):
  """A long-form table of pairwise comparisons.

  Attributes:
    item_a: ``[K]`` int ids of the first item of each comparison.
    item_b: ``[K]`` int ids of the second item.
    outcome: ``[K]`` float score of ``item_a``: 1 won, 0 lost, 1/2 tie.
    items: names of the items, indexed by id.
    prompt: ``[K]`` int prompt (context) of each comparison; 0 where the table has none.
    annotator: ``[K]`` int annotator (subject, rater) of each comparison, indexing
      ``annotators``; -1 where the file names none.
    annotators: names of the annotators, indexed by id (empty when there are none).
    covariates: annotator covariates by column name, each ``[K]`` (the row's annotator's value,
      as text); empty when the table has none. :func:`covariate_matrix` encodes them.
    advantage: ``[K]`` int indicator of the side with the home / position advantage: +1
      ``item_a`` (the home / left / first-shown item), -1 ``item_b``, 0 neither (neutral). The
      loaders fill +1 where the file records none; ``None`` (a table built by hand) means +1.
  """

  item_a: HostArray
  item_b: HostArray
  outcome: HostArray
  items: tuple[str, ...]
  prompt: HostArray
  annotator: HostArray
  annotators: tuple[str, ...] = ()
  covariates: Mapping[str, HostArray] = types.MappingProxyType({})
  advantage: HostArray | None = None

  @property
  def num_items(self) -> int:
    """Number of items ``n``."""
    return len(self.items)

  @property
  def num_annotators(self) -> int:
    """Number of annotators (0 when the table names none)."""
    return len(self.annotators)

  @property
  def num_comparisons(self) -> int:
    """Number of comparisons ``K`` (``len(table)`` counts the tuple's fields)."""
    return int(self.outcome.shape[0])


def encode_labels(values: Sequence[str]) -> tuple[HostArray, tuple[str, ...]]:
  """Integer codes of ``values`` and their sorted distinct names (numbers sorted as numbers).

  Args:
    values: one label per row.

  Returns:
    ``(codes, names)`` with ``names[codes[k]] == values[k]``.
  """
  distinct = set(values)
  try:
    names = tuple(sorted(distinct, key=float))
  except ValueError:
    names = tuple(sorted(distinct))
  index = {name: i for i, name in enumerate(names)}
  return np.array([index[v] for v in values], dtype=np.int64), names


def load_comparisons(
  path: str | os.PathLike,
  *,
  item_a: str = "item_a",
  item_b: str = "item_b",
  outcome: str = "outcome",
  annotator: str | None = "subject",
  prompt: str | None = None,
  covariates: Sequence[str] | None = None,
  outcome_codes: Mapping[str, float] = SIGNED_CODES,
  items: Sequence[str] | None = None,
  advantage: str | None = None,
  advantage_codes: Mapping[str, int] = ADVANTAGE_CODES,
) -> Comparisons:
  """Reads a long-form comparison CSV into a :class:`Comparisons` table.

  Items are coded in sorted name order (or in the order of ``items``), annotators in sorted order
  (numerically when the ids are numbers); ties are kept as outcome 1/2. Covariates are annotator
  attributes (age, gender, ...), stored per row as text.

  Examples: the paircomp surveys load with the defaults; football with
  ``item_a="home", item_b="away", annotator="season"``; a file with neutral venues with
  ``advantage="venue"`` (cells ``1`` / ``-1`` / ``0``, or ``home`` / ``away`` / ``neutral``).

  Args:
    path: the CSV file (any path; the shared data folder is only the default of the experiments).
    item_a: column naming the first item.
    item_b: column naming the second item.
    outcome: column holding the result, one of the keys of ``outcome_codes``.
    annotator: column naming who judged (subject, worker, season); ``None`` for none.
    prompt: column holding an integer context id; ``None`` for none.
    covariates: annotator covariate columns to keep; ``None`` keeps every column not used above.
    outcome_codes: map from the text of an outcome cell to the score of ``item_a`` in ``[0, 1]``
      (default ``{"1": 1, "0": 1/2, "-1": 0}``).
    items: the full item vocabulary in id order; every item must then occur in the table and no
      other item may.
    advantage: column saying which side had the home / position advantage in each row, from
      ``item_a``'s side: a number -1, 0 or 1 (``-1.0``, ``+1`` too), or a key of
      ``advantage_codes``; ``None``: ``item_a`` has it in every row (the convention of a file of
      home-away results or left-right judgments).
    advantage_codes: map from the words of an advantage cell to -1, 0 or 1 (default
      ``{"home": 1, "away": -1, "neutral": 0}``; matched after stripping, case-insensitively).

  Returns:
    The comparisons.

  Raises:
    FileNotFoundError: if ``path`` does not exist.
    ValueError: if the file is empty or has no rows, a required column is missing (named), an
      outcome or advantage cell is not a known code or an item cell is empty (line named), an item
      is compared with itself, or ``items`` lists an item that never appears or misses one that
      does.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"No comparisons file at {path!r}.")
  for code, score in outcome_codes.items():
    if not 0.0 <= float(score) <= 1.0:
      raise ValueError(f"outcome_codes[{code!r}] = {score} is not a score of item_a in [0, 1].")
  for code, side in advantage_codes.items():
    if side not in (-1, 0, 1):
      raise ValueError(f"advantage_codes[{code!r}] = {side} is not -1, 0 or 1.")
  words = {str(code).strip().lower(): int(side) for code, side in advantage_codes.items()}
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    header = list(reader.fieldnames or ())
    if not header:
      raise ValueError(f"{path}: empty file (no header row).")
    columns = (item_a, item_b, outcome, annotator, prompt, advantage)
    required = [c for c in columns if c is not None]
    missing = [c for c in required + list(covariates or ()) if c not in header]
    if missing:
      raise ValueError(
        f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; "
        f"the file has {', '.join(header)}."
      )
    rows = list(reader)
  if not rows:
    raise ValueError(f"{path}: no comparisons (the file has a header but no rows).")
  for line, row in enumerate(rows, start=2):
    if row[outcome] not in outcome_codes:
      raise ValueError(
        f"{path}, line {line}: outcome {row[outcome]!r} in column {outcome!r} is not one of "
        f"{', '.join(repr(c) for c in outcome_codes)}."
      )
    if not row[item_a] or not row[item_b]:
      raise ValueError(f"{path}, line {line}: empty item cell.")
    if row[item_a] == row[item_b]:
      raise ValueError(f"{path}, line {line}: item {row[item_a]!r} is compared with itself.")
  sides = np.ones(len(rows), dtype=np.int64)
  if advantage is not None:
    for k, row in enumerate(rows):
      sides[k] = _advantage_code(row[advantage], words, f"{path}, line {k + 2}", advantage)
  seen = {r[item_a] for r in rows} | {r[item_b] for r in rows}
  if items is None:
    names = tuple(sorted(seen))
  else:
    names = tuple(items)
    unknown = sorted(seen - set(names))
    if unknown:
      raise ValueError(f"{path}: item(s) {unknown} are not in the given items.")
    absent = [name for name in names if name not in seen]
    if absent:
      raise ValueError(
        f"{path}: item(s) {absent} never appear in any comparison; their strength is not "
        "identified by the data. Drop them from `items`."
      )
  index = {name: i for i, name in enumerate(names)}
  if annotator is None:
    annotator_ids, annotator_names = np.full(len(rows), -1, dtype=np.int64), ()
  else:
    annotator_ids, annotator_names = encode_labels([r[annotator] for r in rows])
  used = {item_a, item_b, outcome, annotator, prompt, advantage}
  keep = [c for c in header if c not in used] if covariates is None else list(covariates)
  return Comparisons(
    item_a=np.array([index[r[item_a]] for r in rows], dtype=np.int64),
    item_b=np.array([index[r[item_b]] for r in rows], dtype=np.int64),
    outcome=np.array([float(outcome_codes[r[outcome]]) for r in rows], dtype=np.float64),
    items=names,
    prompt=np.array([int(r[prompt]) if prompt else 0 for r in rows], dtype=np.int64),
    annotator=annotator_ids,
    annotators=annotator_names,
    covariates={c: np.array([r[c] for r in rows], dtype=object) for c in keep},
    advantage=sides,
  )


def _advantage_code(cell: str, words: Mapping[str, int], where: str, column: str) -> int:
  """The indicator -1, 0 or 1 of an advantage cell (a number, or one of ``words``)."""
  text = cell.strip().lower()
  if text in words:
    return words[text]
  try:
    value = float(text)
  except ValueError:
    value = None
  if value in (-1.0, 0.0, 1.0):
    return int(value)
  raise ValueError(
    f"{where}: advantage {cell!r} in column {column!r} is not -1, 0, 1 or one of "
    f"{', '.join(repr(w) for w in words)}."
  )


def select(table: Comparisons, rows: HostArray) -> Comparisons:
  """The comparisons ``rows`` (a boolean mask or integer indices) of ``table``.

  Item and annotator codes and names are kept unchanged, so models fitted on a subset score the
  same items as the full table; every per-row column (advantage, covariates) is selected alike.

  Args:
    table: the comparisons.
    rows: ``[K]`` boolean mask or integer row indices.

  Returns:
    The selected comparisons.
  """
  rows = np.asarray(rows)
  return table._replace(
    item_a=table.item_a[rows],
    item_b=table.item_b[rows],
    outcome=table.outcome[rows],
    prompt=table.prompt[rows],
    annotator=table.annotator[rows],
    covariates={name: column[rows] for name, column in table.covariates.items()},
    advantage=None if table.advantage is None else np.asarray(table.advantage)[rows],
  )


def _random_subset(size: int, fraction: float, seed: int, unit: str) -> HostArray:
  """``[size]`` mask of a random ``round(fraction * size)`` members; both parts non-empty."""
  n_test = round(fraction * size)
  if not 0.0 < fraction < 1.0 or not 0 < n_test < size:
    raise ValueError(f"test_fraction {fraction} must leave both parts of {size} {unit} non-empty.")
  mask = np.zeros(size, dtype=bool)
  mask[np.random.default_rng(seed).permutation(size)[:n_test]] = True
  return mask


def split_comparisons(
  table: Comparisons, *, test_fraction: float, seed: int
) -> tuple[Comparisons, Comparisons]:
  """Splits rows at random into train and test (held-out comparisons, seen annotators).

  Args:
    table: the comparisons.
    test_fraction: fraction of rows in the test part, in ``(0, 1)``.
    seed: seed of the permutation (numpy ``default_rng``).

  Returns:
    ``(train, test)``.

  Raises:
    ValueError: if ``test_fraction`` is not in ``(0, 1)`` or leaves a part empty.
  """
  test = _random_subset(table.num_comparisons, test_fraction, seed, "rows")
  return select(table, ~test), select(table, test)


def split_annotators(
  table: Comparisons, *, test_fraction: float, seed: int
) -> tuple[Comparisons, Comparisons]:
  """Splits annotators at random: every comparison of a held-out person goes to test.

  Args:
    table: the comparisons, with annotators.
    test_fraction: fraction of annotators held out, in ``(0, 1)``.
    seed: seed of the permutation (numpy ``default_rng``).

  Returns:
    ``(train, test)``.

  Raises:
    ValueError: if the table names no annotators or the split leaves a part empty.
  """
  u = table.num_annotators
  if u == 0:
    raise ValueError("The table names no annotators; split by comparison instead.")
  held_out = _random_subset(u, test_fraction, seed, "annotators")
  test = held_out[table.annotator]
  return select(table, ~test), select(table, test)


def covariate_matrix(table: Comparisons, names: Sequence[str]) -> tuple[HostArray, tuple[str, ...]]:
  """Per-annotator design matrix of covariates: numbers standardized, categories one-hot.

  A column whose every value parses as a number is centred and scaled to unit variance; any
  other column becomes one indicator per level but the first (treatment coding). The value of an
  annotator is that of their first row (covariates are annotator attributes).

  Args:
    table: the comparisons, with annotators and the named covariates.
    names: covariate columns to encode.

  Returns:
    ``(X, labels)``: ``X`` is ``[num_annotators, d]`` float64, ``labels`` names its columns.

  Raises:
    ValueError: if the table has no annotators or a name is not one of its covariates.
  """
  u = table.num_annotators
  if u == 0:
    raise ValueError("Covariates are per annotator, and the table names none.")
  first = np.full(u, -1, dtype=np.int64)
  for row in range(table.num_comparisons - 1, -1, -1):
    first[table.annotator[row]] = row
  columns, labels = [], []
  for name in names:
    if name not in table.covariates:
      raise ValueError(
        f"Unknown covariate {name!r}; the table has {', '.join(table.covariates) or 'none'}."
      )
    values = table.covariates[name][first]
    try:
      x = np.array([float(v) for v in values])
    except ValueError:
      levels = sorted(set(values.tolist()))
      for level in levels[1:]:
        columns.append((values == level).astype(np.float64))
        labels.append(f"{name}={level}")
      continue
    if not np.all(np.isfinite(x)):
      raise ValueError(f"Covariate {name!r} has missing or non-finite values.")
    scale = x.std()
    columns.append((x - x.mean()) / (scale if scale > 0 else 1.0))
    labels.append(name)
  x = np.stack(columns, axis=1) if columns else np.zeros((u, 0))
  return x, tuple(labels)
