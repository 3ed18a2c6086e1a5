r"""Multi-layer perceptrons conditioned on a preference vector :math:`\lambda`.

One network serves the whole Pareto front: :math:`f_\theta(x, \lambda)`, with the preference
vector :math:`\lambda` passed as ``weights``. Three ways to feed :math:`\lambda`, the first being
Panacea's:

* ``"svd_lora"``: every hidden layer is an :class:`SVDLoRALinear` with :math:`\lambda` as singular
  values;
* ``"concat"``: :math:`\lambda` is concatenated to the input;
* ``"film"``: every hidden layer's pre-activation is modulated,
  :math:`h \mapsto (1 + \gamma(\lambda)) \odot h + \beta(\lambda)` (Perez et al., AAAI 2018).
"""

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpref.models._svd_lora import SVDLoRALinear
from jaxpref.types import Array, ArrayLike

CONDITIONINGS = ("svd_lora", "concat", "film")


class ConditionedMLP(nnx.Module):
  """MLP ``f(x, weights)`` with tanh hidden layers and a linear output.

  Attributes:
    conditioning: one of ``"svd_lora"``, ``"concat"``, ``"film"``.
    layers: the hidden layers and the output layer.
  """

  def __init__(
    self,
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    *,
    num_objectives: int,
    conditioning: str = "svd_lora",
    rank: int = 4,
    rngs: nnx.Rngs,
    param_dtype=jnp.float32,
  ):
    """Builds the network.

    Args:
      in_features: width of x (use 1 with a constant input for pure Pareto-set learning).
      hidden: hidden widths.
      out_features: output width.
      num_objectives: m.
      conditioning: how the weights enter (see the module docstring).
      rank: learned singular values per SVD-LoRA layer.
      rngs: Flax NNX random streams.
      param_dtype: dtype of the parameters.
    """
    if conditioning not in CONDITIONINGS:
      raise ValueError(f"Unknown conditioning {conditioning!r}; known: {', '.join(CONDITIONINGS)}.")
    self.conditioning = conditioning
    self.num_objectives = num_objectives
    widths = [in_features + (num_objectives if conditioning == "concat" else 0), *hidden]
    layers = []
    films = []
    for a, b in itertools.pairwise(widths):
      if conditioning == "svd_lora":
        layers.append(
          SVDLoRALinear(
            a, b, rank=rank, num_objectives=num_objectives, rngs=rngs, param_dtype=param_dtype
          )
        )
      else:
        layers.append(nnx.Linear(a, b, rngs=rngs, param_dtype=param_dtype))
      if conditioning == "film":
        films.append(
          nnx.Linear(
            num_objectives,
            2 * b,
            rngs=rngs,
            param_dtype=param_dtype,
            kernel_init=nnx.initializers.zeros_init(),
          )
        )
    self.layers = nnx.List(layers)
    self.films = nnx.List(films)
    self.out = nnx.Linear(widths[-1], out_features, rngs=rngs, param_dtype=param_dtype)

  def __call__(self, x: ArrayLike, weights: ArrayLike) -> Array:
    r"""Applies the network.

    Args:
      x: ``[..., in]`` inputs.
      weights: ``[m]`` or ``[..., m]`` preference vectors (Panacea's :math:`\lambda`).

    Returns:
      ``[..., out]`` outputs.
    """
    x, weights = jnp.asarray(x), jax.lax.stop_gradient(jnp.asarray(weights))
    if weights.shape[-1] != self.num_objectives:
      raise ValueError(
        f"ConditionedMLP: weights has {weights.shape[-1]} entries; the model has "
        f"{self.num_objectives} objectives."
      )
    h = x
    if self.conditioning == "concat":
      batch = jnp.broadcast_shapes(x.shape[:-1], weights.shape[:-1])
      h = jnp.concatenate(
        [
          jnp.broadcast_to(x, (*batch, x.shape[-1])),
          jnp.broadcast_to(weights, (*batch, weights.shape[-1])),
        ],
        axis=-1,
      )
    for k, layer in enumerate(self.layers):
      h = layer(h, weights) if self.conditioning == "svd_lora" else layer(h)
      if self.conditioning == "film":
        gamma, beta = jnp.split(self.films[k](weights), 2, axis=-1)
        h = (1 + gamma) * h + beta
      h = jnp.tanh(h)
    return self.out(h)
