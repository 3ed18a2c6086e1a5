"""Static shape checks shared by the metrics (they run at trace time, so they work under jit)."""

import jax.numpy as jnp

from jaxpref.types import Array, ArrayLike


def check_game_and_policies(fn: str, P: ArrayLike, *policies: ArrayLike) -> tuple[Array, ...]:
  """Converts ``P [..., n, n]`` and policies ``[..., n]`` to arrays and checks their shapes."""
  P = jnp.asarray(P)
  if P.ndim < 2 or P.shape[-1] != P.shape[-2]:
    raise ValueError(f"{fn}: P must have shape [..., n, n]; got {P.shape}.")
  out = [P]
  for k, x in enumerate(policies):
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] != P.shape[-1]:
      raise ValueError(
        f"{fn}: policy argument {k} must have shape [..., n] with n = {P.shape[-1]}; got {x.shape}."
      )
    out.append(x)
  return tuple(out)
