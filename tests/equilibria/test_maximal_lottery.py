import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from jaxpref import games
from jaxpref.equilibria import maximal_lottery

CANONICAL = games.canonical_games()


def _gap(P, x):
  return float(np.max(P @ x) - np.min(x @ P))


def _random_games(seed, n, batch):
  return np.asarray(games.uniform_random_game(jax.random.key(seed), n, (batch,)))


def _independent_lp(P):
  """The textbook max-v LP, max v s.t. P^T x >= v, x in the simplex, by HiGHS called directly
  (highspy) where installed, else through scipy. Shares no code with jaxpref."""
  n = P.shape[0]
  try:
    import highspy
  except ImportError:
    highspy = None
  if highspy is None:
    res = scipy.optimize.linprog(
      np.r_[np.zeros(n), -1.0],
      A_ub=np.c_[-P.T, np.ones(n)],
      b_ub=np.zeros(n),
      A_eq=np.r_[np.ones(n), 0.0][None],
      b_eq=[1.0],
      bounds=[(0, None)] * n + [(None, None)],
      method="highs",
    )
    return res.x[:n], -res.fun
  h = highspy.Highs()
  h.setOptionValue("output_flag", False)
  inf = highspy.kHighsInf
  for _ in range(n):
    h.addVar(0.0, inf)
  h.addVar(-inf, inf)
  h.changeColCost(n, -1.0)
  for j in range(n):  # v - sum_i x_i P[i, j] <= 0
    h.addRow(-inf, 0.0, n + 1, np.arange(n + 1, dtype=np.int32), np.r_[-P[:, j], 1.0])
  h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))
  h.run()
  sol = np.array(h.getSolution().col_value)
  return sol[:n], sol[n]


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_canonical_games(name):
  P, expected, _ = CANONICAL[name]
  x = maximal_lottery(P)
  assert isinstance(x, np.ndarray) and x.dtype == np.float64
  np.testing.assert_allclose(x, expected, atol=1e-9)
  assert _gap(P, x) <= 1e-9
  assert np.all(x >= 0) and abs(x.sum() - 1) < 1e-12


@pytest.mark.parametrize("n", [3, 10, 50])
def test_random_games_against_independent_lp(n):
  P = _random_games(n, n, 200)
  X = maximal_lottery(P)
  for p, x in zip(P, X, strict=True):
    y, value = _independent_lp(p)
    assert _gap(p, x) <= 1e-9
    assert abs(np.min(x @ p) - value) <= 1e-9  # same game value (1/2)
    assert abs(value - 0.5) <= 1e-9
    np.testing.assert_allclose(x, y, atol=1e-6)  # the equilibrium is unique for these games


def test_n200_certified():
  P = _random_games(0, 200, 2)
  for p, x in zip(P, maximal_lottery(P), strict=True):
    assert _gap(p, x) <= 1e-9


def test_clones_share_mass_equally():
  rng = np.random.default_rng(0)
  for trial in range(60):
    n = int(rng.integers(3, 9))
    P = _random_games(trial, n, 1)[0]
    x = maximal_lottery(P)
    copies = rng.integers(1, 4, size=n)
    idx = np.repeat(np.arange(n), copies)
    xq = maximal_lottery(P[np.ix_(idx, idx)])
    np.testing.assert_allclose(xq, (x / copies)[idx], atol=1e-9)


