"""Names for the losses, so configs can pick one (or a weighted combination) by name.

Every registered loss is ``fn(example, **hparams) -> (loss, aux)`` with keyword-only
hyperparameters named ``kl_coef``, ``step_size``, ``mixture`` or ``weights`` where they apply.
"""

from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp

from jaxpref.losses._distributional import aot
from jaxpref.losses._example import Example
from jaxpref.losses._groups import group_robust_dpo, maxmin_rlhf
from jaxpref.losses._listwise import lipo, mpo, pl_dpo, pro
from jaxpref.losses._multi import cpo, modpo
from jaxpref.losses._offline import cdpo, dpo, ipo, rdpo
from jaxpref.losses._online import inpo, nash_md_pg, nash_mp, online_ipo
from jaxpref.losses._self_play import dno, gpo, sppo
from jaxpref.types import Array

LossFn = Callable[..., tuple[Array, dict[str, Array]]]

LOSSES: dict[str, LossFn] = {
  "dpo": dpo,
  "ipo": ipo,
  "cdpo": cdpo,
  "rdpo": rdpo,
  "online_ipo": online_ipo,
  "nash_md_pg": nash_md_pg,
  "inpo": inpo,
  "nash_mp": nash_mp,
  "sppo": sppo,
  "gpo": gpo,
  "dno": dno,
  "modpo": modpo,
  "cpo": cpo,
  "pl_dpo": pl_dpo,
  "pro": pro,
  "lipo": lipo,
  "mpo": mpo,
  "aot": aot,
  "group_robust_dpo": group_robust_dpo,
  "maxmin_rlhf": maxmin_rlhf,
}


def register(name: str, fn: LossFn, *, overwrite: bool = False) -> None:
  """Adds a per-example loss ``fn(example, **hparams) -> (loss, aux)`` under ``name``.

  Hyperparameters should be keyword-only and use jaxpref's names (``kl_coef``, ``step_size``,
  ``mixture``, ``weights``) so that :func:`combined_loss` and configs can pass them by name.
  """
  if name in LOSSES and not overwrite:
    raise ValueError(f"A loss named {name!r} is already registered; pass overwrite=True.")
  LOSSES[name] = fn


def get_loss(name: str) -> LossFn:
  """The loss registered as ``name``; a ``ValueError`` lists the known names otherwise."""
  if name not in LOSSES:
    raise ValueError(f"Unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}.")
  return LOSSES[name]


def combined_loss(
  example: Example,
  *,
  weights: Mapping[str, float],
  hparams: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Array, dict[str, Array]]:
  """A weighted sum of registered losses on one example.

  Args:
    example: the example (must hold every field the chosen losses need).
    weights: ``{name: weight}``.
    hparams: ``{name: {hyperparameter: value}}``, e.g. ``{"ipo": {"kl_coef": 0.1}}``.

  Returns:
    ``(loss, {"<name>/loss": ..., "<name>/<aux key>": ...})``.
  """
  hparams = hparams or {}
  unknown = set(hparams) - set(weights)
  if unknown:
    raise ValueError(f"hyperparameters given for losses not in the combination: {sorted(unknown)}.")
  total, aux = jnp.asarray(0.0), {}
  for name, weight in weights.items():
    loss, extra = get_loss(name)(example, **hparams.get(name, {}))
    total = total + weight * loss
    aux[f"{name}/loss"] = loss
    aux |= {f"{name}/{k}": v for k, v in extra.items()}
  return total, aux
