"""LLMFAO: crowd judgments of LLM answers (Ustalov, CC BY 4.0), as a comparison table.

The crowd file ships inside the package (``jaxpref/data/llmfao/``, with its licence and
attribution), so the default needs no download. Any file in the same format (the GPT-4 / GPT-3.5
judgments of the same pairs, or a user's own copy) loads through ``path``.
"""

import csv
import os
from importlib import resources

import numpy as np

from jaxpref.data._table import Comparisons, encode_labels

_REQUIRED = ("prompt", "winner", "left", "right")
_SCORE = {"left": 1.0, "right": 0.0, "tie": 0.5}


def default_llmfao_path() -> str:
  """Path of the crowd-comparisons file that ships with jaxpref."""
  return str(resources.files("jaxpref.data") / "llmfao" / "crowd-comparisons.csv")


def load_llmfao(path: str | os.PathLike | None = None) -> Comparisons:
  """Loads LLMFAO comparisons (crowd by default) as a :class:`Comparisons` table.

  The crowd file has columns ``id,prompt,model_x,model_y,worker,winner,left,right``: ``left`` and
  ``right`` name the two models and ``winner`` is ``left``, ``right`` or ``tie``. Only ``prompt``,
  ``winner``, ``left`` and ``right`` are required; ``worker`` is optional (the GPT-4 / GPT-3.5 judge
  files have none). Items are the model names, sorted alphabetically, so ids are stable across
  files. Workers are coded in numeric order of their ids, named in ``annotators``.

  Args:
    path: a CSV in the LLMFAO format; the packaged crowd judgments (8,931 judgments of 59 models by
      124 workers) when ``None``.

  Returns:
    The comparisons, with ``outcome`` 1 when the left model won, 0 when the right one did, 1/2 for
    a tie.

  Raises:
    FileNotFoundError: if ``path`` does not exist.
    ValueError: if columns are missing, the file has no rows, or a ``winner`` is not one of
      ``left``, ``right``, ``tie`` (the message names the line).

  References:
    Ustalov, LLMFAO: Large Language Model Feedback Analysis and Optimization, 2023,
    https://github.com/dustalov/llmfao (CC BY 4.0).
  """
  path = default_llmfao_path() if path is None else os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"No LLMFAO comparisons file at {path!r}.")
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    missing = [c for c in _REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
      raise ValueError(
        f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(_REQUIRED)}."
      )
    rows = list(reader)
  if not rows:
    raise ValueError(f"{path}: no comparisons (the file has a header but no rows).")
  for line, row in enumerate(rows, start=2):
    if row["winner"] not in _SCORE:
      raise ValueError(
        f"{path}, line {line}: winner {row['winner']!r} is not one of 'left', 'right', 'tie'."
      )
  items = tuple(sorted({r["left"] for r in rows} | {r["right"] for r in rows}))
  index = {name: i for i, name in enumerate(items)}
  if "worker" in rows[0]:
    annotator, annotators = encode_labels([r["worker"] for r in rows])
  else:
    annotator, annotators = np.full(len(rows), -1, dtype=np.int64), ()
  return Comparisons(
    item_a=np.array([index[r["left"]] for r in rows], dtype=np.int64),
    item_b=np.array([index[r["right"]] for r in rows], dtype=np.int64),
    outcome=np.array([_SCORE[r["winner"]] for r in rows], dtype=np.float64),
    items=items,
    prompt=np.array([int(r["prompt"]) for r in rows], dtype=np.int64),
    annotator=annotator,
    annotators=annotators,
  )
