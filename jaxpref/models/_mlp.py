"""A plain multi-layer perceptron: tanh hidden layers and a linear output."""

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
  """``f(x) -> [..., out_features]`` with tanh hidden layers (e.g. a softmax policy's logits)."""

  def __init__(self, in_features: int, hidden: Sequence[int], out_features: int, *, rngs: nnx.Rngs):
    """Builds the network.

    Args:
      in_features: input width.
      hidden: hidden widths.
      out_features: output width.
      rngs: Flax NNX random streams.
    """
    widths = [in_features, *hidden]
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(widths)])
    self.out = nnx.Linear(widths[-1], out_features, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies the network to ``x [..., in_features]``."""
    for layer in self.layers:
      x = jnp.tanh(layer(x))
    return self.out(x)
