from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import losses

HP = SimpleNamespace(
  kl_coef=0.1,
  sppo_step_size=1.0,
  inpo_step_size=1 / 0.3,
  mixture=0.125,
  dno_step_size=1.0,
  gpo_step_size=0.5,
  nash_mp_step_size=2.0,
)
NLHF = ("dno", "gpo", "sppo_iterative", "apo", "nash_mp", "ipo_md", "active_dpo")
LISTS = ("list_pl_dpo", "list_lipo", "list_mpo", "list_pro", "pairs_dpo", "pairs_ipo")


def _pairs(seed=0, prompts=64, n=5):
  key = jax.random.key(seed)
  logp = jax.nn.log_softmax(jax.random.normal(key, (prompts, n)))
  # A flat draw reshaped: the same numbers as a [prompts, n, n] draw, a far smaller program.
  P = jax.nn.sigmoid(
    jax.random.normal(jax.random.key(1), (prompts * n * n,)).reshape(prompts, n, n)
  )
  P = 0.5 * (P + 1 - jnp.swapaxes(P, -1, -2))
  return logp, P


def test_registry_makes_the_experiment_mapping_explicit():
  o = losses.OBJECTIVES
  assert set(o) == {
    "online_dpo",
    "online_ipo",
    "online_ipo_uniform",
    "egpo",
    "nash_md_pg",
    "sppo",
    "inpo",
    "inpo_iterative",
    *LISTS,
    *NLHF,
  }
  assert (o["online_ipo"].loss, o["online_ipo"].sampling) == ("ipo", "policy_pairs")
  assert (o["egpo"].loss, o["egpo"].extragradient) == ("online_ipo", True)
  assert o["online_ipo_uniform"].loss == "online_ipo" and not o["online_ipo_uniform"].extragradient
  assert o["inpo"].ordered_pairs and dict(o["inpo"].hparams)["inpo_step_size"] == "step_size"
  settings = SimpleNamespace(sppo_samples=6, list_size=8)
  queries = {name: losses.objective_queries(obj, settings) for name, obj in o.items()}
  assert queries == {
    "online_dpo": 1,
    "online_ipo": 1,
    "online_ipo_uniform": 2,
    "egpo": 4,
    "nash_md_pg": 1,
    "sppo": 6,
    "inpo": 1,
    "inpo_iterative": 1,
    **dict.fromkeys(LISTS, 4),  # K/2 labels' worth for a list of K = 8
    "dno": 12,  # K labels for each of y and y'
    "gpo": 6,
    "sppo_iterative": 6,
    "apo": 6,
    "nash_mp": 2,
    "ipo_md": 1,
    "active_dpo": 1,
  }
  assert o["apo"].extrapolate and o["nash_mp"].mirror_prox
  assert all(o[name].iterative for name in ("dno", "gpo", "sppo_iterative", "apo", "nash_mp"))
  for obj in o.values():
    assert obj.sampling in losses.SAMPLINGS and obj.loss in losses.LOSSES


def _distinct_mappings():
  """One objective per (sampling, loss, hyperparameters, ordering): the rest map identically."""
  seen = {}
  for name in sorted(losses.OBJECTIVES):
    o = losses.OBJECTIVES[name]
    seen.setdefault((o.sampling, o.loss, tuple(o.hparams.items()), o.ordered_pairs), name)
  return sorted(seen.values())


