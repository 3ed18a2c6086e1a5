r"""Personalized preference models: a shared reward structure and a small weight vector per person.

Each person :math:`u` has a :math:`K`-vector of logits :math:`\omega_u`; the shared parameters map
it to rewards over the items, and a comparison of :math:`a` and :math:`b` by :math:`u` has logit
:math:`r_u(a) - r_u(b)` (Bradley-Terry per person; a tie counts half a win each way).

* :class:`LoRe` (Bose et al., low-rank reward modelling): :math:`r_u(i) = \phi_i^\top V w_u`
  with a shared basis :math:`V` of ``rank`` reward functions and :math:`w_u = \omega_u`
  (unconstrained, the default: a new person's fit is convex) or :math:`\mathrm{softmax}(\omega_u)`
  (``simplex=True``, as the paper's code). ``rank = 1`` with ``simplex=True`` is plain
  Bradley-Terry.
* :class:`PAL` (Chen et al., PAL-A ideal points): item points :math:`f_i` and ``prototypes``
  :math:`p_1, \dots, p_K`; person :math:`u`'s ideal point is :math:`a_u = \sum_k w_{uk} p_k`,
  :math:`w_u = \mathrm{softmax}(\omega_u)`, and :math:`r_u(i) = -\|f_i - a_u\|^2` (the smooth
  squared-distance variant of the paper's distance score). ``prototypes = 1`` is a population
  model. With ``prompt_features`` (PAL-B, prompt-conditioned ideal points) each prototype is a
  linear map of the prompt :math:`x`, :math:`g_k(x) = p_k + G_k^\top x`, and the person's ideal
  point for item :math:`i` (a response to prompt :math:`x_i`) is
  :math:`a_u(x_i) = \sum_k w_{uk} g_k(x_i)`.

Items are ids (:math:`\phi_i` the unit vector, :math:`f_i` a free embedding) or, with
``item_features`` ``[n, f]``, text features (:math:`\phi_i` the features, :math:`f_i` a linear
projection of them). :func:`fit_personal` fits the shared parameters and every training person's
logits jointly (MAP, L-BFGS under ``jit``, vmappable over keys); :func:`adapt_people` infers a new
person's logits from a few of their comparisons with the shared parameters frozen, under a
Gaussian prior centred on the training people's mean (:func:`population_prior`): with no
comparisons a new person gets exactly the prior. :func:`personal_preference_matrix` gives a
person's game for :mod:`jaxpref.equilibria`.

References:
  Bose et al., LoRe: personalizing LLMs via low-rank reward modeling, 2025.
  Chen et al., PAL: sample-efficient personalized reward modeling for pluralistic alignment,
  ICLR 2025.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxpref.preference._fit import minimize
from jaxpref.preference._links import outcome_log_likelihood
from jaxpref.preference._pairs import Pairs, check_pairs
from jaxpref.types import Array, PRNGKey

Params = dict[str, Array]


def _check_sizes(num_items: int, num_users: int, **sizes: int) -> None:
  if int(num_items) < 2:
    raise ValueError(f"num_items must be >= 2; got {num_items}.")
  if int(num_users) < 1:
    raise ValueError(f"num_users must be >= 1; got {num_users}.")
  for name, value in sizes.items():
    if int(value) < 1:
      raise ValueError(f"{name} must be >= 1; got {value}.")


def check_features(num_items: int, **features: Any) -> None:
  """Raises ValueError unless each given feature array is ``[num_items, width]``."""
  for name, value in features.items():
    shape = getattr(value, "shape", None)  # None, or a placeholder leaf inside a tree map
    if shape is not None and (len(shape) != 2 or shape[0] != int(num_items)):
      raise ValueError(f"{name} must be [num_items={num_items}, width]; got shape {shape}.")


def _item_inputs(model: Any, dtype: jnp.dtype) -> Array:
  """``[n, f]``: the item features, or the identity for item ids."""
  if model.item_features is None:
    return jnp.eye(model.num_items, dtype=dtype)
  return jnp.asarray(model.item_features, dtype)


@struct.dataclass
class LoRe:
  r"""Low-rank personal rewards :math:`r_u(i) = \phi_i^\top V w_u` (see the module docstring).

  Attributes:
    num_items: number of items ``n``.
    num_users: number of training people ``U``.
    rank: ``B``, the number of basis reward functions (``K`` of the logits).
    simplex: :math:`w_u = \mathrm{softmax}(\omega_u)` (the paper's code) instead of
      :math:`\omega_u`.
    l2: L2 strength on the basis and on the logits.
    item_features: optional ``[n, f]`` item features :math:`\phi_i` (ids when ``None``).
  """

  num_items: int = struct.field(pytree_node=False)
  num_users: int = struct.field(pytree_node=False)
  rank: int = struct.field(pytree_node=False, default=2)
  simplex: bool = struct.field(pytree_node=False, default=False)
  l2: Any = 1e-3
  item_features: Array | None = None

  def __post_init__(self):
    _check_sizes(self.num_items, self.num_users, rank=self.rank)
    check_features(self.num_items, item_features=self.item_features)

  @property
  def num_weights(self) -> int:
    return int(self.rank)

  def init(self, key: PRNGKey, dtype: jnp.dtype = jnp.float32) -> Params:
    width = _item_inputs(self, dtype).shape[1]
    k_basis, k_users = jax.random.split(key)
    return {
      "basis": 0.1 * jax.random.normal(k_basis, (width, self.rank), dtype),
      "users": 0.1 * jax.random.normal(k_users, (self.num_users, self.rank), dtype),
    }

  def rewards(self, params: Params, logits: Array) -> Array:
    """``[n]`` rewards of one person with ``[K]`` logits."""
    w = jax.nn.softmax(logits) if self.simplex else logits
    return _item_inputs(self, params["basis"].dtype) @ (params["basis"] @ w)

  def penalty(self, params: Params) -> Array:
    return self.l2 * (jnp.sum(params["basis"] ** 2) + jnp.sum(params["users"] ** 2))


@struct.dataclass
class PAL:
  r"""Ideal points :math:`r_u(i) = -\|f_i - \sum_k w_{uk} p_k\|^2` (see the module docstring).

  Attributes:
    num_items: number of items ``n``.
    num_users: number of training people ``U``.
    prototypes: ``K`` prototype ideal points.
    dim: width ``d`` of the item points and prototypes.
    l2: L2 strength on item points (or projection), prototypes, projectors and logits.
    item_features: optional ``[n, f]`` item features, projected linearly to the points.
    prompt_features: optional ``[n, c]`` features of each item's prompt (PAL-B): the ideal
      points become linear maps of the prompt.
  """

  num_items: int = struct.field(pytree_node=False)
  num_users: int = struct.field(pytree_node=False)
  prototypes: int = struct.field(pytree_node=False, default=2)
  dim: int = struct.field(pytree_node=False, default=4)
  l2: Any = 1e-3
  item_features: Array | None = None
  prompt_features: Array | None = None

  def __post_init__(self):
    _check_sizes(self.num_items, self.num_users, prototypes=self.prototypes, dim=self.dim)
    check_features(
      self.num_items, item_features=self.item_features, prompt_features=self.prompt_features
    )

  @property
  def num_weights(self) -> int:
    return int(self.prototypes)

  def init(self, key: PRNGKey, dtype: jnp.dtype = jnp.float32) -> Params:
    width = _item_inputs(self, dtype).shape[1]
    k_items, k_proto, k_users, k_proj = jax.random.split(key, 4)
    params = {
      "items": jax.random.normal(k_items, (width, self.dim), dtype),
      "prototypes": jax.random.normal(k_proto, (self.prototypes, self.dim), dtype),
      "users": 0.1 * jax.random.normal(k_users, (self.num_users, self.prototypes), dtype),
    }
    if self.prompt_features is not None:
      c = jnp.shape(self.prompt_features)[1]
      shape = (self.prototypes, c, self.dim)
      params["projectors"] = jax.random.normal(k_proj, shape, dtype) / jnp.sqrt(c)
    return params

  def rewards(self, params: Params, logits: Array) -> Array:
    """``[n]`` rewards of one person with ``[K]`` logits."""
    points = _item_inputs(self, params["items"].dtype) @ params["items"]  # [n, d]
    w = jax.nn.softmax(logits)
    ideal = w @ params["prototypes"]  # [d]
    if self.prompt_features is not None:  # PAL-B: a_u(x_i) = sum_k w_k (p_k + G_k^T x_i)
      x = jnp.asarray(self.prompt_features, points.dtype)
      ideal = ideal + x @ jnp.einsum("k,kcd->cd", w, params["projectors"])  # [n, d]
    return -jnp.sum((points - ideal) ** 2, axis=-1)

  def penalty(self, params: Params) -> Array:
    return self.l2 * sum(jnp.sum(v**2) for v in params.values())


PersonalModel = LoRe | PAL


class PersonalFit(NamedTuple):
  """Result of :func:`fit_personal`: parameters, final objective, gradient norm and steps."""

  params: Params
  objective: Array
  grad_norm: Array
  steps: Array


def _row_log_likelihood(logit: Array, outcome: Array) -> Array:
  """Bradley-Terry log-likelihood of an outcome in [0, 1] (a tie is half a win each way)."""
  return outcome_log_likelihood(logit, None, outcome, "bt")


def personal_logits(model: PersonalModel, params: Params, logits: Array, pairs: Pairs) -> Array:
  """``[R]`` logits of the comparisons, row ``k`` judged by a person with ``logits[k]``.

  Args:
    model: the personal model.
    params: its parameters (``users`` is not read).
    logits: ``[R, K]`` each row's person logits (e.g. ``params["users"][pairs.annotator]``).
    pairs: the comparisons.

  Returns:
    ``[R]`` logits ``r(a) - r(b)``.
  """

  def one(lg, a, b):
    r = model.rewards(params, lg)
    return r[a] - r[b]

  return jax.vmap(one)(logits, pairs.item_a, pairs.item_b)


def people_rewards(model: PersonalModel, params: Params, logits: Array) -> Array:
  """``[P, n]`` rewards of ``P`` people with ``[P, K]`` logits."""
  return jax.vmap(lambda lg: model.rewards(params, lg))(logits)


def _table_logits(rewards: Array, people: Array, pairs: Pairs) -> Array:
  """``[R]`` logits of each row from a ``[P, n]`` reward table and the row's person."""
  return rewards[people, pairs.item_a] - rewards[people, pairs.item_b]


def personal_log_likelihood(
  model: PersonalModel, params: Params, pairs: Pairs, logits: Array | None = None
) -> Array:
  """``[R]`` log-likelihood of each comparison (training people's own logits by default)."""
  if logits is None:  # One reward vector per person, gathered per row.
    table = people_rewards(model, params, params["users"])
    return _row_log_likelihood(_table_logits(table, pairs.annotator, pairs), pairs.outcome)
  return _row_log_likelihood(personal_logits(model, params, logits, pairs), pairs.outcome)


def fit_personal(
  model: PersonalModel, pairs: Pairs, key: PRNGKey, *, max_steps: int = 500, tol: float = 1e-6
) -> PersonalFit:
  """MAP fit of the shared parameters and every person's logits by L-BFGS, under ``jit``.

  Args:
    model: the personal model; ``pairs.annotator`` indexes its ``num_users`` people.
    pairs: the comparisons (``weight`` 0 masks a row).
    key: PRNG key of the initialization (vmap it for restarts).
    max_steps: L-BFGS iteration cap (static).
    tol: relative gradient tolerance.

  Returns:
    The :class:`PersonalFit`.

  Raises:
    ValueError: for malformed concrete ``pairs`` or annotator ids outside ``[0, num_users)``.
  """
  check_pairs(pairs, model.num_items, num_annotators=model.num_users)
  return _fit_personal(model, pairs, key, max_steps=max_steps, tol=tol)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _fit_personal(model, pairs, key, *, max_steps, tol):
  def objective(params):
    ll = personal_log_likelihood(model, params, pairs)
    return -jnp.sum(pairs.weight * ll) + model.penalty(params)

  return PersonalFit(
    *lbfgs_fit(objective, model.init(key, pairs.outcome.dtype), pairs, max_steps, tol)
  )


def lbfgs_fit(objective, params: Params, pairs: Pairs, max_steps: int, tol: float | Array):
  """``(params, value, grad_norm, steps)`` of L-BFGS on ``objective`` from ``params``.

  Stops at a gradient norm of ``tol * (1 + total weight of pairs)`` or after ``max_steps``.
  """
  threshold = tol * (1.0 + jnp.sum(pairs.weight))
  return minimize(objective, params, max_steps=max_steps, threshold=threshold)


def population_prior(
  model: PersonalModel, params: Params, population: Array | None = None
) -> Array:
  """``[K]`` the mean logits of the training people (``population`` ``[U]`` weights them)."""
  del model
  if population is None:
    return jnp.mean(params["users"], axis=0)
  w = jnp.asarray(population, params["users"].dtype)
  return w @ params["users"] / jnp.sum(w)


@functools.partial(jax.jit, static_argnames=("num_people", "max_steps"))
def adapt_people(
  model: PersonalModel,
  params: Params,
  context: Pairs,
  people: Array,
  num_people: int,
  *,
  prior_strength: float | Array = 1.0,
  max_steps: int = 100,
  population: Array | None = None,
) -> Array:
  r"""New people's logits from their context comparisons, the shared parameters frozen.

  Person :math:`v` gets :math:`\arg\min_\omega -\sum_{k \in C_v} w_k \log p(o_k \mid \omega) +
  \tfrac{s}{2}\|\omega - \bar\omega\|^2`, :math:`\bar\omega` the :func:`population_prior` and
  :math:`s` = ``prior_strength`` (a Gaussian prior); with no context rows the answer is exactly
  :math:`\bar\omega`. Rows with ``weight`` 0 are not context (pad with them to keep shapes
  static).

  Args:
    model: the personal model.
    params: its fitted parameters.
    context: the context comparisons of all new people.
    people: ``[R]`` which new person (in ``[0, num_people)``) made each context row.
    num_people: the number of new people (static).
    prior_strength: :math:`s > 0`.
    max_steps: L-BFGS iteration cap per person (static).
    population: ``[U]`` weights of the training people in the prior (all equally by default).

  Returns:
    ``[num_people, K]`` logits.
  """
  prior = population_prior(model, params, population)
  onehot = jax.nn.one_hot(people, int(num_people), dtype=context.outcome.dtype)  # [R, P]

  def one(member):  # member: [R] 1 on this person's rows
    weight = context.weight * member

    def objective(omega):
      r = model.rewards(params, omega)
      ll = _row_log_likelihood(r[context.item_a] - r[context.item_b], context.outcome)
      return -jnp.sum(weight * ll) + 0.5 * prior_strength * jnp.sum((omega - prior) ** 2)

    omega, *_ = minimize(objective, prior, max_steps=max_steps, threshold=1e-7)
    return omega

  return jax.vmap(one, in_axes=1)(onehot)


@functools.partial(jax.jit, static_argnames=("num_people",))
def people_posterior(
  model: PersonalModel,
  params: Params,
  context: Pairs,
  people: Array,
  num_people: int,
  population: Array | None = None,
) -> Array:
  r"""Posterior of each new person over the training people's logits (empirical Bayes).

  The training people's fitted logits :math:`\omega_1, \dots, \omega_U` are a sample of the
  population; a new person :math:`v` with context comparisons :math:`C_v` gets
  :math:`p(j \mid C_v) \propto \prod_{k \in C_v} p(o_k \mid \omega_j)^{w_k}`, uniform with no
  context (the population itself, or ``population``'s weights). Exact, no optimization, and
  suited to both discrete groups and continuous weights; :func:`posterior_log_likelihood`
  predicts with it.

  Args:
    model: the personal model.
    params: its fitted parameters.
    context: the context comparisons (``weight`` 0 rows are not context).
    people: ``[R]`` which new person made each context row.
    num_people: the number of new people (static).
    population: ``[U]`` prior weights of the training people (e.g. 0 for people held out of the
      fit); uniform by default.

  Returns:
    ``[num_people, U]`` posterior weights (rows sum to 1).
  """
  users = params["users"]
  prior = jnp.zeros(users.shape[0], users.dtype) if population is None else jnp.log(population)

  table = people_rewards(model, params, users)  # [U, n]
  d = table[:, context.item_a] - table[:, context.item_b]  # [U, R]
  ll = _row_log_likelihood(d, context.outcome) * context.weight
  onehot = jax.nn.one_hot(people, int(num_people), dtype=ll.dtype)  # [R, P]
  return jax.nn.softmax((ll @ onehot).T + prior, axis=-1)


@jax.jit
def posterior_log_likelihood(
  model: PersonalModel, params: Params, posterior: Array, pairs: Pairs, people: Array
) -> Array:
  """``[R]`` predictive log-likelihood of each row under its person's :func:`people_posterior`.

  Args:
    model: the personal model.
    params: its fitted parameters.
    posterior: ``[P, U]`` posterior weights of the new people.
    pairs: the comparisons to score.
    people: ``[R]`` which new person made each row.

  Returns:
    ``[R]`` log of the posterior-predictive probability of each outcome.
  """
  table = people_rewards(model, params, params["users"])  # [U, n]
  win = jax.nn.sigmoid(table[:, pairs.item_a] - table[:, pairs.item_b])  # [U, R]
  p = jnp.einsum("ur,ru->r", win, posterior[people])
  eps = jnp.finfo(p.dtype).tiny
  o = pairs.outcome
  return o * jnp.log(p + eps) + (1.0 - o) * jnp.log1p(-p + eps)


def personal_preference_matrix(model: PersonalModel, params: Params, logits: Array) -> Array:
  """``[n, n]`` preference matrix of one person with ``[K]`` logits (a game for the solvers)."""
  r = model.rewards(params, logits)
  return jax.nn.sigmoid(r[:, None] - r[None, :])
