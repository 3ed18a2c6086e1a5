r"""Byte-level BPE tokenizer (GPT-2 style) and the ChatML template, read from a GGUF file.

Encoding: split out the special (control) tokens, pre-tokenize the rest (every digit alone, then
the GPT-2 pattern ``'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+``),
map each piece's UTF-8 bytes to printable characters, and apply the merges in rank order. This
is what llama.cpp does for ``tokenizer.ggml.pre == "smollm"`` and what Hugging Face's
``tokenizers`` does for SmolLM2 (``Digits(individual_digits)`` + ``ByteLevel``). Unicode classes
are taken from :mod:`unicodedata`, so no ``regex`` or ``transformers`` dependency is needed.

References:
  Radford et al., Language models are unsupervised multitask learners (GPT-2), 2019;
  Sennrich et al., Neural machine translation of rare words with subword units, ACL 2016.
"""

import dataclasses
import functools
import itertools
import os
import re
import sys
import unicodedata
from collections.abc import Sequence

CHATML_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@functools.cache
def _byte_chars() -> tuple[str, ...]:
  """GPT-2's byte → printable character table (printable Latin-1 bytes map to themselves)."""
  keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
  table, extra = {}, 0
  for b in range(256):
    if b in keep:
      table[b] = chr(b)
    else:
      table[b] = chr(256 + extra)
      extra += 1
  return tuple(table[b] for b in range(256))


def _class(prefixes: str) -> str:
  """A regex character class of every code point whose Unicode category starts with a prefix."""
  ranges, start, prev = [], None, None
  for cp in range(sys.maxunicode + 1):
    if unicodedata.category(chr(cp))[0] in prefixes:
      if start is None:
        start = cp
      prev = cp
    elif start is not None:
      ranges.append((start, prev))
      start = None
  if start is not None:
    ranges.append((start, prev))
  return "".join(
    re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges
  )


@functools.cache
def _pretokenizer() -> tuple[re.Pattern, re.Pattern]:
  r"""(single-number splitter, GPT-2 pattern) with exact ``\\p{L}`` / ``\\p{N}`` classes."""
  letters, numbers = _class("L"), _class("N")
  digit = re.compile(f"[{numbers}]")
  gpt2 = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?[^\s{letters}{numbers}]+"
    r"|\s+(?!\S)|\s+"
  )
  return digit, gpt2


