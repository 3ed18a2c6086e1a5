"""Host (NumPy) evaluation: input checks and the optional moocore backend.

The ``*_host`` functions evaluate large fronts outside any compiled program. They call moocore,
the field's reference C implementation, when it is installed (the ``[test]`` and ``[bench]``
extras) and ``backend`` allows it (``"auto"`` or ``"moocore"``), and jaxpref's own exact code
otherwise (``"jaxpref"``, or ``"auto"`` without moocore).
"""

import numpy as np

from jaxpref.pareto._checks import check_finite, check_sense
from jaxpref.types import ArrayLike, HostArray

BACKENDS = ("auto", "moocore", "jaxpref")


def host_points(F: ArrayLike, *, sense: str, where: str) -> HostArray:
  """``F`` as a finite float64 ``[n, m]`` array in minimisation form (negated for ``"max"``)."""
  F = np.asarray(F, dtype=np.float64)
  if F.ndim != 2:
    raise ValueError(f"{where}: F must be [n, m]; got shape {F.shape}.")
  check_finite(F, "F", where)
  check_sense(sense)
  return -F if sense == "max" else F


def moocore_or_none(backend: str, where: str):
  """The moocore module when ``backend`` allows it and it is installed, else None.

  Raises:
    ValueError: for an unknown backend.
    ImportError: for ``backend="moocore"`` without the package.
  """
  if backend not in BACKENDS:
    raise ValueError(f"{where}: backend must be one of {BACKENDS}; got {backend!r}.")
  if backend == "jaxpref":
    return None
  try:
    import moocore  # optional: the [test] and [bench] extras
  except ImportError:
    if backend == "moocore":
      raise ImportError(f"{where}(backend='moocore') needs: pip install moocore") from None
    return None
  return moocore