@pytest.mark.parametrize("name", _distinct_mappings())
def test_objective_loss_is_its_registered_loss_with_the_mapped_keywords(name):
  obj = losses.get_objective(name)
  logp, P = _pairs()
  ex = losses.bandit_examples(obj.sampling, jax.random.key(2), logp, P, mixture=0.1, samples=3)
  got = jax.vmap(losses.objective_loss(obj, HP))(ex)
  kwargs = {kw: getattr(HP, field) for field, kw in obj.hparams.items()}
  if obj.ordered_pairs:
    ex = losses.order_pairs(ex)
  fn = lambda e: losses.get_loss(obj.loss)(e, **kwargs)[0]  # noqa: E731
  if obj.sampling == "policy_list_pairs":  # The K/2 pairs of a list are summed.
    fn = lambda e, f=fn: jnp.sum(jax.vmap(f)(e))  # noqa: E731
  want = jax.vmap(fn)(ex)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_inpo_orders_pairs_as_winner_then_loser():
  logp, P = _pairs()
  ex = losses.bandit_examples("policy_pairs", jax.random.key(3), logp, P)
  assert 0 < float(jnp.mean(ex.pref)) < 1
  won = losses.order_pairs(ex)
  lost = ex.pref < 0.5
  np.testing.assert_array_equal(won.logp, jnp.where(lost, ex.logp2, ex.logp))
  np.testing.assert_array_equal(won.anchor2, jnp.where(lost, ex.anchor, ex.anchor2))
  np.testing.assert_array_equal(won.pref, jnp.ones_like(ex.pref))
  # The loss of a pair does not depend on the order it was sampled in.
  swapped = ex._replace(
    logp=ex.logp2, logp2=ex.logp, anchor=ex.anchor2, anchor2=ex.anchor, pref=1 - ex.pref
  )
  fn = jax.vmap(losses.objective_loss(losses.get_objective("inpo"), HP))
  np.testing.assert_allclose(fn(ex), fn(swapped), rtol=1e-6)


@pytest.mark.parametrize("sampling", losses.SAMPLINGS[:4])
def test_bandit_examples_read_the_sampled_entries(sampling):
  logp, P = _pairs(prompts=4096, n=3)
  ex = losses.bandit_examples(sampling, jax.random.key(4), logp, P, mixture=0.5, samples=4)
  assert ex.logp.shape == (4096,)
  assert jnp.all(jnp.isin(ex.logp, logp))
  assert ex.ref_logp is None or jnp.allclose(ex.ref_logp, -jnp.log(3.0))
  labels = ex.pref if ex.pref is not None else ex.win
  assert jnp.all((labels >= 0) & (labels <= 1))
  # policy_pairs: the label frequency matches the oracle (4096 prompts, 3-sigma band).
  if sampling == "policy_pairs":
    y = jnp.argmax(logp == ex.logp[:, None], axis=-1)
    y2 = jnp.argmax(logp == ex.logp2[:, None], axis=-1)
    p = P[jnp.arange(4096), y, y2]
    assert abs(float(jnp.mean(ex.pref - p))) < 3 * 0.5 / np.sqrt(4096)


