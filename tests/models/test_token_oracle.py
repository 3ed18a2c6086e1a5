import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models
from tests.models.test_sampling import TINY


def test_token_reward_is_the_masked_mean_and_prefers_by_bradley_terry():
  oracle = models.TokenRewardOracle(jnp.array([0.0, 1.0, -2.0, 4.0]), 2.0)
  tokens = jnp.array([[1, 3, 2], [2, 0, 0], [0, 0, 0]])
  mask = jnp.array([[True, True, False], [True, False, False], [False, False, False]])
  np.testing.assert_allclose(oracle.reward(tokens, mask), [2.5, -2.0, 0.0])
  np.testing.assert_allclose(oracle.prefer(1.0, 0.5), jax.nn.sigmoid(1.0), rtol=1e-6)


def test_sample_padded_is_generate_inside_a_vmapped_jit():
  model = models.Llama(TINY, rngs=nnx.Rngs(0))
  split = nnx.split(model, nnx.LoRAParam, ...)
  prompts = [[3, 4, 5], [7, 8]]
  key = jax.random.key(1)
  expected = models.generate(split, prompts, key, max_new_tokens=5, eos_id=39, buckets=(8,))
  tokens, start = models.pad_prompts(prompts, pad_id=0, buckets=(8,))

  @jax.jit
  @jax.vmap
  def sample(temperature):  # a traced, batched temperature
    return models.sample_padded(
      split, jnp.asarray(tokens), jnp.asarray(start), key, max_new_tokens=5, eos_id=39,
      temperature=temperature,
    ).tokens  # fmt: skip

  out = sample(jnp.array([1.0, 1.0]))
  np.testing.assert_array_equal(out[0], expected.tokens)
  np.testing.assert_array_equal(out[1], expected.tokens)


# Slow: sampled win rate of a policy against itself (about 9 s).
@pytest.mark.slow
def test_a_policy_equal_to_its_reference_wins_half_with_zero_kl():
  model = models.Llama(TINY, rngs=nnx.Rngs(0))  # LoRA's B starts at zero
  tokens, start = models.pad_prompts([[3, 4, 5], [7, 8]], pad_id=0, buckets=(8,))
  oracle = models.TokenRewardOracle.random(jax.random.key(2), TINY.vocab_size, 4.0)
  out = models.evaluate_vs_reference(
    nnx.split(model, nnx.LoRAParam, ...), jnp.asarray(tokens), jnp.asarray(start),
    jax.random.key(3), features=oracle.reward, prefer=oracle.prefer, max_new_tokens=4, eos_id=39,
  )  # fmt: skip
  assert float(out["win_rate"]) == 0.5 and float(out["kl"]) == 0.0
  assert float(out["win_rate_se"]) == 0.0  # every row at exactly 1/2
  assert float(out["reward"]) == float(out["reference_reward"])
  with pytest.raises(ValueError, match="2 rows do not repeat 3 prompts"):
    models.evaluate_vs_reference(
      nnx.split(model, nnx.LoRAParam, ...), jnp.asarray(tokens), jnp.asarray(start),
      jax.random.key(3), features=oracle.reward, prefer=oracle.prefer, max_new_tokens=4,
      eos_id=39, clusters=3,
    )  # fmt: skip
