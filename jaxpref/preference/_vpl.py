r"""VPL: variational preference learning, a latent person variable inferred from their comparisons.

A person's few labelled comparisons :math:`C` are encoded into :math:`q(z \mid C) =
\mathcal N(\mu(C), \mathrm{diag}\,\sigma^2(C))` by a permutation-invariant encoder (each pair
oriented winner-first, embedded by an MLP, mean-pooled, then linear heads), and rewards are
conditioned on :math:`z`: :math:`r(i, z) = \mathrm{MLP}([e_i; z])`. Training maximizes the
evidence lower bound of each training person's labels given a random context subset of them,

.. math:: \mathcal L_u = E_{z \sim q(z \mid C_u)} \sum_{k \in D_u} \log p(o_k \mid r(a_k, z) -
   r(b_k, z)) - \kappa\, \mathrm{KL}(q(z \mid C_u) \,\|\, \mathcal N(0, I)),

with ``kl_weight`` :math:`\kappa` (1 is the exact bound; the paper's code uses 0.01, a
:math:`\beta`-VAE). With no context the encoder returns the prior :math:`\mathcal N(0, I)` exactly,
so a new person with no comparisons is scored at :math:`z = 0`. Items are ids (a learned embedding)
or ``item_features`` (a learned linear projection). With ``attention=True`` the embedded context
pairs pass through one self-attention layer before the pooling, as in the paper's code
(:math:`\mathrm{softmax}(QK^\top/\sqrt{h})V`, padded rows masked out as keys and from the pool);
without it they are mean-pooled directly. Both are invariant to the order of the context.

References:
  Poddar et al., Personalizing reinforcement learning from human feedback with variational
  preference learning, NeurIPS 2024.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxpref.preference._links import outcome_log_likelihood
from jaxpref.preference._pairs import Pairs, check_pairs
from jaxpref.preference._personal import check_features
from jaxpref.types import Array, PRNGKey

Params = dict[str, Array]


@struct.dataclass
class VPL:
  r"""A VPL preference model (see the module docstring).

  Attributes:
    num_items: number of items ``n``.
    latent: width of :math:`z`.
    hidden: width of the encoder's and decoder's hidden layers.
    embed: width of the item embedding :math:`e_i`.
    kl_weight: :math:`\kappa`, the weight of the KL term.
    item_features: optional ``[n, f]`` item features (ids when ``None``).
    attention: one self-attention layer over the context set before the pooling.
  """

  num_items: int = struct.field(pytree_node=False)
  latent: int = struct.field(pytree_node=False, default=4)
  hidden: int = struct.field(pytree_node=False, default=32)
  embed: int = struct.field(pytree_node=False, default=8)
  kl_weight: Any = 1.0
  item_features: Array | None = None
  attention: bool = struct.field(pytree_node=False, default=False)

  def __post_init__(self):
    for name in ("num_items", "latent", "hidden", "embed"):
      if int(getattr(self, name)) < (2 if name == "num_items" else 1):
        raise ValueError(f"{name} must be >= {2 if name == 'num_items' else 1}.")
    check_features(self.num_items, item_features=self.item_features)

  def init(self, key: PRNGKey, dtype: jnp.dtype = jnp.float32) -> Params:
    width = self.num_items if self.item_features is None else self.item_features.shape[1]
    shapes = {
      "items": (width, self.embed),
      "enc1": (2 * self.embed, self.hidden),
      "enc2": (self.hidden, self.hidden),
      "mu": (self.hidden, self.latent),
      "logvar": (self.hidden, self.latent),
      **{k: (self.hidden, self.hidden) for k in ("query", "key", "value") if self.attention},
      "dec1": (self.embed + self.latent, self.hidden),
      "dec2": (self.hidden, self.hidden),
      "out": (self.hidden, 1),
    }
    keys = jax.random.split(key, len(shapes))
    params = {}
    for k, (name, shape) in zip(keys, shapes.items(), strict=True):
      params[name] = jax.random.normal(k, shape, dtype) / np.sqrt(shape[0])
      if name not in ("items", "query", "key", "value"):
        params[name + "_b"] = jnp.zeros(shape[1], dtype)
    return params


def _embed(model: VPL, params: Params, items: Array) -> Array:
  if model.item_features is None:
    return params["items"][items]
  return jnp.asarray(model.item_features, params["items"].dtype)[items] @ params["items"]


def _dense(params: Params, name: str, x: Array) -> Array:
  return x @ params[name] + params[name + "_b"]


@jax.jit
def vpl_encode(model: VPL, params: Params, context: Pairs) -> tuple[Array, Array]:
  r"""``(mu, logvar)`` of :math:`q(z \mid C)` for one person's context rows (``weight`` masks).

  Invariant to the order of the rows; the prior ``(0, 0)`` when no row has positive weight.
  """
  ea, eb = _embed(model, params, context.item_a), _embed(model, params, context.item_b)

  def pair(first, second):
    h = jax.nn.gelu(_dense(params, "enc1", jnp.concatenate([first, second], -1)))
    return jax.nn.gelu(_dense(params, "enc2", h))

  o = context.outcome[:, None]
  h = o * pair(ea, eb) + (1.0 - o) * pair(eb, ea)  # winner first; a tie is half of each
  w = context.weight[:, None]
  count = jnp.sum(context.weight)
  if model.attention:  # keys restricted to the context rows; a query's output mixes their values
    scores = (h @ params["query"]) @ (h @ params["key"]).T / np.sqrt(model.hidden)
    scores = jnp.where(context.weight[None, :] > 0, scores, -1e30)
    h = jax.nn.softmax(scores, axis=-1) @ (h @ params["value"])
  pooled = jnp.sum(w * h, axis=0) / jnp.maximum(count, 1.0)
  seen = (count > 0).astype(pooled.dtype)
  mu = seen * jnp.clip(_dense(params, "mu", pooled), -3.0, 3.0)
  logvar = seen * jnp.clip(_dense(params, "logvar", pooled), -6.0, 2.0)
  return mu, logvar


def vpl_rewards(model: VPL, params: Params, z: Array, items: Array) -> Array:
  """Rewards :math:`r(i, z)` of ``items`` (any shape) for one latent ``z``."""
  e = _embed(model, params, items)
  zz = jnp.broadcast_to(z, (*e.shape[:-1], z.shape[-1]))
  h = jax.nn.gelu(_dense(params, "dec1", jnp.concatenate([e, zz], -1)))
  h = jax.nn.gelu(_dense(params, "dec2", h))
  return _dense(params, "out", h)[..., 0]


def vpl_log_likelihood(model: VPL, params: Params, z: Array, pairs: Pairs) -> Array:
  """``[R]`` log-likelihood of each row for one latent ``z`` (a tie is half a win each way)."""
  d = vpl_rewards(model, params, z, pairs.item_a) - vpl_rewards(model, params, z, pairs.item_b)
  return outcome_log_likelihood(d, None, pairs.outcome, "bt")


def person_layout(annotator: Any, num_people: int, max_rows: int | None = None):
  """``(index, valid)``, both ``[num_people, M]``: each person's first rows (host-side numpy).

  ``index[u, j]`` is the ``j``-th row of person ``u`` (0 where ``valid`` is False); rows past
  ``max_rows`` are dropped. Gather any ``[R, ...]`` array with ``x[index]`` into that layout.
  """
  ann = np.asarray(annotator)
  counts = np.bincount(ann, minlength=num_people)
  width = int(counts.max() if max_rows is None else min(counts.max(), max_rows))
  index = np.zeros((num_people, width), np.int64)
  valid = np.zeros((num_people, width), bool)
  for u in range(num_people):
    rows = np.flatnonzero(ann == u)[:width]
    index[u, : len(rows)] = rows
    valid[u, : len(rows)] = True
  return index, valid


def by_person(pairs: Pairs, num_people: int, max_rows: int | None = None) -> Pairs:
  """Groups rows by ``annotator`` into ``[num_people, M]`` padded pairs (``weight`` 0 pads).

  Host-side (numpy) reshaping (:func:`person_layout`); rows past ``max_rows`` are dropped.
  """
  index, valid = person_layout(pairs.annotator, num_people, max_rows)
  out = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)[index]), pairs)
  return out._replace(weight=out.weight * jnp.asarray(valid, out.weight.dtype))


class VPLFit(NamedTuple):
  """Result of :func:`fit_vpl`: the parameters and the mean negative ELBO per step."""

  params: Params
  losses: Array


def fit_vpl(
  model: VPL,
  people: Pairs,
  key: PRNGKey,
  *,
  steps: int = 1000,
  learning_rate: float = 1e-2,
  max_context: int = 10,
) -> VPLFit:
  """Trains VPL by Adam on the ELBO of every training person (full batch of people).

  Each step draws, per person, a context of a uniform number in ``[0, max_context]`` of their
  rows (a random subset) and scores all their rows given it (one reparametrized sample of z).

  Args:
    model: the VPL model.
    people: ``[U, M]`` padded comparisons per person (:func:`by_person`).
    key: PRNG key (initialization and the context draws; vmap it over seeds).
    steps: Adam steps (static).
    learning_rate: Adam's step size.
    max_context: the largest context drawn (static).

  Returns:
    The :class:`VPLFit`.
  """
  flat = jax.tree.map(lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), people)
  check_pairs(flat._replace(weight=jnp.abs(flat.weight)), model.num_items)
  return _fit_vpl(model, people, key, steps=steps, lr=learning_rate, max_context=max_context)


@functools.partial(jax.jit, static_argnames=("steps", "max_context"))
def _fit_vpl(model, people, key, *, steps, lr, max_context):
  k_init, k_run = jax.random.split(key)
  params = model.init(k_init, people.outcome.dtype)
  tx = optax.adam(lr)
  total = jnp.maximum(jnp.sum(people.weight), 1.0)

  def person_loss(params, rows, key):
    k_size, k_perm, k_z = jax.random.split(key, 3)
    size = jax.random.randint(k_size, (), 0, max_context + 1)
    rank = jnp.argsort(jnp.argsort(jax.random.uniform(k_perm, rows.weight.shape) - rows.weight))
    context = rows._replace(weight=rows.weight * (rank < size))
    mu, logvar = vpl_encode(model, params, context)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(k_z, mu.shape, mu.dtype)
    nll = -jnp.sum(rows.weight * vpl_log_likelihood(model, params, z, rows))
    kl = 0.5 * jnp.sum(jnp.exp(logvar) + mu**2 - 1.0 - logvar)
    return nll + model.kl_weight * kl

  def loss(params, key):
    keys = jax.random.split(key, people.outcome.shape[0])
    return jnp.sum(jax.vmap(person_loss, in_axes=(None, 0, 0))(params, people, keys)) / total

  def step(carry, key):
    params, state = carry
    value, grad = jax.value_and_grad(loss)(params, key)
    updates, state = tx.update(grad, state, params)
    return (optax.apply_updates(params, updates), state), value

  (params, _), values = jax.lax.scan(
    step, (params, tx.init(params)), jax.random.split(k_run, steps)
  )
  return VPLFit(params, values)


@functools.partial(jax.jit, static_argnames=("samples",))
def vpl_predict(
  model: VPL,
  params: Params,
  context: Pairs,
  pairs: Pairs,
  *,
  key: PRNGKey | None = None,
  samples: int = 64,
) -> Array:
  r"""``[P, R]`` log-likelihood of each person's rows given their context comparisons.

  With ``key``, the predictive probability averages ``samples`` draws of
  :math:`z \sim q(z \mid C)` (the posterior predictive); without, it uses the posterior mean.

  Args:
    model: the VPL model.
    params: trained parameters.
    context: ``[P, C]`` padded context rows per person (``weight`` 0 pads; none: the prior).
    pairs: ``[P, R]`` padded rows to score per person.
    key: PRNG key of the posterior draws (``None``: the mean).
    samples: number of draws (static).

  Returns:
    ``[P, R]`` log-likelihoods (pads included; mask them with ``pairs.weight``).
  """
  mu, logvar = jax.vmap(lambda c: vpl_encode(model, params, c))(context)
  if key is None:
    return jax.vmap(lambda z, p: vpl_log_likelihood(model, params, z, p))(mu, pairs)
  # Flat draw: the same numbers as one of shape [S, P, latent], a smaller program to compile.
  eps = jax.random.normal(key, (samples * mu.size,), mu.dtype).reshape(samples, *mu.shape)
  z = mu + jnp.exp(0.5 * logvar) * eps  # [S, P, latent]

  def win(zz, p):  # [R] P(item_a wins) for one person and one draw
    d = vpl_rewards(model, params, zz, p.item_a) - vpl_rewards(model, params, zz, p.item_b)
    return jax.nn.sigmoid(d)

  prob = jnp.mean(jax.vmap(lambda zs: jax.vmap(win)(zs, pairs))(z), axis=0)
  tiny = jnp.finfo(prob.dtype).tiny
  o = pairs.outcome
  return o * jnp.log(prob + tiny) + (1.0 - o) * jnp.log1p(-prob + tiny)


def vpl_preference_matrix(model: VPL, params: Params, z: Array) -> Array:
  """``[n, n]`` preference matrix of a person with latent ``z`` (a game for the solvers)."""
  r = vpl_rewards(model, params, z, jnp.arange(model.num_items))
  return jax.nn.sigmoid(r[:, None] - r[None, :])
