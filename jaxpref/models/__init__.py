"""Flax NNX models: preference-conditioned networks, Pareto-set training, the language-model path.

* Pareto-conditioned networks: Panacea's SVD-LoRA, concatenation or FiLM conditioning.
* A Llama-family decoder (GQA, RoPE, RMSNorm, tied embeddings, KV cache, LoRA / SVD-LoRA
  adapters with a per-row gate; layers stacked and scanned, optional remat, bfloat16 compute)
  loaded from GGUF (SmolLM2-135M-Instruct), its byte-level BPE
  tokenizer and ChatML template, and a jitted bucketed sampler with one-pass geometric-mixture
  sampling.
* Decoding-time alignment (DeAL): lookahead heuristic search over token prefixes and a
  reward-guided re-ranking option of the sampler (best-of-K per chunk), with their costs.
* A BERT sentence encoder (all-MiniLM-L6-v2 from safetensors, WordPiece) and Bradley-Terry / GPM
  preference heads on its embeddings, usable as a text preference oracle.
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
from jaxpref.models._guided import (
  RerankGuide,
  SearchResult,
  guided_cost,
  guided_generate,
  guided_sample_padded,
  lookahead_cost,
  lookahead_search,
)
from jaxpref.models._llama import (
  ADAPTERS,
  KVCache,
  Llama,
  LlamaConfig,
  LoRALinear,
  init_cache,
  layer_block,
  sequence_kl,
  sequence_log_probs,
)
from jaxpref.models._mlp import MLP
from jaxpref.models._pareto_set import fit_pareto_set, pareto_set_loss
from jaxpref.models._preference_heads import (
  HEADS,
  HeadMetrics,
  PreferenceHead,
  TextPreferenceOracle,
  fit_preference_head,
  head_metrics,
)
from jaxpref.models._sampling import (
  BUCKETS,
  Samples,
  bucket_length,
  generate,
  pad_prompts,
  sample_padded,
)
from jaxpref.models._svd_lora import SVDLoRALinear
from jaxpref.models._token_oracle import TokenRewardOracle, evaluate_vs_reference

__all__ = [
  "ADAPTERS",
  "BUCKETS",
  "CHATML_SYSTEM",
  "CONDITIONINGS",
  "HEADS",
  "MLP",
  "BPETokenizer",
  "Bert",
  "BertConfig",
  "ConditionedMLP",
  "HeadMetrics",
  "KVCache",
  "Llama",
  "LlamaConfig",
  "LoRALinear",
  "PreferenceHead",
  "RerankGuide",
  "SVDLoRALinear",
  "Samples",
  "SearchResult",
  "TextPreferenceOracle",
  "TokenRewardOracle",
  "WordPieceTokenizer",
  "bucket_length",
  "embed_texts",
  "evaluate_vs_reference",
  "fit_pareto_set",
  "fit_preference_head",
  "generate",
  "guided_cost",
  "guided_generate",
  "guided_sample_padded",
  "head_metrics",
  "init_cache",
  "layer_block",
  "load_bpe_gguf",
  "load_llama_gguf",
  "load_minilm",
  "load_safetensors",
  "lookahead_cost",
  "lookahead_search",
  "minilm_path",
  "open_gguf",
  "pad_prompts",
  "pareto_set_loss",
  "sample_padded",
  "sequence_kl",
  "sequence_log_probs",
  "smollm2_path",
]
