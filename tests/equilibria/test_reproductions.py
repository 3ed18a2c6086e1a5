"""Paper-rate reproductions (``docs/solvers.md``, 'Convergence rates')."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria as eq
from jaxpref.games import perturbed_rps_game, uniform_random_game, weighted_three_cycle_game
from jaxpref.metrics import duality_gap, kl_divergence, regularized_duality_gap

from ._games import egpo_game


def _run(solver, P, start, ref=None, steps=100, key=None, op=None):
  op = eq.matrix_operator(jnp.asarray(P)) if op is None else op
  state = solver.init(jnp.asarray(start), ref_policy=None if ref is None else jnp.asarray(ref))
  keys = jax.random.split(jax.random.key(0) if key is None else key, steps)

  def body(s, k):
    s = solver.step(s, op, key=k if key is not None else None)
    return s, s.policy

  return jax.lax.scan(body, state, keys)


def _reg_star(P, ref, beta, steps=3000):
  state, _ = _run(eq.mirror_prox(step_size=2.0, kl_coef=beta), P, ref, ref, steps)
  assert float(regularized_duality_gap(P, state.policy, kl_coef=beta, ref_policy=ref)) < 1e-13
  return state.policy


# Sec. 10.3, first table: random 10x10 game, reference = softmax(N(0,1)), start = reference,
# beta = 0.1; regularized gap after 100 / 500 / 2000 iterations (None: below 1e-14).
REFERENCE_TABLE = {
  "mwu": (eq.mwu(step_size=0.5), (0.70, 0.38, 1.36)),
  "omwu": (eq.optimistic_mwu(step_size=0.5), (0.27, 0.14, 0.13)),
  "omd": (eq.online_mirror_descent(step_size=0.5, kl_coef=0.1), (1.6e-5, None, None)),
  "nash_md_constant": (eq.nash_md(kl_coef=0.1, step_size=0.5), (3.2e-4, 2.2e-4, 2.2e-4)),
  "egpo": (eq.extragradient(step_size=0.5, kl_coef=0.1), (3.4e-6, None, None)),
  "mmd": (eq.magnetic_mirror_descent(kl_coef=0.1, step_size=0.5), (2.4e-5, None, None)),
  "nash_mp": (eq.mirror_prox(step_size=2.0, kl_coef=0.1), (None, None, None)),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_TABLE))
def test_reference_numbers_regularized(name):
  solver, expected = REFERENCE_TABLE[name]
  P, rng = egpo_game(0)
  z = rng.normal(size=10)
  ref = np.exp(z) / np.exp(z).sum()
  _, path = _run(solver, P, ref, ref, steps=2000)
  for t, want in zip((100, 500, 2000), expected, strict=True):
    got = float(regularized_duality_gap(P, path[t - 1], kl_coef=0.1, ref_policy=ref))
    if want is None:
      assert abs(got) < 1e-14, (t, got)
    else:
      assert got == pytest.approx(want, rel=0.05), (t, got)


# Sec. 10.3, second table: seed 1, uniform start, 2e4 iterations, unregularized gap of the last
# iterate (and of the average where the table gives it).
@pytest.mark.parametrize(
  ("solver", "last", "average"),
  [
    (eq.mwu(step_size=0.1), 0.55, 3.6e-3),
    (eq.optimistic_mwu(step_size=1.0), 6.0e-3, None),
    (eq.extragradient(step_size=1.0, kl_coef=0.0), 5.0e-3, None),
    (eq.extragradient(step_size=1.0, kl_coef=0.01), 1.1e-2, None),
    (eq.fictitious_play(), 4.0e-3, None),
  ],
)
def test_reference_numbers_unregularized(solver, last, average):
  P, _ = egpo_game(1)
  state, _ = _run(solver, P, np.ones(10) / 10, steps=20_000)
  assert float(duality_gap(P, state.policy)) == pytest.approx(last, rel=0.05)
  if average is not None:
    assert float(duality_gap(P, eq.average_value(state.average))) == pytest.approx(
      average, rel=0.05
    )


@pytest.mark.parametrize("seed", range(10))
def test_nash_md_stays_under_nlhf_theorem_1(seed):
  """KL(pi*_beta || pi_T) <= 8 / (beta^2 (T + 1)) at every T with eta_t = 2 / (beta (t + 2))."""
  beta = 0.1
  P, _ = egpo_game(100 + seed)
  ref = np.ones(10) / 10
  star = _reg_star(P, ref, beta)
  _, path = _run(eq.nash_md(kl_coef=beta), P, ref, ref, steps=2000)
  kl = np.asarray(jax.vmap(lambda p: kl_divergence(star, p))(path))
  bound = 8.0 / (beta**2 * (np.arange(1, 2001) + 1))
  assert np.all(kl <= bound)
  assert kl[-1] < 1e-3 * bound[-1]  # not vacuous: far below the bound by T = 2000


@pytest.mark.parametrize("n", [10, 100, pytest.param(1000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
def test_nash_mp_rate_per_query_independent_of_n(n, beta):
  """KL(pi*_beta || pi_k) <= (1 + 2 beta)^(-N/2) KL_0 with N = 2k queries, eta = 2."""
  P = np.asarray(uniform_random_game(jax.random.key(n), n))
  ref = np.ones(n) / n
  steps = {0.01: 300, 0.1: 60, 1.0: 12}[beta]
  star = _reg_star(P, ref, beta, steps=4000 if beta == 0.01 else 600)
  start = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(1), (n,))))
  _, path = _run(eq.mirror_prox(step_size=2.0, kl_coef=beta), P, start, ref, steps=steps)
  kl = np.asarray(jax.vmap(lambda p: kl_divergence(star, p))(path))
  kl0 = float(kl_divergence(star, start))
  bound = kl0 * (1.0 + 2.0 * beta) ** -np.arange(1, steps + 1)
  measurable = bound > 1e-13
  assert np.all(kl[measurable] <= bound[measurable] * (1 + 1e-9))


@pytest.mark.parametrize(
  "eta", [pytest.param(0.5, marks=pytest.mark.slow), 1.0, pytest.param(2.0, marks=pytest.mark.slow)]
)
def test_egpo_contracts_kl_linearly(eta):
  beta = 0.1
  for seed in range(5):
    P, rng = egpo_game(200 + seed)
    z = rng.normal(size=10)
    ref = np.exp(z) / np.exp(z).sum()
    star = _reg_star(P, ref, beta)
    _, path = _run(eq.extragradient(step_size=eta, kl_coef=beta), P, ref, ref, steps=100)
    kl = np.asarray(jax.vmap(kl_divergence, in_axes=(None, 0))(star, path))
    kl = np.concatenate([[float(kl_divergence(star, ref))], kl])
    ok = kl[:-1] > 1e-12
    assert np.all(kl[1:][ok] <= (1 - eta * beta) * kl[:-1][ok] * (1 + 1e-9))


def test_mmd_reproduces_openspiel_mmd_matrix_example():
  """OpenSpiel 2.0.2 ``mmd_matrix_example.py`` (alpha 0.1, default step alpha / max|A|^2) prints
  these regularized gaps at iterations 0, 100, ..., 900 and this final policy."""
  openspiel_gaps = [
    1.1187191124592062, 0.3847427477796278, 0.6215497759136709, 0.4333557964221585,
    1.2053258582907294, 0.4595667210084019, 0.3316500690223881, 0.30656798569466315,
    0.2372638451746889, 0.5703467783718112,
  ]  # fmt: skip
  openspiel_policy = [0.38489162, 0.41788395, 0.19722442]
  P = np.asarray(perturbed_rps_game(), np.float64)
  hp = eq.from_mmd(alpha=0.1, eta=0.1 / 9, max_abs_payoff=3.0)
  _, path = _run(eq.magnetic_mirror_descent(**hp), P, np.ones(3) / 3, steps=1000)
  # OpenSpiel's gap is on the payoff scale of A = 6 (P - 1/2).
  gaps = [
    6 * float(regularized_duality_gap(P, path[i], kl_coef=hp["kl_coef"]))
    for i in range(0, 1000, 100)
  ]
  np.testing.assert_allclose(gaps, openspiel_gaps, rtol=1e-10)
  np.testing.assert_allclose(path[-1], openspiel_policy, atol=1e-8)


FULL_SUPPORT_GAMES = {
  "rps": lambda: np.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]),
  "weighted_three_cycle": lambda: np.asarray(weighted_three_cycle_game(jnp.array([0.1, 0.2, 0.3]))),
  "perturbed_rps": lambda: np.asarray(perturbed_rps_game(), np.float64),
}


@pytest.mark.parametrize("name", sorted(FULL_SUPPORT_GAMES))
def test_omwu_last_iterate_converges_on_full_support_games(name):
  P = FULL_SUPPORT_GAMES[name]()
  n = P.shape[0]
  start = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(n), (n,))))
  _, path = _run(eq.optimistic_mwu(step_size=1.0), P, start, steps=3000)
  gaps = np.asarray(jax.vmap(lambda p: duality_gap(P, p))(path))
  assert gaps[-1] < 1e-6 and gaps[-1] < 1e-4 * gaps[99]  # linear, in the last iterate
  _, mwu_path = _run(eq.mwu(step_size=1.0), P, start, steps=3000)
  assert float(duality_gap(P, mwu_path[-1])) > 1e-3  # plain MWU's last iterate does not


def test_mwu_average_meets_hedge_bound_while_last_iterate_cycles():
  P, _ = egpo_game(1)
  n = 10
  for T in (100, 1000, 10_000):
    eta = float(np.sqrt(8 * np.log(n) / T))
    state, path = _run(eq.mwu(step_size=eta), P, np.ones(n) / n, steps=T)
    avg_gap = float(duality_gap(P, eq.average_value(state.average)))
    assert avg_gap <= 2 * np.sqrt(np.log(n) / (2 * T))
  state, path = _run(eq.mwu(step_size=0.1), P, np.ones(n) / n, steps=20_000)
  last = np.asarray(jax.vmap(lambda p: duality_gap(P, p))(path[-5000:]))
  assert last.min() > 0.05  # the last iterate never settles


@pytest.mark.parametrize("num_samples", [2, 5, 16])
def test_sampled_mwu_average_converges_last_does_not(num_samples):
  """SPPO's setting: K sampled opponents per step."""
  P, _ = egpo_game(1)
  op = eq.sampled_operator(jnp.asarray(P), num_samples=num_samples)
  state, path = _run(
    eq.mwu(step_size=0.05), P, np.ones(10) / 10, steps=10_000, key=jax.random.key(3), op=op
  )
  avg = float(duality_gap(P, eq.average_value(state.average)))
  last = float(duality_gap(P, path[-1]))
  assert avg < 0.05 < last


def test_sampled_extragradient_reaches_a_noise_floor_near_the_regularized_equilibrium():
  """EGPO's sampled tabular setting (100 samples per query)."""
  P, rng = egpo_game(0)
  z = rng.normal(size=10)
  ref = np.exp(z) / np.exp(z).sum()
  op = eq.sampled_operator(jnp.asarray(P), num_samples=100)
  exact, _ = _run(eq.extragradient(step_size=0.05, kl_coef=0.1), P, ref, ref, steps=3000)
  sampled, _ = _run(
    eq.extragradient(step_size=0.05, kl_coef=0.1),
    P,
    ref,
    ref,
    steps=3000,
    key=jax.random.key(1),
    op=op,
  )
  g_exact = float(regularized_duality_gap(P, exact.policy, kl_coef=0.1, ref_policy=ref))
  g_sampled = float(regularized_duality_gap(P, sampled.policy, kl_coef=0.1, ref_policy=ref))
  g_start = float(regularized_duality_gap(P, ref, kl_coef=0.1, ref_policy=ref))
  assert g_exact < 1e-12 and g_sampled < 1e-2 * g_start
