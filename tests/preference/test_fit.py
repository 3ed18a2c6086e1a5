import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from jaxpref import data, equilibria, games
from jaxpref import preference as pm


@pytest.fixture(scope="module")
def llmfao():
  return data.load_llmfao()


@pytest.fixture(scope="module")
def football(shared_data):
  return data.load_comparisons(
    shared_data / "paircomp" / "football.csv", item_a="home", item_b="away", annotator="season"
  )


def _choix_scores(table, alpha):
  """choix's MAP scores; a tie is one win each way (choix has no ties)."""
  choix = pytest.importorskip("choix")
  wins = []
  for a, b, y in zip(table.item_a, table.item_b, table.outcome, strict=True):
    if y == 1.0:
      wins.append((a, b))
    elif y == 0.0:
      wins.append((b, a))
    else:
      wins += [(a, b), (b, a)]
  return choix.opt_pairwise(table.num_items, wins, alpha=alpha, tol=1e-12)


@pytest.mark.parametrize("name", ["llmfao", "football"])
@pytest.mark.parametrize(
  "alpha",
  [1e-6, pytest.param(0.1, marks=pytest.mark.slow)],  # 1e-6: the MLE, the harder case
)
def test_bt_matches_choix(name, alpha, request):
  table = request.getfixturevalue(name)
  want = _choix_scores(table, alpha)
  # choix's objective alpha * |s|^2 + sum softplus(s_l - s_w) is ours with l2 = alpha and each tie
  # as one win each way, i.e. outcome 1/2 with weight 2.
  pairs = pm.pairs_from_table(table)
  pairs = pairs._replace(weight=jnp.where(pairs.outcome == 0.5, 2.0, 1.0))
  result = pm.fit(pm.BradleyTerry(table.num_items, l2=alpha), pairs)
  assert bool(result.converged)
  np.testing.assert_allclose(result.params["scores"], want, atol=1e-5)
  assert np.max(np.abs(result.params["scores"] - want)) < 1e-7  # the measured agreement


def test_scores_are_centred_with_and_without_prior(llmfao):
  pairs = pm.pairs_from_table(llmfao)
  for l2 in (0.0, 1e-3):
    scores = pm.fit(pm.BradleyTerry(llmfao.num_items, l2=l2), pairs).params["scores"]
    assert abs(float(jnp.sum(scores))) < 1e-10
  model = pm.BradleyTerry(llmfao.num_items)
  params = pm.fit(model, pairs).params
  shifted = {"scores": params["scores"] + 3.0}
  np.testing.assert_allclose(
    pm.log_likelihood(model, shifted, pairs), pm.log_likelihood(model, params, pairs), atol=1e-12
  )


def test_ties_and_home_advantage_on_football(football):
  pairs = pm.pairs_from_table(football)
  n = football.num_items
  plain = pm.fit(pm.BradleyTerry(n, advantage=True, l2=0.01), pairs)
  assert 0.2 < float(plain.params["advantage"]) < 0.6  # home teams win 46%, lose 27%
  for ties in ("davidson", "rao_kupper"):
    model = pm.BradleyTerry(n, ties=ties, advantage=True, l2=0.01)
    result = pm.fit(model, pairs)
    assert bool(result.converged)
    probs = pm.outcome_probabilities(model, result.params, pairs)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)
    # The fitted draw rate matches the observed 26.6% (a property of the MLE of the tie parameter
    # in Davidson's model, close to it in Rao-Kupper's).
    np.testing.assert_allclose(probs[:, 1].mean(), np.mean(football.outcome == 0.5), atol=0.01)
    assert float(result.params["advantage"]) > 0
  # A tie model scores ties; BT without one cannot: it spends probability on wins and losses.
  davidson = pm.BradleyTerry(n, ties="davidson", advantage=True, l2=0.01)
  fitted = pm.fit(davidson, pairs).params
  assert float(pm.log_likelihood(davidson, fitted, pairs).sum()) < 0


def test_item_features_reproduce_free_scores(football):
  pairs = pm.pairs_from_table(football)
  n = football.num_items
  free = pm.fit(pm.BradleyTerry(n, l2=0.05), pairs).params["scores"]
  feats = pm.BradleyTerry(n, l2=0.05, item_features=jnp.eye(n), free_scores=False)
  beta = pm.fit(feats, pairs).params["beta"]
  np.testing.assert_allclose(beta - beta.mean(), free, atol=1e-7)


def test_context_slopes_recover_a_covariate_effect():
  # Item 0's strength rises with the context, item 1's is flat: gamma[0] - gamma[1] ~ 1.5.
  key = jax.random.key(0)
  k_c, k_y = jax.random.split(key)
  c = jax.random.normal(k_c, (20000, 1))
  logit = 1.5 * c[:, 0]
  y = jax.random.bernoulli(k_y, jax.nn.sigmoid(logit)).astype(jnp.float64)
  pairs = pm.make_pairs(jnp.zeros(20000, int), jnp.ones(20000, int), y, context=c)
  model = pm.BradleyTerry(2, context_dim=1, l2=1e-6)
  gamma = pm.fit(model, pairs).params["gamma"]
  np.testing.assert_allclose(gamma[0, 0] - gamma[1, 0], 1.5, atol=0.08)


