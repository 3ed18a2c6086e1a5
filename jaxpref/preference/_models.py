r"""Preference models over a fixed set of items: Bradley-Terry and the General Preference Model.

A model is a frozen pytree dataclass: its structure (number of items, tie model, advantage, sizes)
is static, its numbers (the L2 strength, item features) are leaves, so a fit jits once per
structure and can be vmapped over regularization strengths. Parameters are plain dicts of arrays.
Each model supplies ``init(key)``, a per-example antisymmetric
``logit(params, a, b, context, advantage)`` and ``penalty(params)``;
:mod:`jaxpref.preference._fit` does the rest identically for all of them. Hyperparameters are
keyword-only: ``BradleyTerry(n, ties="davidson", advantage=True, l2=0.01)``.
"""

import math

import jax
import jax.numpy as jnp
from flax import struct

from jaxpref.preference._links import check_link
from jaxpref.types import Array, PRNGKey

Params = dict[str, Array]


def _check_common(num_items: int, ties: str | None, l2: object) -> None:
  if int(num_items) < 2:
    raise ValueError(f"num_items must be >= 2; got {num_items}.")
  check_link("bt" if ties is None else ties)
  try:
    value = float(l2)  # type: ignore[arg-type]
  except (TypeError, jax.errors.ConcretizationTypeError):
    return  # traced (a sweep over l2): checked where concrete
  if not math.isfinite(value) or value < 0:
    raise ValueError(f"l2 must be finite and >= 0; got {value}.")


