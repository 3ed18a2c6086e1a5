r"""Panacea's SVD-LoRA layer: the preference vector enters as singular values of the adapter.

A dense layer with kernel :math:`W_0 \in \mathbb{R}^{d_{in} \times d_{out}}` becomes

.. math:: W(\lambda) = W_0 + V \,\mathrm{diag}(\sigma_1, \ldots, \sigma_k,
   s\lambda_1, \ldots, s\lambda_m)\, U^\top,

with :math:`V \in \mathbb{R}^{d_{in} \times (k+m)}`, :math:`U \in \mathbb{R}^{d_{out} \times
(k+m)}`, k learned singular values :math:`\sigma`, and a learned per-layer scale s that matches
the injected entries to the learned ones. :math:`\lambda` (Panacea's preference vector) is the
argument ``weights``: an input, never a parameter (no gradient flows into it). At inference
:math:`\lambda` can be merged into the kernel
(:meth:`SVDLoRALinear.merged_kernel`), so a conditioned model costs nothing extra per token. The
adapter's parameters are ``nnx.LoRAParam`` (a ``Param`` subtype): ``nnx.split(model, nnx.LoRAParam,
...)`` trains the adapter alone.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpref.types import Array, ArrayLike


class SVDLoRALinear(nnx.Module):
  r"""Dense layer with an SVD-LoRA adapter whose last m singular values are ``scale * weights``.

  Attributes:
    base: the wrapped ``nnx.Linear`` (:math:`W_0`, bias).
    u: ``[out, k + m]`` left factor (zeros at init, so the layer starts at :math:`W_0`).
    v: ``[in, k + m]`` right factor (Gaussian, std ``1/sqrt(in)``).
    sigma: ``[k]`` learned singular values.
    scale: learned scalar s multiplying the injected :math:`\lambda`.
  """

  def __init__(
    self,
    in_features: int,
    out_features: int,
    *,
    rank: int,
    num_objectives: int,
    rngs: nnx.Rngs,
    use_bias: bool = True,
    scale_init: float = 1.0,
    param_dtype=jnp.float32,
  ):
    """Builds the layer.

    Args:
      in_features: input width.
      out_features: output width.
      rank: k, the number of learned singular values.
      num_objectives: m, the size of the preference vector.
      rngs: Flax NNX random streams (``params``).
      use_bias: whether the base layer has a bias.
      scale_init: initial value of the per-layer scale s.
      param_dtype: dtype of the parameters.
    """
    if rank < 0 or num_objectives < 1:
      raise ValueError(
        f"SVDLoRALinear needs rank >= 0 and num_objectives >= 1; got {rank}, {num_objectives}."
      )
    self.num_objectives = num_objectives
    self.base = nnx.Linear(
      in_features, out_features, use_bias=use_bias, rngs=rngs, param_dtype=param_dtype
    )
    width = rank + num_objectives
    self.u = nnx.LoRAParam(jnp.zeros((out_features, width), param_dtype))
    self.v = nnx.LoRAParam(
      jax.random.normal(rngs.params(), (in_features, width), param_dtype) / jnp.sqrt(in_features)
    )
    self.sigma = nnx.LoRAParam(jnp.zeros((rank,), param_dtype))
    self.scale = nnx.LoRAParam(jnp.asarray(scale_init, param_dtype))

  def _diag(self, weights: ArrayLike) -> Array:
    weights = jax.lax.stop_gradient(jnp.asarray(weights))
    if weights.shape[-1] != self.num_objectives:
      raise ValueError(
        f"SVDLoRALinear: weights has {weights.shape[-1]} entries but the layer was built for "
        f"{self.num_objectives} objectives."
      )
    sigma = jnp.broadcast_to(self.sigma[...], (*weights.shape[:-1], self.sigma.shape[0]))
    return jnp.concatenate([sigma, self.scale[...] * weights.astype(self.v.dtype)], axis=-1)

  def __call__(self, x: ArrayLike, weights: ArrayLike) -> Array:
    r"""Applies the adapted layer.

    Args:
      x: ``[..., in]`` inputs.
      weights: ``[m]`` or ``[..., m]`` preference vectors (Panacea's :math:`\lambda`),
        broadcast against the batch of ``x``.

    Returns:
      ``[..., out]`` outputs, ``x W0 + b + ((x V) * diag) U^T``.
    """
    return self.base(x) + self.delta(x, weights)

  def delta(self, x: ArrayLike, weights: ArrayLike) -> Array:
    """The adapter's contribution alone, ``((x V) * diag) U^T``."""
    return ((x @ self.v[...]) * self._diag(weights)) @ self.u[...].T

  def merged_kernel(self, weights: ArrayLike) -> Array:
    r"""The kernel :math:`W(\lambda)` ``[in, out]`` for one preference vector ``weights [m]``."""
    return self.base.kernel[...] + (self.v[...] * self._diag(weights)) @ self.u[...].T