def test_list_samplers_rank_by_the_oracle():
  """Grades are a permutation; the rankings' and the pairs' marginals are the BT oracle's."""
  prompts, n, K = 8192, 3, 4
  s = jnp.array([1.0, 0.0, -0.5])
  P = jnp.broadcast_to(jax.nn.sigmoid(s[:, None] - s[None, :]), (prompts, n, n))
  logp = jnp.broadcast_to(jnp.log(jnp.array([0.5, 0.3, 0.2])), (prompts, n))
  key = jax.random.key(7)
  lists = losses.bandit_examples("policy_lists", key, logp, P, list_size=K)
  assert lists.logp.shape == lists.score.shape == (prompts, K)
  np.testing.assert_array_equal(
    jnp.sort(lists.score, -1), jnp.broadcast_to(jnp.arange(K), (prompts, K))
  )
  pairs = losses.bandit_examples("policy_list_pairs", key, logp, P, list_size=K)
  assert pairs.logp.shape == pairs.pref.shape == (prompts, K // 2)
  # The same draws: the pairs are the list's columns (0, 1) and (2, 3), labelled by its ranking.
  np.testing.assert_array_equal(pairs.logp, lists.logp[:, ::2])
  np.testing.assert_array_equal(pairs.pref, (lists.score[:, ::2] > lists.score[:, 1::2]))
  # Response 0 against response 1: the pair label frequency is P[0, 1] (3-sigma band).
  y = jnp.argmax(lists.logp[..., None] == logp[:, None, :], axis=-1)
  mask = (y[:, 0] == 0) & (y[:, 1] == 1)
  freq = jnp.sum(jnp.where(mask, pairs.pref[:, 0], 0.0)) / jnp.sum(mask)
  assert abs(float(freq) - float(P[0, 0, 1])) < 3 * 0.5 / np.sqrt(float(jnp.sum(mask)))
  # Top-1 of a list is a Plackett-Luce choice: P(best = 0 | the list holds 0, 1, 2 once each).
  top = jnp.take_along_axis(y, jnp.argmax(lists.score, -1)[:, None], -1)[:, 0]
  distinct = jnp.all(jnp.sort(y[:, :3], -1) == jnp.arange(3), -1) & (y[:, 3] == 0)
  # With item 0 twice in the list: P(best = 0) = 2 e^1 / (2 e^1 + e^0 + e^-0.5).
  e = np.exp(np.asarray(s))
  want = 2 * e[0] / (2 * e[0] + e[1] + e[2])
  got = jnp.sum(distinct & (top == 0)) / jnp.sum(distinct)
  assert abs(float(got) - want) < 3 * np.sqrt(want * (1 - want) / float(jnp.sum(distinct)))
  with pytest.raises(ValueError, match="list_size must be even"):
    losses.bandit_examples("policy_lists", key, logp, P, list_size=3)


def test_gradients_flow_to_the_policy_only():
  logp, P = _pairs()
  obj = losses.get_objective("online_dpo")

  def total(logp):
    ex = losses.bandit_examples(obj.sampling, jax.random.key(5), logp, P)
    return jnp.sum(jax.vmap(losses.objective_loss(obj, HP))(ex))

  g = jax.grad(total)(logp)
  assert g.shape == logp.shape and jnp.all(jnp.isfinite(g)) and jnp.any(g != 0)
  assert int(jnp.sum(jnp.any(g != 0, axis=-1))) <= 64  # at most the sampled rows


def test_register_a_user_loss_and_objective(registries):
  def hinge(example, *, kl_coef):
    h = (example.logp - example.ref_logp) - (example.logp2 - example.ref_logp2)
    return jax.nn.relu(1.0 - (2 * example.pref - 1) * h / kl_coef), {}

  with pytest.raises(ValueError, match="Unknown loss 'hinge'"):
    losses.register_objective("hinge", losses.Objective("policy_pairs", 1, "hinge"))
  losses.register("hinge", hinge)
  obj = losses.Objective("policy_pairs", 1, "hinge", {"kl_coef": "kl_coef"})
  losses.register_objective("hinge", obj)
  assert losses.get_objective("hinge") is obj
  logp, P = _pairs()
  ex = losses.bandit_examples("policy_pairs", jax.random.key(6), logp, P)
  assert jax.vmap(losses.objective_loss(obj, HP))(ex).shape == (64,)
  with pytest.raises(ValueError, match="already registered"):
    losses.register_objective("hinge", obj)
  with pytest.raises(ValueError, match="sampling 'pairs'"):
    losses.register_objective("bad", obj._replace(sampling="pairs"))
  with pytest.raises(ValueError, match=r"Unknown objective 'nope'; known: .*egpo"):
    losses.get_objective("nope")


def test_temperature_tempers_the_draws_not_the_loss():
  logp, P = _pairs(prompts=4096, n=3)
  key = jax.random.key(6)
  plain = losses.bandit_examples("policy_pairs", key, logp, P)
  one = losses.bandit_examples("policy_pairs", key, logp, P, temperature=jnp.float32(1.0))
  jax.tree.map(np.testing.assert_array_equal, plain, one)  # exactly the default at 1
  cold = losses.bandit_examples("policy_pairs", key, logp, P, temperature=0.0)
  np.testing.assert_array_equal(cold.logp, jnp.max(logp, -1))  # near-greedy draws
  hot = losses.bandit_examples("policy_pairs", key, logp, P, temperature=1e6)
  y = jnp.argmax(logp == hot.logp[:, None], axis=-1)  # near-uniform draws
  np.testing.assert_allclose(np.bincount(np.asarray(y), minlength=3) / 4096, 1 / 3, atol=0.03)


def test_check_online_hparams_names_the_field_and_the_rule():
  good = losses.OnlineHparams(1e-3, 0.1, 0.5, 1.0, 3.0, 1.0)
  losses.check_online_hparams(good)
  losses.check_online_hparams(good._replace(temperature=0.0, mixture=np.array([0.0, 1.0])))
  cases = [
    (good._replace(kl_coef=0.0), r"kl_coef must be > 0; got 0"),
    (good._replace(learning_rate=np.array([1e-3, -1.0])), r"learning_rate must be > 0; got -1"),
    (good._replace(mixture=1.5), r"mixture must be in \[0, 1\]"),
    (good._replace(temperature=-0.5), r"temperature must be >= 0"),
    (good._replace(sppo_step_size=np.inf), r"sppo_step_size must be finite; got inf"),
    (good._replace(momentum=1.0), r"momentum must be in \[0, 1\); got 1"),
    (good._replace(momentum=-0.1), r"momentum must be in \[0, 1\); got -0.1"),
    (good._replace(nash_mp_step_size=0.0), r"nash_mp_step_size must be > 0"),
  ]
  for hp, message in cases:
    with pytest.raises(ValueError, match=message):
      losses.check_online_hparams(hp)
  with pytest.raises(ValueError, match=r"config\.kl_coef must be > 0"):
    losses.check_online_hparams(good._replace(kl_coef=-1.0), name="config.{}")


def test_objective_step_is_a_gradient_step_or_the_extragradient_step():
  import optax

  logp0, P = _pairs(prompts=8, n=4)
  tx = optax.sgd(0.1)

  def loss_fn(params, opponent):
    ex = losses.bandit_examples("uniform_vs_policy", jax.random.key(0), params, P,
                                opponent=jax.lax.stop_gradient(opponent))  # fmt: skip
    return jnp.mean(jax.vmap(lambda e: losses.online_ipo(e, kl_coef=0.1)[0])(ex))

  plain = losses.objective_step(
    losses.get_objective("online_ipo_uniform"), loss_fn, tx, logp0, tx.init(logp0)
  )
  want = logp0 - 0.1 * jax.grad(loss_fn)(logp0, logp0)
  np.testing.assert_allclose(plain.params, want, rtol=1e-6)
  eg = losses.objective_step(losses.get_objective("egpo"), loss_fn, tx, logp0, tx.init(logp0))
  ref = losses.extragradient_step(loss_fn, tx, logp0, tx.init(logp0))
  np.testing.assert_array_equal(eg.params, ref.params)
  np.testing.assert_array_equal(eg.aux, ref.extrapolated)


def test_an_anchor_draws_the_responses_and_fills_the_anchor_fields():
  logp = jnp.log(jnp.full((3, 4), 0.25))
  anchor = jnp.log(jnp.array([[1e-12, 1.0, 1e-12, 1e-12]] * 3))  # pi_t: response 1
  P = jnp.full((3, 4, 4), 0.5)
  ex = losses.bandit_examples("policy_pairs", jax.random.key(0), logp, P, anchor=anchor)
  np.testing.assert_allclose(ex.anchor, anchor[:, 1])
  np.testing.assert_allclose(ex.anchor2, anchor[:, 1])
  np.testing.assert_allclose(ex.logp, logp[:, 1])  # the policy's log-probabilities, at y = 1
  assert losses.get_objective("inpo_iterative").iterative
  assert not losses.get_objective("inpo").iterative


def _drawn(values, logp):
  """The response index of each prompt's sampled log-probability."""
  return jnp.argmax(logp == values[:, None], axis=-1)


def test_win_rate_score_and_mixture_samplers_estimate_their_targets():
  prompts, n = 4096, 3
  s = jnp.array([1.0, 0.0, -0.5])
  P = jnp.broadcast_to(jax.nn.sigmoid(s[:, None] - s[None, :]), (prompts, n, n))
  pi = jnp.array([0.5, 0.3, 0.2])
  logp = jnp.broadcast_to(jnp.log(pi), (prompts, n))
  key = jax.random.key(11)
  # DNO: win and win2 estimate r_t(y) = P(y > pi_t) for both responses (K = 4 opponents).
  ex = losses.bandit_examples("pair_win_rates", key, logp, P, samples=4)
  r = P[0] @ pi
  for values, wins in ((ex.logp, ex.win), (ex.logp2, ex.win2)):
    err = wins - r[_drawn(values, logp)]
    assert abs(float(jnp.mean(err))) < 3 * 0.25 / np.sqrt(prompts)
  # GPO: the score is the GPM logit s(y) - s(o) averaged over opponents: mean s(y) - E_pi s.
  ex = losses.bandit_examples("policy_scores", key, logp, P, samples=4)
  want = s[_drawn(ex.logp, logp)] - pi @ s
  assert abs(float(jnp.mean(ex.score - want))) < 0.03
  # IPO-MD: both responses from the geometric mixture pi^(1 - lambda) u^lambda.
  ex = losses.bandit_examples("mixture_pairs", key, logp, P, mixture=0.5)
  mix = jax.nn.softmax(0.5 * jnp.log(pi))
  for values in (ex.logp, ex.logp2):
    freq = jnp.bincount(_drawn(values, logp), length=n) / prompts
    np.testing.assert_allclose(freq, mix, atol=3 * 0.5 / np.sqrt(prompts))


def test_nash_mp_pairs_are_labelled_against_the_opponent():
  prompts, n = 4096, 3
  P = jnp.broadcast_to(
    jnp.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.6], [0.8, 0.4, 0.5]]), (prompts, n, n)
  )
  logp = jnp.broadcast_to(jnp.log(jnp.array([0.5, 0.3, 0.2])), (prompts, n))
  mu = jnp.log(jnp.broadcast_to(jnp.array([1e-9, 1e-9, 1.0]), (prompts, n)))  # always response 2
  ex = losses.bandit_examples("pairs_vs_opponent", jax.random.key(12), logp, P, opponent=mu)
  for values, wins in ((ex.logp, ex.win), (ex.logp2, ex.win2)):
    err = wins - P[0][_drawn(values, logp), 2]
    assert abs(float(jnp.mean(err))) < 3 * 0.5 / np.sqrt(prompts)