@struct.dataclass
class BradleyTerry:
  r"""(Contextual) Bradley-Terry model with optional ties and a home / position advantage.

  Score of item :math:`i` in context :math:`c`:
  :math:`s_i(c) = \theta_i + x_i^\top \beta + c^\top \Gamma_i` (free strengths, item features
  :math:`x_i`, item-specific context slopes), and logit
  :math:`d(a, b \mid c, z) = s_a(c) - s_b(c) + z\,h`, where the advantage :math:`h` (home field,
  left position) is fitted only when ``advantage``, and :math:`z \in \{-1, 0, 1\}` is the row's
  indicator (:attr:`Pairs.advantage <jaxpref.preference.Pairs>`: +1 when ``a`` has the advantage,
  -1 when ``b`` has it, 0 on neutral ground; +1 for every row unless the data records it). The
  MAP objective adds ``l2`` :math:`(\|\theta\|^2 + \|\beta\|^2 + \|\Gamma\|^2)` (a Gaussian
  prior of variance :math:`1/(2\,l_2)`; choix's ``alpha``); ties and advantage are unpenalized.
  Since every comparison adds equal and opposite gradients to its two strengths, a fit with
  ``l2 > 0`` has :math:`\sum_i \theta_i = 0`; fits re-centre :math:`\theta` exactly, which changes
  no probability.

  Attributes:
    num_items: number of items ``n``.
    ties: ``None`` (ties as half a win each), ``"davidson"`` or ``"rao_kupper"``.
    advantage: fit an advantage :math:`h`, signed per row by ``pairs.advantage``.
    context_dim: width ``c`` of the comparisons' context (0 for none).
    l2: L2 strength on strengths, feature and context coefficients.
    item_features: optional ``[n, f]`` item features (``x_i``).
    free_scores: fit free strengths :math:`\theta` (turn off for a purely feature-based model).

  References:
    Bradley & Terry, Rank analysis of incomplete block designs, Biometrika 1952; Davidson, On
    extending the Bradley-Terry model to accommodate ties, JASA 1970; Rao & Kupper, Ties in
    paired-comparison experiments, JASA 1967; Agresti, Categorical Data Analysis, ch. 11.
  """

  num_items: int = struct.field(pytree_node=False)
  ties: str | None = struct.field(pytree_node=False, default=None, kw_only=True)
  advantage: bool = struct.field(pytree_node=False, default=False, kw_only=True)
  context_dim: int = struct.field(pytree_node=False, default=0, kw_only=True)
  l2: float | Array = struct.field(default=1e-6, kw_only=True)
  item_features: Array | None = struct.field(default=None, kw_only=True)
  free_scores: bool = struct.field(pytree_node=False, default=True, kw_only=True)

  def __post_init__(self):
    """Checks the static structure (and ``l2`` when concrete)."""
    _check_common(self.num_items, self.ties, self.l2)
    if self.item_features is not None and jnp.shape(self.item_features)[0] != self.num_items:
      raise ValueError(
        f"item_features must have num_items={self.num_items} rows; got shape "
        f"{jnp.shape(self.item_features)}."
      )

  @property
  def link(self) -> str:
    """The outcome model, ``"bt"`` when ties count half."""
    return self.ties or "bt"

  def init(self, key: PRNGKey | None = None, dtype: jnp.dtype | None = None) -> Params:
    """Zero parameters (the BT objective is convex; ``key`` is accepted for a uniform API)."""
    del key
    dtype = dtype or jnp.zeros(()).dtype
    params = {}
    if self.free_scores:
      params["scores"] = jnp.zeros(self.num_items, dtype)
    if self.item_features is not None:
      params["beta"] = jnp.zeros(jnp.shape(self.item_features)[1], dtype)
    if self.context_dim:
      params["gamma"] = jnp.zeros((self.num_items, self.context_dim), dtype)
    if self.ties is not None:
      params["tie"] = jnp.zeros((), dtype)
    if self.advantage:
      params["advantage"] = jnp.zeros((), dtype)
    return params

  def score(self, params: Params, item: Array, context: Array) -> Array:
    """Strength :math:`s_i(c)` of one item in one context ``[c]``."""
    s = jnp.zeros((), context.dtype)
    if self.free_scores:
      s = s + params["scores"][item]
    if self.item_features is not None:
      s = s + jnp.asarray(self.item_features)[item] @ params["beta"]
    if self.context_dim:
      s = s + context @ params["gamma"][item]
    return s

  def logit(
    self, params: Params, a: Array, b: Array, context: Array, advantage: Array | float = 1.0
  ) -> Array:
    r"""Per-example logit :math:`d(a, b \mid c, z)`.

    Args:
      params: the parameters.
      a: id of the first item.
      b: id of the second item.
      context: ``[c]`` context of the comparison.
      advantage: the row's indicator :math:`z` (+1: ``a`` has the advantage, -1: ``b``, 0:
        neutral); ignored unless the model fits an advantage.

    Returns:
      The scalar logit.
    """
    d = self.score(params, a, context) - self.score(params, b, context)
    return d + advantage * params["advantage"] if self.advantage else d

  def penalty(self, params: Params) -> Array:
    """L2 penalty on the strengths and coefficients."""
    total = sum(jnp.sum(params[k] ** 2) for k in ("scores", "beta", "gamma") if k in params)
    return self.l2 * total

  def canonicalize(self, params: Params) -> Params:
    """Centres the free strengths (the likelihood is invariant to a common shift)."""
    if not self.free_scores:
      return params
    return {**params, "scores": params["scores"] - jnp.mean(params["scores"])}


