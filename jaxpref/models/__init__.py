"""Flax NNX models: preference-conditioned networks, Pareto-set training, a Llama decoder.

The Llama-family decoder has a key-value cache (the core of the language-model path).
Conditioning by Panacea's SVD-LoRA, by concatenation or by FiLM.
"""

from jaxpref.models._bert import (
  Bert,
  BertConfig,
  WordPieceTokenizer,
  embed_texts,
  load_minilm,
  load_safetensors,
  minilm_path,
)
from jaxpref.models._bpe import CHATML_SYSTEM, BPETokenizer, load_bpe_gguf
from jaxpref.models._conditioned import CONDITIONINGS, ConditionedMLP
from jaxpref.models._gguf import load_llama_gguf, open_gguf, smollm2_path
from jaxpref.models._llama import (
  ADAPTERS,
  KVCache,
  Llama,
  LlamaConfig,
  LoRALinear,
  init_cache,
  sequence_log_probs,
)
from jaxpref.models._mlp import MLP
from jaxpref.models._pareto_set import fit_pareto_set, pareto_set_loss
from jaxpref.models._sampling import BUCKETS, Samples, bucket_length, generate, pad_prompts
from jaxpref.models._svd_lora import SVDLoRALinear

__all__ = [
  "ADAPTERS",
  "BUCKETS",
  "CHATML_SYSTEM",
  "CONDITIONINGS",
  "MLP",
  "BPETokenizer",
  "Bert",
  "BertConfig",
  "ConditionedMLP",
  "KVCache",
  "Llama",
  "LlamaConfig",
  "LoRALinear",
  "SVDLoRALinear",
  "Samples",
  "WordPieceTokenizer",
  "bucket_length",
  "embed_texts",
  "fit_pareto_set",
  "generate",
  "init_cache",
  "load_bpe_gguf",
  "load_llama_gguf",
  "load_minilm",
  "load_safetensors",
  "minilm_path",
  "open_gguf",
  "pad_prompts",
  "pareto_set_loss",
  "sequence_log_probs",
  "smollm2_path",
]
