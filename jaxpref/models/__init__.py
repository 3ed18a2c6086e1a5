"""Flax NNX models: preference-conditioned networks and one-model Pareto-front training.

Conditioning by Panacea's SVD-LoRA, by concatenation or by FiLM.
"""

from jaxpref.models._conditioned import CONDITIONINGS, ConditionedMLP
from jaxpref.models._pareto_set import fit_pareto_set, pareto_set_loss
from jaxpref.models._svd_lora import SVDLoRALinear

__all__ = [
  "CONDITIONINGS",
  "ConditionedMLP",
  "SVDLoRALinear",
  "fit_pareto_set",
  "pareto_set_loss",
]
