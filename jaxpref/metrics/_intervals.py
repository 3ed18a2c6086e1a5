"""Mean over seeds with a 95% Student-t interval: how every comparison in jaxpref is reported."""

import math
from typing import NamedTuple

import numpy as np
import scipy.stats

from jaxpref.types import Array, HostArray


class Summary(NamedTuple):
  """Mean over seeds with a two-sided 95% Student-t interval ``mean ± half_width``."""

  mean: HostArray
  half_width: HostArray


def summarize(values: Array | HostArray, axis: int = -1) -> Summary:
  r"""Mean over seeds and the half-width of its 95% confidence interval.

  .. math:: \bar x \pm t_{0.975,\,S-1}\, s / \sqrt{S}

  with the sample standard deviation :math:`s`; the half-width is NaN for one seed.

  Args:
    values: results with a seed axis.
    axis: the seed axis.

  Returns:
    :class:`Summary` with the seed axis removed.

  Examples:
    >>> s = summarize(np.array([1.0, 2.0, 3.0]))
    >>> float(s.mean), round(float(s.half_width), 4)
    (2.0, 2.4841)
  """
  values = np.asarray(values, np.float64)
  num = values.shape[axis]
  mean = values.mean(axis=axis)
  if num < 2:
    return Summary(mean, np.full_like(mean, np.nan))
  sem = values.std(axis=axis, ddof=1) / math.sqrt(num)
  return Summary(mean, scipy.stats.t.ppf(0.975, num - 1) * sem)
