"""LLMFAO: crowd judgments of LLM answers (Ustalov, CC BY 4.0), as a comparison table.

The crowd file ships inside the package (``jaxpref/data/llmfao/``, with its licence and
attribution), with the prompts and the judged responses, so the default needs no download. Any
file in the same format (the GPT-4 / GPT-3.5 judgments of the same pairs, or a user's own copy)
loads through ``path``; :func:`load_llmfao_texts` joins the judgments with their texts.
"""

import csv
import json
import os
from importlib import resources
from typing import NamedTuple

import numpy as np

from jaxpref.data._table import Comparisons, encode_labels

_REQUIRED = ("prompt", "winner", "left", "right")
_SCORE = {"left": 1.0, "right": 0.0, "tie": 0.5}


_RESULTS = ("prompt", "model", "result")


def _packaged(name: str) -> str:
  return str(resources.files("jaxpref.data") / "llmfao" / name)


def default_llmfao_path() -> str:
  """Path of the crowd-comparisons file that ships with jaxpref."""
  return _packaged("crowd-comparisons.csv")


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
    advantage=np.ones(len(rows), dtype=np.int64),  # item_a is the response shown on the left
  )


class TextComparisons(NamedTuple):
  """LLMFAO judgments joined with the texts judged.

  Attributes:
    prompt: ``[N]`` LLMFAO prompt ids.
    prompts: ``{prompt id: prompt text}``.
    left: the left response's text per judgment.
    right: the right response's text per judgment.
    outcome: ``[N]`` 1 if the left response won, 0 if the right one did, 1/2 for a tie.
    pair: ``[N]`` id of the judged (prompt, left model, right model) item, for grouped splits.
  """

  prompt: np.ndarray
  prompts: dict[int, str]
  left: list[str]
  right: list[str]
  outcome: np.ndarray
  pair: np.ndarray


def _jsonl(path: str, required: tuple[str, ...]) -> list[dict]:
  if not os.path.exists(path):
    raise FileNotFoundError(f"No LLMFAO file at {path!r}.")
  rows = []
  with open(path, encoding="utf-8") as f:
    for line, text in enumerate(f, start=1):
      if not text.strip():
        continue
      try:
        row = json.loads(text)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}, line {line}: not JSON ({e}).") from None
      missing = [k for k in required if k not in row]
      if missing:
        raise ValueError(f"{path}, line {line}: missing field(s) {', '.join(missing)}.")
      rows.append(row)
  if not rows:
    raise ValueError(f"{path}: no rows.")
  return rows


def load_llmfao_prompts(path: str | os.PathLike | None = None) -> dict[int, str]:
  """LLMFAO's prompts ``{id: text}`` (the 19 packaged ones by default, or a ``prompts.jsonl``)."""
  path = _packaged("prompts.jsonl") if path is None else os.fspath(path)
  return {int(r["id"]): r["text"] for r in _jsonl(path, ("id", "text"))}


# Whose judgments: the comparisons file of each judge (same pairs, same format).
JUDGES = {"crowd": "crowd-comparisons.csv", "gpt4": "gpt4-crowd-comparisons.csv"}


def load_llmfao_texts(
  folder: str | os.PathLike | None = None, *, judge: str = "crowd"
) -> TextComparisons:
  """Crowd (or GPT-4) judgments with the prompt and both responses as text.

  Joins ``crowd-comparisons.csv`` (``prompt, model_x, model_y, winner``; ``model_x`` is the left
  model) with ``results.jsonl`` (``prompt, model, result``) and ``prompts.jsonl``. With
  ``judge="gpt4"`` the comparisons are ``gpt4-crowd-comparisons.csv``: GPT-4's verdicts on the
  same 2,139 pairs the crowd judged, one per pair (both files are packaged).

  Args:
    folder: a folder holding those three files; the packaged copies when None.
    judge: ``"crowd"`` or ``"gpt4"``: whose judgments.

  Returns:
    :class:`TextComparisons` (8,931 judgments for the packaged crowd file).

  Raises:
    FileNotFoundError: if a file is missing.
    ValueError: on missing columns or fields, or a judged response absent from the results.
  """
  if judge not in JUDGES:
    raise ValueError(f"load_llmfao_texts: unknown judge {judge!r}; known: {', '.join(JUDGES)}.")
  names = (JUDGES[judge], "results.jsonl", "prompts.jsonl")
  if folder is None:
    comparisons, results, prompts = (_packaged(n) for n in names)
  else:
    comparisons, results, prompts = (os.path.join(os.fspath(folder), n) for n in names)
  table = load_llmfao(comparisons)
  texts = {(int(r["prompt"]), int(r["model"])): r["result"] for r in _jsonl(results, _RESULTS)}
  with open(comparisons, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  for col in ("model_x", "model_y"):
    if col not in rows[0]:
      raise ValueError(f"{comparisons}: missing column {col} (the left and right model ids).")
  left, right, pair_ids, pairs = [], [], [], {}
  for line, r in enumerate(rows, start=2):
    key = (int(r["prompt"]), int(r["model_x"]), int(r["model_y"]))
    for model in key[1:]:
      if (key[0], model) not in texts:
        raise ValueError(
          f"{comparisons}, line {line}: no response of model {model} to prompt {key[0]} in "
          f"{results}."
        )
    left.append(texts[key[0], key[1]])
    right.append(texts[key[0], key[2]])
    pair_ids.append(pairs.setdefault(key, len(pairs)))
  return TextComparisons(
    prompt=table.prompt,
    prompts=load_llmfao_prompts(prompts),
    left=left,
    right=right,
    outcome=table.outcome,
    pair=np.asarray(pair_ids, np.int64),
  )
