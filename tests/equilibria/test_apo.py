"""APO's exact rounds: the spec's vectors, the accelerated rate, the game payoff path, errors."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import equilibria

REWARD = jnp.array([1.0, 0.5, 0.0])
UNIFORM = jnp.ones(3) / 3
SPEC = {  # sub-optimality of pi_hat_{t+1} at t = 0, 1, 2, 4, 9 (beta = 1)
  0.0: [0.339922, 0.212395, 0.126758, 0.043883, 0.003391],
  0.3: [0.339922, 0.182496, 0.087899, 0.019752, 0.000537],
  0.6: [0.339922, 0.156325, 0.055362, 0.005498, 0.000012],
}


@pytest.mark.parametrize("momentum", sorted(SPEC))
def test_spec_vectors_and_the_accelerated_rate(momentum):
  pis = equilibria.apo_iteration(
    REWARD, kl_coef=1.0, momentum=momentum, rounds=10, ref_policy=UNIFORM
  )
  gap = 1.0 - pis @ REWARD
  np.testing.assert_allclose(gap[jnp.array([0, 1, 2, 4, 9])], SPEC[momentum], atol=1e-6)
  # With the reward gap 0.5 the gap shrinks by about exp(-0.5 / (1 - momentum)) per late round.
  assert float(gap[9] / gap[8]) == pytest.approx(np.exp(-0.5 / (1.0 - momentum)), rel=0.02)


def test_momentum_beats_plain_iteration_at_equal_rounds():
  plain = equilibria.apo_iteration(REWARD, kl_coef=1.0, momentum=0.0, rounds=5, ref_policy=UNIFORM)
  fast = equilibria.apo_iteration(REWARD, kl_coef=1.0, momentum=0.3, rounds=5, ref_policy=UNIFORM)
  assert np.all(np.asarray(fast[1:] @ REWARD) > np.asarray(plain[1:] @ REWARD))


def test_a_payoff_function_is_evaluated_at_the_current_policy():
  constant = equilibria.apo_iteration(
    lambda pi: REWARD + 0 * pi, kl_coef=0.5, momentum=0.3, rounds=4, ref_policy=UNIFORM
  )
  fixed = equilibria.apo_iteration(REWARD, kl_coef=0.5, momentum=0.3, rounds=4, ref_policy=UNIFORM)
  np.testing.assert_allclose(constant, fixed, atol=1e-12)
  # SPPO's payoff on rock-paper-scissors: plain rounds are multiplicative weights from uniform,
  # which stays at the equilibrium.
  P = jnp.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])
  out = equilibria.apo_iteration(lambda pi: P @ pi, kl_coef=1.0, momentum=0.0, rounds=3,
                                 ref_policy=UNIFORM)  # fmt: skip
  np.testing.assert_allclose(out, jnp.broadcast_to(UNIFORM, (3, 3)), atol=1e-12)


@pytest.mark.parametrize(
  ("kwargs", "message"),
  [({"momentum": 1.0}, r"momentum must lie in \[0, 1\)"), ({"momentum": -0.1}, "momentum"),
   ({"rounds": 0}, "rounds must be >= 1"), ({"kl_coef": 0.0}, "kl_coef must be > 0")],
)  # fmt: skip
def test_bad_input_is_refused(kwargs, message):
  args = {"kl_coef": 1.0, "momentum": 0.3, "rounds": 3, "ref_policy": UNIFORM} | kwargs
  with pytest.raises(ValueError, match=message):
    equilibria.apo_iteration(REWARD, **args)