def test_uncertain_pairs_label_the_pair_closest_to_a_tie():
  prompts = 1024
  logp = jnp.broadcast_to(jnp.log(jnp.array([0.5, 0.3, 0.2])), (prompts, 3))
  P = jnp.full((prompts, 3, 3), 0.5)
  key = jax.random.key(13)
  # Of the distinct pairs {1, 2} has the smallest margin |log .3 - log .2|; among 64 candidates
  # some pair is {1, 2} except with probability 0.88^64 < 1e-3.
  ex = losses.bandit_examples("uncertain_pairs", key, logp, P, candidates=64)
  chosen = jnp.sort(jnp.stack([_drawn(ex.logp, logp), _drawn(ex.logp2, logp)]), axis=0)
  assert float(jnp.mean((chosen[0] == 1) & (chosen[1] == 2))) > 0.99
  # One candidate: the policy's own pair (self-duels included).
  one = losses.bandit_examples("uncertain_pairs", key, logp, P, candidates=1)
  assert 0.2 < float(jnp.mean(one.logp == one.logp2)) < 0.5  # 0.25 + 0.09 + 0.04 = 0.38
  with pytest.raises(ValueError, match="candidates must be >= 1"):
    losses.bandit_examples("uncertain_pairs", key, logp, P, candidates=0)


def test_rounds_flags_need_an_iterative_objective(registries):
  with pytest.raises(ValueError, match="need iterative=True"):
    losses.register_objective("bad", losses.Objective("policy_pairs", 1, "dpo", extrapolate=True))
