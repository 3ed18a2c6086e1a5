"""Shared inputs of the loss tests: a hand-computable pair and small tabular games."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref import losses as L  # noqa: N812

PAIR = dict(logp=-1.0, logp2=-2.0, ref_logp=-1.5, ref_logp2=-1.5)  # h = 1


def sig(z):
  return 1 / (1 + math.exp(-z))


def tabular(seed=0, n=6):
  """A random preference matrix P (P + P^T = 1) and two logit vectors."""
  rng = np.random.default_rng(seed)
  A = rng.uniform(size=(n, n))
  P = jnp.asarray((A + 1 - A.T) / 2)
  return P, jnp.asarray(rng.normal(size=n)), jnp.asarray(rng.normal(size=n))


def pairs(n):
  """Indices (a, b) of all n^2 ordered pairs."""
  a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
  return jnp.asarray(a.ravel()), jnp.asarray(b.ravel())


def center(z):
  return z - z.mean()


def online_ipo_loss(theta, z_ref, P, opponent_logits, kl_coef):
  """Mean online-IPO loss of a tabular policy over all pairs, exact win rates vs the opponent."""
  n = theta.shape[0]
  a, b = pairs(n)
  logp, ref = jax.nn.log_softmax(theta), jax.nn.log_softmax(z_ref)
  win = P @ jax.nn.softmax(opponent_logits)
  ex = L.Example(
    logp=logp[a], logp2=logp[b], ref_logp=ref[a], ref_logp2=ref[b], win=win[a], win2=win[b]
  )
  return jnp.mean(jax.vmap(lambda e: L.online_ipo(e, kl_coef=kl_coef)[0])(ex))


def population_setup(n=6):
  """The tabular game, pairs, reference and anchor shared by the population fixed-point tests."""
  P, z, z_ref = tabular(3)
  a, b = pairs(n)
  log_ref, anchor = jax.nn.log_softmax(z_ref), jax.nn.log_softmax(z)
  r = jnp.asarray(np.random.default_rng(4).normal(size=n))
  r2 = jnp.asarray(np.random.default_rng(5).normal(size=n))
  return dict(P=P, a=a, b=b, log_ref=log_ref, anchor=anchor, r=r, r2=r2, win=P @ jnp.exp(anchor))


def assert_population_stationary(name, target, extra, hp, s):
  """The population loss over all pairs is stationary at ``target`` and not at a perturbation."""
  a, b, log_ref = s["a"], s["b"], s["log_ref"]

  def population(theta):
    logp = jax.nn.log_softmax(theta)
    ex = L.Example(logp=logp[a], logp2=logp[b], ref_logp=log_ref[a], ref_logp2=log_ref[b], **extra)
    return jnp.mean(jax.vmap(lambda e: L.get_loss(name)(e, **hp)[0])(ex))

  np.testing.assert_allclose(jax.grad(population)(target), 0.0, atol=1e-12)
  assert float(jnp.linalg.norm(jax.grad(population)(target + 0.3 * s["r"]))) > 1e-4