@dataclasses.dataclass
class BPETokenizer:
  """A byte-level BPE tokenizer.

  Attributes:
    tokens: the vocabulary; token ``i`` is ``tokens[i]`` in GPT-2's printable byte alphabet.
    merges: ``"a b"`` merge rules, highest priority first.
    special: ids of control tokens (``<|im_start|>``, ...), matched verbatim before BPE.
    eos_id: the end-of-sequence id (``<|im_end|>`` for chat models).
    chat_template: the raw Jinja template, kept for reference.
  """

  tokens: Sequence[str]
  merges: Sequence[str]
  special: Sequence[int] = ()
  eos_id: int | None = None
  chat_template: str | None = None

  def __post_init__(self):
    """Builds the lookup tables."""
    self.tokens = list(self.tokens)
    self._ids = {t: i for i, t in enumerate(self.tokens)}
    self._ranks = {}
    for rank, merge in enumerate(self.merges):
      a, sep, b = merge.partition(" ")
      if not sep:
        raise ValueError(f"BPE merge {rank} ({merge!r}) is not of the form 'a b'.")
      self._ranks[(a, b)] = rank
    self._special = {self.tokens[i]: i for i in self.special}
    self._special_re = (
      re.compile("|".join(re.escape(s) for s in sorted(self._special, key=len, reverse=True)))
      if self._special
      else None
    )
    self._byte_of = {c: b for b, c in enumerate(_byte_chars())}
    self._cache: dict[str, tuple[int, ...]] = {}

  @property
  def vocab_size(self) -> int:
    """Number of tokens."""
    return len(self.tokens)

  def token_id(self, piece: str) -> int:
    """The id of a vocabulary piece (e.g. ``"<|im_end|>"``); raises ``KeyError`` if unknown."""
    if piece not in self._ids:
      raise KeyError(
        f"unknown tokenizer piece {piece!r}: not in the {self.vocab_size}-token vocab."
      )
    return self._ids[piece]

  def _bpe(self, word: str) -> tuple[int, ...]:
    if word in self._cache:
      return self._cache[word]
    parts = list(word)
    while len(parts) > 1:
      ranked = [
        (self._ranks.get(pair, len(self._ranks)), i)
        for i, pair in enumerate(itertools.pairwise(parts))
      ]
      rank, i = min(ranked)
      if rank == len(self._ranks):
        break
      a, b = parts[i], parts[i + 1]
      merged, j = [], 0
      while j < len(parts):  # merge every occurrence of (a, b), left to right
        if j + 1 < len(parts) and parts[j] == a and parts[j + 1] == b:
          merged.append(a + b)
          j += 2
        else:
          merged.append(parts[j])
          j += 1
      parts = merged
    try:
      ids = tuple(self._ids[p] for p in parts)
    except KeyError as e:
      raise ValueError(
        f"unknown tokenizer piece {e.args[0]!r} (from {word!r}): the vocabulary does not cover "
        "every byte, so the tokenizer file is incomplete."
      ) from None
    if len(self._cache) < 100_000:
      self._cache[word] = ids
    return ids

  def _encode_ordinary(self, text: str) -> list[int]:
    digit, gpt2 = _pretokenizer()
    table = _byte_chars()
    ids: list[int] = []
    pos = 0
    chunks = []
    for m in digit.finditer(text):  # every number character is its own piece
      chunks += [text[pos : m.start()], m.group()]
      pos = m.end()
    chunks.append(text[pos:])
    for chunk in chunks:
      for piece in gpt2.findall(chunk):
        ids.extend(self._bpe("".join(table[b] for b in piece.encode("utf-8"))))
    return ids

  def encode(self, text: str, *, allow_special: bool = True) -> list[int]:
    """Token ids of ``text``.

    Args:
      text: the string.
      allow_special: match control tokens such as ``<|im_start|>`` verbatim; if False they are
        tokenized as ordinary text.

    Returns:
      The ids.
    """
    if not allow_special or self._special_re is None:
      return self._encode_ordinary(text)
    ids, pos = [], 0
    for m in self._special_re.finditer(text):
      ids += self._encode_ordinary(text[pos : m.start()])
      ids.append(self._special[m.group()])
      pos = m.end()
    return ids + self._encode_ordinary(text[pos:])

  def decode(self, ids: Sequence[int], *, skip_special: bool = False) -> str:
    """The text of ``ids`` (invalid UTF-8 from a cut multi-byte character becomes U+FFFD)."""
    out = bytearray()
    for i in ids:
      i = int(i)
      if not 0 <= i < self.vocab_size:
        raise ValueError(f"token id {i} is outside the vocabulary [0, {self.vocab_size}).")
      piece = self.tokens[i]
      if piece in self._special:
        if not skip_special:
          out += piece.encode("utf-8")
        continue
      try:
        out += bytes(self._byte_of[c] for c in piece)
      except KeyError:
        raise ValueError(f"token {i} ({piece!r}) is not in the byte alphabet.") from None
    return out.decode("utf-8", errors="replace")

  def chat(self, messages: Sequence[dict[str, str]], *, system: str | None = CHATML_SYSTEM) -> str:
    r"""Renders messages in ChatML with the assistant turn opened (SmolLM2's template).

    Args:
      messages: ``[{"role": "user", "content": ...}, ...]``.
      system: system prompt prepended when the first message is not a system message (SmolLM2's
        default); ``None`` for none.

    Returns:
      ``<|im_start|>role\ncontent<|im_end|>\n`` per message, then ``<|im_start|>assistant\n``.
    """
    parts = []
    if system is not None and (not messages or messages[0]["role"] != "system"):
      parts.append(f"<|im_start|>system\n{system}<|im_end|>\n")
    for msg in messages:
      if set(msg) != {"role", "content"}:
        raise ValueError(f"a chat message has keys role and content, got {sorted(msg)}.")
      parts.append(f"<|im_start|>{msg['role']}\n{msg['content']}<|im_end|>\n")
    return "".join(parts) + "<|im_start|>assistant\n"

  def encode_chat(self, prompt: str, *, system: str | None = CHATML_SYSTEM) -> list[int]:
    """Ids of a one-turn user prompt in the chat template, ready for generation."""
    return self.encode(self.chat([{"role": "user", "content": prompt}], system=system))


def _strings(reader, key: str) -> list[str]:
  if key not in reader.fields:
    raise ValueError(f"GGUF file has no tokenizer field {key!r}.")
  f = reader.fields[key]
  return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def load_bpe_gguf(path: str | os.PathLike) -> BPETokenizer:
  """Reads the byte-level BPE tokenizer (and chat template) stored in a GGUF file.

  Args:
    path: the ``.gguf`` file.

  Returns:
    The tokenizer, with ``eos_id`` the id of ``<|im_end|>`` when present.

  Raises:
    ValueError: if the file is missing or unreadable or its tokenizer is not GPT-2 BPE.
  """
  from jaxpref.models._gguf import open_gguf

  reader = open_gguf(path)
  model = _strings(reader, "tokenizer.ggml.model")[0]
  if model != "gpt2":
    raise ValueError(f"{str(path)!r} has a {model!r} tokenizer; only byte-level BPE (gpt2) loads.")
  tokens = _strings(reader, "tokenizer.ggml.tokens")
  merges = _strings(reader, "tokenizer.ggml.merges")
  special: list[int] = []
  if "tokenizer.ggml.token_type" in reader.fields:
    f = reader.fields["tokenizer.ggml.token_type"]
    special = [i for i, j in enumerate(f.data) if int(f.parts[j][0]) == 3]  # 3 = control
  template = None
  if "tokenizer.chat_template" in reader.fields:
    template = _strings(reader, "tokenizer.chat_template")[0]
  eos = tokens.index("<|im_end|>") if "<|im_end|>" in tokens else None
  if eos is None and "tokenizer.ggml.eos_token_id" in reader.fields:
    f = reader.fields["tokenizer.ggml.eos_token_id"]
    eos = int(f.parts[f.data[0]][0])
  return BPETokenizer(tokens, merges, special, eos, template)
