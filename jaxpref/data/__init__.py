"""Loaders for real comparison data (LLMFAO ships inside the package under CC BY 4.0)."""

from jaxpref.data._llmfao import Comparisons, load_llmfao

__all__ = ["Comparisons", "load_llmfao"]
