r"""Online preference-optimisation objectives: sampling, oracle queries and the loss each trains.

An :class:`Objective` couples a per-example loss of :data:`~jaxpref.losses.LOSSES` with the online
protocol around it: how responses and opponents are drawn (``sampling``), how many oracle queries
one update costs per prompt (``queries``), which hyperparameters the loss reads (``hparams``:
``{hyperparameter field: loss keyword}``), whether the update is EGPO's extragradient step and
whether labelled pairs are reordered as (winner, loser). Experiments (the contextual bandit of
``experiments/policy_objectives.py``, a language model) implement the samplers and read the rest
from :data:`OBJECTIVES`; :func:`register_objective` adds one, e.g. for a loss added with
:func:`~jaxpref.losses.register`.

Sampling schemes (``P`` the oracle, pi the policy, pi_ref the reference, labels Bernoulli):

- ``policy_pairs``: y, y' ~ pi; one label ``pref`` ~ P(y > y').
- ``uniform_vs_policy``: y, y' uniform, one opponent o ~ pi (EGPO: pi at the extrapolated point);
  two labels ``win`` ~ P(y > o), ``win2`` ~ P(y' > o).
- ``policy_vs_mixture``: y ~ pi, y' from the geometric mixture of pi and pi_ref (``mixture``);
  one label.
- ``policy_win_rate``: y ~ pi and K opponents ~ pi; ``win`` the mean of K labels (K queries).
- ``policy_lists``: K = ``list_size`` responses ~ pi ranked by the oracle (``score`` the grade
  K - 1 - place, best highest); counted as K/2 queries, the labels of K/2 pairs.
- ``policy_list_pairs``: the same K responses as K/2 disjoint pairs (y_1, y_2), (y_3, y_4), ...,
  one label each: the pairwise baseline at equal labels; the pair loss is summed over the pairs.
- ``pair_win_rates``: y, y' ~ pi and K opponents ~ pi; ``win`` and ``win2`` the mean of K labels
  of each against the opponents (DNO's r_t(y), r_t(y'); 2K queries).
- ``policy_scores``: y ~ pi and K opponents ~ pi; ``score`` the mean of the oracle's general
  preference score s(y > o) = logit P(y > o) (GPO's GPM query; K queries of a score, not a label).
- ``mixture_pairs``: y, y' both from the geometric mixture of pi and pi_ref (``mixture``); one
  label (IPO-MD).
- ``pairs_vs_opponent``: y, y' ~ pi, one opponent sample each from ``opponent`` (Nash-MP's mu);
  labels ``win`` ~ P(y > o), ``win2`` ~ P(y' > o') (2 queries).
- ``uncertain_pairs``: ``candidates`` pairs ~ pi per prompt; only the pair whose preference is most
  uncertain under the policy's implicit Bradley-Terry model (smallest |implicit reward margin|,
  distinct responses first) is labelled: uncertainty sampling, one query.

Iterative objectives (``iterative``) draw their responses from pi_t, a copy of the policy held for
a round of updates; APO (``extrapolate``) moves the parameters at each new round to
theta_hat + alpha (theta_hat - theta_hat_prev); Nash-MP (``mirror_prox``) spends the first half of
a round on the improvement step against mu = pi_t and the second half on the correction step
against mu = pi_{t+1/2}, both anchored at pi_t.

The registered objectives and the loss each trains (``kl_coef`` is beta everywhere):

==================== ==================== ===================================================
objective            loss (LOSSES name)   sampling, queries per prompt per update
==================== ==================== ===================================================
online_dpo           dpo                  policy_pairs, 1
online_ipo           ipo                  policy_pairs, 1 (IPO on sampled pairs; Calandriello
                                          et al.'s online IPO with labels as ``pref``)
online_ipo_uniform   online_ipo           uniform_vs_policy, 2
egpo                 online_ipo           uniform_vs_policy, 4 (two labels, two calls:
                                          extragradient)
nash_md_pg           nash_md_pg           policy_vs_mixture, 1
sppo                 sppo                 policy_win_rate, K (``step_size`` = sppo_step_size)
inpo                 inpo                 policy_pairs, 1, ordered (winner, loser);
                                          ``step_size`` = inpo_step_size
inpo_iterative       inpo                 the same, in INPO's rounds: pairs drawn from pi_t,
                                          the anchor pi_t held fixed for a round (``iterative``)
list_pl_dpo          pl_dpo               policy_lists, K/2
list_lipo            lipo                 policy_lists, K/2
list_mpo             mpo                  policy_lists, K/2
list_pro             pro                  policy_lists, K/2 (no reference, no KL term)
pairs_dpo            dpo                  policy_list_pairs, K/2
pairs_ipo            ipo                  policy_list_pairs, K/2
dno                  dno                  pair_win_rates, 2K, iterative (``step_size`` =
                                          dno_step_size)
gpo                  gpo                  policy_scores, K, iterative (``step_size`` =
                                          gpo_step_size)
sppo_iterative       sppo                 policy_win_rate, K, iterative (APO with alpha = 0)
apo                  sppo                 the same, with APO's extrapolation (``momentum``)
nash_mp              nash_mp              pairs_vs_opponent, 2, iterative in two half rounds
                                          (``step_size`` = nash_mp_step_size)
ipo_md               ipo                  mixture_pairs, 1
active_dpo           dpo                  uncertain_pairs, 1
==================== ==================== ===================================================

So the objective ``online_ipo`` is the library's :func:`~jaxpref.losses.ipo` (``kl_coef`` =
beta = tau) on policy pairs, and ``egpo`` the library's :func:`~jaxpref.losses.online_ipo` with
uniform pairs against the extrapolated policy (the names follow the papers' methods, the losses
the library's per-example formulas).

References:
  Calandriello et al., Human alignment of LLMs through online preference optimisation, ICML 2024.
  Zhou, Fazel, Du, Extragradient preference optimization (EGPO), COLM 2025.
  Munos et al., Nash learning from human feedback, ICML 2024 (Nash-MD-PG).
  Wu et al., Self-play preference optimization (SPPO), 2024.
  Zhang et al., Iterative Nash policy optimization (INPO), ICLR 2025.
  Rosset et al., Direct Nash optimization (DNO), 2024.
  Zhang et al., Beyond Bradley-Terry models: a general preference model (GPO), ICML 2025.
  He, Yuan, Gu, Accelerated preference optimization (APO), 2024.
  Tiapkin et al., Accelerating Nash learning from human feedback via Mirror Prox (Nash-MP), 2025.
  Mehta et al., Sample efficient preference alignment in LLMs via active exploration, 2023
  (uncertainty sampling is its ``us`` baseline).
"""

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpref.losses._example import Example
from jaxpref.losses._extragradient import extragradient_step
from jaxpref.losses._online import geometric_mixture
from jaxpref.losses._registry import get_loss
from jaxpref.optim import Step, gradient_step
from jaxpref.types import Array, PRNGKey, PyTree

