"""One step of each one-query mirror-descent solver against its update rule written out."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria as eq
from jaxpref.games import uniform_random_game

P = uniform_random_game(jax.random.key(0), 5)
START = jnp.array([0.1, 0.2, 0.3, 0.15, 0.25])
REF = jnp.array([0.3, 0.1, 0.2, 0.2, 0.2])


def _softmax(z):
  z = np.asarray(z, np.float64)
  e = np.exp(z - z.max())
  return e / e.sum()


def _two_steps(solver):
  state = solver.init(START, ref_policy=REF)
  first = solver.step(state, P)
  return state, first, solver.step(first, P)


def test_mwu_is_hedge():
  _, first, _ = _two_steps(eq.mwu(step_size=0.7))
  want = _softmax(np.log(START) + 0.7 * np.asarray(P @ START))
  np.testing.assert_allclose(first.policy, want, atol=1e-12)


@pytest.mark.parametrize("implicit", [False, True])
def test_omd_explicit_and_mmd_implicit_steps(implicit):
  eta, beta = 0.5, 0.2
  solver = (
    eq.magnetic_mirror_descent(kl_coef=beta, step_size=eta)
    if implicit
    else eq.online_mirror_descent(step_size=eta, kl_coef=beta)
  )
  _, first, _ = _two_steps(solver)
  z, z_ref, g = np.log(START), np.log(REF), np.asarray(P @ START)
  if implicit:
    want = _softmax((z + eta * beta * z_ref + eta * g) / (1 + eta * beta))
  else:
    want = _softmax((1 - eta * beta) * z + eta * beta * z_ref + eta * g)
  np.testing.assert_allclose(first.policy, want, atol=1e-12)


def test_nash_md_plays_against_the_geometric_mixture_with_the_decaying_step():
  beta = 0.25
  _, first, _ = _two_steps(eq.nash_md(kl_coef=beta))
  eta = min(1 / beta, 2 / (beta * 2))  # NLHF's step at t = 0
  z, z_ref = np.log(START), np.log(REF)
  mix_logits = np.log(_softmax((1 - eta * beta) * z + eta * beta * z_ref))
  want = _softmax(mix_logits + eta * np.asarray(P @ _softmax(mix_logits)))
  np.testing.assert_allclose(first.policy, want, atol=1e-12)


def test_optimistic_mwu_uses_twice_the_new_minus_the_old_win_rates():
  eta = 0.3
  _, first, second = _two_steps(eq.optimistic_mwu(step_size=eta))
  g0, g1 = np.asarray(P @ START), np.asarray(P @ first.policy)
  np.testing.assert_allclose(first.policy, _softmax(np.log(START) + eta * g0), atol=1e-12)
  want = _softmax(np.log(np.asarray(first.policy)) + eta * (2 * g1 - g0))
  np.testing.assert_allclose(second.policy, want, atol=1e-12)


def test_traced_hyperparameters_vmap_like_a_loop():
  def final(step_size, kl_coef):
    solver = eq.online_mirror_descent(step_size=step_size, kl_coef=kl_coef)
    state = solver.init(START, ref_policy=REF)
    return jax.lax.fori_loop(0, 20, lambda _, s: solver.step(s, P), state).policy

  sizes, coefs = jnp.array([0.2, 0.5, 1.0]), jnp.array([0.1, 0.3, 0.5])
  batched = jax.jit(jax.vmap(final))(sizes, coefs)
  for b in range(3):
    np.testing.assert_allclose(batched[b], final(float(sizes[b]), float(coefs[b])), atol=1e-12)


def test_the_average_tracks_the_played_iterates():
  solver = eq.mwu(step_size=0.4)
  state = solver.init(START)
  played = []
  for _ in range(5):
    played.append(np.asarray(state.policy))
    state = solver.step(state, P)
  np.testing.assert_allclose(eq.average_value(state.average), np.mean(played, 0), atol=1e-12)
  assert int(state.count) == 5
