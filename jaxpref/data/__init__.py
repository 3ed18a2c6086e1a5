"""Loaders for real comparison data, as integer-coded long-form tables.

LLMFAO's crowd judgments ship inside the package (CC BY 4.0); any CSV of comparisons (the
psychotools / BradleyTerry2 paired-comparison surveys, football results, or a user's own file)
loads through :func:`load_comparisons`; rankings (one row per ranking, item and position) through
:func:`load_rankings`, and :func:`rankings_from_comparisons` reads rankings off complete,
transitive comparisons. Splits hold out comparisons or whole annotators.
"""

from jaxpref.data._llmfao import (
  JUDGES,
  TextComparisons,
  default_llmfao_path,
  load_llmfao,
  load_llmfao_prompts,
  load_llmfao_texts,
)
from jaxpref.data._rankings import RankingTable, load_rankings, rankings_from_comparisons
from jaxpref.data._table import (
  ADVANTAGE_CODES,
  SIGNED_CODES,
  Comparisons,
  covariate_matrix,
  load_comparisons,
  select,
  split_annotators,
  split_comparisons,
)

__all__ = [
  "ADVANTAGE_CODES",
  "JUDGES",
  "SIGNED_CODES",
  "Comparisons",
  "RankingTable",
  "TextComparisons",
  "covariate_matrix",
  "default_llmfao_path",
  "load_comparisons",
  "load_llmfao",
  "load_llmfao_prompts",
  "load_llmfao_texts",
  "load_rankings",
  "rankings_from_comparisons",
  "select",
  "split_annotators",
  "split_comparisons",
]