SAMPLINGS = (
  "policy_pairs",
  "uniform_vs_policy",
  "policy_vs_mixture",
  "policy_win_rate",
  "policy_lists",
  "policy_list_pairs",
  "pair_win_rates",
  "policy_scores",
  "mixture_pairs",
  "pairs_vs_opponent",
  "uncertain_pairs",
)
_KL = MappingProxyType({"kl_coef": "kl_coef"})


class OnlineHparams(NamedTuple):
  """The hyperparameters of online preference optimisation (each may be a traced scalar).

  Attributes:
    learning_rate: the optimizer's step size (> 0).
    kl_coef: beta, the KL weight of every loss (> 0).
    mixture: lambda of ``policy_vs_mixture``'s geometric mixture, in [0, 1].
    sppo_step_size: SPPO's eta (> 0).
    inpo_step_size: INPO's eta (> 0).
    temperature: the sampling temperature of the policy's responses (> 0; 0 is greedy in the
      language model's sampler).
    dno_step_size: DNO's multiplier of the win rate, 1 / its eta (> 0).
    gpo_step_size: GPO's eta, the multiplier of the preference score (> 0).
    nash_mp_step_size: Nash-MP's eta (> 0).
    momentum: APO's extrapolation alpha, in [0, 1).
  """

  learning_rate: Any
  kl_coef: Any
  mixture: Any
  sppo_step_size: Any
  inpo_step_size: Any
  temperature: Any
  dno_step_size: Any = 1.0
  gpo_step_size: Any = 1.0
  nash_mp_step_size: Any = 2.0
  momentum: Any = 0.0