def test_preference_matrix_feeds_the_solvers(football):
  model = pm.BradleyTerry(football.num_items, ties="davidson", advantage=True, l2=0.01)
  params = pm.fit(model, pm.pairs_from_table(football)).params
  P = pm.preference_matrix(model, params)
  games.validate_preference_matrix(P, atol=1e-14)
  np.testing.assert_allclose(jnp.diag(P), 0.5)
  # BT games are transitive: the strongest team is the Condorcet winner (lottery mass 1).
  x = equilibria.maximal_lottery(P)
  assert x[int(jnp.argmax(params["scores"]))] == pytest.approx(1.0)
  # The home advantage is a property of the venue, not of the teams: it is left out of P.
  no_home = pm.preference_matrix(model.replace(advantage=False), params)
  np.testing.assert_allclose(P, no_home)


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_jit_and_vmap_over_seeds_and_l2():
  model, truth = pm.cyclic_gpm(jax.random.key(1), 6, dim=2)
  pairs = pm.sample_comparisons(
    jax.random.key(2), pm.preference_matrix(model, truth), per_annotator=600
  )
  gpm = pm.GeneralPreference(6, dim=2, l2=0.01)
  keys = jax.random.split(jax.random.key(3), 3)
  batched = jax.jit(jax.vmap(lambda k: pm.fit(gpm, pairs, k)))(keys)
  for i, k in enumerate(keys):
    one = pm.fit(gpm, pairs, k)
    np.testing.assert_allclose(batched.params["embed"][i], one.params["embed"], atol=1e-9)
  l2s = jnp.asarray([1e-4, 1e-2, 1.0])
  bt = jax.vmap(lambda l2: pm.fit(pm.BradleyTerry(6, l2=l2), pairs).params["scores"])(l2s)
  for i, l2 in enumerate(l2s):
    one = pm.fit(pm.BradleyTerry(6, l2=float(l2)), pairs).params["scores"]
    np.testing.assert_allclose(bt[i], one, atol=1e-9)
  assert float(jnp.abs(bt[2]).max()) < float(jnp.abs(bt[0]).max())  # the prior shrinks


# --- Per-comparison advantage indicator, against an independent numpy / scipy fit -----------------

VENUE_ITEMS, VENUE_ROWS, VENUE_HOME, VENUE_L2 = 8, 360, 0.6, 0.05


