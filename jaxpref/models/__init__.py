"""Flax NNX models: preference-conditioned networks, Pareto-set training, a Llama decoder.

The Llama-family decoder has a key-value cache (the core of the language-model path).
Conditioning by Panacea's SVD-LoRA, by concatenation or by FiLM.
"""

from jaxpref.models._conditioned import CONDITIONINGS, ConditionedMLP
from jaxpref.models._gguf import load_llama_gguf
from jaxpref.models._llama import KVCache, Llama, LlamaConfig, init_cache, sequence_log_probs
from jaxpref.models._mlp import MLP
from jaxpref.models._pareto_set import fit_pareto_set, pareto_set_loss
from jaxpref.models._svd_lora import SVDLoRALinear

__all__ = [
  "CONDITIONINGS",
  "MLP",
  "ConditionedMLP",
  "KVCache",
  "Llama",
  "LlamaConfig",
  "SVDLoRALinear",
  "fit_pareto_set",
  "init_cache",
  "load_llama_gguf",
  "pareto_set_loss",
  "sequence_log_probs",
]
