r"""Straggler tiling: run a per-item iteration on a batch, spending compute only on active items.

``jax.vmap`` of a ``while_loop`` keeps every item of the batch in the loop until the slowest one
finishes: with a heavy-tailed number of iterations (random games: a median of 32 steps and a worst
case of thousands) almost all of the work is spent on items that are already done. :func:`run_tiled`
instead sorts the active items first at every outer iteration and advances only the tiles that hold
active items; once few are left it switches to small tiles so that stragglers do not drag a full
tile of finished items along. Results are those of the per-item loop: each item sees the same
inputs (its index is passed through) whatever tile it lands in.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxpref.types import Array


def auto_tile(n: int, batch: int) -> int:
  """Items per tile for ``[n, n]`` float32 matrices: about 1 MiB (an L2 cache), a power of two."""
  target = max(1, (1 << 20) // (4 * n * n))
  tile = 1 << (target.bit_length() - 1)
  return max(1, min(tile, 256, 1 << max(batch - 1, 0).bit_length()))


def run_tiled(
  advance: Callable[[Any, Array, Array], Any],
  carry: Any,
  done: Callable[[Any], Array],
  *,
  num_iters: int,
  tile: int,
  small: int | None = None,
) -> Any:
  """Advances every unfinished item of ``carry`` up to ``num_iters`` times, tile by tile.

  Args:
    advance: ``advance(sub_carry, idx, it) -> sub_carry`` for a tile of items (leading axis), with
      ``idx`` their ``[tile]`` indices in the batch and ``it`` the outer iteration. Finished items
      inside a tile must come back unchanged.
    carry: pytree with a leading batch axis whose size is a multiple of ``tile``.
    done: ``done(carry) -> [batch]`` boolean mask of finished items.
    num_iters: maximum number of outer iterations.
    tile: items advanced together.
    small: items per tile once few are active (``tile // 16`` when ``None``); ``small = tile``
      compiles one sweep instead of two (worth it where a tile is cheap: half the program).

  Returns:
    The final carry.
  """
  small = max(1, tile // 16) if small is None else int(small)

  def one_iteration(loop):
    c, it = loop
    finished = done(c)
    order = jnp.argsort(finished, stable=True)  # active items first
    num_active = jnp.sum(~finished)

    def sweep(size: int):
      def tile_body(i, c):
        idx = jax.lax.dynamic_slice(order, (i * size,), (size,))
        sub = advance(jax.tree.map(lambda a: a[idx], c), idx, it)
        return jax.tree.map(lambda a, b: a.at[idx].set(b), c, sub)

      return lambda c: jax.lax.fori_loop(0, (num_active + size - 1) // size, tile_body, c)

    if small == tile:
      return sweep(tile)(c), it + 1
    return jax.lax.cond(num_active > 4 * small, sweep(tile), sweep(small), c), it + 1

  c, _ = jax.lax.while_loop(
    lambda loop: (loop[1] < num_iters) & ~jnp.all(done(loop[0])),
    one_iteration,
    (carry, jnp.int32(0)),
  )
  return c