@pytest.fixture(scope="module")
def venues():
  """360 games of 8 teams from known strengths: a third at item_a's ground, a third at item_b's,
  a third on neutral ground; outcomes from Davidson's model, so about a fifth are draws."""
  rng = np.random.default_rng(0)
  strength = rng.normal(size=VENUE_ITEMS)
  a = rng.integers(0, VENUE_ITEMS, VENUE_ROWS)
  b = (a + rng.integers(1, VENUE_ITEMS, VENUE_ROWS)) % VENUE_ITEMS
  side = np.tile([1, -1, 0], VENUE_ROWS // 3)
  d = strength[a] - strength[b] + side * VENUE_HOME
  u = np.stack([d / 2, np.full_like(d, np.log(0.6)), -d / 2], 1)
  p = np.exp(u - np.logaddexp.reduce(u, axis=1, keepdims=True))
  outcome = np.array([1.0, 0.5, 0.0])[[rng.choice(3, p=row) for row in p]]
  return data.Comparisons(
    item_a=a,
    item_b=b,
    outcome=outcome,
    items=tuple(f"team{i}" for i in range(VENUE_ITEMS)),
    prompt=np.zeros(VENUE_ROWS, np.int64),
    annotator=np.full(VENUE_ROWS, -1),
    advantage=side,
  )


def _reference_fit(table, ties, l2):
  """Independent MAP fit in numpy float64 by scipy's Newton-CG with the exact Hessian.

  Parameters ``x = (theta [n], h[, t])``. Each row's categories have logits ``u = J x`` and
  log-likelihood ``w . u - logsumexp(u)``: BT (ties half a win each) is ``u = (d, 0)``,
  ``w = (y, 1 - y)``; Davidson is ``u = (d / 2, t, -d / 2)`` with ``w`` the (win, tie, loss) weights
  of ``y``; ``d = theta_a - theta_b + z h``. The objective adds ``l2 |theta|^2``; theta is centred.
  """
  n, k = table.num_items, table.num_comparisons
  y = table.outcome
  x_d = np.zeros((k, n + 2))
  x_d[np.arange(k), table.item_a] = 1.0
  x_d[np.arange(k), table.item_b] -= 1.0
  x_d[:, n] = table.advantage
  if ties is None:
    jac = np.stack([x_d, np.zeros_like(x_d)], 1)  # [K, 2, p]
    w = np.stack([y, 1 - y], 1)
  else:
    tie = np.zeros_like(x_d)
    tie[:, n + 1] = 1.0
    jac = np.stack([x_d / 2, tie, -x_d / 2], 1)  # [K, 3, p]
    w = np.stack([np.maximum(2 * y - 1, 0), 1 - np.abs(2 * y - 1), np.maximum(1 - 2 * y, 0)], 1)
  p_dim = n + 1 if ties is None else n + 2
  jac = jac[:, :, :p_dim]
  prior = np.zeros(p_dim)
  prior[:n] = l2

  def terms(x):
    u = jac @ x
    lse = np.logaddexp.reduce(u, axis=1)
    return u, lse, np.exp(u - lse[:, None])

  def fun(x):
    u, lse, prob = terms(x)
    ll = np.sum(w * u, 1) - lse
    grad = -np.einsum("kc,kcp->p", w - prob, jac) + 2 * prior * x
    return -ll.sum() + np.sum(prior * x**2), grad

  def hess(x):
    _, _, prob = terms(x)
    cov = prob[:, :, None] * np.eye(prob.shape[1]) - prob[:, :, None] * prob[:, None, :]
    return np.einsum("kcp,kce,keq->pq", jac, cov, jac) + np.diag(2 * prior)

  res = scipy.optimize.minimize(
    lambda x: fun(x)[0],
    np.zeros(p_dim),
    jac=lambda x: fun(x)[1],
    hess=hess,
    method="Newton-CG",
    options={"xtol": 1e-14, "maxiter": 200},
  )
  assert np.linalg.norm(fun(res.x)[1]) < 1e-7  # measured 3e-9
  u, lse, _ = terms(res.x)
  log_lik = float(np.sum(np.sum(w * u, 1) - lse))
  params = {"scores": res.x[:n] - res.x[:n].mean(), "advantage": res.x[n]}
  if ties is not None:
    params["tie"] = res.x[n + 1]
  return params, log_lik


@pytest.mark.parametrize("ties", [None, "davidson"])
def test_advantage_indicator_matches_an_independent_fit(venues, ties):
  want, want_ll = _reference_fit(venues, ties, VENUE_L2)
  model = pm.BradleyTerry(VENUE_ITEMS, ties=ties, advantage=True, l2=VENUE_L2)
  pairs = pm.pairs_from_table(venues)
  np.testing.assert_array_equal(pairs.advantage, venues.advantage)
  result = pm.fit(model, pairs)
  assert bool(result.converged)
  got_ll = float(pm.log_likelihood(model, result.params, pairs).sum())
  errors = {name: float(np.max(np.abs(result.params[name] - want[name]))) for name in want}
  assert max(errors.values()) < 1e-6, errors  # measured 1.9e-10 (BT), 2.7e-10 (Davidson)
  assert abs(got_ll - want_ll) < 1e-6  # measured 5e-12 (BT), 6e-11 (Davidson)
  assert (
    0.3 < float(result.params["advantage"]) < 1.2
  )  # true 0.6; fitted 0.66 (BT), 0.91 (Davidson)
  # The constant advantage of the first-listed item (the old model) is a different, worse fit.
  constant = pm.fit(model, pairs._replace(advantage=jnp.ones_like(pairs.advantage)))
  assert float(constant.objective) > float(result.objective) + 5.0  # measured +10.2, +14.0


def test_advantage_indicator_sign_follows_the_side(venues):
  # Listing every game the other way round (swap the items, the score and the side) is the same
  # data: every row's log-likelihood is unchanged.
  model = pm.BradleyTerry(VENUE_ITEMS, ties="rao_kupper", advantage=True, l2=VENUE_L2)
  pairs = pm.pairs_from_table(venues)
  params = pm.fit(model, pairs).params
  flipped = pairs._replace(
    item_a=pairs.item_b,
    item_b=pairs.item_a,
    outcome=1.0 - pairs.outcome,
    advantage=-pairs.advantage,
  )
  np.testing.assert_allclose(
    pm.log_likelihood(model, params, flipped), pm.log_likelihood(model, params, pairs), atol=1e-13
  )
  # On neutral ground only, the advantage has no gradient and stays at 0.
  neutral = pairs._replace(advantage=jnp.zeros_like(pairs.advantage))
  assert float(pm.fit(model, neutral).params["advantage"]) == 0.0


def test_default_indicator_is_the_first_listed_item(football):
  # Without a recorded side every row gets +1: the fit of a table without the column is the fit
  # with an explicit column of ones, value for value, for BT and GPM.
  table = football._replace(advantage=None)
  implicit = pm.pairs_from_table(table)
  explicit = pm.pairs_from_table(football._replace(advantage=np.ones(football.num_comparisons)))
  np.testing.assert_array_equal(implicit.advantage, 1.0)
  for model, key in (
    (pm.BradleyTerry(football.num_items, advantage=True, l2=0.01), None),
    (pm.GeneralPreference(football.num_items, advantage=True, l2=0.1), jax.random.key(0)),
  ):
    a, b = pm.fit(model, implicit, key), pm.fit(model, explicit, key)
    for name in a.params:
      np.testing.assert_array_equal(a.params[name], b.params[name])