def _kkt_certificate(P, x):
  """Independent optimality check of max H(x) over {x in simplex : P x <= 1/2}.

  (1) no zero-mass item is played by any equilibrium (an LP per item);
  (2) on the support, grad H = -log x - 1 is a nonnegative combination of active constraint
      normals plus a multiple of 1 (non-negative least squares residual ~ 0).
  """
  n = P.shape[0]
  for i in np.flatnonzero(x == 0):
    res = scipy.optimize.linprog(
      -np.eye(n)[i],
      A_ub=P,
      b_ub=np.full(n, 0.5),
      A_eq=np.ones((1, n)),
      b_eq=[1.0],
      bounds=(0, None),
      method="highs",
    )
    assert -res.fun <= 1e-9, f"item {i} has mass {-res.fun} in some equilibrium"
  S = x > 0
  active = np.abs(P @ x - 0.5) <= 1e-10
  grad = -np.log(x[S]) - 1.0
  cols = np.c_[P[np.ix_(active, S)].T, np.ones(S.sum()), -np.ones(S.sum())]
  _, residual = scipy.optimize.nnls(cols, grad)
  return residual


def test_max_entropy_selection_on_degenerate_games():
  """Ternary games with many exact ties have large equilibrium sets; certify max entropy."""
  rng = np.random.default_rng(1)
  for _ in range(150):
    n = int(rng.integers(3, 7))
    vals = rng.choice([0.5, 0.5, 0.5, 0.6, 0.4, 0.8, 0.2], size=(n, n))
    P = np.triu(vals, 1)
    P = P + np.triu(1 - P, 1).T
    np.fill_diagonal(P, 0.5)
    x = maximal_lottery(P)
    assert _gap(P, x) <= 1e-9
    assert _kkt_certificate(P, x) <= 1e-10


def test_batched_shapes_and_pure_callback_under_jit_and_vmap():
  P = _random_games(1, 6, 6).reshape(2, 3, 6, 6)
  X = maximal_lottery(P)
  assert X.shape == (2, 3, 6)
  np.testing.assert_allclose(X[1, 2], maximal_lottery(P[1, 2]), atol=1e-15)
  jitted = jax.jit(maximal_lottery)(jnp.asarray(P))
  np.testing.assert_allclose(jitted, X, atol=1e-12)
  vmapped = jax.vmap(maximal_lottery)(jnp.asarray(P[0]))
  np.testing.assert_allclose(vmapped, X[0], atol=1e-12)


@pytest.mark.parametrize(
  "P, message",
  [
    (np.array([[0.5, np.nan], [np.nan, 0.5]]), "finite"),
    (np.array([[0.5, 0.7], [0.7, 0.5]]), "antisymmetric"),
    (np.full((1, 1), 0.5), "at least 2 items"),
  ],
)
def test_bad_input(P, message):
  with pytest.raises(ValueError, match=message):
    maximal_lottery(P)


def test_under_jit_the_answer_or_nan_and_nothing_printed(capfd):
  good = np.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]])
  bad = good.copy()
  bad[1, 0] = 0.3
  f32 = jnp.asarray(np.stack([good, bad]), jnp.float32)
  out = np.asarray(jax.jit(maximal_lottery)(f32))
  np.testing.assert_allclose(out[0], maximal_lottery(good), atol=1e-6)  # float32 data certifies
  assert np.isnan(out[1]).all()  # the invalid game only: NaN, not an exception
  with pytest.raises(ValueError, match="square"):
    jax.jit(maximal_lottery)(jnp.full((3, 4), 0.5))
  assert capfd.readouterr().err == ""


@pytest.mark.parametrize("highspy_installed", [True, False])
def test_value_lp_support_equals_the_strictly_complementary_support(highspy_installed, monkeypatch):
  from jaxpref.equilibria import _maximal_lottery as ml

  if not highspy_installed:
    monkeypatch.setattr(ml, "_highspy", lambda: None)  # as without highspy: scipy's HiGHS
  games_ = list(_random_games(7, 12, 30)) + [P for P, _, _ in CANONICAL.values()]
  fast = 0
  for P in games_:
    A = 0.5 * (P - P.T)
    support, x, from_value_lp = ml._support(A)
    want, _ = ml._strictly_complementary_support(A)
    np.testing.assert_array_equal(support, want)
    fast += from_value_lp
    assert _gap(0.5 + A, x) <= 1e-9
  assert fast >= 30  # the random games take the fast path; degenerate canonical ones may not
