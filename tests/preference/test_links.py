import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref.preference import _links

D = jnp.linspace(-4.0, 4.0, 9)


@pytest.mark.parametrize("link", ["bt", "davidson", "rao_kupper"])
def test_probabilities_sum_to_one_and_swap_under_negation(link):
  tie = None if link == "bt" else jnp.asarray(0.3)
  p = np.exp(_links.outcome_log_probs(D, tie, link))
  np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-14)
  np.testing.assert_allclose(p[::-1, ::-1], p, atol=1e-14)  # d -> -d swaps win and loss
  pref = np.asarray(_links.preference_probability(D, tie, link))
  np.testing.assert_allclose(pref + pref[::-1], 1.0, atol=1e-14)
  assert np.all(np.diff(pref) > 0)


def test_davidson_closed_form():
  # pi_a = e^{s_a}; P(tie) = nu sqrt(pi_a pi_b) / (pi_a + pi_b + nu sqrt(pi_a pi_b)).
  sa, sb, nu = 0.7, -0.4, 0.8
  denom = np.exp(sa) + np.exp(sb) + nu * np.exp((sa + sb) / 2)
  want = [np.exp(sa) / denom, nu * np.exp((sa + sb) / 2) / denom, np.exp(sb) / denom]
  got = np.exp(_links.outcome_log_probs(jnp.asarray(sa - sb), jnp.log(nu), "davidson"))
  np.testing.assert_allclose(got, want, rtol=1e-13)


def test_rao_kupper_closed_form():
  d, theta = 0.9, 0.2
  eta = np.log1p(np.exp(theta))

  def sig(x):
    return 1 / (1 + np.exp(-x))

  want = [sig(d - eta), 1 - sig(d - eta) - sig(-d - eta), sig(-d - eta)]
  got = np.exp(_links.outcome_log_probs(jnp.asarray(d), jnp.asarray(theta), "rao_kupper"))
  np.testing.assert_allclose(got, want, rtol=1e-13)


def test_bt_tie_is_half_a_win_each():
  ll = _links.outcome_log_likelihood(jnp.asarray(1.3), None, jnp.asarray(0.5), "bt")

  def sig(x):
    return 1 / (1 + np.exp(-x))

  np.testing.assert_allclose(ll, 0.5 * np.log(sig(1.3)) + 0.5 * np.log(sig(-1.3)), rtol=1e-14)


def test_outcomes_pick_win_tie_loss():
  logp = _links.outcome_log_probs(jnp.asarray(0.4), jnp.asarray(-0.5), "davidson")
  for y, col in ((1.0, 0), (0.5, 1), (0.0, 2)):
    ll = _links.outcome_log_likelihood(
      jnp.asarray(0.4), jnp.asarray(-0.5), jnp.asarray(y), "davidson"
    )
    np.testing.assert_allclose(ll, logp[col], rtol=1e-14)


def test_unknown_link():
  with pytest.raises(ValueError, match="Unknown tie model 'glicko'"):
    _links.check_link("glicko")