@struct.dataclass
class GeneralPreference:
  r"""General Preference Model (GPM) over items: Bradley-Terry plus a skew-symmetric part.

  Each item has a strength :math:`\theta_i` and an embedding :math:`v_i \in \mathbb{R}^{2k}`;

  .. math::
    d(a, b) = \theta_a - \theta_b + \sum_{l=1}^{k}
      \big(v_{a,2l-1} v_{b,2l} - v_{a,2l} v_{b,2l-1}\big) + z\,h,

  i.e. :math:`v_a^\top R\, v_b` with :math:`R = \mathrm{blockdiag}(J, \dots, J)`,
  :math:`J = [[0, 1], [-1, 0]]`, so :math:`d(a, b) = -d(b, a)` and :math:`d(a, a) = 0` by
  construction (the advantage :math:`h` is signed by the row's indicator :math:`z`, as in
  :class:`BradleyTerry`). Any real skew-symmetric score matrix over ``n`` items is reachable with
  :math:`k = \lceil n/2 \rceil` (real Schur form), so cycles (rock-paper-scissors) are
  representable; with :math:`v = 0` it is Bradley-Terry. The eigenvalue scales and temperature of
  the paper are absorbed into the free embeddings here (identity item features). The objective adds
  ``l2`` :math:`(\|\theta\|^2 + \|V\|_F^2)`; it is not convex in :math:`V` (and :math:`V = 0` is a
  saddle), so ``init`` draws :math:`V` at random from the key.

  Attributes:
    num_items: number of items ``n``.
    dim: embedding width :math:`2k` (even, >= 2).
    ties: ``None``, ``"davidson"`` or ``"rao_kupper"``.
    advantage: fit an advantage :math:`h`, signed per row by ``pairs.advantage``.
    l2: L2 strength on strengths and embeddings.
    init_scale: standard deviation of the random initial embeddings.
    context_dim: always 0 (kept for the shared model interface).

  References:
    Zhang, Zhang, Wu, Xu, Gu, Beyond Bradley-Terry Models: A General Preference Model for Language
    Model Alignment, ICML 2025 (arXiv 2410.02197).
  """

  num_items: int = struct.field(pytree_node=False)
  dim: int = struct.field(pytree_node=False, default=2, kw_only=True)
  ties: str | None = struct.field(pytree_node=False, default=None, kw_only=True)
  advantage: bool = struct.field(pytree_node=False, default=False, kw_only=True)
  l2: float | Array = struct.field(default=1e-2, kw_only=True)
  init_scale: float = struct.field(pytree_node=False, default=0.1, kw_only=True)
  context_dim: int = struct.field(pytree_node=False, default=0, kw_only=True)

  def __post_init__(self):
    """Checks the static structure (and ``l2`` when concrete)."""
    _check_common(self.num_items, self.ties, self.l2)
    if self.dim < 2 or self.dim % 2:
      raise ValueError(f"dim (= 2k) must be even and >= 2; got {self.dim}.")
    if self.context_dim:
      raise ValueError("GeneralPreference takes no context features (context_dim must be 0).")

  @property
  def link(self) -> str:
    """The outcome model, ``"bt"`` when ties count half."""
    return self.ties or "bt"

  def init(self, key: PRNGKey | None = None, dtype: jnp.dtype | None = None) -> Params:
    """Zero strengths and random embeddings of scale ``init_scale``.

    Raises:
      ValueError: if ``key`` is ``None`` (the embeddings need randomness).
    """
    if key is None:
      raise ValueError("GeneralPreference.init needs a PRNG key (V = 0 is a saddle point).")
    dtype = dtype or jnp.zeros(()).dtype
    params = {
      "scores": jnp.zeros(self.num_items, dtype),
      "embed": self.init_scale * jax.random.normal(key, (self.num_items, self.dim), dtype),
    }
    if self.ties is not None:
      params["tie"] = jnp.zeros((), dtype)
    if self.advantage:
      params["advantage"] = jnp.zeros((), dtype)
    return params

  def logit(
    self, params: Params, a: Array, b: Array, context: Array, advantage: Array | float = 1.0
  ) -> Array:
    """Per-example logit :math:`d(a, b)` (``context`` is ignored; ``advantage`` as for BT)."""
    del context
    va = params["embed"][a].reshape(-1, 2)
    vb = params["embed"][b].reshape(-1, 2)
    skew = jnp.sum(va[:, 0] * vb[:, 1] - va[:, 1] * vb[:, 0])
    d = params["scores"][a] - params["scores"][b] + skew
    return d + advantage * params["advantage"] if self.advantage else d

  def penalty(self, params: Params) -> Array:
    """L2 penalty on strengths and embeddings."""
    return self.l2 * (jnp.sum(params["scores"] ** 2) + jnp.sum(params["embed"] ** 2))

  def canonicalize(self, params: Params) -> Params:
    """Centres the strengths (embeddings keep their rotation: it changes no probability)."""
    return {**params, "scores": params["scores"] - jnp.mean(params["scores"])}


PreferenceModel = BradleyTerry | GeneralPreference