_POSITIVE = (
  "learning_rate",
  "kl_coef",
  "sppo_step_size",
  "inpo_step_size",
  "dno_step_size",
  "gpo_step_size",
  "nash_mp_step_size",
)


def check_online_hparams(hparams: OnlineHparams, *, name: str = "{}") -> None:
  """Raises ``ValueError`` naming the first field (leaves of any shape) outside its range.

  The ranges: ``learning_rate``, ``kl_coef`` and the step sizes > 0, ``mixture`` in [0, 1],
  ``momentum`` in [0, 1), ``temperature`` >= 0; every value finite.

  Args:
    hparams: the values (scalars or arrays, e.g. every point of a sweep).
    name: how the message names a field, e.g. ``"config.{}"``.
  """
  for field in OnlineHparams._fields:
    values = np.asarray(getattr(hparams, field), np.float64).ravel()
    if field in _POSITIVE:
      ok, rule = values > 0, "> 0"
    elif field == "mixture":
      ok, rule = (values >= 0) & (values <= 1), "in [0, 1]"
    elif field == "momentum":
      ok, rule = (values >= 0) & (values < 1), "in [0, 1)"
    else:
      ok, rule = values >= 0, ">= 0"
    finite = np.isfinite(values)
    if not finite.all():
      raise ValueError(f"{name.format(field)} must be finite; got {values[~finite][0]:g}.")
    if not ok.all():
      raise ValueError(f"{name.format(field)} must be {rule}; got {values[~ok][0]:g}.")


def _half_list(settings: Any) -> int:
  """K/2 queries for a list of K = ``settings.list_size`` responses (K/2 pairs' worth)."""
  return int(settings.list_size) // 2


def _win_rate_samples(settings: Any) -> int:
  """K = ``settings.sppo_samples`` opponents per response of a win-rate (or score) estimate."""
  return int(settings.sppo_samples)


_SPPO = MappingProxyType({"sppo_step_size": "step_size"})
_INPO = MappingProxyType({"inpo_step_size": "step_size", "kl_coef": "kl_coef"})


class Objective(NamedTuple):
  r"""An online preference-optimisation objective.

  Attributes:
    sampling: one of :data:`SAMPLINGS`.
    queries: oracle queries per prompt per update, or a callable of the experiment's static
      settings (an object with attributes, e.g. ``lambda s: s.sppo_samples``).
    loss: the name of the per-example loss in :data:`~jaxpref.losses.LOSSES`.
    hparams: ``{hyperparameter field: loss keyword}``: which fields of the caller's
      hyperparameters (a NamedTuple or any object with attributes) the loss receives as which
      keyword.
    extragradient: the update is :func:`~jaxpref.losses.extragradient_step` (the opponent is the
      extrapolated policy).
    ordered_pairs: each labelled pair is reordered as (winner, loser) with ``pref = 1``.
    iterative: the method's rounds (INPO, DNO as their papers run them): the anchor pi_t is a
      copy of the policy held fixed for a round of updates, the responses of
      the round are drawn from it, and it is refreshed at the next round (the experiment's
      ``round_length``); otherwise the anchor is the current policy (stop-gradient).
    extrapolate: APO's momentum between rounds (needs ``iterative``): at a new round the
      parameters become :math:`\hat\theta + \alpha(\hat\theta - \hat\theta_{prev})` (alpha the
      hyperparameter ``momentum``), :math:`\hat\theta_{prev}` the policy that ended the round
      before, and pi_t is that extrapolated policy.
    mirror_prox: Nash-MP's two proximal steps per round (needs ``iterative``): the opponent mu is
      pi_t for the first half of the round and the policy reached at mid-round (pi_{t+1/2}) for the
      second; both halves keep pi_t as the anchor.
  """

  sampling: str
  queries: int | Callable[[Any], int]
  loss: str
  hparams: Mapping[str, str] = MappingProxyType({})
  extragradient: bool = False
  ordered_pairs: bool = False
  iterative: bool = False
  extrapolate: bool = False
  mirror_prox: bool = False


