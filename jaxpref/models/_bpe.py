r"""Byte-level BPE tokenizer (GPT-2 style) and the ChatML template, read from a GGUF file.

The vocabulary and merges stored in the GGUF file are handed to Hugging Face ``tokenizers``
(``models.BPE``): control tokens such as ``<|im_start|>`` are matched verbatim as special added
tokens, the rest is pre-tokenized with every number character alone, then the GPT-2 pattern
``'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`` on the UTF-8 bytes
mapped to printable characters (``Digits(individual_digits=True)`` + ``ByteLevel``), and the
merges apply in rank order. This is SmolLM2's ``tokenizer.json`` and what llama.cpp does for
``tokenizer.ggml.pre == "smollm"``. Needs the ``tokenizers`` package (``pip install .[lm]``),
imported when a tokenizer is built; no ``transformers``.

References:
  Radford et al., Language models are unsupervised multitask learners (GPT-2), 2019;
  Sennrich et al., Neural machine translation of rare words with subword units, ACL 2016.
"""

import dataclasses
import functools
import os
from collections.abc import Sequence

CHATML_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# Stands in for an unknown byte when the vocabulary lacks some: NUL is outside GPT-2's byte
# alphabet, so no merge can produce it.
_UNK = "\x00unk"


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


@dataclasses.dataclass
class BPETokenizer:
  """A byte-level BPE tokenizer (a Hugging Face ``tokenizers.Tokenizer`` underneath).

  Attributes:
    tokens: the vocabulary; token ``i`` is ``tokens[i]`` in GPT-2's printable byte alphabet.
    merges: ``"a b"`` merge rules, highest priority first.
    special: ids of control tokens (``<|im_start|>``, ...), matched verbatim before BPE.
    eos_id: the end-of-sequence id (``<|im_end|>`` for chat models).
    chat_template: the raw Jinja template, kept for reference.

  Raises:
    ValueError: if a merge is not of the form ``"a b"`` or joins or makes a piece outside the
      vocabulary.
  """

  tokens: Sequence[str]
  merges: Sequence[str]
  special: Sequence[int] = ()
  eos_id: int | None = None
  chat_template: str | None = None

  def __post_init__(self):
    """Builds the ``tokenizers`` BPE model, pre-tokenizer and decoder."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    self.tokens = list(self.tokens)
    self._ids = {t: i for i, t in enumerate(self.tokens)}
    pairs = []
    for rank, merge in enumerate(self.merges):
      a, sep, b = merge.partition(" ")
      if not sep:
        raise ValueError(f"BPE merge {rank} ({merge!r}) is not of the form 'a b'.")
      if a not in self._ids or b not in self._ids or a + b not in self._ids:
        raise ValueError(
          f"BPE merge {rank} ({merge!r}) joins or makes a piece that is not in the vocabulary."
        )
      pairs.append((a, b))
    alphabet = _byte_chars()
    # A vocabulary without every byte leaves text it cannot encode: such bytes become _UNK,
    # an id past the vocabulary, and encode() raises on it.
    self._missing = frozenset(c for c in alphabet if c not in self._ids)
    vocab = dict(self._ids)
    if self._missing:
      vocab[_UNK] = len(self.tokens)
    bpe = models.BPE(vocab, pairs, unk_token=_UNK if self._missing else None)
    self._plain = Tokenizer(bpe)  # control tokens tokenized as ordinary text
    self._plain.pre_tokenizer = pre_tokenizers.Sequence(
      [
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
      ]
    )
    self._plain.decoder = decoders.ByteLevel()
    special = sorted({int(i) for i in self.special})
    is_special = frozenset(special).__contains__
    self._tok = self._plain
    if special:
      self._tok = Tokenizer(bpe)  # shares the BPE model
      self._tok.pre_tokenizer = self._plain.pre_tokenizer
      self._tok.decoder = self._plain.decoder
      self._tok.add_special_tokens(
        [AddedToken(self.tokens[i], special=True, normalized=False) for i in special]
      )
    # Ordinary tokens outside the byte alphabet cannot be decoded to bytes.
    in_alphabet = frozenset(alphabet).issuperset
    self._foreign = frozenset(
      i for i, t in enumerate(self.tokens) if not is_special(i) and not in_alphabet(t)
    )

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

  def encode(self, text: str, *, allow_special: bool = True) -> list[int]:
    """Token ids of ``text``.

    Args:
      text: the string.
      allow_special: match control tokens such as ``<|im_start|>`` verbatim; if False they are
        tokenized as ordinary text.

    Returns:
      The ids.

    Raises:
      ValueError: if the vocabulary lacks a byte of ``text`` (an incomplete tokenizer file).
    """
    enc = (self._tok if allow_special else self._plain).encode(text, add_special_tokens=False)
    ids = enc.ids
    if self._missing and self.vocab_size in ids:
      k = ids.index(self.vocab_size)
      start, end = enc.offsets[k]
      piece = next(c for c in _byte_str(text[start:end]) if c in self._missing)
      word = enc.word_to_chars(enc.word_ids[k]) if enc.word_ids[k] is not None else (start, end)
      raise ValueError(
        f"unknown tokenizer piece {piece!r} (from {_byte_str(text[word[0] : word[1]])!r}): the "
        "vocabulary does not cover every byte, so the tokenizer file is incomplete."
      )
    return ids

  def decode(self, ids: Sequence[int], *, skip_special: bool = False) -> str:
    """The text of ``ids`` (invalid UTF-8 from a cut multi-byte character becomes U+FFFD)."""
    ids = [int(i) for i in ids]
    for i in ids:
      if not 0 <= i < self.vocab_size:
        raise ValueError(f"token id {i} is outside the vocabulary [0, {self.vocab_size}).")
    if self._foreign and not self._foreign.isdisjoint(ids):
      i = next(i for i in ids if i in self._foreign)
      raise ValueError(f"token {i} ({self.tokens[i]!r}) is not in the byte alphabet.")
    return self._tok.decode(ids, skip_special_tokens=skip_special)

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


def _byte_str(text: str) -> str:
  """``text``'s UTF-8 bytes in GPT-2's printable byte alphabet (how BPE pieces are spelled)."""
  table = _byte_chars()
  return "".join(table[b] for b in text.encode("utf-8"))


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
