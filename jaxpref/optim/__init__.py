"""Gradient steps and training loops over parameter pytrees, shared by every trainer.

:func:`gradient_step` is one optax update of a loss; :func:`optimize` runs ``steps`` of them in a
``lax.scan`` (one compiled loop). Both work on any parameter pytree: a Flax NNX module is trained by
splitting it (``graphdef, params = nnx.split(module)``), differentiating a loss that merges the
parameters back, and merging the result (see :func:`optimize`). The engine's per-point programs
(:mod:`jaxpref.training`), the models' own fitters and the experiments all step through here.
"""

from jaxpref.optim._step import Optimized, Step, gradient_step, optimize

__all__ = ["Optimized", "Step", "gradient_step", "optimize"]