OBJECTIVES: dict[str, Objective] = {
  "online_dpo": Objective("policy_pairs", 1, "dpo", _KL),
  "online_ipo": Objective("policy_pairs", 1, "ipo", _KL),
  "online_ipo_uniform": Objective("uniform_vs_policy", 2, "online_ipo", _KL),
  "egpo": Objective("uniform_vs_policy", 4, "online_ipo", _KL, extragradient=True),
  "nash_md_pg": Objective("policy_vs_mixture", 1, "nash_md_pg", _KL),
  "sppo": Objective("policy_win_rate", _win_rate_samples, "sppo", _SPPO),
  "inpo": Objective(
    "policy_pairs",
    1,
    "inpo",
    _INPO,
    ordered_pairs=True,
  ),
  "inpo_iterative": Objective(
    "policy_pairs",
    1,
    "inpo",
    _INPO,
    ordered_pairs=True,
    iterative=True,
  ),
  **{
    f"list_{loss}": Objective("policy_lists", _half_list, loss, {} if loss == "pro" else _KL)
    for loss in ("pl_dpo", "lipo", "mpo", "pro")
  },
  "pairs_dpo": Objective("policy_list_pairs", _half_list, "dpo", _KL),
  "pairs_ipo": Objective("policy_list_pairs", _half_list, "ipo", _KL),
  "dno": Objective(
    "pair_win_rates",
    lambda settings: 2 * settings.sppo_samples,
    "dno",
    MappingProxyType({"dno_step_size": "step_size"}),
    iterative=True,
  ),
  "gpo": Objective(
    "policy_scores",
    _win_rate_samples,
    "gpo",
    MappingProxyType({"gpo_step_size": "step_size"}),
    iterative=True,
  ),
  "sppo_iterative": Objective("policy_win_rate", _win_rate_samples, "sppo", _SPPO, iterative=True),
  "apo": Objective(
    "policy_win_rate", _win_rate_samples, "sppo", _SPPO, iterative=True, extrapolate=True
  ),
  "nash_mp": Objective(
    "pairs_vs_opponent",
    2,
    "nash_mp",
    MappingProxyType({"nash_mp_step_size": "step_size", "kl_coef": "kl_coef"}),
    iterative=True,
    mirror_prox=True,
  ),
  "ipo_md": Objective("mixture_pairs", 1, "ipo", _KL),
  "active_dpo": Objective("uncertain_pairs", 1, "dpo", _KL),
}


def register_objective(name: str, objective: Objective, *, overwrite: bool = False) -> None:
  """Adds ``objective`` under ``name``; its sampling must be known and its loss registered."""
  if name in OBJECTIVES and not overwrite:
    raise ValueError(f"An objective named {name!r} is already registered; pass overwrite=True.")
  if objective.sampling not in SAMPLINGS:
    raise ValueError(
      f"objective {name!r}: sampling {objective.sampling!r} is not one of {', '.join(SAMPLINGS)}."
    )
  if (objective.extrapolate or objective.mirror_prox) and not objective.iterative:
    raise ValueError(f"objective {name!r}: extrapolate and mirror_prox need iterative=True.")
  get_loss(objective.loss)  # Raises on an unknown loss, listing the known ones.
  OBJECTIVES[name] = objective


