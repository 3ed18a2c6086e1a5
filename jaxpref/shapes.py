"""Shape buckets: the padded sizes a size-dependent function compiles for.

A jitted function compiles one program per input shape. Functions whose work depends on a size
(points of a front, items, profiles) pad their inputs to a *bucket* and mask the padding, so a loop
over varied sizes compiles a handful of programs. The buckets grow by 4x from 16 up to 4096
(16, 64, 256, 1024, 4096) and by 2x after that (8192, 16384, ...): at most 4x padding on small
inputs, where compilation dominates, and at most 2x on large ones, where the work does. Every
function that buckets takes ``size=`` to pin the padded size instead (e.g. the largest size a loop
will see, for a single program).
"""

SMALLEST = 16
FOUR_FOLD_UNTIL = 4096


def bucket_size(n: int, *, size: int | None = None) -> int:
  """The padded size for ``n`` rows: the smallest bucket holding ``n``, or ``size`` if given.

  Args:
    n: the number of real rows.
    size: an explicit padded size (``>= n``) that overrides the buckets.

  Returns:
    The padded size.

  Raises:
    ValueError: if ``size`` is smaller than ``n``.

  Examples:
    >>> [bucket_size(n) for n in (1, 16, 17, 200, 4097)]
    [16, 16, 64, 256, 8192]
    >>> bucket_size(10, size=12)
    12
  """
  n = int(n)
  if size is not None:
    if int(size) < n:
      raise ValueError(f"size={size} cannot hold {n} rows; pass size >= {n} or size=None.")
    return int(size)
  b = SMALLEST
  while b < n:
    b *= 4 if b < FOUR_FOLD_UNTIL else 2
  return b
