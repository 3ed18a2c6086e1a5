"""Shared type aliases for jaxpref."""

from typing import Any, TypeAlias

import jax
import numpy as np

Array: TypeAlias = jax.Array
ArrayLike: TypeAlias = jax.typing.ArrayLike
PRNGKey: TypeAlias = jax.Array
PyTree: TypeAlias = Any
Shape: TypeAlias = tuple[int, ...]
HostArray: TypeAlias = np.ndarray

__all__ = ["Array", "ArrayLike", "HostArray", "PRNGKey", "PyTree", "Shape"]