def get_objective(name: str) -> Objective:
  """The objective registered as ``name``; a ``ValueError`` lists the known names otherwise."""
  if name not in OBJECTIVES:
    raise ValueError(f"Unknown objective {name!r}; known: {', '.join(sorted(OBJECTIVES))}.")
  return OBJECTIVES[name]


def objective_queries(objective: Objective, settings: Any) -> int:
  """Oracle queries per prompt per update (``settings`` feeds a callable ``queries``)."""
  queries = objective.queries
  return int(queries(settings) if callable(queries) else queries)


def order_pairs(example: Example) -> Example:
  """Swaps each pair labelled ``pref < 1/2`` so that y is the winner; ``pref`` becomes 1."""
  swap = example.pref < 0.5

  def pick(a, b):
    return None if a is None else jnp.where(swap, b, a)

  return example._replace(
    logp=pick(example.logp, example.logp2),
    logp2=pick(example.logp2, example.logp),
    ref_logp=pick(example.ref_logp, example.ref_logp2),
    ref_logp2=pick(example.ref_logp2, example.ref_logp),
    anchor=pick(example.anchor, example.anchor2),
    anchor2=pick(example.anchor2, example.anchor),
    pref=jnp.ones_like(example.pref),
  )


def objective_loss(objective: Objective, hparams: Any) -> Callable[[Example], Array]:
  """``example -> scalar loss`` of ``objective`` with keywords read from ``hparams``' fields.

  Args:
    objective: the objective.
    hparams: an object whose attributes named in ``objective.hparams`` hold the values (traced
      scalars are fine).

  Returns:
    The per-example loss (vmap it over a batch).
  """
  fn = get_loss(objective.loss)
  kwargs = {keyword: getattr(hparams, field) for field, keyword in objective.hparams.items()}

  def loss(example: Example) -> Array:
    if objective.ordered_pairs:
      example = order_pairs(example)
    if objective.sampling == "policy_list_pairs":  # [K/2] pairs per example: their sum.
      return jnp.sum(jax.vmap(lambda e: fn(e, **kwargs)[0])(example))
    return fn(example, **kwargs)[0]

  return loss


class Rounds(NamedTuple):
  """An iterative objective's parameters at one update: the policy, pi_t, APO's and Nash-MP's.

  Attributes:
    params: the policy to update (APO: extrapolated at a round's start).
    anchor: pi_t, held for the round.
    previous: APO's theta_hat of the last round (before extrapolation).
    opponent: Nash-MP's mu (pi_t, then pi_{t+1/2} from mid-round).
  """

  params: PyTree
  anchor: PyTree
  previous: PyTree
  opponent: PyTree


