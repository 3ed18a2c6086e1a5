"""Personalized preference models: reductions, invariances, the prior, and few-shot recovery."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import preference as pm


def _data(kind, *, people=60, per=20, n=8, seed=0):
  rewards, _ = pm.latent_user_rewards(jax.random.key(seed), n, people, kind=kind, scale=2.0)
  return rewards, pm.sample_person_comparisons(jax.random.key(seed + 1), rewards, per_person=per)


def test_rank_one_on_the_simplex_is_plain_bradley_terry():
  _, pairs = _data("groups", people=20)
  lore = pm.LoRe(8, 20, rank=1, simplex=True, l2=1e-2)
  fit = pm.fit_personal(lore, pairs, jax.random.key(0), max_steps=500, tol=1e-10)
  bt = pm.BradleyTerry(8, l2=1e-2)
  want = pm.win_probability(bt, pm.fit(bt, pairs).params, pairs)
  got = jax.nn.sigmoid(
    pm.personal_logits(lore, fit.params, fit.params["users"][pairs.annotator], pairs)
  )
  np.testing.assert_allclose(got, want, atol=1e-6)


def test_zero_context_gives_the_prior():
  _, pairs = _data("groups", people=10, per=10)
  model = pm.LoRe(8, 10, rank=2)
  params = model.init(jax.random.key(0), jnp.float64)  # any parameters: the prior is exact
  empty = pairs._replace(weight=jnp.zeros_like(pairs.weight))
  people = pairs.annotator % 3
  post = pm.people_posterior(model, params, empty, people, 3)
  np.testing.assert_allclose(post, 1 / 10)  # the training population, uniformly
  omega = pm.adapt_people(model, params, empty, people, 3)
  np.testing.assert_allclose(omega, jnp.broadcast_to(pm.population_prior(model, params), (3, 2)))
  vpl = pm.VPL(8, latent=3)
  mu, logvar = pm.vpl_encode(vpl, vpl.init(jax.random.key(1), jnp.float64), empty)
  np.testing.assert_array_equal(mu, 0.0)
  np.testing.assert_array_equal(logvar, 0.0)


@pytest.mark.parametrize("attention", [False, True])
def test_vpl_encoder_is_invariant_to_the_order_of_the_context(attention):
  _, pairs = _data("groups", people=1, per=12)
  vpl = pm.VPL(8, latent=3, attention=attention)
  params = vpl.init(jax.random.key(2), jnp.float64)
  perm = np.random.default_rng(0).permutation(12)
  shuffled = jax.tree.map(lambda x: x[perm], pairs)
  pair = (pm.vpl_encode(vpl, params, pairs), pm.vpl_encode(vpl, params, shuffled))
  for a, b in zip(*pair, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
  mu, _ = pm.vpl_encode(vpl, params, pairs)
  assert float(jnp.abs(mu).max()) > 0  # it does read the context
  padded = pairs._replace(weight=pairs.weight.at[6:].set(0.0))  # padding rows are not read
  junk = padded._replace(item_a=padded.item_a.at[6:].set(0), outcome=padded.outcome.at[6:].set(0))
  encoded = (pm.vpl_encode(vpl, params, padded), pm.vpl_encode(vpl, params, junk))
  for a, b in zip(*encoded, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
  empty = pairs._replace(weight=jnp.zeros_like(pairs.weight))
  np.testing.assert_array_equal(pm.vpl_encode(vpl, params, empty)[0], 0.0)  # the prior


def test_bad_inputs():
  with pytest.raises(ValueError, match="rank must be >= 1"):
    pm.LoRe(8, 10, rank=0)
  with pytest.raises(ValueError, match="num_users must be >= 1"):
    pm.PAL(8, 0)
  with pytest.raises(ValueError, match='kind must be "groups" or "rank"'):
    pm.latent_user_rewards(jax.random.key(0), 5, 3, kind="clusters")
  _, pairs = _data("groups", people=10, per=5)
  with pytest.raises(ValueError, match="annotator"):
    pm.fit_personal(pm.LoRe(8, 5, rank=2), pairs, jax.random.key(0))
  seven = np.zeros((7, 3))  # features of 7 items for a model of 8
  for make in (
    lambda: pm.LoRe(8, 5, item_features=seven),
    lambda: pm.PAL(8, 5, item_features=seven),
    lambda: pm.VPL(8, item_features=seven),
    lambda: pm.MiCRo(8, item_features=seven),
  ):
    with pytest.raises(ValueError, match=r"item_features must be \[num_items=8, width\]"):
      make()
  with pytest.raises(ValueError, match=r"prompt_features must be \[num_items=8, width\]"):
    pm.PAL(8, 5, prompt_features=np.zeros(8))


def test_pal_b_with_a_zero_prompt_is_pal_a_and_reads_the_prompt():
  n = 16
  feats = jax.random.normal(jax.random.key(0), (n, 2))
  pal_a = pm.PAL(n, 5, item_features=feats)
  pal_b = pm.PAL(n, 5, item_features=feats, prompt_features=jnp.zeros((n, 3)))
  params = pal_b.init(jax.random.key(3), jnp.float64)
  assert params["projectors"].shape == (2, 3, 4)  # one linear map of the prompt per prototype
  np.testing.assert_allclose(  # a prompt of zeros is PAL-A
    pal_b.rewards(params, jnp.ones(2)), pal_a.rewards(params, jnp.ones(2)), atol=1e-12
  )
  moved = pal_b.replace(prompt_features=jnp.ones((n, 3))).rewards(params, jnp.ones(2))
  assert float(jnp.abs(moved - pal_a.rewards(params, jnp.ones(2))).max()) > 1e-3


# Two fits of about 4 s each on 2 cores: behind -m slow (the reduction above runs by default).
@pytest.mark.slow
def test_pal_b_ideal_points_follow_the_prompt():
  # Two opposed groups whose ideal point flips sign with the prompt of the response: PAL-A (one
  # ideal point per person) cannot fit it, PAL-B (prototypes linear in the prompt) can.
  n, people = 16, 30
  feats = jax.random.normal(jax.random.key(0), (n, 2))
  prompt = jnp.where(jnp.arange(n) < n // 2, 1.0, -1.0)[:, None]
  side = jnp.where(jnp.arange(people) % 2 == 0, 1.0, -1.0)
  ideal = side[:, None, None] * prompt[None] * jnp.array([1.5, 0.0])  # [U, n, 2]
  rewards = -jnp.sum((feats[None] - ideal) ** 2, -1)
  pairs = pm.sample_person_comparisons(jax.random.key(1), rewards, per_person=40)
  fit = {}
  for name, extra in (("a", {}), ("b", {"prompt_features": prompt})):
    model = pm.PAL(n, people, prototypes=2, dim=2, l2=1e-3, item_features=feats, **extra)
    params = pm.fit_personal(model, pairs, jax.random.key(2), max_steps=100).params
    fit[name] = float(jnp.mean(pm.personal_log_likelihood(model, params, pairs)))
  assert fit["b"] > fit["a"] + 0.05, fit


def _fewshot(kind, seed=0, *, n=12, train=300, per=30, test=40, per_test=50, k=20):
  """Held-out log-loss of new people after k revealed comparisons: BT, truth, LoRe, PAL, VPL."""
  rewards, _ = pm.latent_user_rewards(
    jax.random.key(seed), n, train + test, kind=kind, scale=2.5,
    shares=(0.7, 0.3) if kind == "groups" else None,
  )  # fmt: skip
  pairs = pm.sample_person_comparisons(jax.random.key(seed + 1), rewards[:train], per_person=per)
  new = pm.sample_person_comparisons(jax.random.key(seed + 2), rewards[train:], per_person=per_test)
  first = (jnp.arange(test * per_test) % per_test) < k
  ctx = new._replace(weight=first.astype(new.weight.dtype))
  held = new._replace(weight=(~first).astype(new.weight.dtype))

  def loss(ll):
    return -float(jnp.sum(held.weight * ll) / jnp.sum(held.weight))

  out = {}
  bt = pm.BradleyTerry(n, l2=1e-3)
  out["bt"] = loss(pm.log_likelihood(bt, pm.fit(bt, pairs).params, held))
  # The true model, few-shot: the same posterior over the training people's true rewards.
  truth = pm.LoRe(n, train, rank=n)  # the true rewards of the training people as its population
  true_params = {"basis": jnp.eye(n), "users": rewards[:train]}
  post = pm.people_posterior(truth, true_params, ctx, new.annotator, test)
  out["truth"] = loss(pm.posterior_log_likelihood(truth, true_params, post, held, new.annotator))
  for name, model in (
    ("lore", pm.LoRe(n, train, rank=2, l2=1e-3)),
    ("pal", pm.PAL(n, train, prototypes=2, dim=4, l2=1e-3)),
  ):
    params = pm.fit_personal(model, pairs, jax.random.key(seed + 3), max_steps=400).params
    post = pm.people_posterior(model, params, ctx, new.annotator, test)
    out[name] = loss(pm.posterior_log_likelihood(model, params, post, held, new.annotator))
  vpl = pm.VPL(n, latent=2, kl_weight=1.0)
  people = pm.by_person(pairs, train)
  params = pm.fit_vpl(vpl, people, jax.random.key(seed + 4), steps=3000, max_context=per).params
  ll = pm.vpl_predict(vpl, params, pm.by_person(ctx, test), pm.by_person(held, test))
  w = pm.by_person(held, test).weight
  out["vpl"] = -float(jnp.sum(w * ll) / jnp.sum(w))
  return out


# About a minute of fits on 2 cores: the acceptance check; pieces above run by default.
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["groups", "rank"])
def test_few_shot_recovers_the_true_model_and_beats_population_bt(kind):
  out = _fewshot(kind)
  for name in ("lore", "pal", "vpl"):
    assert out[name] <= out["truth"] + 0.02, out
    assert out[name] <= out["bt"] - 0.05, out


def test_micro_routes_by_the_prompt_and_personalizes_by_hedge():
  # Two opposed people; the prompt feature tells a comparison's person 75% of the time.
  s = 2.0 * jax.random.normal(jax.random.key(5), (8,))
  pairs = pm.sample_person_comparisons(jax.random.key(6), jnp.stack([s, -s]), per_person=200)
  flip = jax.random.bernoulli(jax.random.key(7), 0.25, (400,))
  sign = (2.0 * pairs.annotator - 1.0) * jnp.where(flip, -1.0, 1.0)
  pairs = pairs._replace(context=sign[:, None])
  model = pm.MiCRo(8, components=2, context_dim=1, entropy=0.0, l2=1e-3)
  params = pm.fit_micro(model, pairs, jax.random.key(8), max_steps=300).params
  context = pairs._replace(weight=((jnp.arange(400) % 200) < 20).astype(pairs.weight.dtype))
  scored = 1.0 - context.weight

  def score(ctx):  # mean log-likelihood of the rows that are not context
    ll = pm.micro_personal_log_likelihood(
      model, params, ctx, pairs, pairs.annotator, pairs.annotator, 2
    )
    return float(jnp.sum(ll * scored) / jnp.sum(scored))

  flat = pairs._replace(context=jnp.zeros((400, 0)))
  bt = pm.BradleyTerry(8, l2=1e-3)
  pooled = pm.log_likelihood(bt, pm.fit(bt, flat).params, flat)
  pooled = float(jnp.sum(pooled * scored) / jnp.sum(scored))
  routed = score(context._replace(weight=jnp.zeros(400)))  # the router alone
  assert routed > pooled + 0.05
  assert score(context) > routed + 0.05  # Hedge on 20 of the person's own comparisons
  alg1 = pm.micro_personal_log_likelihood(
    model, params, context, pairs, pairs.annotator, pairs.annotator, 2, iterations=30
  )  # the paper's Alg. 1: a router per person fine-tuned toward the Hedge targets
  assert float(jnp.sum(alg1 * scored) / jnp.sum(scored)) > routed + 0.05
  none = pm.micro_personal_log_likelihood(
    model, params, context._replace(weight=jnp.zeros(400)), pairs, pairs.annotator,
    pairs.annotator, 2, iterations=30,
  )  # fmt: skip
  assert float(jnp.sum(none * scored) / jnp.sum(scored)) == pytest.approx(routed, abs=1e-12)
  routers = pm.micro_adapt_routers(
    model, params, context, pairs.annotator, 2, iterations=3, learning_rate=0.5
  )
  mine = jax.tree.map(
    lambda x: x[context.weight > 0][pairs.annotator[context.weight > 0] == 1], pairs
  )
  router = {"router": params["router"], "bias": params["bias"]}
  loss = -pm.micro_component_log_likelihoods(model, params, mine)
  for _ in range(3):  # Alg. 1 by hand for person 1: cross-entropy to the Hedge targets
    targets = jax.nn.softmax(pm.micro_routing(model, router, mine) - loss, -1)
    grads = jax.grad(
      lambda r, t=targets: -jnp.mean(jnp.sum(t * pm.micro_routing(model, r, mine), -1))
    )(router)
    router = jax.tree.map(lambda p, g: p - 0.5 * g, router, grads)
  for k in router:
    np.testing.assert_allclose(routers[k][1], router[k], rtol=1e-10, atol=1e-12)
  with pytest.raises(ValueError, match="context"):
    pm.fit_micro(model, flat, jax.random.key(0))


def test_one_head_micro_is_plain_bt_and_every_model_gives_a_game():
  _, pairs = _data("groups", people=20)
  micro = pm.MiCRo(8, components=1, entropy=0.0, l2=1e-2)
  params = pm.fit_micro(micro, pairs, jax.random.key(0), tol=1e-10).params
  bt = pm.BradleyTerry(8, l2=1e-2)
  want = pm.log_likelihood(bt, pm.fit(bt, pairs).params, pairs)
  got = pm.micro_personal_log_likelihood(
    micro, params, pairs._replace(weight=jnp.zeros_like(pairs.weight)), pairs, pairs.annotator,
    pairs.annotator, 20,
  )  # fmt: skip
  np.testing.assert_allclose(got, want, atol=1e-6)
  vpl = pm.VPL(8, latent=2)
  lore = pm.LoRe(8, 20, rank=2)
  games = [
    pm.micro_preference_matrix(micro, params, jnp.zeros(1)),
    pm.vpl_preference_matrix(vpl, vpl.init(jax.random.key(1), jnp.float64), jnp.ones(2)),
    pm.personal_preference_matrix(lore, lore.init(jax.random.key(2), jnp.float64), jnp.ones(2)),
  ]
  for P in games:
    np.testing.assert_allclose(P + P.T, 1.0, atol=1e-12)


def test_agreement_margins_widen_the_gaps_the_judges_agree_on():
  # 9 judges per pair of 8 items; a majority label per pair loses how clear the preference was.
  s = jnp.linspace(-1.5, 1.5, 8)
  a, b = np.triu_indices(8, 1)
  p_true = np.asarray(jax.nn.sigmoid(s[a] - s[b]))
  votes = np.asarray(jax.random.bernoulli(jax.random.key(0), p_true, (9, len(a)))).astype(float)
  every = pm.make_pairs(np.tile(a, 9), np.tile(b, 9), votes.ravel())
  margins = np.asarray(pm.agreement_margins(every, scale=2.0))[: len(a)]  # one row per pair
  majority = (votes.mean(0) > 0.5).astype(float)
  agree = np.where(majority == 1, votes.mean(0), 1 - votes.mean(0))
  want = 2.0 * (2.0 * np.where(votes[0] == majority, agree, 1 - agree) - 1.0)
  np.testing.assert_allclose(margins, np.maximum(want, 0.0), atol=1e-12)
  rows = pm.make_pairs(a, b, majority)
  m = pm.agreement_margins(pm.make_pairs(np.tile(a, 9), np.tile(b, 9), np.tile(majority, 9)))
  assert np.all(np.asarray(m) == 1.0)  # unanimous rows: margin scale * 1
  bt = pm.BradleyTerry(8, l2=1e-2)
  plain = pm.fit(bt, rows).params["scores"]
  zero = pm.fit_with_margins(bt, rows, jnp.zeros(len(a)))["scores"]
  np.testing.assert_allclose(zero, plain, atol=1e-6)  # no margin: plain BT
  margins = jnp.asarray(2.0 * (2.0 * agree - 1.0))
  marg = pm.fit_with_margins(bt, rows, margins)["scores"]
  sign = 2.0 * majority - 1.0

  def gaps(scores):
    return sign * np.asarray(scores[a] - scores[b])  # the winner's reward minus the loser's

  clear = np.asarray(margins) > 1.0  # pairs the judges agree on widen more than the others
  widen = gaps(marg) - gaps(plain)
  assert widen[clear].mean() > widen[~clear].mean() > 0
  with pytest.raises(ValueError, match="plain BradleyTerry"):
    pm.fit_with_margins(pm.BradleyTerry(8, ties="davidson"), rows, jnp.zeros(len(a)))
  with pytest.raises(ValueError, match="scale must be >= 0"):
    pm.agreement_margins(rows, scale=-1.0)


@pytest.mark.parametrize("with_vpl", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fits_vmapped_over_seeds_equal_a_loop(with_vpl):
  _, pairs = _data("groups", people=6, per=6)
  vpl = pm.VPL(8, latent=2, hidden=8)
  people = pm.by_person(pairs, 6)
  micro = pm.MiCRo(8, components=2, l2=1e-2)
  pal = pm.PAL(8, 6, prototypes=2, dim=3)
  keys = jax.random.split(jax.random.key(4), 2)
  fits = {"pal": lambda k: pm.fit_personal(pal, pairs, k, max_steps=5).params}
  if with_vpl:  # VPL's scan and MiCRo compile for longer: behind -m slow
    fits["vpl"] = lambda k: pm.fit_vpl(vpl, people, k, steps=5, max_context=3).params
    fits["micro"] = lambda k: pm.fit_micro(micro, pairs, k, max_steps=5).params
  for fit in fits.values():
    both = jax.vmap(fit)(keys)
    for i, k in enumerate(keys):
      for a, b in zip(jax.tree.leaves(fit(k)), jax.tree.leaves(both), strict=True):
        np.testing.assert_allclose(a, b[i], rtol=1e-9, atol=1e-12)


def test_few_shot_masks_reveal_k_per_person_and_refuse_what_cannot_be_scored():
  annotator = np.repeat(np.arange(4), [6, 3, 8, 0])  # person 3 has no comparisons
  context, scored = pm.few_shot_masks(annotator, [0, 2], 2, jax.random.key(0), num_people=4)
  for person in (0, 2):
    rows = annotator == person
    assert int(np.sum(np.asarray(context)[rows])) == 2
    assert int(np.sum(np.asarray(scored)[rows])) == rows.sum() - 2
  assert not np.any(np.asarray(context | scored)[annotator == 1])  # not listed: in neither
  assert not np.any(np.asarray(context & scored))
  _, same = pm.few_shot_masks(annotator, [0, 2], 1, jax.random.key(0), num_people=4, score_after=2)
  np.testing.assert_array_equal(same, scored)  # the same scored rows for every k up to 2
  ranks = pm.person_ranks(annotator, 4, jax.random.key(0))
  for person in range(3):
    assert sorted(np.asarray(ranks)[annotator == person]) == list(
      range(np.sum(annotator == person))
    )
  key = jax.random.key(1)
  with pytest.raises(ValueError, match="person 3 has no comparisons"):
    pm.few_shot_masks(annotator, [0, 3], 2, key, num_people=4)
  with pytest.raises(ValueError, match="person 1 has 3 comparisons; revealing k=3"):
    pm.few_shot_masks(annotator, [1, 2], 3, key, num_people=4)  # k larger than person 1 has
  with pytest.raises(ValueError, match=r"people ids must lie in \[0, num_people=4\)"):
    pm.few_shot_masks(annotator, [0, 7], 1, key, num_people=4)  # an unknown person
  with pytest.raises(ValueError, match="0 <= k <= score_after"):
    pm.few_shot_masks(annotator, [0], 3, key, num_people=4, score_after=1)