def objective_rounds(
  objective: Objective, rounds: Rounds, count: Array, *, round_length: int, momentum: Any = 0.0
) -> Rounds:
  r"""The round bookkeeping of an iterative objective before update ``count`` (jittable).

  At a round's start (``count % round_length == 0``): APO (``extrapolate``) moves the parameters
  to :math:`\hat\theta + \alpha(\hat\theta - \hat\theta_{prev})` and stores
  :math:`\hat\theta`; pi_t becomes the (moved) policy; Nash-MP (``mirror_prox``) sets
  mu = pi_t, and mu becomes the current policy again at mid-round. Non-iterative objectives get
  ``rounds`` back unchanged. Any pytrees of parameters (MLP leaves, LoRA adapters).

  Args:
    objective: the objective (its ``iterative``, ``extrapolate``, ``mirror_prox`` flags).
    rounds: the state before this update.
    count: the number of updates taken so far.
    round_length: updates per round (static).
    momentum: APO's alpha.

  Returns:
    The :class:`Rounds` to use for this update.
  """
  if not objective.iterative:
    return rounds
  params, anchor, previous, opponent = rounds
  start = count % int(round_length) == 0

  def at(flag, new, old):
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)

  if objective.extrapolate:
    moved = jax.tree.map(lambda p, q: p + momentum * (p - q), params, previous)
    params, previous = at(start, moved, params), at(start, params, previous)
  anchor = at(start, params, anchor)
  if objective.mirror_prox:
    opponent = at(start | (count % int(round_length) == int(round_length) // 2), params, opponent)
  return Rounds(params, anchor, previous, opponent)


def objective_step(
  objective: Objective,
  loss_fn: Callable[[PyTree, PyTree], Array],
  tx: optax.GradientTransformation,
  params: PyTree,
  opt_state: Any,
) -> Step:
  """One update of ``objective``: a gradient step, or EGPO's extragradient step.

  Args:
    objective: the objective (its ``extragradient`` flag picks the update).
    loss_fn: ``(params, opponent_params) -> scalar``; the opponent (whose samples or win rates
      enter the examples) is not differentiated.
    tx: any optax optimizer.
    params: theta_t.
    opt_state: ``tx``'s state at theta_t.

  Returns:
    A :class:`~jaxpref.optim.Step`; its ``aux`` is the extrapolated parameters for EGPO, the
    opponent (theta_t) otherwise.
  """
  if objective.extragradient:
    out = extragradient_step(loss_fn, tx, params, opt_state)
    return Step(out.params, out.opt_state, out.loss, out.extrapolated)
  out = gradient_step(loss_fn, tx, params, opt_state, params)
  return out._replace(aux=params)


def bandit_examples(
  sampling: str,
  key: PRNGKey,
  logp: Array,
  P: Array,
  *,
  mixture: Array | float = 0.0,
  samples: int = 1,
  opponent: Array | None = None,
  temperature: Array | float = 1.0,
  list_size: int = 4,
  anchor: Array | None = None,
  candidates: int = 4,
) -> Example:
  r"""One example per prompt of a tabular policy, sampled per ``sampling`` from an exact oracle.

  The reference is uniform; labels are Bernoulli draws of the oracle (one query each).

  Rankings are drawn from the Plackett-Luce model with strengths
  :math:`s_i = \frac1n \sum_j \mathrm{logit}\, P_{ij}` (Gumbel-perturbed sorting), whose
  pairwise marginals are ``P`` exactly when ``P`` is Bradley-Terry; for an intransitive oracle
  they are its Plackett-Luce projection, not ``P``. The pairs of ``policy_list_pairs`` are read
  off the same ranking: disjoint pairs use disjoint Gumbel noise, so their labels are independent
  Bernoulli draws with the marginals above.

  Args:
    sampling: one of :data:`SAMPLINGS`.
    key: PRNG key.
    logp: ``[prompts, n]`` log-probabilities of the policy (differentiated through).
    P: ``[prompts, n, n]`` oracle, ``P[x, i, j] = Prob(i beats j | x)``.
    mixture: lambda of ``policy_vs_mixture``'s geometric mixture.
    samples: K opponents of ``policy_win_rate`` (static).
    opponent: ``[prompts, n]`` log-probabilities the ``uniform_vs_policy`` opponent (EGPO's
      extrapolated policy) or the ``pairs_vs_opponent`` opponents (Nash-MP's mu) are drawn from;
      the policy (or the anchor) by default.
    temperature: responses of the policy (and opponents) are drawn from
      ``softmax(logp / temperature)`` (``temperature`` floored at 1e-6, so 0 is near-greedy);
      the loss sees the untempered ``logp``.
    list_size: K responses of ``policy_lists`` / ``policy_list_pairs`` (static, even).
    anchor: ``[prompts, n]`` log-probabilities of an iterative method's :math:`\pi_t` (held
      fixed for a round): the responses are drawn from it and the ``anchor`` fields are its
      log-probabilities; the policy itself (stop-gradient) when ``None``.
    candidates: pairs drawn per prompt by ``uncertain_pairs`` (static), of which one is labelled.

  Returns:
    An :class:`~jaxpref.losses.Example` with ``[prompts]`` fields (``[prompts, K]`` for
    ``policy_lists``, ``[prompts, K/2]`` for ``policy_list_pairs``).
  """
  prompts, n = logp.shape
  sg = jax.lax.stop_gradient(logp if anchor is None else anchor)

  def tempered(x):  # Exactly x at temperature 1.
    return x / jnp.maximum(temperature, 1e-6)

  draw = tempered(sg)
  k1, k2, k3, k4 = jax.random.split(key, 4)
  log_ref = jnp.full((prompts,), -jnp.log(n), logp.dtype)  # Uniform reference.

  # One-hot contractions, not gathers: exact, and free of gathers that mix a vmapped index with an
  # unbatched one (which a vmap with spmd_axis_name outside a mesh rejects).
  def at(values, y):
    return jnp.sum(values * jax.nn.one_hot(y, n, dtype=values.dtype), axis=-1)

  def label(k, a, b):
    p = at(jnp.sum(P * jax.nn.one_hot(a, n, dtype=P.dtype)[..., None], axis=-2), b)
    return jax.random.bernoulli(k, p).astype(logp.dtype)

  def pair(y, y2, **labels):  # The pair (y, y') with the policy's, reference's, anchor's values.
    return Example(
      logp=at(logp, y),
      logp2=at(logp, y2),
      ref_logp=log_ref,
      ref_logp2=log_ref,
      anchor=at(sg, y),
      anchor2=at(sg, y2),
      **labels,
    )

  if sampling == "policy_pairs":
    y, y2 = jax.random.categorical(k1, draw), jax.random.categorical(k2, draw)
    return pair(y, y2, pref=label(k3, y, y2))
  if sampling == "uniform_vs_policy":
    y, y2 = jax.random.randint(k1, (prompts,), 0, n), jax.random.randint(k2, (prompts,), 0, n)
    opp = jax.random.categorical(k3, draw if opponent is None else tempered(opponent))
    ka, kb = jax.random.split(k4)
    return Example(
      logp=at(logp, y),
      logp2=at(logp, y2),
      ref_logp=log_ref,
      ref_logp2=log_ref,
      win=label(ka, y, opp),
      win2=label(kb, y2, opp),
    )
  if sampling == "policy_vs_mixture":
    y = jax.random.categorical(k1, draw)
    mix = geometric_mixture(draw, jnp.broadcast_to(log_ref[:, None], sg.shape), mixture=mixture)
    y2 = jax.random.categorical(k2, mix)
    return Example(logp=at(logp, y), ref_logp=log_ref, pref=label(k3, y, y2))
  if sampling == "policy_win_rate":
    y = jax.random.categorical(k1, draw)
    opps = jax.random.categorical(k2, draw, shape=(samples, prompts))
    wins = jax.vmap(lambda k, o: label(k, y, o))(jax.random.split(k3, samples), opps)
    return Example(logp=at(logp, y), anchor=at(sg, y), win=jnp.mean(wins, axis=0))
  if sampling == "pair_win_rates":
    y, y2 = jax.random.categorical(k1, draw), jax.random.categorical(k2, draw)
    opps = jax.random.categorical(k3, draw, shape=(samples, prompts))
    ka, kb = jax.random.split(k4)
    wins = jax.vmap(lambda k, o: label(k, y, o))(jax.random.split(ka, samples), opps)
    wins2 = jax.vmap(lambda k, o: label(k, y2, o))(jax.random.split(kb, samples), opps)
    return Example(
      logp=at(logp, y),
      logp2=at(logp, y2),
      anchor=at(sg, y),
      anchor2=at(sg, y2),
      win=jnp.mean(wins, axis=0),
      win2=jnp.mean(wins2, axis=0),
    )
  if sampling == "policy_scores":
    y = jax.random.categorical(k1, draw)
    opps = jax.random.categorical(k2, draw, shape=(samples, prompts))
    eps = jnp.finfo(P.dtype).eps
    logit = jnp.log(jnp.clip(P, eps, 1.0)) - jnp.log(jnp.clip(1.0 - P, eps, 1.0))
    row = jnp.sum(logit * jax.nn.one_hot(y, n, dtype=P.dtype)[..., None], axis=-2)  # s(y > .)
    scores = jax.vmap(lambda o: at(row, o))(opps)
    return Example(logp=at(logp, y), anchor=at(sg, y), score=jnp.mean(scores, axis=0))
  if sampling == "mixture_pairs":
    mix = geometric_mixture(draw, jnp.broadcast_to(log_ref[:, None], sg.shape), mixture=mixture)
    y, y2 = jax.random.categorical(k1, mix), jax.random.categorical(k2, mix)
    return Example(
      logp=at(logp, y),
      logp2=at(logp, y2),
      ref_logp=log_ref,
      ref_logp2=log_ref,
      pref=label(k3, y, y2),
    )
  if sampling == "pairs_vs_opponent":
    y, y2 = jax.random.categorical(k1, draw), jax.random.categorical(k2, draw)
    mu = draw if opponent is None else tempered(opponent)
    o = jax.random.categorical(k3, mu, shape=(2, prompts))
    ka, kb = jax.random.split(k4)
    return pair(y, y2, win=label(ka, y, o[0]), win2=label(kb, y2, o[1]))
  if sampling == "uncertain_pairs":
    M = int(candidates)
    if M < 1:
      raise ValueError(f"candidates must be >= 1; got {candidates}.")
    ys = jax.random.categorical(k1, draw, shape=(M, prompts))
    ys2 = jax.random.categorical(k2, draw, shape=(M, prompts))
    # The implicit reward margin log(pi/pi_ref)(y) - log(pi/pi_ref)(y'); the reference is uniform.
    margin = jnp.abs(jax.vmap(lambda a, b: at(sg, a) - at(sg, b))(ys, ys2))
    margin = jnp.where(ys == ys2, jnp.inf, margin)  # A self-duel carries no information.
    pick = jax.nn.one_hot(jnp.argmin(margin, axis=0), M, dtype=jnp.int32).T  # [M, prompts]
    y, y2 = jnp.sum(pick * ys, axis=0), jnp.sum(pick * ys2, axis=0)
    return pair(y, y2, pref=label(k3, y, y2))
  if sampling in ("policy_lists", "policy_list_pairs"):
    K = int(list_size)
    if K < 2 or K % 2:
      raise ValueError(f"list_size must be even and >= 2; got {list_size}.")
    y = jax.random.categorical(k1, draw, shape=(K, prompts)).T  # [prompts, K]
    eps = jnp.finfo(P.dtype).tiny
    strength = jnp.mean(jnp.log(P + eps) - jnp.log1p(-P + eps), axis=-1)  # [prompts, n]

    def at_list(values):  # [prompts, n] at y -> [prompts, K]
      return jnp.sum(values[:, None, :] * jax.nn.one_hot(y, n, dtype=values.dtype), axis=-1)

    # Flat draw (same numbers as shape [prompts, K], a smaller program to compile).
    gumbel = jax.random.gumbel(k2, (prompts * K,), P.dtype).reshape(prompts, K)
    utility = at_list(strength) + gumbel
    ref = jnp.broadcast_to(log_ref[:, None], (prompts, K))
    if sampling == "policy_lists":
      place = jnp.argsort(jnp.argsort(-utility, axis=-1), axis=-1)  # 0 = best
      grade = (K - 1 - place).astype(logp.dtype)
      return Example(logp=at_list(logp), ref_logp=ref, anchor=at_list(sg), score=grade)
    lp, a = at_list(logp), at_list(sg)
    first, second = (slice(0, K, 2), slice(1, K, 2))
    return Example(
      logp=lp[:, first],
      logp2=lp[:, second],
      ref_logp=ref[:, first],
      ref_logp2=ref[:, second],
      anchor=a[:, first],
      anchor2=a[:, second],
      pref=(utility[:, first] > utility[:, second]).astype(logp.dtype),
    )
  raise ValueError(f"Unknown sampling {sampling!r}; known: {', '.join(SAMPLINGS)}.")
